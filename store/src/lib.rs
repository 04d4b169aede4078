//! `store`: bunkerd's storage layer, one key-value [`Store`] trait over named column families.
//!
//! Role: persist opaque records (already sealed where secret) with atomic batches, prefix
//! scans and half-open range scans in both directions. [`RocksStore`] (in `rocks.rs`, the
//! only file that imports `rocksdb`) is the embedded default; [`PgStore`] (in `pg.rs`, the only
//! file that speaks SQL) keeps the records in PostgreSQL; [`MemStore`] is the in-memory engine
//! for tests. One conformance macro (`conformance.rs`) runs the same tests against all three.
//! What it must not do: interpret keys or values, seal or open anything, or be called from an
//! async task directly (every call may block on disk: use `spawn_blocking` or a thread).
//!
//! Main types: [`Store`], [`Cf`], [`Batch`], [`Durability`], [`MemStore`], [`RocksStore`],
//! [`PgStore`], [`Error`]; the backup file format in [`backup`]; a PostgreSQL server for tests in
//! `testing` (feature `testing`).
//!
//! A new engine is one module here implementing [`Store`], added to the conformance tests in
//! `tests.rs`.

pub mod backup;
mod error;
mod mem;
mod pg;
mod rocks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod conformance;

pub use error::Error;
pub use mem::MemStore;
pub use pg::{PgOptions, PgStore};
pub use rocks::RocksStore;

/// A column family: a separate key namespace inside one store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cf {
    /// Store-wide metadata (schema version, master key id).
    Meta,
    /// Tenant records, keyed by tenant id.
    Tenants,
    /// Wrapped tenant data keys, keyed by tenant id (written by the `kms` crate's vault).
    Deks,
    /// User records.
    Users,
    /// Remote-signer public key → (tenant, user) index.
    SignerIndex,
    /// Single-use bunker secrets (the `secret` of a bunker URI), keyed by its SHA-256; also a
    /// per-user index of them. On disk `connect_tokens`.
    BunkerSecrets,
    /// Client sessions.
    Sessions,
    /// Admin tokens, keyed by a hash of the token.
    AdminTokens,
    /// Audit log records.
    Audit,
    /// Accepted `nostrconnect://` URIs, keyed by a hash of (client pubkey, secret), so that one URI
    /// pairs once.
    Pairings,
    /// Requests waiting for (or decided by) an admin's approval (NIP-46 `auth_url`), with their
    /// index by the hash of the page token and by expiry.
    Approvals,
    /// Request events claimed by one node of a cluster ([`Store::insert_new`]), keyed by
    /// `created_at` (u64 BE) ‖ event id (32 bytes), so old claims are one range to delete.
    Claims,
}

impl Cf {
    /// Every column family, in a fixed order (stable: code may index arrays by position).
    pub const ALL: [Cf; 12] = [
        Cf::Meta,
        Cf::Tenants,
        Cf::Deks,
        Cf::Users,
        Cf::SignerIndex,
        Cf::BunkerSecrets,
        Cf::Sessions,
        Cf::AdminTokens,
        Cf::Audit,
        Cf::Pairings,
        Cf::Approvals,
        Cf::Claims,
    ];

    /// The on-disk name: `"meta"`, `"tenants"`, `"deks"`, `"users"`, `"signer_index"`,
    /// `"connect_tokens"`, `"sessions"`, `"admin_tokens"`, `"audit"`, `"nostrconnect_pairings"`,
    /// `"approvals"` or `"claims"`.
    /// Stable forever: renaming one orphans its data.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Tenants => "tenants",
            Cf::Deks => "deks",
            Cf::Users => "users",
            Cf::SignerIndex => "signer_index",
            Cf::BunkerSecrets => "connect_tokens",
            Cf::Sessions => "sessions",
            Cf::AdminTokens => "admin_tokens",
            Cf::Audit => "audit",
            Cf::Pairings => "nostrconnect_pairings",
            Cf::Approvals => "approvals",
            Cf::Claims => "claims",
        }
    }

    /// Position of this column family in [`Cf::ALL`] (0..12).
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// How durable a [`Store::write`] must be before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The write-ahead log is fsynced before `write` returns: for anything acknowledged to a
    /// user (provisioning, tokens, sessions).
    Sync,
    /// Left in OS buffers; a power loss may drop it (a process crash does not): for data that is
    /// cheap to lose, such as last-seen times.
    Buffered,
}

