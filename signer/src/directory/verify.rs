//! Opening every user's sealed keys, for `bunkerd backup verify` and after a restore.
//!
//! Role: [`Directory::verify_keys`] unseals both keys of every routed user, bypassing the key
//! cache, and checks each against the public key its record holds.
//! Must not: keep, return or print a key (each unsealed key is dropped, zeroized, at once).

use super::Directory;

/// A user whose keys did not open or did not match their record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFailure {
    /// Tenant id.
    pub tenant: String,
    /// User id.
    pub user: String,
    /// Why, as a stable code: an [`crate::Error::code`] (`unknown_key_id`, `wrong_key_or_tampered`,
    /// `no_data_key`, …) or `pubkey_mismatch`.
    pub code: &'static str,
}

impl Directory {
    /// Users in the routing index (one per user).
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// Unseals the user key and remote-signer key of every user in the routing index and checks
    /// that they derive the public keys their record holds. Returns how many keys opened (two per
    /// sound user) and the users that failed; every failure, a store read's included, is a
    /// [`KeyFailure`].
    pub fn verify_keys(&self) -> (u64, Vec<KeyFailure>) {
        let mut routed: Vec<[u8; 32]> = self.routes.iter().map(|r| *r.key().as_bytes()).collect();
        routed.sort_unstable();
        let (mut opened, mut failures) = (0u64, Vec::new());
        for remote_signer in routed {
            let Some(route) = self.route(&remote_signer) else {
                continue;
            };
            let failure = |code| KeyFailure {
                tenant: route.tenant.to_string(),
                user: route.user.to_string(),
                code,
            };
            let record = match self.user(&route.tenant, &route.user) {
                Ok(record) => record,
                Err(e) => {
                    failures.push(failure(e.code()));
                    continue;
                }
            };
            let expected = (record.user_pubkey, record.remote_signer_pubkey);
            match self.unseal_keys(record) {
                Ok(keys) => {
                    let found = (keys.user.public_key(), keys.remote_signer.public_key());
                    if found == expected && *expected.1.as_bytes() == remote_signer {
                        opened += 2;
                    } else {
                        failures.push(failure("pubkey_mismatch"));
                    }
                }
                Err(e) => failures.push(failure(e.code())),
            }
        }
        (opened, failures)
    }
}
