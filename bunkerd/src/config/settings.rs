//! [`Settings`]: one layer of configuration — the flags with their `BUNKERD_*` environment
//! variables, or the TOML file — and [`Settings::resolve`], which merges layers over the defaults.
//!
//! One struct serves both layers, so a flag and its file key cannot drift apart: clap derives the
//! flag (`--admin-listen`, env `BUNKERD_ADMIN_LISTEN`) and serde the key (`admin_listen`) from the
//! same field. Every field is optional and has no clap default, so an unset flag lets the file's
//! value through; the defaults are applied once, in [`Settings::resolve`].
//!
//! Must not: read the operator token inline from any layer but `BUNKERD_OPERATOR_TOKEN` (argv is
//! visible in `ps`, and the file may be world-readable), or apply a default silently over a value
//! that was given.

// The fields' doc comments are clap's `--help` text, printed as written: `<data-dir>` and bare
// URLs there are for operators reading a terminal, not rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]

use super::error::invalid;
use super::{
    default_tenant_queue_capacity, Config, ConfigError, LogFormat,
    DEFAULT_ADMIN_AUTH_FAILURES_PER_MIN, DEFAULT_ADMIN_AUTH_FAILURE_BURST, DEFAULT_ADMIN_LISTEN,
    DEFAULT_DATA_DIR, DEFAULT_LISTEN, DEFAULT_LOG, DEFAULT_NIP49_MAX_LOG_N, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_SHUTDOWN_GRACE_SECS, DEFAULT_STORE_POOL_SIZE, MIN_OPERATOR_TOKEN_LEN,
};
use super::{BusUrl, StoreUrl};
use crate::sched::IoPolicy;
use relay::foreign::ForeignSettings;
use relay::limits::Limits;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// One layer of `bunkerd serve` settings; `None` = not set in this layer.
///
/// As flags: `--<name-with-dashes>`, env `BUNKERD_<NAME>`. As TOML keys: `<name_with_underscores>`
/// at the top level, the connection limits under `[limits]`. Unknown keys are refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Data directory: RocksDB, dev master key, generated operator token [default: ./data].
    #[arg(long, env = "BUNKERD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the records live instead of the embedded RocksDB: a PostgreSQL URL such as
    /// postgres://bunkerd@db1:5432,db2:5432/bunkerd?sslmode=require. Put a password in
    /// BUNKERD_STORE or the file, not on the command line [default: RocksDB in <data-dir>/db].
    #[arg(long, env = "BUNKERD_STORE", value_name = "URL")]
    pub store: Option<StoreUrl>,
    /// File holding the PostgreSQL password (surrounding whitespace ignored), for a --store URL
    /// without one [default: none].
    #[arg(long, env = "BUNKERD_STORE_PASSWORD_FILE", value_name = "FILE")]
    pub store_password_file: Option<PathBuf>,
    /// Connections to PostgreSQL this node keeps at most (with --store) [default: 16].
    #[arg(long, env = "BUNKERD_STORE_POOL_SIZE", value_name = "N")]
    pub store_pool_size: Option<u32>,
    /// Join a cluster of nodes sharing the --store database through this NATS server, e.g.
    /// nats://bus:4222 [default: none: this node is alone].
    #[arg(long, env = "BUNKERD_CLUSTER_BUS", value_name = "URL")]
    pub cluster_bus: Option<BusUrl>,
    /// Relay listen address, IP:port (websocket + NIP-11) [default: 127.0.0.1:7447].
    #[arg(long, env = "BUNKERD_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Admin API listen address, IP:port; keep it private [default: 127.0.0.1:7448].
    #[arg(long, env = "BUNKERD_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Public relay URL for bunker URIs, ws:// or wss:// [default: ws://<listen>].
    #[arg(long, env = "BUNKERD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Public base URL of the admin API, as NIP-98 clients sign it (e.g. https://admin.example);
    /// NIP-98 credentials are refused while it is unset [default: none].
    #[arg(long, env = "BUNKERD_ADMIN_PUBLIC_URL", value_name = "URL")]
    pub admin_public_url: Option<String>,
    /// Highest NIP-49 LOG_N (scrypt cost) of an imported ncryptsec, 1 to 20; one import allocates
    /// 2^(LOG_N+10) bytes at once: 18 = 256 MiB, 20 = 1 GiB [default: 18].
    #[arg(long, env = "BUNKERD_NIP49_MAX_LOG_N", value_name = "LOG_N")]
    pub nip49_max_log_n: Option<u8>,
    /// Failed admin authentications one client address may make in a burst before its requests
    /// are refused 429 (credentials unchecked) until its bucket refills [default: 20].
    #[arg(long, env = "BUNKERD_ADMIN_AUTH_FAILURE_BURST", value_name = "N")]
    pub admin_auth_failure_burst: Option<u32>,
    /// Failed admin authentications per minute an address regains after its burst; 0 = no
    /// throttle [default: 10].
    #[arg(long, env = "BUNKERD_ADMIN_AUTH_FAILURES_PER_MIN", value_name = "N")]
    pub admin_auth_failures_per_min: Option<u32>,
    /// Master key file: 32 raw bytes or a keyring file, mode 0600; must exist when set
    /// [default: <data-dir>/master.key, created only while the store holds no keys].
    #[arg(long, env = "BUNKERD_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Master key held by a KMS or HSM instead of a file:
    /// `transit+http[s]://HOST:PORT/MOUNT/KEY` (OpenBao or Vault transit, key created with
    /// derived=true), `pkcs11:token=LABEL;object=LABEL?module-path=FILE` (RFC 7512), or
    /// `aws-kms:NAME[?region=REGION][&endpoint=URL]` [default: the key file].
    #[arg(long, env = "BUNKERD_MASTER_KEY", value_name = "URI")]
    pub master_key: Option<String>,
    /// File holding the master-key provider's credential: the transit token [default: the
    /// environment: BAO_TOKEN, else VAULT_TOKEN] or the PKCS#11 user PIN (required). Not used
    /// by aws-kms (the AWS SDK's default credential chain).
    #[arg(long, env = "BUNKERD_MASTER_KEY_CREDENTIALS_FILE", value_name = "FILE")]
    pub master_key_credentials_file: Option<PathBuf>,
    /// File holding the admin API's operator token (at least 16 characters; surrounding whitespace
    /// is ignored) [default: BUNKERD_OPERATOR_TOKEN, else <data-dir>/operator.token, generated if
    /// absent].
    #[arg(long, env = "BUNKERD_OPERATOR_TOKEN_FILE", value_name = "FILE")]
    pub operator_token_file: Option<PathBuf>,
    /// Signer worker threads; 0 = one per core [default: 0].
    #[arg(long, env = "BUNKERD_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Linux scheduling policy of the I/O (reactor) threads: `batch` (SCHED_BATCH: a reactor woken
    /// by network input does not preempt a signer thread mid-batch, and at light load yields its
    /// core to a signer thread it wakes; RocksDB's flush and compaction threads run under
    /// SCHED_IDLE; see ARCHITECTURE.md) or `normal` (every thread left under its inherited
    /// policy) [default: batch].
    #[arg(long, env = "BUNKERD_IO_POLICY", value_enum, value_name = "POLICY")]
    #[serde(default, deserialize_with = "value_enum")]
    pub io_policy: Option<IoPolicy>,
    /// Signer queue capacity, jobs, all tenants together; a full queue refuses new requests
    /// [default: 4096].
    #[arg(long, env = "BUNKERD_QUEUE_CAPACITY", value_name = "JOBS")]
    pub queue_capacity: Option<usize>,
    /// Jobs one tenant may have waiting in the signer queue; beyond it only that tenant is refused
    /// (at most queue-capacity) [default: a quarter of queue-capacity, 1024].
    #[arg(long, env = "BUNKERD_TENANT_QUEUE_CAPACITY", value_name = "JOBS")]
    pub tenant_queue_capacity: Option<usize>,
    /// HTTP header carrying the client's address when bunkerd is behind a reverse proxy (e.g.
    /// `X-Forwarded-For`; its last entry is used). Only set it when every connection comes through a
    /// proxy that sets it: clients could forge it otherwise [default: none, the TCP peer's address].
    #[arg(long, env = "BUNKERD_REAL_IP_HEADER", value_name = "HEADER")]
    pub real_ip_header: Option<String>,
    /// How long shutdown waits for in-flight requests and connections, seconds [default: 10].
    #[arg(long, env = "BUNKERD_SHUTDOWN_GRACE_SECS", value_name = "SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// Log filter, in tracing's EnvFilter syntax [default: info].
    #[arg(long, env = "BUNKERD_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log line format on stderr: `text` (human-readable) or `json` (one object per line)
    /// [default: text].
    #[arg(long, env = "BUNKERD_LOG_FORMAT", value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Seconds a request held for an admin's approval (a policy's ask_* rules) waits for a decision
    /// before its client gets an error reply, 1 to 86400 [default: 600].
    #[arg(long, env = "BUNKERD_APPROVAL_TTL_SECS", value_name = "SECS")]
    pub approval_ttl_secs: Option<u64>,
    /// Foreign relays (named by clients' nostrconnect URIs, not this server's) linked at once, all
    /// tenants together; 0 serves no session on foreign relays [default: 64].
    #[arg(long, env = "BUNKERD_FOREIGN_RELAYS_MAX", value_name = "N")]
    pub foreign_relays_max: Option<usize>,
    /// Foreign relays one tenant's sessions may use [default: 8].
    #[arg(long, env = "BUNKERD_FOREIGN_RELAYS_PER_TENANT", value_name = "N")]
    pub foreign_relays_per_tenant: Option<usize>,
    /// Sessions of one tenant served on foreign relays [default: 1000].
    #[arg(long, env = "BUNKERD_FOREIGN_SESSIONS_PER_TENANT", value_name = "N")]
    pub foreign_sessions_per_tenant: Option<usize>,
    /// PEM file of CA certificates trusted for wss:// foreign relays, beside the system's
    /// [default: the system's only].
    #[arg(long, env = "BUNKERD_FOREIGN_RELAYS_CA_FILE", value_name = "FILE")]
    pub foreign_relays_ca_file: Option<PathBuf>,
    /// Let foreign relay URLs lead to loopback, private or link-local addresses (`true`/`false`);
    /// leave it off on a hosted service: tenant admins choose these URLs [default: false].
    #[arg(
        long,
        env = "BUNKERD_FOREIGN_RELAYS_ALLOW_PRIVATE",
        value_name = "BOOL"
    )]
    pub foreign_relays_allow_private: Option<bool>,
    /// Per-connection limits (`[limits]` in the file).
    #[command(flatten)]
    #[serde(default)]
    pub limits: LimitSettings,
}

