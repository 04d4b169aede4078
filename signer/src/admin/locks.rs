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
//! The locks guard no data themselves (the records are in the store and the directory's maps), so
//! a poisoned stripe is simply taken over: the panicking holder wrote either a whole batch or none.

use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Number of tenant stripes (reader-writer locks).
pub const TENANT_STRIPES: usize = 64;

/// Number of user stripes (mutexes).
pub const USER_STRIPES: usize = 256;

/// The striped lock tables. One per [`crate::Bunker`].
pub(crate) struct Locks {
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
/// tenant record itself, of its admin keys, of tenant-wide constraints, and deletion).
#[must_use = "the lock is released when the guard drops"]
pub(crate) enum TenantGuard<'a> {
    /// Other user-level writers of the tenant may run; no tenant-level writer.
    Shared(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    /// No other writer of the tenant runs.
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

/// Holds a tenant stripe (see [`TenantGuard`]) and then a user stripe; dropped in reverse order.
#[must_use = "the lock is released when the guard drops"]
pub(crate) struct UserGuard<'a> {
    // Field order is drop order: the user stripe is released before the tenant stripe.
    _user: MutexGuard<'a, ()>,
    _tenant: TenantGuard<'a>,
}

impl Locks {
    /// Empty tables of [`TENANT_STRIPES`] and [`USER_STRIPES`] stripes.
    pub(crate) fn new() -> Self {
        Locks {
            tenants: (0..TENANT_STRIPES).map(|_| RwLock::new(())).collect(),
            users: (0..USER_STRIPES).map(|_| Mutex::new(())).collect(),
            nip05_domains: Mutex::new(()),
        }
    }

    /// The one lock over every tenant's `nip05_domain`, for the check that a domain belongs to
    /// at most one tenant and the write that claims it. Taken after the tenant's exclusive stripe,
    /// never with a user stripe.
    pub(crate) fn nip05_domains(&self) -> MutexGuard<'_, ()> {
        self.nip05_domains.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the tenant's stripe shared: for work on the tenant's data keys that must not overlap
    /// its deletion (which takes it exclusively).
    pub(crate) fn tenant_shared(&self, tenant: &str) -> TenantGuard<'_> {
        let stripe = &self.tenants[stripe(&tenant, TENANT_STRIPES)];
        TenantGuard::Shared(stripe.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the tenant's stripe exclusively: for read-modify-writes of the tenant record, its
    /// admin keys, user creation (identity and NIP-05 uniqueness, `max_users`) and deletion.
    pub(crate) fn tenant_exclusive(&self, tenant: &str) -> TenantGuard<'_> {
        let stripe = &self.tenants[stripe(&tenant, TENANT_STRIPES)];
        TenantGuard::Exclusive(stripe.write().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the tenant's stripe shared, then the user's stripe: for read-modify-writes of one
    /// user's records (user record, bunker URIs, sessions) that no tenant-wide constraint reads.
    pub(crate) fn user(&self, tenant: &str, user: &str) -> UserGuard<'_> {
        let stripe = &self.tenants[stripe(&tenant, TENANT_STRIPES)];
        let tenant_guard = TenantGuard::Shared(stripe.read().unwrap_or_else(|p| p.into_inner()));
        self.user_under(tenant_guard, tenant, user)
    }

    /// Takes the tenant's stripe exclusively, then the user's stripe: for a user-level write that
    /// also checks a tenant-wide constraint (a NIP-05 name unique in the tenant).
    pub(crate) fn user_exclusive(&self, tenant: &str, user: &str) -> UserGuard<'_> {
        let tenant_guard = self.tenant_exclusive(tenant);
        self.user_under(tenant_guard, tenant, user)
    }

    fn user_under<'a>(
        &'a self,
        tenant_guard: TenantGuard<'a>,
        tenant: &str,
        user: &str,
    ) -> UserGuard<'a> {
        let stripe = &self.users[stripe(&(tenant, user), USER_STRIPES)];
        UserGuard {
            _user: stripe.lock().unwrap_or_else(|p| p.into_inner()),
            _tenant: tenant_guard,
        }
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
