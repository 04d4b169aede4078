//! The relay's configuration: plain data, validated before any port is bound.
//!
//! The binary fills it from flags and `BUNKERD_*` environment variables (see `main.rs`); tests build
//! it directly with [`Config::for_data_dir`]. Defaults follow design.md §6 so that `bunkerd serve`
//! with no flags runs on one laptop.

use crate::session::Limits;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// Everything `bunkerd serve` needs.
#[derive(Clone)]
pub struct Config {
    /// RocksDB directory, dev master key and generated operator token live here. Default: `./data`.
    pub data_dir: PathBuf,
    /// Relay (websocket + NIP-11) listen address. Default: `127.0.0.1:7447`.
    pub listen: SocketAddr,
    /// Admin API listen address. Default: `127.0.0.1:7448` (loopback: the admin API is not public).
    pub admin_listen: SocketAddr,
    /// Public relay URL written into bunker URIs and `switch_relays` replies. Default: `ws://` + the
    /// bound relay address.
    pub public_url: Option<String>,
    /// The admin API's public base URL (e.g. `https://admin.bunker.example`), the prefix of the URL a
    /// NIP-98 event's `u` tag must name. Default: `http://` + the request's `Host` header, which is
    /// right only when clients reach the listener directly; set it behind a TLS proxy.
    pub admin_public_url: Option<String>,
    /// 32-byte master key file. Default: `<data_dir>/master.key`, created (0600) if absent.
    pub master_key_file: Option<PathBuf>,
    /// Operator token for the admin API. Default: read from `<data_dir>/operator.token`, or generated
    /// there (0600) on first start.
    pub operator_token: Option<Zeroizing<String>>,
    /// Signer worker threads; 0 = one per core. Default: 0.
    pub workers: usize,
    /// Scheduling policy of the I/O threads (applied by the binary's runtime; the signer threads are set
    /// to SCHED_OTHER under `Batch`). Default: `Batch`. See [`crate::sched`].
    pub io_policy: crate::sched::IoPolicy,
    /// Signer queue capacity (jobs). Default: 4096.
    pub queue_capacity: usize,
    /// Per-connection limits.
    pub limits: Limits,
    /// How long shutdown waits for connections and in-flight requests. Default: 10 s.
    pub shutdown_grace: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("public_url", &self.public_url)
            .field("admin_public_url", &self.admin_public_url)
            .field("master_key_file", &self.master_key_file)
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "[redacted]"),
            )
            .field("workers", &self.workers)
            .field("io_policy", &self.io_policy)
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

/// Default relay listen address (design.md §6).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7447";
/// Default admin listen address (design.md §6).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:7448";

impl Config {
    /// The defaults of design.md §6 with the given data directory.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            listen: DEFAULT_LISTEN.parse().expect("valid literal"),
            admin_listen: DEFAULT_ADMIN_LISTEN.parse().expect("valid literal"),
            public_url: None,
            admin_public_url: None,
            master_key_file: None,
            operator_token: None,
            workers: 0,
            io_policy: crate::sched::IoPolicy::default(),
            queue_capacity: 4096,
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(10),
        }
    }

    /// Checks what can be checked before binding.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] naming the setting: a public URL that is not `ws://`/`wss://`, an
    /// empty operator token, a zero queue capacity.
    pub fn validate(&self) -> Result<(), crate::Error> {
        if let Some(url) = &self.public_url {
            if !(url.starts_with("ws://") || url.starts_with("wss://"))
                || url.contains(char::is_whitespace)
            {
                return Err(crate::Error::Config(
                    "public-url must be a ws:// or wss:// URL",
                ));
            }
        }
        if let Some(url) = &self.admin_public_url {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.contains(char::is_whitespace)
                || url.contains('?')
            {
                return Err(crate::Error::Config(
                    "admin-public-url must be an http:// or https:// base URL without a query",
                ));
            }
        }
        if self
            .operator_token
            .as_ref()
            .is_some_and(|t| t.trim().len() < 16)
        {
            return Err(crate::Error::Config(
                "operator token must be at least 16 characters",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(crate::Error::Config("queue-capacity must be at least 1"));
        }
        Ok(())
    }
}
