//! The checks behind [`Config::validate`], one function per group of settings.
//!
//! Must not: create or modify anything (the master key file is opened read-only; kms reads it
//! to check its form, and its bytes go nowhere), connect to a master-key provider, or put a
//! token or key byte into an error. Each error names the setting as its flag.

use super::error::invalid;
use super::{
    Config, ConfigError, MasterKeySource, MAX_CREATED_AT_WINDOW_SECS, MAX_QUEUE_CAPACITY,
    MAX_WORKERS, MIN_OPERATOR_TOKEN_LEN,
};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Permission bits `kms::FileMasterKey` refuses on a master key file: any group or other access.
const GROUP_OTHER_BITS: u32 = 0o077;

/// The relay and admin listeners must not ask for the same socket.
pub(super) fn addresses(config: &Config) -> Result<(), ConfigError> {
    if same_socket(config.listen, config.admin_listen) {
        return Err(invalid!(
            "admin-listen",
            "must differ from listen",
            format!(" (both are port {})", config.listen.port())
        ));
    }
    Ok(())
}

/// Whether binding both would collide: the same non-zero port on the same IP, or on a wildcard
/// IP of the same family (which covers every address).
fn same_socket(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// `public-url` is a websocket URL, `admin-public-url` an HTTP base URL (NIP-98 compares the
/// request URL against it, so it has no query).
pub(super) fn urls(config: &Config) -> Result<(), ConfigError> {
    if let Some(url) = &config.public_url {
        if !url_ok(url, &["ws://", "wss://"]) {
            return Err(invalid!(
                "public-url",
                "must be a ws:// or wss:// URL with a host, without whitespace or a fragment"
            ));
        }
    }
    if let Some(url) = &config.admin_public_url {
        if !url_ok(url, &["http://", "https://"]) || url.contains('?') {
            return Err(invalid!(
                "admin-public-url",
                "must be an http:// or https:// base URL with a host, without whitespace, a \
                 query or a fragment"
            ));
        }
    }
    Ok(())
}

/// One of `schemes`, then a non-empty authority, and no whitespace or fragment anywhere.
fn url_ok(url: &str, schemes: &[&str]) -> bool {
    let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !authority.is_empty() && !url.contains(char::is_whitespace) && !url.contains('#')
}

/// Counts and durations are within their bounds.
pub(super) fn numbers(config: &Config) -> Result<(), ConfigError> {
    let got = |n: u64| format!(" (got {n})");
    if config.workers > MAX_WORKERS {
        return Err(invalid!(
            "workers",
            "must be at most 1024 (0 = one per core)",
            got(config.workers as u64)
        ));
    }
    if config.queue_capacity == 0 || config.queue_capacity > MAX_QUEUE_CAPACITY {
        return Err(invalid!(
            "queue-capacity",
            "must be from 1 to 1048576",
            got(config.queue_capacity as u64)
        ));
    }
    if config.tenant_queue_capacity == 0 || config.tenant_queue_capacity > config.queue_capacity {
        return Err(invalid!(
            "tenant-queue-capacity",
            "must be from 1 to queue-capacity",
            got(config.tenant_queue_capacity as u64)
        ));
    }
    if config.limits.max_filters > relay::message::MAX_FILTERS_PER_REQ {
        return Err(invalid!(
            "max-filters",
            "must be at most 256",
            got(config.limits.max_filters as u64)
        ));
    }
    if let Some(header) = &config.real_ip_header {
        if hyper::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(invalid!("real-ip-header", "not a valid HTTP header name"));
        }
    }
    if config.shutdown_grace.is_zero() {
        return Err(invalid!("shutdown-grace-secs", "must be at least 1"));
    }
    let limits = &config.limits;
    macro_rules! at_least_one {
        ($($name:literal => $n:expr),*) => {$(
            if $n == 0 {
                return Err(invalid!($name, "must be at least 1"));
            }
        )*};
    }
    at_least_one!(
        "max-subscriptions" => limits.max_subscriptions,
        "max-filters" => limits.max_filters,
        "max-connections" => limits.max_connections,
        "max-connections-per-ip" => limits.max_connections_per_ip,
        "max-subscriptions-per-ip" => limits.max_subscriptions_per_ip,
        "http-idle-timeout-secs" => limits.http_idle_timeout_secs
    );
    let window = config.limits.created_at_window_secs;
    if window == 0 || window > MAX_CREATED_AT_WINDOW_SECS {
        return Err(invalid!(
            "created-at-window-secs",
            "must be from 1 to 86400",
            got(window)
        ));
    }
    Ok(())
}

/// The admin API's own limits: the NIP-49 LOG_N cap and the failed-authentication throttle.
pub(super) fn admin(config: &Config) -> Result<(), ConfigError> {
    let limit = proto::nostr::nip49::LOG_N_LIMIT;
    let log_n = config.nip49_max_log_n;
    if log_n == 0 || log_n > limit {
        return Err(invalid!(
            "nip49-max-log-n",
            "must be from 1 to 20 (scrypt takes 2^(LOG_N+10) bytes: 18 = 256 MiB, 20 = 1 GiB)",
            format!(" (got {log_n})")
        ));
    }
    if config.admin_auth_failure_burst == 0 && config.admin_auth_failures_per_min != 0 {
        return Err(invalid!(
            "admin-auth-failure-burst",
            "must be at least 1 (set admin-auth-failures-per-min to 0 to turn the throttle off)"
        ));
    }
    Ok(())
}

