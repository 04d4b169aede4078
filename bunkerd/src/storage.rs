//! The store the configuration names, opened: RocksDB in `<data-dir>/db` (the default) or the
//! PostgreSQL database of `--store`.
//!
//! Must not: put the PostgreSQL password in a message ([`describe`] redacts it), or let two
//! processes serve one PostgreSQL database (the store holds its sole-process lock).
//!
//! Main items: [`open`], [`describe`], [`holds_records`].

use crate::{Config, Error};
use std::sync::Arc;
use store::{Cf, PgOptions, PgStore, RocksStore, Store};

/// Opens the configured store (creating RocksDB's directory, or applying PostgreSQL's migrations).
///
/// # Errors
///
/// [`Error::Config`] when `store-password-file` cannot be read; [`Error::Store`] when the engine
/// cannot open: RocksDB locked by another process or damaged; PostgreSQL unreachable within 5 s,
/// refusing the credentials, failing a migration, or used by another bunkerd process.
pub(crate) fn open(config: &Config) -> Result<Arc<dyn Store>, Error> {
    match &config.store {
        None => Ok(Arc::new(RocksStore::open(&config.data_dir.join("db"))?)),
        Some(url) => {
            let mut url = url.expose().to_owned();
            if let Some(password) = config.store_password()? {
                url = with_password(&url, &password);
            }
            let options = PgOptions {
                pool_size: config.store_pool_size,
                sole_process: true,
                ..PgOptions::default()
            };
            let store = PgStore::connect(&url, &options);
            zeroize::Zeroize::zeroize(&mut url);
            Ok(Arc::new(store?))
        }
    }
}

/// The configured store in words for logs: `RocksDB in <dir>` or the PostgreSQL URL without its
/// password.
pub(crate) fn describe(config: &Config) -> String {
    match &config.store {
        None => format!("RocksDB in {}", config.data_dir.join("db").display()),
        Some(url) => format!("PostgreSQL at {}", url.redacted()),
    }
}

/// Whether `store` holds any record, in any column family.
///
/// # Errors
///
/// [`Error::Store`] when a scan fails.
pub(crate) fn holds_records(store: &dyn Store) -> Result<bool, Error> {
    let mut found = false;
    for cf in Cf::ALL {
        store.scan_prefix(cf, b"", &mut |_, _| {
            found = true;
            false
        })?;
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `url` with `password` as the password of its user info (percent-encoded), replacing any.
fn with_password(url: &str, password: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let encoded = utf8_percent_encode(password, NON_ALPHANUMERIC);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, hosts)) => {
            let user = user_info.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:{encoded}@{hosts}{tail}")
        }
        None => format!("{scheme}://:{encoded}@{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_password_file_replaces_the_urls_password() {
        let cases = [
            ("postgres://u@db/b", "postgres://u:p%40ss%2F@db/b"),
            (
                "postgres://u:old@db:5/b?x=1",
                "postgres://u:p%40ss%2F@db:5/b?x=1",
            ),
            ("postgres://db/b", "postgres://:p%40ss%2F@db/b"),
        ];
        for (url, expected) in cases {
            assert_eq!(super::with_password(url, "p@ss/"), expected);
        }
    }
}
