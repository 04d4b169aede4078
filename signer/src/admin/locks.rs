//! The record locks of the admin services: striped, keyed by tenant id and by (tenant, user) id.
//!
//! Two fixed tables of stripes: [`TENANT_STRIPES`] reader-writer locks, picked by a hash of the
//! tenant id, and [`USER_STRIPES`] mutexes, picked by a hash of (tenant id, user id). A stripe
//! guards every id that hashes to it, so two records may share one (they then wait for each other,
//! which is harmless); the tables never grow, so a deleted record leaves nothing behind.
//!
//! Order: at most one tenant stripe, taken first, then at most one user stripe. Nothing is ever
//! taken while a user stripe is held, and a guard is never taken twice by one thread (a reader
//! that re-enters a stripe while a writer waits would deadlock), so no cycle can form.
//!
//! Each guard also holds the store's lock of the same record ([`Store::lock`], keyed by the ids,
//! not the stripe): nothing on an engine one process owns, a cluster-wide lock on a shared
//! database, so the read-modify-writes these locks order are atomic across processes too. It is
//! taken after the stripe (waiters of one process queue here, not on database sessions) and
//! released before it; with the order above, no cycle forms across processes either.
//!
//! The vault's locks of its data-key records (`kms::Vault`: a mutex of this process, then store
//! locks of its own keys) come after all of these: vault calls are made with any of them held,
//! and the vault takes none of them, so they add no cycle.
//!
//! The locks guard no data themselves (the records are in the store and the directory's maps), so
//! a poisoned stripe is simply taken over: the panicking holder wrote either a whole batch or none.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use store::{LockMode, Store, StoreLock};

/// Number of tenant stripes (reader-writer locks).
pub const TENANT_STRIPES: usize = 64;

/// Number of user stripes (mutexes).
pub const USER_STRIPES: usize = 256;

/// The striped lock tables. One per [`crate::Bunker`].
pub(crate) struct Locks {
    store: Arc<dyn Store>,
    tenants: Box<[RwLock<()>]>,
    users: Box<[Mutex<()>]>,
    nip05_domains: Mutex<()>,
}

impl std::fmt::Debug for Locks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locks")
            .field("tenant_stripes", &self.tenants.len())
            .field("user_stripes", &self.users.len())
            .finish()
    }
}

/// Holds a tenant stripe: shared (user-level writes of the tenant) or exclusive (writes of the
/// tenant record itself, of its admin keys, of tenant-wide constraints, and deletion), and the
/// store's lock of the tenant in the same mode.
#[must_use = "the lock is released when the guard drops"]
pub(crate) struct TenantGuard<'a> {
    // Field order is drop order: the store's lock is released before the stripe.
    _store: StoreLock,
    _stripe: Stripe<'a>,
}

/// A held tenant stripe.
enum Stripe<'a> {
    /// Other user-level writers of the tenant may run; no tenant-level writer.
    Shared(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    /// No other writer of the tenant runs.
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

/// Holds a tenant stripe (see [`TenantGuard`]) and then a user stripe; dropped in reverse order.
#[must_use = "the lock is released when the guard drops"]
pub(crate) struct UserGuard<'a> {
    // Field order is drop order: the user's locks are released before the tenant's.
    _store: StoreLock,
    _user: MutexGuard<'a, ()>,
    _tenant: TenantGuard<'a>,
}