/// The log filter parses as a tracing `EnvFilter`.
pub(super) fn log_filter(filter: &str) -> Result<(), ConfigError> {
    match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(_) => Ok(()),
        Err(e) => Err(invalid!(
            "log",
            "not a valid tracing filter",
            format!(": {e}")
        )),
    }
}

/// A configured operator token is long enough not to be guessed.
pub(super) fn operator_token(config: &Config) -> Result<(), ConfigError> {
    let short = config
        .operator_token
        .as_ref()
        .is_some_and(|t| t.trim().chars().count() < MIN_OPERATOR_TOKEN_LEN);
    if short {
        return Err(invalid!("operator-token", "must be at least 16 characters"));
    }
    Ok(())
}

/// The data directory is a directory, or does not exist yet (the server creates it).
pub(super) fn store(config: &Config) -> Result<(), ConfigError> {
    if config.store_pool_size == 0 || config.store_pool_size > super::MAX_STORE_POOL_SIZE {
        return Err(invalid!("store-pool-size", "must be 1 to 256"));
    }
    if let Some(bus) = &config.cluster_bus {
        bus.check()?;
        if config.store.is_none() {
            return Err(invalid!(
                "cluster-bus",
                "needs store: the nodes of a cluster share one PostgreSQL database"
            ));
        }
    }
    match (&config.store, &config.store_password_file) {
        (None, Some(_)) => Err(invalid!("store-password-file", "is set without store")),
        (None, None) => Ok(()),
        (Some(url), file) => {
            url.check()?;
            match file {
                Some(_) => config.store_password().map(drop),
                None => Ok(()),
            }
        }
    }
}

pub(super) fn data_dir(dir: &Path) -> Result<(), ConfigError> {
    if dir.as_os_str().is_empty() {
        return Err(invalid!("data-dir", "must not be empty"));
    }
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(invalid!(
            "data-dir",
            "must be a directory",
            format!(": {} is not", dir.display())
        )),
        _ => Ok(()),
    }
}

/// The master key: a file `kms::FileMasterKey::load` accepts (a configured file must exist; the
/// default `<data-dir>/master.key` may be absent — the server creates it only for a store
/// without keys — but, when present, must be valid too, so that it fails here and not after the
/// listeners are bound), or a KMS URI with a credential.
pub(super) fn master_key(config: &Config) -> Result<(), ConfigError> {
    match config.master_key_source()? {
        MasterKeySource::File {
            path,
            default: false,
        } => key_file(&path, &path.display().to_string()),
        MasterKeySource::File {
            path,
            default: true,
        } => {
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok(());
            }
            key_file(
                &path,
                &format!("{} (the default in data-dir)", path.display()),
            )
        }
        MasterKeySource::Transit { .. } => {
            config.master_key_credential()?;
            config.master_key_ca().map(drop)
        }
        MasterKeySource::Pkcs11 { module, .. } => {
            if !module.is_file() {
                return Err(invalid!(
                    "master-key",
                    "names a PKCS#11 module that is not a file",
                    format!(": {}", module.display())
                ));
            }
            config.master_key_credential().map(drop)
        }
        MasterKeySource::AwsKms { .. } => match config.master_key_credentials_file {
            Some(_) => Err(invalid!(
                "master-key-credentials-file",
                "is not used by aws-kms: credentials come from the AWS SDK's default chain \
                 (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)"
            )),
            None => Ok(()),
        },
    }
}

/// Opens `path` read-only and checks type and mode on the opened handle, then that kms reads it
/// as a key or keyring file; `shown` is how the path appears in errors.
fn key_file(path: &Path, shown: &str) -> Result<(), ConfigError> {
    let cannot_read =
        |e: std::io::Error| invalid!("master-key-file", "cannot read", format!(" {shown}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let meta = file.metadata().map_err(cannot_read)?;
    if !meta.is_file() {
        return Err(invalid!(
            "master-key-file",
            "must be a regular file",
            format!(": {shown} is not")
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(invalid!(
            "master-key-file",
            "must not allow group or other access (mode 0600)",
            format!(": {shown} has mode {mode:04o}")
        ));
    }
    if let Err(kms::Error::MasterKeyFile { reason, .. }) = kms::FileMasterKey::load(path) {
        return Err(invalid!(
            "master-key-file",
            "must be 32 raw bytes or a keyring file",
            format!(": {shown}: {reason}")
        ));
    }
    Ok(())
}

/// `foreign-relays-ca-file`, when set, must hold at least one PEM certificate.
pub(super) fn foreign_ca_file(config: &Config) -> Result<(), ConfigError> {
    let Some(path) = &config.foreign.ca_file else {
        return Ok(());
    };
    relay::foreign::check_ca_file(path).map_err(|e| {
        invalid!(
            "foreign-relays-ca-file",
            "cannot be used",
            format!(" ({e})")
        )
    })
}

/// `approval-ttl-secs`: 1 to 86400.
pub(super) fn approval_ttl(config: &Config) -> Result<(), ConfigError> {
    if !(1..=86_400).contains(&config.approval_ttl_secs) {
        return Err(invalid!("approval-ttl-secs", "must be 1 to 86400 seconds"));
    }
    Ok(())
}
