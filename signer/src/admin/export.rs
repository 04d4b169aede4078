//! Key export: one user's identity key as a NIP-49 `ncryptsec`, where the tenant allows it.
//!
//! Role: [`Admin::export_user_key`] lets a person leaving an organization take their Nostr
//! identity with them (<https://github.com/nostr-protocol/nips/blob/master/49.md>). The tenant's
//! `key_export` setting is off by default and only the operator turns it on.
//! Must not: export while the setting is off, export the remote-signer key (it is bunkerd's
//! own, not the person's), encrypt below LOG_N 16, or keep the plaintext key past the call.

use super::Admin;
use crate::Error;
use proto::nostr::nip49::{self, KeySecurity, LOG_N_LIMIT, MIN_EXPORT_LOG_N};
use proto::nostr::PublicKey;
use zeroize::Zeroizing;

impl Admin<'_> {
    /// Encrypts the user key of `user` in `tenant` under `password` with NIP-49 at `log_n`
    /// (16 to 20; scrypt takes `2^(log_n + 10)` bytes, 64 MiB at 16) and returns the
    /// `ncryptsec1…` string (162 characters), zeroized on drop, with the user pubkey. The key-security byte is `0x01`
    /// ("not known to have been handled insecurely"): bunkerd held it sealed. Blocking and
    /// costly (≈ 100 ms of CPU at 16): the caller runs exports one at a time, off async threads.
    ///
    /// # Errors
    ///
    /// In this order: [`Error::InvalidInput`] for `log_n` outside 16..=20;
    /// [`Error::TenantNotFound`]; [`Error::KeyExportDisabled`] when the tenant's `key_export` is
    /// off; [`Error::UserNotFound`]; [`Error::Kms`] / [`Error::Store`] when the key cannot be
    /// read or opened.
    pub fn export_user_key(
        &self,
        tenant: &str,
        user: &str,
        password: &str,
        log_n: u8,
    ) -> Result<(Zeroizing<String>, PublicKey), Error> {
        if !(MIN_EXPORT_LOG_N..=LOG_N_LIMIT).contains(&log_n) {
            return Err(Error::InvalidInput("log_n must be 16 to 20"));
        }
        let bunker = self.bunker;
        let record = bunker
            .directory
            .tenant(tenant)
            .ok_or(Error::TenantNotFound)?;
        if !record.key_export {
            return Err(Error::KeyExportDisabled);
        }
        let user = bunker.user_in(tenant, user)?;
        let keys = bunker
            .directory
            .keys(user.remote_signer_pubkey.as_bytes())?;
        let secret = keys.user.secret_key();
        crate::crypto::with(|crypto| {
            nip49::encrypt(
                &secret,
                password,
                log_n,
                KeySecurity::NotKnownInsecure,
                crypto,
            )
        })
        .map(|encrypted| (Zeroizing::new(encrypted), user.user_pubkey))
        // Its one error is a `log_n` out of range, checked above.
        .map_err(|_| Error::InvalidInput("log_n must be 16 to 20"))
    }
}
