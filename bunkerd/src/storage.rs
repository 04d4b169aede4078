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
            let password = config.store_password()?;
            let options = PgOptions {
                pool_size: config.store_pool_size,
                // Nodes of a cluster share the database; a node alone keeps others out, since
                // nothing would tell it of their writes.
                sole_process: config.cluster_bus.is_none(),
                ..PgOptions::default()
            };
            let store = PgStore::connect_as(
                url.expose(),
                password.as_deref().map(|p| p.as_str()),
                &options,
            )?;
            Ok(Arc::new(store))
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
