//! [`Vault`]: envelope encryption over a store. Master key (KEK) → one data key (DEK) per tenant
//! → sealed secrets.
//!
//! Role: create, cache, use and destroy tenant data keys. A DEK is stored only wrapped by the
//! master key, in [`Cf::Deks`] under the tenant id, as a sealed record whose plaintext is
//! `key id (u32 big-endian) ‖ key (32 bytes)` and whose binding is
//! `{record: "dek", tenant, owner: "", role: "dek"}`.
//! What it must not do: store a DEK unwrapped, decide where sealed records are stored (callers
//! keep them in their own rows), or know what the sealed bytes mean.
//!
//! Main type: [`Vault`].

use crate::envelope::{Binding, DataKey};
use crate::master::MasterKey;
use crate::Error;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use store::{Batch, Cf, Durability, Store};
use zeroize::Zeroizing;

/// Byte length of a wrapped DEK's plaintext: key id (4) ‖ key (32).
const WRAPPED_PLAINTEXT_LEN: usize = 4 + 32;

type Cache = HashMap<String, Arc<DataKey>>;

/// Envelope encryption for many tenants over one master key and one store.
///
/// Unwrapped DEKs are cached per tenant for the life of the vault (one entry per tenant; they
/// are zeroized when dropped). Every method may block on the store: call it off async threads.
pub struct Vault {
    master: Arc<dyn MasterKey>,
    store: Arc<dyn Store>,
    deks: RwLock<Cache>,
}

impl Vault {
    /// A vault that wraps DEKs with `master` and keeps them in `store`.
    pub fn new(master: Arc<dyn MasterKey>, store: Arc<dyn Store>) -> Vault {
        Vault {
            master,
            store,
            deks: RwLock::new(HashMap::new()),
        }
    }

    /// Generates a tenant's DEK, wraps it with the master key (binding
    /// `{record: "dek", tenant, owner: "", role: "dek"}`), and adds the put of the wrapped DEK
    /// ([`Cf::Deks`], key = tenant id bytes) to `batch`; the caller writes the batch durably
    /// together with the tenant record, so tenant and DEK appear atomically. Caches the DEK.
    ///
    /// Call it once per tenant: calling it again replaces the DEK, and records sealed under the
    /// old one then fail with [`Error::UnknownKeyId`]. If the caller's batch is never written,
    /// it must call [`Vault::destroy_data_key`] to drop the cached DEK.
    ///
    /// # Errors
    ///
    /// Whatever [`MasterKey::seal`] returns (the embedded master keys never fail).
    ///
    /// # Panics
    ///
    /// If `tenant` is longer than 65 535 bytes, or the OS random number generator fails.
    pub fn create_data_key(&self, tenant: &str, batch: &mut Batch) -> Result<(), Error> {
        let dek = DataKey::generate();
        let mut plaintext = Zeroizing::new([0u8; WRAPPED_PLAINTEXT_LEN]);
        plaintext[..4].copy_from_slice(&dek.id().to_be_bytes());
        plaintext[4..].copy_from_slice(dek.expose_bytes());
        let wrapped = self.master.seal(plaintext.as_ref(), &dek_binding(tenant))?;
        batch.put(Cf::Deks, tenant.as_bytes(), wrapped);
        self.write_cache().insert(tenant.to_owned(), Arc::new(dek));
        Ok(())
    }

    /// Seals `plaintext` under the tenant's DEK (loaded and unwrapped from the store on first
    /// use) with `Binding {record, tenant, owner, role}`.
    ///
    /// # Errors
    ///
    /// - [`Error::NoDataKey`]: the tenant has no DEK (never created, or destroyed).
    /// - [`Error::Store`]: the store failed to read the wrapped DEK.
    /// - [`Error::Corrupt`]: the wrapped DEK opened but is not 36 bytes.
    /// - Any error of [`MasterKey::open`] on the wrapped DEK, e.g. [`Error::UnknownKeyId`] when
    ///   the vault runs with a different master key than the one that wrapped it.
    ///
    /// # Panics
    ///
    /// If a binding field is longer than 65 535 bytes, or the OS random number generator fails.
    ///
    /// # Security
    ///
    /// Output format and guarantees are those of [`DataKey::seal`].
    pub fn seal(
        &self,
        tenant: &str,
        record: &str,
        owner: &str,
        role: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let binding = Binding {
            record,
            tenant,
            owner,
            role,
        };
        Ok(self.data_key(tenant)?.seal(plaintext, &binding))
    }

