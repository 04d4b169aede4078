//! The relay's configuration: plain data, validated before any port is bound.
//!
//! Role: hold every setting of `bunkerd serve` ([`Config`]) and check it ([`Config::validate`]).
//! The binary builds it in layers: flags > `BUNKERD_*` environment
//! variables > the TOML file named by `--config` > defaults. Flags and environment variables are
//! one [`Settings`] layer (clap resolves flag over env), the file is another ([`Settings::load`]),
//! and [`Settings::resolve`] merges them over the defaults. Tests build a [`Config`] directly with
//! [`Config::for_data_dir`].
//!
//! Must not: bind a port, create a file or directory (an explicitly configured master key file is
//! checked, never created), hold a secret anywhere but the `Zeroizing` operator token, or put a
//! secret into an error text. Error texts name the setting as its flag (`master-key-file`), or as
//! its key for errors found in the file (`admin_listen`).
//!
//! Main items: [`Config`], [`Settings`] / [`LimitSettings`] (one layer, every field optional),
//! [`LogFormat`], [`ConfigError`]. Submodules: `settings` (the layer and the merge), `file` (TOML
//! loading), `check` (the checks behind [`Config::validate`]), `error`.

mod bus;
mod check;
mod error;
mod file;
mod master_key;
mod settings;
mod store;
#[cfg(test)]
mod tests;

pub use bus::{BusAuth, BusUrl};
pub use error::ConfigError;
pub use master_key::MasterKeySource;
pub use settings::{LimitSettings, Settings};
pub use store::StoreUrl;

