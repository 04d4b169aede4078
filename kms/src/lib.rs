//! `kms`: bunkerd's key management: master keys, tenant data keys and sealed records.
//!
//! Role: keep secrets sealed at rest. A master key (KEK, [`MasterKey`]) wraps one data key
//! (DEK, [`DataKey`]) per tenant; each DEK seals that tenant's records. Every sealed record is
//! self-describing (format version, algorithm, key id, nonce) and bound by its AAD to where it
//! belongs ([`Binding`]), so a record copied to another row, owner, tenant or role fails to open.
//! [`Vault`] ties the key hierarchy to a [`store::Store`], where wrapped data keys are kept.
//!
//! What it must not do: know anything of Nostr (it seals opaque bytes for a named owner and
//! stores opaque records), log or display key material, or fall back to a weaker path when a
//! record's version, algorithm or key id is unknown.
//!
//! Main types: [`MasterKey`] ([`FileMasterKey`], [`MemMasterKey`]), [`DataKey`], [`Binding`],
//! [`Vault`], [`Error`]. A new master-key provider is one module under `master/` implementing
//! [`MasterKey`].

pub mod envelope;
pub mod error;
pub mod master;
pub mod vault;

#[cfg(test)]
mod test_support;

pub use envelope::{Binding, DataKey};
pub use error::Error;
pub use master::{FileMasterKey, MasterKey, MemMasterKey};
pub use vault::Vault;