/// One change inside a [`Batch`].
#[derive(Debug)]
pub(crate) enum Op {
    /// Set `key` to `value` in `cf`.
    Put {
        cf: Cf,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// Remove `key` from `cf` (no error if absent).
    Delete { cf: Cf, key: Vec<u8> },
}

/// An ordered list of puts and deletes, applied atomically by [`Store::write`].
///
/// Later operations on the same key win. Building a batch touches no store.
#[derive(Default, Debug)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Adds "set `key` to `value` in `cf`".
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        let (key, value) = (key.into(), value.into());
        self.ops.push(Op::Put { cf, key, value });
        self
    }

    /// Adds "remove `key` from `cf`" (not an error if the key is absent).
    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete {
            cf,
            key: key.into(),
        });
        self
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The operations, in insertion order, for a store implementation to apply.
    pub(crate) fn into_ops(self) -> Vec<Op> {
        self.ops
    }
}

/// How [`Store::lock`] holds a key: many shared holders at once, or one exclusive holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Held together with other shared holders; excludes an exclusive holder.
    Shared,
    /// Excludes every other holder.
    Exclusive,
}

/// A lock taken by [`Store::lock`], released when dropped.
#[must_use = "the lock is released when the guard drops"]
pub struct StoreLock(#[allow(dead_code)] Option<Box<dyn Send>>);

impl StoreLock {
    /// A lock that holds nothing: what an engine owned by one process returns.
    pub fn unshared() -> Self {
        StoreLock(None)
    }

    /// A lock whose release is dropping `held`.
    pub(crate) fn held(held: Box<dyn Send>) -> Self {
        StoreLock(Some(held))
    }
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "StoreLock(held)"
        } else {
            "StoreLock(unshared)"
        })
    }
}

/// What [`Store::export`] hands each record to: `(column family, key, value)`; an error stops the
/// export and is returned by it.
pub type RecordVisitor<'a> = dyn FnMut(Cf, &[u8], &[u8]) -> Result<(), Error> + 'a;

