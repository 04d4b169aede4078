//! [`Vault`]: envelope encryption over a store. Master key (KEK, versioned, in a provider) →
//! data keys (DEKs) of each tenant → sealed secrets.
//!
//! Role: create, cache, use, rotate and destroy tenant data keys; prove at start that the
//! configured master key opens the store (`custody.rs`); rewrap every data key under a new
//! master key version and retire the old ones (`rotation.rs`).
//! What it must not do: store a DEK unwrapped, decide where sealed records are stored (callers
//! keep them in their own rows), or know what the sealed bytes mean.
//!
//! A tenant's keys live in [`Cf::Deks`] under the tenant id as one JSON record
//! (`{"format":2,"current":<id>,"keys":[{"id","provider","key","version","wrapped"}]}`): every
//! DEK the tenant's records may be sealed under, each wrapped by the master key with the
//! provider, key name and version that wrapped it, and which one seals now. A DEK's wrapped
//! plaintext is `key id (u32 big-endian) ‖ key (32 bytes)`, its context the binding
//! `{record: "dek", tenant, owner: "", role: "dek"}`. A record of the first format (a bare
//! envelope record, first byte 1) is read as one DEK wrapped by version 1 of the file provider.
//!
//! Several processes (the nodes of a cluster) may share one store, each with a vault of its own.
//! Every read-modify-write of a DEK record holds this process's record mutex, then the store's
//! lock `VAULT_LOCK` shared and the record's own store lock exclusively ([`Store::lock`]: held
//! across every process on a shared database, nothing more on an engine one process owns); a
//! master-key rotation's steps that span every record hold `VAULT_LOCK` exclusively. These are
//! the last locks anyone takes: nothing else is locked while they are held, so no cycle can form
//! with the callers' own locks. What a vault caches may be older than the store: it seals under
//! the DEK the stored record names current, never under a cached one alone.
//!
//! Main type: [`Vault`].

use crate::envelope::{sealed_key_id, Binding, DataKey};
use crate::master::{MasterKey, Wrapped};
use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use store::{Batch, Cf, Durability, LockMode, Store, StoreLock};
use zeroize::Zeroizing;

pub(crate) mod custody;
mod rotation;

pub use rotation::{MasterKeyStatus, Rewrapped};

/// Byte length of a wrapped DEK's plaintext: key id (4) ‖ key (32).
const WRAPPED_PLAINTEXT_LEN: usize = 4 + 32;
/// Format of the DEK records this build writes.
const DEKS_FORMAT: u8 = 2;
/// Unwrapped tenants kept in memory by default (each holds one or two 32-byte keys).
pub const DEFAULT_DATA_KEY_CACHE: usize = 65_536;
/// The store lock every DEK-record read-modify-write holds shared and a master-key rotation's
/// store-wide steps (begin, the canary, the final check and retirement) hold exclusively.
const VAULT_LOCK: &[u8] = b"kms/vault";

/// The store lock of one tenant's DEK record.
fn record_lock_key(tenant: &str) -> Vec<u8> {
    format!("kms/deks\0{tenant}").into_bytes()
}

/// Held while DEK records are read, modified and written: this process's record mutex, then the
/// store's locks (module docs). Field order is drop order: the store's locks are released
/// before the mutex, the record's before the vault's.
#[must_use = "the locks are released when the guard drops"]
struct RecordGuard<'a> {
    _record: Option<StoreLock>,
    _vault: StoreLock,
    _local: MutexGuard<'a, ()>,
}

/// The DEK record of one tenant, as stored (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DeksRecord {
    format: u8,
    /// Key id of the DEK that seals now.
    current: u32,
    keys: Vec<StoredDek>,
}

/// One wrapped DEK and what wrapped it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredDek {
    id: u32,
    provider: String,
    key: String,
    version: u32,
    /// Base64 of the provider's ciphertext.
    wrapped: String,
}

impl StoredDek {
    fn wrapped(&self) -> Result<Wrapped, Error> {
        let ciphertext = B64
            .decode(&self.wrapped)
            .map_err(|_| Error::Corrupt("wrapped data key is not base64".into()))?;
        Ok(Wrapped {
            version: self.version,
            ciphertext,
        })
    }
}