/// The limits of one layer ([`Limits`]); `[limits]` in the file. A rate of 0 turns that bucket off.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Open subscriptions per connection [default: 32].
    #[arg(long, env = "BUNKERD_MAX_SUBSCRIPTIONS", value_name = "N")]
    pub max_subscriptions: Option<usize>,
    /// Filters in one REQ [default: 10].
    #[arg(long, env = "BUNKERD_MAX_FILTERS", value_name = "N")]
    pub max_filters: Option<usize>,
    /// How far an event's `created_at` may be from now, either way, seconds [default: 600].
    #[arg(long, env = "BUNKERD_CREATED_AT_WINDOW_SECS", value_name = "SECS")]
    pub created_at_window_secs: Option<u64>,
    /// EVENTs per second one connection may send, sustained; 0 = unlimited [default: 100].
    #[arg(long, env = "BUNKERD_EVENTS_PER_SEC", value_name = "N")]
    pub events_per_sec: Option<u32>,
    /// EVENTs one connection may send in a burst [default: 200].
    #[arg(long, env = "BUNKERD_EVENTS_BURST", value_name = "N")]
    pub events_burst: Option<u32>,
    /// Open connections of the relay port in total, websocket or HTTP [default: 16384].
    #[arg(long, env = "BUNKERD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Open connections per client address (IPv4, or IPv6 /64), websocket or HTTP [default: 256].
    #[arg(long, env = "BUNKERD_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Open subscriptions per client address, over all its connections [default: 1024].
    #[arg(long, env = "BUNKERD_MAX_SUBSCRIPTIONS_PER_IP", value_name = "N")]
    pub max_subscriptions_per_ip: Option<usize>,
    /// EVENTs per second one client address may send, over all its connections; 0 = unlimited
    /// [default: 1000].
    #[arg(long, env = "BUNKERD_IP_EVENTS_PER_SEC", value_name = "N")]
    pub ip_events_per_sec: Option<u32>,
    /// EVENTs one client address may send in a burst [default: 2000].
    #[arg(long, env = "BUNKERD_IP_EVENTS_BURST", value_name = "N")]
    pub ip_events_burst: Option<u32>,
    /// Requests per second of a tenant without its own limit (set per tenant with the admin API);
    /// 0 = unlimited [default: 1000].
    #[arg(long, env = "BUNKERD_TENANT_REQUESTS_PER_SEC", value_name = "N")]
    pub tenant_requests_per_sec: Option<u32>,
    /// Request burst of a tenant without its own burst [default: 2000].
    #[arg(long, env = "BUNKERD_TENANT_BURST", value_name = "N")]
    pub tenant_burst: Option<u32>,
    /// Seconds a connection stays on the low-priority (SCHED_IDLE) I/O thread after its last event
    /// refused for its own or its address's event rate, or its tenant's request rate or queue lane;
    /// 0 = never demote [default: 10].
    #[arg(long, env = "BUNKERD_RATE_LIMITED_DEMOTION_SECS", value_name = "SECS")]
    pub rate_limited_demotion_secs: Option<u64>,
    /// Requests per second of a tenant from clients without a session (pairing `connect`s and
    /// strangers), in a bucket apart from the tenant's own; burst twice the rate; 0 = unlimited
    /// [default: 100].
    #[arg(long, env = "BUNKERD_UNPAIRED_REQUESTS_PER_SEC", value_name = "N")]
    pub unpaired_requests_per_sec: Option<u32>,
    /// Seconds a connection's writer may make no progress (its client does not read) before the
    /// connection is closed; 0 = never [default: 30].
    #[arg(long, env = "BUNKERD_WRITE_TIMEOUT_SECS", value_name = "SECS")]
    pub write_timeout_secs: Option<u64>,
    /// Bytes of events queued to one connection plus its requests in flight; 0 = unbounded
    /// [default: 1048576].
    #[arg(
        long,
        env = "BUNKERD_OUTBOUND_BYTES_PER_CONNECTION",
        value_name = "BYTES"
    )]
    pub outbound_bytes_per_connection: Option<usize>,
    /// The same over all connections; 0 = unbounded [default: 268435456].
    #[arg(long, env = "BUNKERD_OUTBOUND_BYTES_TOTAL", value_name = "BYTES")]
    pub outbound_bytes_total: Option<usize>,
    /// Seconds without a frame from a websocket client before it is pinged; silent as long again,
    /// it is disconnected; 0 = never [default: 30].
    #[arg(long, env = "BUNKERD_PING_INTERVAL_SECS", value_name = "SECS")]
    pub ping_interval_secs: Option<u64>,
    /// Seconds a websocket may stay open without a subscription; 0 = forever [default: 60].
    #[arg(
        long,
        env = "BUNKERD_IDLE_WITHOUT_SUBSCRIPTION_SECS",
        value_name = "SECS"
    )]
    pub idle_without_subscription_secs: Option<u64>,
    /// Seconds an HTTP connection of the relay port may take to send a request head or stay idle
    /// between requests [default: 30].
    #[arg(long, env = "BUNKERD_HTTP_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub http_idle_timeout_secs: Option<u64>,
}