impl Locks {
    /// Empty tables of [`TENANT_STRIPES`] and [`USER_STRIPES`] stripes, over `store`'s locks.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Locks {
            store,
            tenants: (0..TENANT_STRIPES).map(|_| RwLock::new(())).collect(),
            users: (0..USER_STRIPES).map(|_| Mutex::new(())).collect(),
            nip05_domains: Mutex::new(()),
        }
    }

    /// The one lock over every tenant's `nip05_domain`, for the check that a domain belongs to
    /// at most one tenant and the write that claims it. Taken after the tenant's exclusive stripe,
    /// never with a user stripe.
    ///
    /// # Errors
    ///
    /// The store's lock could not be taken ([`Store::lock`]); nothing is held then.
    pub(crate) fn nip05_domains(&self) -> Result<(StoreLock, MutexGuard<'_, ()>), store::Error> {
        let local = self.nip05_domains.lock().unwrap_or_else(|p| p.into_inner());
        Ok((
            self.store.lock(b"nip05-domains", LockMode::Exclusive)?,
            local,
        ))
    }

    /// Takes the tenant's stripe shared: for work on the tenant's data keys that must not overlap
    /// its deletion (which takes it exclusively).
    ///
    /// # Errors
    ///
    /// The store's lock could not be taken ([`Store::lock`]); nothing is held then.
    pub(crate) fn tenant_shared(&self, tenant: &str) -> Result<TenantGuard<'_>, store::Error> {
        let stripe = &self.tenants[stripe(&tenant, TENANT_STRIPES)];
        let local = Stripe::Shared(stripe.read().unwrap_or_else(|p| p.into_inner()));
        self.tenant_store_lock(local, tenant, LockMode::Shared)
    }

    /// Takes the tenant's stripe exclusively: for read-modify-writes of the tenant record, its
    /// admin keys, user creation (identity and NIP-05 uniqueness, `max_users`) and deletion.
    ///
    /// # Errors
    ///
    /// The store's lock could not be taken ([`Store::lock`]); nothing is held then.
    pub(crate) fn tenant_exclusive(&self, tenant: &str) -> Result<TenantGuard<'_>, store::Error> {
        let stripe = &self.tenants[stripe(&tenant, TENANT_STRIPES)];
        let local = Stripe::Exclusive(stripe.write().unwrap_or_else(|p| p.into_inner()));
        self.tenant_store_lock(local, tenant, LockMode::Exclusive)
    }

    fn tenant_store_lock<'a>(
        &self,
        local: Stripe<'a>,
        tenant: &str,
        mode: LockMode,
    ) -> Result<TenantGuard<'a>, store::Error> {
        let key = format!("tenant\0{tenant}");
        Ok(TenantGuard {
            _store: self.store.lock(key.as_bytes(), mode)?,
            _stripe: local,
        })
    }

    /// Takes the tenant's stripe shared, then the user's stripe: for read-modify-writes of one
    /// user's records (user record, bunker URIs, sessions) that no tenant-wide constraint reads.
    ///
    /// # Errors
    ///
    /// A store's lock could not be taken ([`Store::lock`]); nothing is held then.
    pub(crate) fn user(&self, tenant: &str, user: &str) -> Result<UserGuard<'_>, store::Error> {
        let tenant_guard = self.tenant_shared(tenant)?;
        self.user_under(tenant_guard, tenant, user)
    }

    /// Takes the tenant's stripe exclusively, then the user's stripe: for a user-level write that
    /// also checks a tenant-wide constraint (a NIP-05 name unique in the tenant).
    ///
    /// # Errors
    ///
    /// A store's lock could not be taken ([`Store::lock`]); nothing is held then.
    pub(crate) fn user_exclusive(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<UserGuard<'_>, store::Error> {
        let tenant_guard = self.tenant_exclusive(tenant)?;
        self.user_under(tenant_guard, tenant, user)
    }

    fn user_under<'a>(
        &'a self,
        tenant_guard: TenantGuard<'a>,
        tenant: &str,
        user: &str,
    ) -> Result<UserGuard<'a>, store::Error> {
        let stripe = &self.users[stripe(&(tenant, user), USER_STRIPES)];
        let local = stripe.lock().unwrap_or_else(|p| p.into_inner());
        let key = format!("user\0{tenant}/{user}");
        Ok(UserGuard {
            _store: self.store.lock(key.as_bytes(), LockMode::Exclusive)?,
            _user: local,
            _tenant: tenant_guard,
        })
    }
}

/// The stripe of `key` among `stripes` (SipHash with fixed keys: stable within a process, which is
/// all a lock table needs).
fn stripe(key: &impl Hash, stripes: usize) -> usize {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    // The remainder is below `stripes`, a usize, so the cast back cannot truncate.
    (hasher.finish() % stripes as u64) as usize
}