/// A tenant's unwrapped DEKs.
struct TenantKeys {
    current: Arc<DataKey>,
    /// Every DEK, the current one included (two while a rotation runs).
    all: Vec<Arc<DataKey>>,
}

impl TenantKeys {
    fn by_id(&self, id: u32) -> Option<&Arc<DataKey>> {
        self.all.iter().find(|k| k.id() == id)
    }
}

type Cache = HashMap<String, Arc<TenantKeys>>;

/// Envelope encryption for many tenants over one master key and one store.
///
/// Unwrapped DEKs are cached per tenant (at most `cache_capacity` tenants, an arbitrary one
/// evicted when full; keys are zeroized when their last user drops them), so the provider is
/// asked only on a tenant's first use and the signing path never waits for it. Every method may
/// block on the store or the provider: call it off async threads.
pub struct Vault {
    master: Arc<dyn MasterKey>,
    store: Arc<dyn Store>,
    deks: RwLock<Cache>,
    cache_capacity: usize,
    /// Serialises every read-modify-write of a DEK record and of the canary in this process;
    /// the store's locks serialise them across processes (module docs).
    records: Mutex<()>,
}

impl Vault {
    /// A vault over `store` with `master`, after the start-up self-test (`custody.rs`): the
    /// store's canary must open with `master` (written now for a store without one, after
    /// checking that a data key already stored opens).
    ///
    /// # Errors
    ///
    /// [`Error::Custody`] with a message naming the master key the store needs when `master`
    /// is another provider or key, lacks the version, or is a different key; [`Error::Provider`]
    /// when the provider cannot be reached; [`Error::Store`]. Nothing is written on error.
    pub fn load(master: Arc<dyn MasterKey>, store: Arc<dyn Store>) -> Result<Vault, Error> {
        Self::load_with_capacity(master, store, DEFAULT_DATA_KEY_CACHE)
    }

    /// [`Vault::load`] with at most `cache_capacity` (≥ 1) tenants' DEKs cached.
    ///
    /// # Errors
    ///
    /// As [`Vault::load`].
    pub fn load_with_capacity(
        master: Arc<dyn MasterKey>,
        store: Arc<dyn Store>,
        cache_capacity: usize,
    ) -> Result<Vault, Error> {
        let vault = Vault {
            master,
            store,
            deks: RwLock::new(HashMap::new()),
            cache_capacity: cache_capacity.max(1),
            records: Mutex::new(()),
        };
        vault.self_test()?;
        Ok(vault)
    }