/// Applies `$op` field by field over every [`LimitSettings`] field, so adding a limit is one line
/// in each of the struct, [`Limits`] and this list.
macro_rules! each_limit {
    ($mac:ident) => {
        $mac!(
            max_subscriptions,
            max_filters,
            created_at_window_secs,
            events_per_sec,
            events_burst,
            max_connections,
            max_connections_per_ip,
            max_subscriptions_per_ip,
            ip_events_per_sec,
            ip_events_burst,
            tenant_requests_per_sec,
            tenant_burst,
            rate_limited_demotion_secs,
            unpaired_requests_per_sec,
            write_timeout_secs,
            outbound_bytes_per_connection,
            outbound_bytes_total,
            ping_interval_secs,
            idle_without_subscription_secs,
            http_idle_timeout_secs
        )
    };
}

impl LimitSettings {
    /// Each field of `self`, or else `lower`'s.
    fn or(self, lower: LimitSettings) -> LimitSettings {
        macro_rules! merge {
            ($($field:ident),*) => {
                LimitSettings { $($field: self.$field.or(lower.$field)),* }
            };
        }
        each_limit!(merge)
    }

    /// The [`Limits`] of this layer over the defaults.
    fn with_defaults(self) -> Limits {
        let defaults = Limits::default();
        macro_rules! fill {
            ($($field:ident),*) => {
                Limits { $($field: self.$field.unwrap_or(defaults.$field)),* }
            };
        }
        each_limit!(fill)
    }
}

