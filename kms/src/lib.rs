//! `kms`: bunkerd's key management: master keys, tenant data keys and sealed records.
//!
//! Role: keep secrets sealed at rest. A master key (KEK, [`MasterKey`], with numbered versions in
//! a provider: a key file, OpenBao/Vault transit, a PKCS#11 token (HSM), AWS KMS) wraps each tenant's data keys (DEKs,
//! [`DataKey`]); a tenant's current DEK seals its records. Every sealed record is
//! self-describing (format version, algorithm, key id, nonce) and bound by its AAD to where it
//! belongs ([`Binding`]), so a record copied to another row, owner, tenant or role fails to open.
//! [`Vault`] ties the key hierarchy to a [`store::Store`], where wrapped data keys are kept with
//! the master key version that wrapped them, checks at start that the configured master key
//! opens the store, and rotates master key versions and tenant data keys.
//!
//! What it must not do: know anything of Nostr (it seals opaque bytes for a named owner and
//! stores opaque records), log or display key material, or fall back to a weaker path when a
//! record's version, algorithm or key id is unknown.
//!
//! Main types: [`MasterKey`] ([`FileMasterKey`], [`MemMasterKey`], [`TransitMasterKey`],
//! [`Pkcs11MasterKey`], [`AwsKmsMasterKey`]), [`DataKey`], [`Binding`], [`Vault`], [`Error`].
//! A new master-key provider is one module under `master/` implementing [`MasterKey`] and
//! passing the conformance suite (`master/conformance.rs`).

pub mod envelope;
pub mod error;
pub mod master;
pub mod vault;

#[cfg(test)]
mod test_support;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use envelope::{Binding, DataKey};
pub use error::Error;
pub use master::aws::{AwsKmsConfig, AwsKmsMasterKey};
pub use master::pkcs11::Pkcs11Config;
pub use master::transit::TransitConfig;
pub use master::{
    FileMasterKey, Keyring, MasterKey, MasterKeyInfo, MemMasterKey, Pkcs11MasterKey,
    TransitMasterKey, Wrapped,
};
pub use vault::custody::{store_holds_keys, store_master_key};
pub use vault::{MasterKeyStatus, Rewrapped, Vault};