use relay::limits::Limits;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// Everything `bunkerd serve` needs.
#[derive(Clone)]
pub struct Config {
    /// RocksDB directory, dev master key and generated operator token live here. Default: `./data`.
    pub data_dir: PathBuf,
    /// The PostgreSQL database holding the records, shared by every node; `None`: RocksDB in
    /// `<data_dir>/db`. Default: `None`.
    pub store: Option<StoreUrl>,
    /// File holding the PostgreSQL password (mode 0600; surrounding whitespace ignored), for a
    /// `store` URL without one. Default: none.
    pub store_password_file: Option<PathBuf>,
    /// Connections to PostgreSQL this node keeps at most (1..=[`MAX_STORE_POOL_SIZE`]). Default:
    /// [`DEFAULT_STORE_POOL_SIZE`] (16).
    pub store_pool_size: u32,
    /// The NATS server of the cluster this node joins (with `store`, which every node shares);
    /// `None`: alone. Default: `None`.
    pub cluster_bus: Option<BusUrl>,
    /// Relay (websocket + NIP-11) listen address. Default: `127.0.0.1:7447`.
    pub listen: SocketAddr,
    /// Admin API listen address. Default: `127.0.0.1:7448` (loopback: the admin API is not public).
    pub admin_listen: SocketAddr,
    /// Public relay URL written into bunker URIs and `switch_relays` replies. Default: `ws://` + the
    /// bound relay address.
    pub public_url: Option<String>,
    /// The admin API's public base URL (e.g. `https://admin.bunker.example`), the prefix of the URL a
    /// NIP-98 event's `u` tag must name. Default: none, and then NIP-98 credentials are refused
    /// (`401 nip98_not_configured`): the request's `Host` header is the client's to choose.
    pub admin_public_url: Option<String>,
    /// Highest NIP-49 LOG_N (scrypt cost) of an imported `ncryptsec`, 1 to
    /// [`proto::nostr::nip49::LOG_N_LIMIT`]: one import allocates `2^(LOG_N + 10)` bytes at once
    /// (256 MiB at 18, 1 GiB at 20). Default: [`DEFAULT_NIP49_MAX_LOG_N`] (18).
    pub nip49_max_log_n: u8,
    /// Failed admin authentications one client address (IPv4, or IPv6 /64) may make in a burst;
    /// beyond it, and until its bucket refills, the address's requests to authenticated routes
    /// are answered `429` with `Retry-After`, without checking their credentials. Default:
    /// [`DEFAULT_ADMIN_AUTH_FAILURE_BURST`] (20).
    pub admin_auth_failure_burst: u32,
    /// Failed admin authentications per minute one address regains once its burst is spent;
    /// 0 = no throttle. Default: [`DEFAULT_ADMIN_AUTH_FAILURES_PER_MIN`] (10).
    pub admin_auth_failures_per_min: u32,
    /// Master key file (mode 0600): 32 raw bytes (version 1) or a keyring file of numbered
    /// versions. When set, it must exist. Default: `<data_dir>/master.key`, created (0600) only
    /// while the store holds no wrapped keys.
    pub master_key_file: Option<PathBuf>,
    /// A KMS-held master key instead of the file, as a URI (see [`MasterKeySource`]).
    pub master_key: Option<String>,
    /// File holding the provider's credential (a transit token); surrounding whitespace is
    /// ignored. Default: the environment (`BAO_TOKEN`, else `VAULT_TOKEN`).
    pub master_key_credentials_file: Option<PathBuf>,
    /// Operator token for the admin API (at least 16 characters). Default: read from
    /// `<data_dir>/operator.token`, or generated there (0600) on first start.
    pub operator_token: Option<Zeroizing<String>>,
    /// Signer worker threads; 0 = one per core. Default: 0.
    pub workers: usize,
    /// Scheduling policy of the I/O threads (applied by the binary's runtime; the signer threads are set
    /// to SCHED_OTHER under `Batch`). Default: `Batch`. See [`crate::sched`].
    pub io_policy: crate::sched::IoPolicy,
    /// Signer queue capacity (jobs), all tenants together. Default: 4096.
    pub queue_capacity: usize,
    /// Jobs one tenant may have waiting in the signer queue (at most `queue_capacity`). Default:
    /// a quarter of `queue_capacity` ([`default_tenant_queue_capacity`]): 1024.
    pub tenant_queue_capacity: usize,
    /// Header naming the client's address behind a reverse proxy (its last entry), for the
    /// per-address limits. Default: none (the TCP peer's address).
    pub real_ip_header: Option<String>,
    /// Connection, address and tenant-default limits.
    pub limits: Limits,
    /// How long shutdown waits for connections and in-flight requests. Default: 10 s.
    pub shutdown_grace: Duration,
    /// Log filter in tracing's `EnvFilter` syntax (applied by the binary). Default: `info`.
    pub log: String,
    /// Log line format (applied by the binary). Default: [`LogFormat::Text`].
    pub log_format: LogFormat,
    /// How long a request held for an admin's approval (the policy's `ask_*` rules) waits for a
    /// decision before its client is answered with an error, seconds (1..=86400). Default: 600.
    pub approval_ttl_secs: u64,
    /// Bounds and trust of the links to foreign relays (those clients name in `nostrconnect://`
    /// URIs). Defaults: [`relay::foreign::ForeignSettings::default`].
    pub foreign: relay::foreign::ForeignSettings,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("store", &self.store)
            .field("store_password_file", &self.store_password_file)
            .field("store_pool_size", &self.store_pool_size)
            .field("cluster_bus", &self.cluster_bus)
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("public_url", &self.public_url)
            .field("admin_public_url", &self.admin_public_url)
            .field("nip49_max_log_n", &self.nip49_max_log_n)
            .field("admin_auth_failure_burst", &self.admin_auth_failure_burst)
            .field(
                "admin_auth_failures_per_min",
                &self.admin_auth_failures_per_min,
            )
            .field("master_key_file", &self.master_key_file)
            .field("master_key", &self.master_key)
            .field(
                "master_key_credentials_file",
                &self.master_key_credentials_file,
            )
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "[redacted]"),
            )
            .field("workers", &self.workers)
            .field("io_policy", &self.io_policy)
            .field("queue_capacity", &self.queue_capacity)
            .field("tenant_queue_capacity", &self.tenant_queue_capacity)
            .field("real_ip_header", &self.real_ip_header)
            .field("limits", &self.limits)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("approval_ttl_secs", &self.approval_ttl_secs)
            .field("foreign", &self.foreign)
            .finish()
    }
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// tracing-subscriber's human-readable format, one line per event. The default.
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's `json` formatter: `timestamp`, `level`,
    /// `fields`, `target`), for log collectors.
    Json,
}

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default relay listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7447";
/// Default admin listen address.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:7448";
/// Default signer queue capacity, jobs: about 0.4 s of work at one core's measured signing rate, so a
/// burst is absorbed while a sustained overload is refused quickly.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
/// Default per-tenant signer queue capacity, jobs: a quarter of the queue (at least 1), so no
/// single tenant can fill it — 1,024 with the default queue.
pub fn default_tenant_queue_capacity(queue_capacity: usize) -> usize {
    (queue_capacity / 4).max(1)
}
/// Default shutdown grace period, seconds: enough to drain a full queue.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
/// Default log filter.
pub const DEFAULT_LOG: &str = "info";
/// Default highest NIP-49 LOG_N of an import: 18, 256 MiB of scrypt memory for one import (a
/// quarter of the shipped deployments' 1 GiB memory limit; imports run one at a time).
pub const DEFAULT_NIP49_MAX_LOG_N: u8 = proto::nostr::nip49::MAX_LOG_N;
/// Default burst of failed admin authentications per address.
pub const DEFAULT_ADMIN_AUTH_FAILURE_BURST: u32 = 20;
/// Default rate, per minute, of failed admin authentications per address after the burst.
pub const DEFAULT_ADMIN_AUTH_FAILURES_PER_MIN: u32 = 10;