impl Settings {
    /// Each field of `self`, or else `lower`'s: `flags.or(file)`.
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            data_dir: self.data_dir.or(lower.data_dir),
            store: self.store.or(lower.store),
            store_password_file: self.store_password_file.or(lower.store_password_file),
            store_pool_size: self.store_pool_size.or(lower.store_pool_size),
            cluster_bus: self.cluster_bus.or(lower.cluster_bus),
            listen: self.listen.or(lower.listen),
            admin_listen: self.admin_listen.or(lower.admin_listen),
            public_url: self.public_url.or(lower.public_url),
            admin_public_url: self.admin_public_url.or(lower.admin_public_url),
            nip49_max_log_n: self.nip49_max_log_n.or(lower.nip49_max_log_n),
            admin_auth_failure_burst: self
                .admin_auth_failure_burst
                .or(lower.admin_auth_failure_burst),
            admin_auth_failures_per_min: self
                .admin_auth_failures_per_min
                .or(lower.admin_auth_failures_per_min),
            master_key_file: self.master_key_file.or(lower.master_key_file),
            master_key: self.master_key.or(lower.master_key),
            master_key_credentials_file: self
                .master_key_credentials_file
                .or(lower.master_key_credentials_file),
            operator_token_file: self.operator_token_file.or(lower.operator_token_file),
            workers: self.workers.or(lower.workers),
            io_policy: self.io_policy.or(lower.io_policy),
            queue_capacity: self.queue_capacity.or(lower.queue_capacity),
            tenant_queue_capacity: self.tenant_queue_capacity.or(lower.tenant_queue_capacity),
            real_ip_header: self.real_ip_header.or(lower.real_ip_header),
            shutdown_grace_secs: self.shutdown_grace_secs.or(lower.shutdown_grace_secs),
            log: self.log.or(lower.log),
            log_format: self.log_format.or(lower.log_format),
            approval_ttl_secs: self.approval_ttl_secs.or(lower.approval_ttl_secs),
            foreign_relays_max: self.foreign_relays_max.or(lower.foreign_relays_max),
            foreign_relays_per_tenant: self
                .foreign_relays_per_tenant
                .or(lower.foreign_relays_per_tenant),
            foreign_sessions_per_tenant: self
                .foreign_sessions_per_tenant
                .or(lower.foreign_sessions_per_tenant),
            foreign_relays_ca_file: self.foreign_relays_ca_file.or(lower.foreign_relays_ca_file),
            foreign_relays_allow_private: self
                .foreign_relays_allow_private
                .or(lower.foreign_relays_allow_private),
            limits: self.limits.or(lower.limits),
        }
    }

    /// The [`Config`] of `flags` (flags and environment, clap having put each flag over its
    /// variable) over `file` over the defaults, with the operator token resolved. Does not
    /// validate: call [`Config::validate`] next.
    ///
    /// The operator token comes from the highest layer that names one: `operator_token` (the
    /// `BUNKERD_OPERATOR_TOKEN` variable, which belongs to the flags/env layer) or
    /// `flags.operator_token_file`, else `file.operator_token_file`, else none (the server then
    /// reads or generates `<data-dir>/operator.token`). The token file is read here.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `operator-token-file` when both `BUNKERD_OPERATOR_TOKEN` and
    /// `--operator-token-file`/`BUNKERD_OPERATOR_TOKEN_FILE` are set (one layer, two tokens), when
    /// the token file cannot be read, or when its token is shorter than 16 characters.
    pub fn resolve(
        flags: Settings,
        file: Settings,
        operator_token: Option<Zeroizing<String>>,
    ) -> Result<Config, ConfigError> {
        let token = match (operator_token, &flags.operator_token_file) {
            (Some(_), Some(_)) => {
                return Err(invalid!(
                    "operator-token-file",
                    "cannot be combined with BUNKERD_OPERATOR_TOKEN; set one of them"
                ))
            }
            (Some(token), None) => Some(token),
            (None, _) => None,
        };
        let merged = flags.or(file);
        let token = match (token, &merged.operator_token_file) {
            (Some(token), _) => Some(token),
            (None, Some(path)) => Some(read_token_file(path)?),
            (None, None) => None,
        };
        let mut config = merged.with_defaults();
        config.operator_token = token;
        Ok(config)
    }

    /// The [`Config`] of this layer over the defaults, without an operator token.
    pub fn with_defaults(self) -> Config {
        Config {
            data_dir: self.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            store: self.store,
            store_password_file: self.store_password_file,
            store_pool_size: self.store_pool_size.unwrap_or(DEFAULT_STORE_POOL_SIZE),
            cluster_bus: self.cluster_bus,
            listen: self
                .listen
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid literal")),
            admin_listen: self
                .admin_listen
                .unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.parse().expect("valid literal")),
            public_url: self.public_url,
            admin_public_url: self.admin_public_url,
            nip49_max_log_n: self.nip49_max_log_n.unwrap_or(DEFAULT_NIP49_MAX_LOG_N),
            admin_auth_failure_burst: self
                .admin_auth_failure_burst
                .unwrap_or(DEFAULT_ADMIN_AUTH_FAILURE_BURST),
            admin_auth_failures_per_min: self
                .admin_auth_failures_per_min
                .unwrap_or(DEFAULT_ADMIN_AUTH_FAILURES_PER_MIN),
            master_key_file: self.master_key_file,
            master_key: self.master_key,
            master_key_credentials_file: self.master_key_credentials_file,
            operator_token: None,
            workers: self.workers.unwrap_or(0),
            io_policy: self.io_policy.unwrap_or_default(),
            queue_capacity: self.queue_capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY),
            tenant_queue_capacity: self.tenant_queue_capacity.unwrap_or_else(|| {
                default_tenant_queue_capacity(self.queue_capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY))
            }),
            real_ip_header: self.real_ip_header,
            limits: self.limits.with_defaults(),
            shutdown_grace: Duration::from_secs(
                self.shutdown_grace_secs
                    .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
            ),
            log: self.log.unwrap_or_else(|| DEFAULT_LOG.to_owned()),
            log_format: self.log_format.unwrap_or_default(),
            approval_ttl_secs: self
                .approval_ttl_secs
                .unwrap_or(signer::approvals::DEFAULT_APPROVAL_TTL_SECS),
            foreign: {
                let defaults = ForeignSettings::default();
                ForeignSettings {
                    max_relays: self.foreign_relays_max.unwrap_or(defaults.max_relays),
                    max_relays_per_tenant: self
                        .foreign_relays_per_tenant
                        .unwrap_or(defaults.max_relays_per_tenant),
                    max_sessions_per_tenant: self
                        .foreign_sessions_per_tenant
                        .unwrap_or(defaults.max_sessions_per_tenant),
                    ca_file: self.foreign_relays_ca_file,
                    allow_private: self.foreign_relays_allow_private.unwrap_or(false),
                }
            },
        }
    }
}

/// Reads an operator token file: the token is its content without surrounding whitespace.
fn read_token_file(path: &Path) -> Result<Zeroizing<String>, ConfigError> {
    let content = std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| {
            invalid!(
                "operator-token-file",
                "cannot read",
                format!(" {}: {e}", path.display())
            )
        })?;
    let token = Zeroizing::new(content.trim().to_owned());
    if token.chars().count() < MIN_OPERATOR_TOKEN_LEN {
        return Err(invalid!(
            "operator-token-file",
            "the token must be at least 16 characters",
            format!(" (in {})", path.display())
        ));
    }
    Ok(token)
}

/// Deserializes a clap `ValueEnum` (e.g. [`IoPolicy`]) from its lowercase name, so the file
/// accepts exactly what the flag accepts.
fn value_enum<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: clap::ValueEnum,
{
    let name = String::deserialize(deserializer)?;
    T::from_str(&name, false).map(Some).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        serde::de::Error::custom(format!("expected one of {}", names.join(", ")))
    })
}