/// A key-value store with column families, atomic batches, ordered prefix scans and range scans
/// (ascending and descending).
///
/// Keys and values are opaque bytes; keys are ordered bytewise (lexicographic, unsigned). Every
/// method may block on disk.
pub trait Store: Send + Sync + 'static {
    /// The value of `key` in `cf`, or `None` if absent.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the engine fails to read.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error>;

    /// Applies every operation of `batch`. Atomic: all or nothing, and readers never see a
    /// partly applied batch. An empty batch is a no-op.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the engine fails to write or (with [`Durability::Sync`]) to sync; then
    /// nothing of the batch was applied.
    fn write(&self, batch: Batch, durability: Durability) -> Result<(), Error>;

    /// Locks `key` (any bytes; a name the callers agree on, not a record) in `mode` across every
    /// process that shares this store, until the returned guard drops; a process that dies
    /// releases its locks. Callers keep their own in-process lock too: this one orders processes.
    /// Default: [`StoreLock::unshared`], for engines one process owns (RocksDB, memory).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] or [`Error::Engine`] if the lock could not be taken within the
    /// engine's timeout; nothing is held then.
    fn lock(&self, key: &[u8], mode: LockMode) -> Result<StoreLock, Error> {
        let _ = (key, mode);
        Ok(StoreLock::unshared())
    }

    /// Writes `value` at `key` in `cf` unless `key` holds a value already; `true` when this call
    /// wrote it. Atomic across every process that shares the store, so of many concurrent calls
    /// with one key exactly one returns `true` (a cluster's claim of a request). Default: a read
    /// and a batch under one process-wide mutex, for engines one process owns (RocksDB, memory).
    ///
    /// # Errors
    ///
    /// Those of [`Store::get`] and [`Store::write`]; nothing was written then.
    fn insert_new(
        &self,
        cf: Cf,
        key: &[u8],
        value: &[u8],
        durability: Durability,
    ) -> Result<bool, Error> {
        static ONE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _held = ONE_WRITER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.get(cf, key)?.is_some() {
            return Ok(false);
        }
        let mut batch = Batch::new();
        batch.put(cf, key, value);
        self.write(batch, durability)?;
        Ok(true)
    }

    /// Approximate bytes `cf` takes (on disk plus memtables), for metrics; `None` when the engine
    /// cannot tell. Default: `None`.
    fn approximate_size_bytes(&self, cf: Cf) -> Option<u64> {
        let _ = cf;
        None
    }

    /// Visits every record of every column family (in [`Cf::ALL`] order, keys ascending) as of
    /// one point in time: writes applied after the call begins are not seen, and every batch is
    /// seen whole or not at all. For backups while serving; `visit` returns an error to stop.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the engine fails while reading; `visit`'s error, which stops it.
    fn export(&self, visit: &mut RecordVisitor<'_>) -> Result<(), Error>;

    /// Visits keys starting with `prefix` in ascending byte order; `visit` returns false to stop
    /// early. An empty prefix visits the whole column family.
    ///
    /// `visit` may call back into the store; writes made during a scan may or may not be seen.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the engine fails while iterating.
    fn scan_prefix(
        &self,
        cf: Cf,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error>;

    /// Visits the keys `k` of `cf` with `start <= k < end` (bytewise) in `order`; `visit`
    /// returns false to stop early. `start >= end` is an empty range (no visit, no error). The one
    /// range scan an engine implements; callers use [`Store::scan_range`] and
    /// [`Store::scan_range_rev`].
    ///
    /// `visit` may call back into the store; writes made during a scan may or may not be seen.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the engine fails while iterating (keys already visited stay visited).
    fn scan_range_in(
        &self,
        cf: Cf,
        start: &[u8],
        end: &[u8],
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error>;

    /// Visits the keys `k` of `cf` with `start <= k < end` (bytewise) in ascending order;
    /// `visit` returns false to stop early. `start >= end` is an empty range (no visit, no
    /// error). The bounds are half-open so adjacent ranges tile: `[a, b)` then `[b, c)` visit
    /// every key once. To resume after a key `k`, start at `k ‖ 0x00` (the least key above `k`).
    ///
    /// There is no "unbounded" end: keys have no greatest value. For "every key with prefix `p`"
    /// use [`Store::scan_prefix`], or end at `p` with its last byte incremented when that byte
    /// is below `0xff` (as it is for ASCII prefixes).
    ///
    /// `visit` may call back into the store; writes made during a scan may or may not be seen.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the engine fails while iterating (keys already visited stay visited).
    fn scan_range(
        &self,
        cf: Cf,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        self.scan_range_in(cf, start, end, Order::Ascending, visit)
    }

    /// Visits the same keys as [`Store::scan_range`] (`start <= k < end`) in **descending**
    /// order: the greatest key below `end` first, for newest-first pages over time-ordered keys.
    /// `visit` returns false to stop early; `start >= end` is an empty range. To resume before a
    /// key `k`, call again with `end = k` (the bound is exclusive).
    ///
    /// `visit` may call back into the store; writes made during a scan may or may not be seen.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the engine fails while iterating (keys already visited stay visited).
    fn scan_range_rev(
        &self,
        cf: Cf,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        self.scan_range_in(cf, start, end, Order::Descending, visit)
    }
}

/// The order of a range scan ([`Store::scan_range_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Least key first.
    Ascending,
    /// Greatest key first.
    Descending,
}

#[cfg(test)]
mod tests;