/// Most signer worker threads: each is an OS thread with its own stack, and signing is CPU-bound,
/// so more threads than cores only add switching; 1024 is far above any core count we run on.
pub const MAX_WORKERS: usize = 1024;
/// Largest signer queue, jobs: the queue (a crossbeam bounded channel) allocates its whole buffer
/// at start, so a typo like `40960000000` must not reach it; 2^20 is minutes of work.
pub const MAX_QUEUE_CAPACITY: usize = 1 << 20;
/// Widest `created_at` window, seconds (one day). The dedupe set remembers ids for twice the
/// window, and NIP-46 requests are answered within seconds; a wider window only widens replay.
pub const MAX_CREATED_AT_WINDOW_SECS: u64 = 86_400;
/// Default of [`Config::store_pool_size`]: connections to PostgreSQL per node.
pub const DEFAULT_STORE_POOL_SIZE: u32 = 16;
/// Most connections to PostgreSQL one node may keep: PostgreSQL's own default `max_connections`
/// is 100 for all clients together.
pub const MAX_STORE_POOL_SIZE: u32 = 256;
/// Shortest operator token, characters: a token shorter than this is guessable.
pub const MIN_OPERATOR_TOKEN_LEN: usize = 16;

impl Config {
    /// The defaults with the given data directory.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            store: None,
            store_password_file: None,
            store_pool_size: DEFAULT_STORE_POOL_SIZE,
            cluster_bus: None,
            listen: DEFAULT_LISTEN.parse().expect("valid literal"),
            admin_listen: DEFAULT_ADMIN_LISTEN.parse().expect("valid literal"),
            public_url: None,
            admin_public_url: None,
            nip49_max_log_n: DEFAULT_NIP49_MAX_LOG_N,
            admin_auth_failure_burst: DEFAULT_ADMIN_AUTH_FAILURE_BURST,
            admin_auth_failures_per_min: DEFAULT_ADMIN_AUTH_FAILURES_PER_MIN,
            master_key_file: None,
            master_key: None,
            master_key_credentials_file: None,
            operator_token: None,
            workers: 0,
            io_policy: crate::sched::IoPolicy::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            tenant_queue_capacity: default_tenant_queue_capacity(DEFAULT_QUEUE_CAPACITY),
            real_ip_header: None,
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECS),
            log: DEFAULT_LOG.to_owned(),
            log_format: LogFormat::default(),
            foreign: relay::foreign::ForeignSettings::default(),
            approval_ttl_secs: signer::approvals::DEFAULT_APPROVAL_TTL_SECS,
        }
    }

    /// Checks everything that can be checked before binding; reads file metadata, writes nothing.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the setting (as its flag), when:
    /// - `admin-listen`: it is the relay's address (same non-zero port on the same or a wildcard IP);
    /// - `public-url`: not a `ws://` or `wss://` URL with a host, or has whitespace or a fragment;
    /// - `admin-public-url`: not an `http://` or `https://` URL with a host, or has whitespace, a
    ///   query or a fragment;
    /// - `data-dir`: empty, or exists and is not a directory;
    /// - `store`: not a `postgres://` or `postgresql://` URL that parses; `store-pool-size` 0 or
    ///   above [`MAX_STORE_POOL_SIZE`]; `store-password-file`: set without `store`, unreadable or
    ///   empty;
    /// - `master-key-file`: the configured file is missing or unreadable, is not a regular file,
    ///   allows group or other access, or is neither 32 bytes nor a keyring file (what
    ///   `kms::FileMasterKey::load` refuses); the default `<data-dir>/master.key` is checked the
    ///   same way when it exists;
    /// - `master-key`: combined with `master-key-file`, or not a supported URI
    ///   ([`Config::master_key_source`]); `master-key-credentials-file`: unreadable or empty, or
    ///   no credential at all for a transit key ([`Config::master_key_credential`]);
    /// - `operator-token`: shorter than 16 characters;
    /// - `workers` above [`MAX_WORKERS`], `queue-capacity` 0 or above
    ///   [`MAX_QUEUE_CAPACITY`], `tenant-queue-capacity` 0 or above `queue-capacity`,
    ///   `shutdown-grace-secs` 0, `max-subscriptions`, `max-filters`, `max-connections`,
    ///   `max-connections-per-ip`, `max-subscriptions-per-ip` or `http-idle-timeout-secs` 0,
    ///   `created-at-window-secs` 0 or
    ///   above [`MAX_CREATED_AT_WINDOW_SECS`];
    /// - `real-ip-header`: not a valid HTTP header name;
    /// - `nip49-max-log-n`: 0 or above [`proto::nostr::nip49::LOG_N_LIMIT`];
    /// - `admin-auth-failure-burst`: 0 while `admin-auth-failures-per-min` is not;
    /// - `log`: not a valid `EnvFilter` directive list;
    /// - `foreign-relays-ca-file`: unreadable, or holds no PEM certificate;
    /// - `approval-ttl-secs`: 0 or above 86400.
    ///
    /// A [`ConfigError`] converts into [`crate::Error::Config`] (with the setting and the problem,
    /// without the details) for callers that return [`crate::Error`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::addresses(self)?;
        check::urls(self)?;
        check::numbers(self)?;
        check::admin(self)?;
        check::log_filter(&self.log)?;
        check::operator_token(self)?;
        check::data_dir(&self.data_dir)?;
        check::store(self)?;
        check::master_key(self)?;
        check::approval_ttl(self)?;
        check::foreign_ca_file(self)
    }
}
