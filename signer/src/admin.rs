//! Admin services: every write the admin API makes — tenants, their admin keys (NIP-98 admin
//! pubkeys and admin tokens), users, policies, bunker URIs and sessions — as one function each,
//! atomic against concurrent writers of the same records and durable before it returns.
//!
//! Role: the admin API's handlers parse a request, call one function of [`Admin`] (from
//! [`crate::Bunker::admin`]), shape the reply and audit; nothing else in the workspace writes these
//! records (the [`crate::directory`] writers are crate-private). Reads (get, list, effective
//! policy, sessions) stay on [`crate::directory::Directory`] and [`crate::Bunker`]: they take no
//! lock and see each record as of its last acknowledged write.
//!
//! # Locking
//!
//! The [`store::Store`] trait has atomic batches but no conditional write or transaction, so a
//! read → modify → write of a record is made atomic by a lock per record, held from the read to
//! the in-memory update that follows the synced write (`locks.rs`):
//!
//! - **tenant locks**: [`TENANT_STRIPES`] reader-writer locks, picked by hash of the tenant id.
//!   *Exclusive* for writes of the tenant record (name, NIP-05 domain, limits, default policy,
//!   NIP-98 admin pubkeys), admin tokens, user creation (`max_users`, one user per identity key,
//!   NIP-05 names unique in the tenant), a user's NIP-05 name change, and tenant deletion.
//!   *Shared* for every other user-level write.
//! - **user locks**: [`USER_STRIPES`] mutexes, picked by hash of (tenant id, user id), for writes
//!   of one user's records: the user record (name, disabled, policy, keys), its bunker URIs and
//!   its sessions. A NIP-46 `connect` that consumes a bunker secret holds its user's lock too.
//! - **the NIP-05 domain lock**: one mutex over every tenant's `nip05_domain`, so a domain is
//!   checked free and claimed by one tenant at a time; taken after the tenant's exclusive lock.
//! - **order**: tenant lock first, then at most one user lock or the domain lock; never two stripes of one table,
//!   never a lock re-entered, no record lock taken while a user lock is held. Code holding a lock waits
//!   for no signer worker (only for the store, and for the audit writer when a tenant is deleted),
//!   so a worker blocked on a lock in a `connect` always gets it.
//!
//! Under its lock an operation re-reads the record (a record deleted meanwhile answers not-found,
//! so a delete is never undone by an update that started before it), writes one batch with
//! [`store::Durability::Sync`] (a tenant deletion destroys the data key first, then writes its
//! rows' batch, then deletes its admin tokens and audit log), then updates the in-memory tenant map, routing index, admin-token
//! map and session map. The unsealed-key cache is invalidated after the write with an epoch the
//! hot path checks before caching what it read (see [`crate::directory`]), so neither a writer nor
//! a concurrent request can leave it older than the store. Striping bounds the memory (the tables
//! never grow) at the cost of unrelated records sometimes sharing a stripe; admin writes are rare
//! and each is one synced write, so that wait is short.
//!
//! Expensive work that needs no record — NIP-49 scrypt, key parsing, policy validation — runs
//! before the lock is taken.

mod approvals;
mod export;
mod import;
mod keys;
mod locks;
mod pairing;
mod sweep;
mod tenants;
mod tokens;
mod users;

#[cfg(test)]
mod keys_cluster_tests;
#[cfg(test)]
mod tests;

pub use approvals::{Decided, Decision, MAX_APPROVALS_LISTED};
pub use import::{ImportError, KeyImport};
pub use keys::{CustodyEvent, CustodyReport};
pub(crate) use locks::Locks;
pub use locks::{TENANT_STRIPES, USER_STRIPES};
pub use pairing::{PairOptions, Pairing};
pub use sweep::Swept;
pub use tokens::{AdminTokenRecord, AdminTokens};
pub use users::NewUser;

use crate::{Bunker, Error};

/// Most NIP-98 admin pubkeys a tenant may have.
pub const MAX_ADMIN_PUBKEYS: usize = 64;

/// Longest label of an admin pubkey or admin token, characters (Unicode scalar values).
pub const MAX_LABEL_CHARS: usize = 128;

/// The admin services of one [`Bunker`]: a borrow of it, cheap to make (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    bunker: &'a Bunker,
}

impl<'a> Admin<'a> {
    pub(crate) fn new(bunker: &'a Bunker) -> Self {
        Admin { bunker }
    }
}

/// Why an admin service refused or failed. [`AdminError::code`] is the admin API's stable error
/// code; `Display` is its message, never containing a secret or the request's values.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A refusal or failure shared with the rest of the signer (not found, invalid input, limit,
    /// store, …): see [`Error`].
    #[error(transparent)]
    Signer(#[from] Error),
    /// The key of a new user could not be imported.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A label (admin pubkey or admin token name) over [`MAX_LABEL_CHARS`]. Code `invalid_input`.
    #[error("name must be at most 128 characters")]
    LabelTooLong,
    /// The pubkey is already a NIP-98 admin of the tenant. Code `already_exists`.
    #[error("this pubkey is already an admin of this tenant")]
    AdminPubkeyExists,
    /// The tenant already has [`MAX_ADMIN_PUBKEYS`] admin pubkeys. Code `limit_reached` (the admin
    /// API answers it 409, as every limit).
    #[error("a tenant has at most 64 admin pubkeys")]
    AdminPubkeyLimit,
    /// The pubkey is not a NIP-98 admin of the tenant. Code `not_found`.
    #[error("this pubkey is not an admin of this tenant")]
    AdminPubkeyNotFound,
    /// No admin token with this id in the tenant. Code `not_found`.
    #[error("admin token not found")]
    AdminTokenNotFound,
}

impl AdminError {
    /// Stable snake_case code for the admin API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Signer(e) => e.code(),
            AdminError::Import(e) => e.code(),
            AdminError::LabelTooLong => "invalid_input",
            AdminError::AdminPubkeyExists => "already_exists",
            AdminError::AdminPubkeyLimit => "limit_reached",
            AdminError::AdminPubkeyNotFound | AdminError::AdminTokenNotFound => "not_found",
        }
    }
}

impl From<store::Error> for AdminError {
    fn from(e: store::Error) -> Self {
        AdminError::Signer(e.into())
    }
}

/// Refuses a label over [`MAX_LABEL_CHARS`].
fn check_label(name: Option<&str>) -> Result<(), AdminError> {
    match name {
        Some(name) if name.chars().count() > MAX_LABEL_CHARS => Err(AdminError::LabelTooLong),
        _ => Ok(()),
    }
}