    /// Opens a record sealed by [`Vault::seal`] with the same tenant, record, owner and role.
    ///
    /// # Errors
    ///
    /// Those of [`Vault::seal`] for loading the DEK, then those of [`DataKey::open`]:
    /// [`Error::Truncated`], [`Error::UnknownVersion`], [`Error::UnknownAlgorithm`],
    /// [`Error::UnknownKeyId`] (sealed under another DEK, e.g. another tenant's), and
    /// [`Error::WrongKeyOrTampered`] (changed bytes, or another record/owner/role/tenant).
    ///
    /// # Security
    ///
    /// The plaintext is zeroized when the returned buffer is dropped.
    pub fn open(
        &self,
        tenant: &str,
        record: &str,
        owner: &str,
        role: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let binding = Binding {
            record,
            tenant,
            owner,
            role,
        };
        self.data_key(tenant)?.open(sealed, &binding)
    }

    /// Crypto-shred: deletes the tenant's wrapped DEK (synced to disk) and forgets the cached
    /// one; afterwards every record sealed for that tenant fails with [`Error::NoDataKey`].
    /// Destroying a tenant without a DEK is not an error.
    ///
    /// Other `Vault` instances over the same store keep their cached copy until dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the delete cannot be written; the cached DEK is then kept.
    pub fn destroy_data_key(&self, tenant: &str) -> Result<(), Error> {
        // Holding the write lock across the delete stops a concurrent first load from putting
        // the DEK back into the cache after it has been removed.
        let mut cache = self.write_cache();
        let mut batch = Batch::new();
        batch.delete(Cf::Deks, tenant.as_bytes());
        self.store.write(batch, Durability::Sync)?;
        cache.remove(tenant);
        Ok(())
    }

    /// The key id of the master key wrapping the DEKs (see [`MasterKey::key_id`]).
    pub fn master_key_id(&self) -> u32 {
        self.master.key_id()
    }

    /// The tenant's DEK: from the cache, or loaded, unwrapped and cached.
    fn data_key(&self, tenant: &str) -> Result<Arc<DataKey>, Error> {
        if let Some(dek) = self.read_cache().get(tenant) {
            return Ok(Arc::clone(dek));
        }
        // First use in this process: load under the write lock (see `destroy_data_key`). It
        // happens once per tenant, so serialising it costs little.
        let mut cache = self.write_cache();
        if let Some(dek) = cache.get(tenant) {
            return Ok(Arc::clone(dek));
        }
        let dek = Arc::new(self.load_data_key(tenant)?);
        cache.insert(tenant.to_owned(), Arc::clone(&dek));
        Ok(dek)
    }

    fn load_data_key(&self, tenant: &str) -> Result<DataKey, Error> {
        let wrapped = self
            .store
            .get(Cf::Deks, tenant.as_bytes())?
            .ok_or_else(|| Error::NoDataKey(tenant.to_owned()))?;
        let plaintext = self.master.open(&wrapped, &dek_binding(tenant))?;
        let (id, key) = plaintext
            .split_first_chunk::<4>()
            .filter(|(_, key)| key.len() == 32)
            .ok_or_else(|| corrupt_dek(tenant, plaintext.len()))?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(key);
        Ok(DataKey::from_bytes(*bytes, u32::from_be_bytes(*id)))
    }

    fn read_cache(&self) -> RwLockReadGuard<'_, Cache> {
        // The map is updated by single insert/remove calls, so a poisoned lock still guards a
        // consistent map.
        self.deks.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, Cache> {
        self.deks.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field(
                "master_key_id",
                &format_args!("{:#010x}", self.master.key_id()),
            )
            .field("cached_data_keys", &self.read_cache().len())
            .finish_non_exhaustive()
    }
}

fn dek_binding(tenant: &str) -> Binding<'_> {
    Binding {
        record: "dek",
        tenant,
        owner: "",
        role: "dek",
    }
}

fn corrupt_dek(tenant: &str, len: usize) -> Error {
    Error::Corrupt(format!(
        "wrapped data key of tenant {tenant:?} holds {len} bytes, expected {WRAPPED_PLAINTEXT_LEN}"
    ))
}

#[cfg(test)]
mod tests;
