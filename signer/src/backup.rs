//! What a store holds, checked: the master key's self-test, then every sealed key opened.
//!
//! Role: [`verify_store`] is `bunkerd backup verify` and the check that ends a restore. It
//! reads only; it may run over a store no server uses (a backup loaded into a
//! [`store::MemStore`], a restored directory before its first start).
//! Must not: write to the store, or return or print key material (counts and ids only).
//!
//! Main items: [`verify_store`], [`VerifyReport`].

use crate::directory::{Directory, KeyFailure};
use crate::sessions::Sessions;
use crate::Error;
use kms::{MasterKey, Vault};
use std::sync::Arc;
use store::{Cf, Store};

/// What [`verify_store`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Tenants.
    pub tenants: u64,
    /// Users in the routing index.
    pub users: u64,
    /// Secret keys that opened and matched their public key (two per sound user).
    pub keys_opened: u64,
    /// Users whose keys failed, with why.
    pub failures: Vec<KeyFailure>,
    /// Client sessions.
    pub sessions: u64,
    /// Tenant data-key records (one per tenant; more mean an interrupted rotation, finished by
    /// the server's custody task at its next start).
    pub data_key_records: u64,
    /// The master key's provider, key name and the versions that wrap the store.
    pub master_key: String,
}

impl VerifyReport {
    /// Whether every key opened.
    pub fn sound(&self) -> bool {
        self.failures.is_empty() && self.keys_opened == 2 * self.users
    }
}

/// Runs the master key's self-test over `store` (its canary), then unseals both secret keys of
/// every user and checks them against their public keys.
///
/// # Errors
///
/// [`Error::Kms`] with [`kms::Error::Custody`] when `master` does not open the store (another
/// key, a missing version), [`kms::Error::Provider`] when it cannot be reached; [`Error::Kms`]
/// or [`Error::Corrupt`] when records cannot be read. Per-user failures are in the report.
pub fn verify_store(
    store: Arc<dyn Store>,
    master: Arc<dyn MasterKey>,
) -> Result<VerifyReport, Error> {
    let vault = Vault::load(master, store.clone())?;
    let status = vault.master_status()?;
    let name = if status.info.key.is_empty() {
        String::new()
    } else {
        format!(" {:?}", status.info.key)
    };
    let master_key = format!(
        "{} master key{name}, versions {:?} wrapping the store",
        status.info.provider,
        status.wrapped_by_version.keys().collect::<Vec<_>>()
    );
    // One cached key set at a time: every user is unsealed once and dropped.
    let directory = Directory::load(store.clone(), vault, 1)?;
    let (keys_opened, failures) = directory.verify_keys();
    let mut data_key_records = 0u64;
    store.scan_prefix(Cf::Deks, b"", &mut |_, _| {
        data_key_records += 1;
        true
    })?;
    Ok(VerifyReport {
        tenants: directory.tenant_count() as u64,
        users: directory.route_count() as u64,
        keys_opened,
        failures,
        sessions: Sessions::load(store.as_ref())?.len() as u64,
        data_key_records,
        master_key,
    })
}