    /// Generates a tenant's first DEK, wraps it with the master key and writes it durably
    /// ([`Cf::Deks`], key = tenant id). Write the tenant's own record after this returns; if
    /// that write fails, call [`Vault::destroy_data_key`].
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] if the tenant already has data keys (also when another process
    /// created them first); [`Error::Provider`] from the master key; [`Error::Custody`] when the
    /// master key wrapped under a version older than the store's keys were rotated to (this
    /// process's copy of the master key is stale, and what it wraps would not outlive the
    /// retirement of that version); [`Error::Store`], also when the store's lock cannot be taken.
    ///
    /// # Panics
    ///
    /// If `tenant` is longer than 65 535 bytes, or the OS random number generator fails.
    pub fn create_data_key(&self, tenant: &str) -> Result<(), Error> {
        let _records = self.lock_record(tenant)?;
        if self.store.get(Cf::Deks, tenant.as_bytes())?.is_some() {
            return Err(Error::Unsupported(
                "creating data keys for a tenant that has them",
            ));
        }
        let dek = DataKey::generate();
        let record = DeksRecord {
            format: DEKS_FORMAT,
            current: dek.id(),
            keys: vec![self.wrap_dek(tenant, &dek)?],
        };
        self.write_record(tenant, &record)?;
        let dek = Arc::new(dek);
        self.cache_insert(
            tenant,
            TenantKeys {
                current: Arc::clone(&dek),
                all: vec![dek],
            },
        );
        Ok(())
    }

    /// Seals `plaintext` under the tenant's current DEK with `Binding {record, tenant, owner,
    /// role}`. Reads the tenant's DEK record on every call (seals are rare: users created,
    /// imported or re-sealed) and seals under the DEK it names current: another process sharing
    /// the store may have rotated and retired the DEK this one cached, and a record sealed under a
    /// retired DEK never opens. A cached DEK that is not the stored current one is dropped and
    /// the record loaded and unwrapped again.
    ///
    /// # Errors
    ///
    /// - [`Error::NoDataKey`]: the tenant has no DEK (never created, or destroyed, possibly by
    ///   another process).
    /// - [`Error::Store`]: the store failed to read the DEK record.
    /// - [`Error::Corrupt`]: the DEK record cannot be decoded, does not hold the DEK it names
    ///   current, or a DEK opened but is not 36 bytes or not the id recorded: nothing is sealed
    ///   rather than sealed under another DEK.
    /// - Any error of [`MasterKey::unwrap`] on a wrapped DEK.
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
        Ok(self.current_for_seal(tenant)?.seal(plaintext, &binding))
    }

    /// Opens a record sealed by [`Vault::seal`] with the same tenant, record, owner and role,
    /// under whichever of the tenant's DEKs its header names.
    ///
    /// # Errors
    ///
    /// Those of [`Vault::seal`] for loading the DEKs, then those of [`DataKey::open`]:
    /// [`Error::Truncated`], [`Error::UnknownVersion`], [`Error::UnknownAlgorithm`],
    /// [`Error::UnknownKeyId`] (sealed under a DEK the tenant does not have, e.g. another
    /// tenant's or a retired one), and [`Error::WrongKeyOrTampered`].
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
        let mut keys = self.keys(tenant)?;
        let id = sealed_key_id(sealed);
        if id.is_some_and(|id| keys.by_id(id).is_none()) {
            // Sealed under a data key this process has not loaded: another process sharing the
            // store rotated the tenant's keys since. Load them again, once.
            self.forget(tenant);
            keys = self.keys(tenant)?;
        }
        let key = id.and_then(|id| keys.by_id(id)).unwrap_or(&keys.current);
        key.open(sealed, &binding)
    }

    /// Whether `sealed` is sealed under the tenant's current DEK as this vault cached it (a
    /// tenant data-key rotation re-seals every record for which this is false). The cache may
    /// predate another process's rotation: call [`Vault::forget`] first when the answer decides
    /// what is destroyed.
    ///
    /// # Errors
    ///
    /// Those of [`Vault::seal`] for loading the DEKs.
    pub fn is_current(&self, tenant: &str, sealed: &[u8]) -> Result<bool, Error> {
        Ok(sealed_key_id(sealed) == Some(self.keys(tenant)?.current.id()))
    }

    /// Crypto-shred: deletes the tenant's DEK record (synced to disk) and forgets the cached
    /// DEKs; afterwards every record sealed for that tenant fails with [`Error::NoDataKey`].
    /// Copies of the store made before keep the record wrapped under the master key version of
    /// the time: they stop opening once that version is retired. Destroying a tenant without a
    /// DEK is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the store's lock cannot be taken or the delete cannot be written; the
    /// cached DEKs are then kept.
    pub fn destroy_data_key(&self, tenant: &str) -> Result<(), Error> {
        let _records = self.lock_record(tenant)?;
        // Holding the cache's write lock across the delete stops a concurrent first load from
        // putting the DEKs back after they are removed.
        let mut cache = self.write_cache();
        let mut batch = Batch::new();
        batch.delete(Cf::Deks, tenant.as_bytes());
        self.store.write(batch, Durability::Sync)?;
        cache.remove(tenant);
        Ok(())
    }

    /// Forgets the tenant's cached data keys, so the next use loads them from the store again:
    /// for a node of a cluster after another node rotated, retired or destroyed them. Takes the
    /// cache's write lock, so a load that began before returns first and is dropped here.
    pub fn forget(&self, tenant: &str) {
        self.write_cache().remove(tenant);
    }

    /// Starts (or joins) a tenant data-key rotation: adds a fresh DEK and makes it the one that
    /// seals, keeping the others for opening; returns the new DEK's id. Idempotent while a
    /// rotation runs (the tenant then already has more than one DEK): it returns the current
    /// one. Finish with [`Vault::retire_data_keys`] once every record is re-sealed.
    ///
    /// # Errors
    ///
    /// [`Error::NoDataKey`], [`Error::Provider`], [`Error::Store`] (also when the store's lock
    /// cannot be taken), [`Error::Corrupt`]; [`Error::Custody`] as [`Vault::create_data_key`].
    pub fn rotate_data_key(&self, tenant: &str) -> Result<u32, Error> {
        let _records = self.lock_record(tenant)?;
        let mut record = self.read_record_for_update(tenant)?;
        if record.keys.len() > 1 {
            return Ok(record.current);
        }
        let dek = DataKey::generate();
        record.keys.push(self.wrap_dek(tenant, &dek)?);
        record.current = dek.id();
        self.write_record(tenant, &record)?;
        // The next use loads both DEKs from the record just written.
        self.write_cache().remove(tenant);
        Ok(dek.id())
    }

    /// The tenant's current DEK id and every DEK id it has (two or more while a rotation runs),
    /// as the store holds them now, not as this vault cached them: callers decide from them what
    /// to rotate and destroy. A record of the first format is unwrapped to learn its id.
    ///
    /// # Errors
    ///
    /// [`Error::NoDataKey`], [`Error::Store`], [`Error::Corrupt`]; those of
    /// [`MasterKey::unwrap`] for a record of the first format.
    pub fn data_key_ids(&self, tenant: &str) -> Result<(u32, Vec<u32>), Error> {
        let record = self.read_record_for_update(tenant)?;
        Ok((record.current, record.keys.iter().map(|k| k.id).collect()))
    }

    /// Tenants whose DEK record holds more than one DEK: rotations to finish.
    ///
    /// # Errors
    ///
    /// [`Error::Store`], [`Error::Corrupt`].
    pub fn rotating_tenants(&self) -> Result<Vec<String>, Error> {
        let mut tenants = Vec::new();
        self.for_each_record(|tenant, record| {
            if record.keys.len() > 1 {
                tenants.push(tenant.to_owned());
            }
        })?;
        Ok(tenants)
    }

    /// Ends a tenant data-key rotation: deletes every DEK but `keep` from the record (durably)
    /// and from memory, if `keep` is still the current one. The caller must first have checked
    /// that every record of the tenant is sealed under `keep` ([`Vault::forget`], then
    /// [`Vault::is_current`]); what is still sealed under a removed DEK never opens again.
    /// Returns the ids removed: none when the stored current DEK is no longer `keep` (another
    /// process rotated since the check, which must then be made again).
    ///
    /// # Errors
    ///
    /// [`Error::NoDataKey`], [`Error::Store`] (also when the store's lock cannot be taken),
    /// [`Error::Corrupt`].
    pub fn retire_data_keys(&self, tenant: &str, keep: u32) -> Result<Vec<u32>, Error> {
        let _records = self.lock_record(tenant)?;
        let mut cache = self.write_cache();
        let mut record = self.read_record_for_update(tenant)?;
        let current = record.current;
        if current != keep {
            return Ok(Vec::new());
        }
        let removed = record
            .keys
            .iter()
            .map(|k| k.id)
            .filter(|id| *id != current)
            .collect::<Vec<_>>();
        record.keys.retain(|k| k.id == current);
        self.write_record(tenant, &record)?;
        cache.remove(tenant);
        Ok(removed)
    }

    /// The master key this vault wraps with.
    pub fn master(&self) -> &Arc<dyn MasterKey> {
        &self.master
    }

    /// The tenant's DEKs: from the cache, or loaded, unwrapped and cached.
    fn keys(&self, tenant: &str) -> Result<Arc<TenantKeys>, Error> {
        if let Some(keys) = self.read_cache().get(tenant) {
            return Ok(Arc::clone(keys));
        }
        // First use in this process: load under the write lock (see `destroy_data_key`). It
        // happens once per tenant, so serialising it costs little.
        let mut cache = self.write_cache();
        if let Some(keys) = cache.get(tenant) {
            return Ok(Arc::clone(keys));
        }
        let keys = Arc::new(self.load_keys(tenant)?);
        evict_if_full(&mut cache, self.cache_capacity);
        cache.insert(tenant.to_owned(), Arc::clone(&keys));
        Ok(keys)
    }

    /// The DEK to seal with: the one the stored record names current, from the cache when the
    /// cached current one is it, else loaded again (a record of the first format names no id:
    /// it is loaded again every time).
    fn current_for_seal(&self, tenant: &str) -> Result<Arc<DataKey>, Error> {
        let stored = self.read_record(tenant)?;
        let keys = self.keys(tenant)?;
        if stored.format == DEKS_FORMAT && keys.current.id() == stored.current {
            return Ok(Arc::clone(&keys.current));
        }
        // Cached before another process rotated (or destroyed) the tenant's keys. What loads now
        // is at least as new as `stored`; a record whose current DEK cannot be found or opened
        // fails here rather than leaving the stale one to seal.
        self.forget(tenant);
        Ok(Arc::clone(&self.keys(tenant)?.current))
    }

    fn load_keys(&self, tenant: &str) -> Result<TenantKeys, Error> {
        let record = self.read_record(tenant)?;
        let mut all = Vec::with_capacity(record.keys.len());
        for stored in &record.keys {
            all.push(Arc::new(self.unwrap_dek(tenant, stored)?));
        }
        // A first-format record has one DEK and does not name it (0).
        let current_id = match record.current {
            0 => all.first().map_or(0, |k| k.id()),
            id => id,
        };
        let current = all
            .iter()
            .find(|k| k.id() == current_id)
            .cloned()
            .ok_or_else(|| {
                Error::Corrupt(format!("tenant {tenant:?}: current data key missing"))
            })?;
        Ok(TenantKeys { current, all })
    }

    fn wrap_dek(&self, tenant: &str, dek: &DataKey) -> Result<StoredDek, Error> {
        let mut plaintext = Zeroizing::new([0u8; WRAPPED_PLAINTEXT_LEN]);
        plaintext[..4].copy_from_slice(&dek.id().to_be_bytes());
        plaintext[4..].copy_from_slice(dek.expose_bytes());
        let wrapped = self.master.wrap(plaintext.as_ref(), &dek_context(tenant))?;
        self.check_wrap_version(wrapped.version)?;
        let info = self.master.info();
        Ok(StoredDek {
            id: dek.id(),
            provider: info.provider.to_owned(),
            key: info.key,
            version: wrapped.version,
            wrapped: B64.encode(&wrapped.ciphertext),
        })
    }

    fn unwrap_dek(&self, tenant: &str, stored: &StoredDek) -> Result<DataKey, Error> {
        let plaintext = self
            .master
            .unwrap(&stored.wrapped()?, &dek_context(tenant))?;
        let (id, key) = plaintext
            .split_first_chunk::<4>()
            .filter(|(_, key)| key.len() == 32)
            .ok_or_else(|| corrupt_dek(tenant, plaintext.len()))?;
        let id = u32::from_be_bytes(*id);
        // A first-format record does not store the id (0); every later one must match.
        if stored.id != 0 && stored.id != id {
            return Err(Error::Corrupt(format!(
                "tenant {tenant:?}: data key id {id:#010x} stored as {:#010x}",
                stored.id
            )));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(key);
        Ok(DataKey::from_bytes(*bytes, id))
    }

    fn read_record(&self, tenant: &str) -> Result<DeksRecord, Error> {
        let value = self
            .store
            .get(Cf::Deks, tenant.as_bytes())?
            .ok_or_else(|| Error::NoDataKey(tenant.to_owned()))?;
        decode_record(tenant, &value)
    }

    /// The record for a read-modify-write: a first-format record is upgraded (its DEK unwrapped
    /// to learn the id), so what is written back is always the current format.
    fn read_record_for_update(&self, tenant: &str) -> Result<DeksRecord, Error> {
        let mut record = self.read_record(tenant)?;
        if record.format != DEKS_FORMAT {
            for stored in &mut record.keys {
                stored.id = self.unwrap_dek(tenant, stored)?.id();
            }
            record.current = record.keys.first().map_or(0, |k| k.id);
            record.format = DEKS_FORMAT;
        }
        Ok(record)
    }

    fn write_record(&self, tenant: &str, record: &DeksRecord) -> Result<(), Error> {
        let value = serde_json::to_vec(record).expect("a DEK record serializes");
        let mut batch = Batch::new();
        batch.put(Cf::Deks, tenant.as_bytes(), value);
        self.store.write(batch, Durability::Sync)?;
        Ok(())
    }

    /// Visits every tenant's DEK record.
    fn for_each_record(&self, mut visit: impl FnMut(&str, &DeksRecord)) -> Result<(), Error> {
        let mut failure = None;
        self.store.scan_prefix(Cf::Deks, b"", &mut |key, value| {
            let tenant = String::from_utf8_lossy(key);
            match decode_record(&tenant, value) {
                Ok(record) => {
                    visit(&tenant, &record);
                    true
                }
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    fn cache_insert(&self, tenant: &str, keys: TenantKeys) {
        let mut cache = self.write_cache();
        evict_if_full(&mut cache, self.cache_capacity);
        cache.insert(tenant.to_owned(), Arc::new(keys));
    }

    /// Locks one tenant's DEK record for a read-modify-write (module docs).
    fn lock_record(&self, tenant: &str) -> Result<RecordGuard<'_>, Error> {
        let local = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let vault = self.store.lock(VAULT_LOCK, LockMode::Shared)?;
        let record = self
            .store
            .lock(&record_lock_key(tenant), LockMode::Exclusive)?;
        Ok(RecordGuard {
            _record: Some(record),
            _vault: vault,
            _local: local,
        })
    }

    /// Locks every DEK record and the canary: for a master-key rotation's store-wide steps.
    fn lock_all_records(&self) -> Result<RecordGuard<'_>, Error> {
        let local = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let vault = self.store.lock(VAULT_LOCK, LockMode::Exclusive)?;
        Ok(RecordGuard {
            _record: None,
            _vault: vault,
            _local: local,
        })
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
            .field("master", &self.master.info())
            .field("cached_tenants", &self.read_cache().len())
            .finish_non_exhaustive()
    }
}

/// Removes an arbitrary entry when the cache is full: arbitrary (not LRU) keeps reads lock-free
/// of bookkeeping; a reload costs one unwrap.
fn evict_if_full(cache: &mut Cache, capacity: usize) {
    if cache.len() >= capacity {
        if let Some(victim) = cache.keys().next().cloned() {
            cache.remove(&victim);
        }
    }
}

/// Decodes a DEK record of either format.
fn decode_record(tenant: &str, value: &[u8]) -> Result<DeksRecord, Error> {
    if value.first() == Some(&crate::envelope::VERSION) {
        // First format: a bare envelope record wrapped by the single file key (version 1).
        return Ok(DeksRecord {
            format: 1,
            current: 0,
            keys: vec![StoredDek {
                id: 0,
                provider: "file".into(),
                key: String::new(),
                version: 1,
                wrapped: B64.encode(value),
            }],
        });
    }
    let record: DeksRecord = serde_json::from_slice(value)
        .map_err(|e| Error::Corrupt(format!("data key record of tenant {tenant:?}: {e}")))?;
    if record.format != DEKS_FORMAT || record.keys.is_empty() {
        return Err(Error::Corrupt(format!(
            "data key record of tenant {tenant:?}: format {} with {} keys",
            record.format,
            record.keys.len()
        )));
    }
    Ok(record)
}

/// The context a tenant's DEKs are wrapped with: the binding
/// `{record: "dek", tenant, owner: "", role: "dek"}`.
pub(crate) fn dek_context(tenant: &str) -> Vec<u8> {
    Binding {
        record: "dek",
        tenant,
        owner: "",
        role: "dek",
    }
    .context()
    .expect("tenant ids are short")
}

fn corrupt_dek(tenant: &str, len: usize) -> Error {
    Error::Corrupt(format!(
        "wrapped data key of tenant {tenant:?} holds {len} bytes, expected {WRAPPED_PLAINTEXT_LEN}"
    ))
}

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod tests;
