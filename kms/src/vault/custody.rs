//! The start-up self-test: does the configured master key open this store?
//!
//! Role: keep a canary — 32 random bytes wrapped by the master key, with the provider, key name
//! and version that wrapped it and a check value of the plaintext — in [`Cf::Meta`] under
//! `kms/canary`, and refuse to run when the configured master key cannot open it: another
//! provider or key, a keyring without that version, or a different key under the same version
//! number. A store from before the canary gets one after its first data key is shown to open.
//! What it must not do: write anything before the check passed, or name key bytes in a message.
//!
//! Main items: `Vault::self_test`, [`store_holds_keys`].

use super::{decode_record, Vault};
use crate::envelope::{fill_random, Binding};
use crate::master::{MasterKeyInfo, Wrapped};
use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::{Batch, Cf, Durability, Store};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Key of the canary in [`Cf::Meta`].
pub(super) const CANARY_KEY: &[u8] = b"kms/canary";
/// Label hashed with the canary's plaintext into its check value.
const CHECK_LABEL: &[u8] = b"bunkerd canary check v1";

/// The canary as stored (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Canary {
    pub(super) provider: String,
    pub(super) key: String,
    pub(super) version: u32,
    /// Base64 of the provider's ciphertext.
    pub(super) wrapped: String,
    /// Hex of the first 16 bytes of SHA-256(label ‖ plaintext).
    check: String,
}

impl Canary {
    pub(super) fn wrapped(&self) -> Result<Wrapped, Error> {
        Ok(Wrapped {
            version: self.version,
            ciphertext: B64
                .decode(&self.wrapped)
                .map_err(|_| Error::Corrupt("canary is not base64".into()))?,
        })
    }

    /// This canary rewrapped: same plaintext and check, new ciphertext and version.
    pub(super) fn with(&self, wrapped: &Wrapped) -> Canary {
        Canary {
            version: wrapped.version,
            wrapped: B64.encode(&wrapped.ciphertext),
            ..self.clone()
        }
    }
}

/// Whether `store` holds wrapped keys (a canary or any tenant's data keys): a master key must
/// then never be created for it, only the one that wrapped them used.
///
/// # Errors
///
/// [`Error::Store`].
pub fn store_holds_keys(store: &dyn Store) -> Result<bool, Error> {
    if store.get(Cf::Meta, CANARY_KEY)?.is_some() {
        return Ok(true);
    }
    let mut any = false;
    store.scan_prefix(Cf::Deks, b"", &mut |_, _| {
        any = true;
        false
    })?;
    Ok(any)
}

/// Which master key `store`'s keys need, for messages: `Some("the transit master key \"k\"
/// (version 3)")` from the canary, a generic description for a store from before the canary,
/// `None` for a store without keys.
///
/// # Errors
///
/// [`Error::Store`], [`Error::Corrupt`] (an unreadable canary).
pub fn store_master_key(store: &dyn Store) -> Result<Option<String>, Error> {
    if let Some(value) = store.get(Cf::Meta, CANARY_KEY)? {
        let canary: Canary =
            serde_json::from_slice(&value).map_err(|e| Error::Corrupt(format!("canary: {e}")))?;
        let info = MasterKeyInfo {
            provider: provider_name(&canary.provider),
            key: canary.key,
        };
        return Ok(Some(format!("the {info} (version {})", canary.version)));
    }
    Ok(store_holds_keys(store)?.then(|| "the master key that wrapped its data keys".to_owned()))
}

pub(super) fn canary_context() -> Vec<u8> {
    Binding {
        record: "canary",
        tenant: "",
        owner: "",
        role: "canary",
    }
    .context()
    .expect("short fields")
}

fn check_value(plaintext: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(CHECK_LABEL)
        .chain_update(plaintext)
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl Vault {
    /// Checks the canary against the configured master key (module docs); writes one for a
    /// store without it once the check passed.
    pub(super) fn self_test(&self) -> Result<(), Error> {
        let info = self.master.info();
        match self.read_canary()? {
            Some(canary) => self.check_canary(&info, &canary),
            None => {
                self.check_legacy_data_key(&info)?;
                self.write_new_canary()
            }
        }
    }

    pub(super) fn read_canary(&self) -> Result<Option<Canary>, Error> {
        let Some(value) = self.store.get(Cf::Meta, CANARY_KEY)? else {
            return Ok(None);
        };
        serde_json::from_slice(&value)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("canary: {e}")))
    }

    pub(super) fn write_canary(&self, canary: &Canary) -> Result<(), Error> {
        let mut batch = Batch::new();
        batch.put(
            Cf::Meta,
            CANARY_KEY,
            serde_json::to_vec(canary).expect("the canary serializes"),
        );
        self.store.write(batch, Durability::Sync)?;
        Ok(())
    }

    fn check_canary(&self, info: &MasterKeyInfo, canary: &Canary) -> Result<(), Error> {
        let needed = MasterKeyInfo {
            provider: provider_name(&canary.provider),
            key: canary.key.clone(),
        };
        if canary.provider != info.provider || canary.key != info.key {
            return Err(another_key(&needed, canary.version, info));
        }
        let plaintext = self
            .master
            .unwrap(&canary.wrapped()?, &canary_context())
            .map_err(|e| self.refusal(e, &needed, canary.version))?;
        let check = check_value(&plaintext);
        if !bool::from(check.as_bytes().ct_eq(canary.check.as_bytes())) {
            return Err(Error::Custody(format!(
                "the configured {info} opens this store's canary to the wrong value (version {})",
                canary.version
            )));
        }
        Ok(())
    }

    /// A store written before the canary existed: its first data key must open before the
    /// canary is written.
    fn check_legacy_data_key(&self, info: &MasterKeyInfo) -> Result<(), Error> {
        let mut first = None;
        self.store.scan_prefix(Cf::Deks, b"", &mut |key, value| {
            first = Some((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
            false
        })?;
        let Some((tenant, value)) = first else {
            return Ok(());
        };
        let record = decode_record(&tenant, &value)?;
        for stored in &record.keys {
            let needed = MasterKeyInfo {
                provider: provider_name(&stored.provider),
                key: stored.key.clone(),
            };
            if stored.provider != info.provider || stored.key != info.key {
                return Err(another_key(&needed, stored.version, info));
            }
            self.unwrap_dek(&tenant, stored)
                .map_err(|e| self.refusal(e, &needed, stored.version))?;
        }
        Ok(())
    }

    fn write_new_canary(&self) -> Result<(), Error> {
        let mut plaintext = Zeroizing::new([0u8; 32]);
        fill_random(plaintext.as_mut());
        let wrapped = self.master.wrap(plaintext.as_ref(), &canary_context())?;
        let info = self.master.info();
        self.write_canary(&Canary {
            provider: info.provider.to_owned(),
            key: info.key,
            version: wrapped.version,
            wrapped: B64.encode(&wrapped.ciphertext),
            check: check_value(plaintext.as_ref()),
        })
    }

    /// The self-test's message for a failed unwrap; a provider that cannot be reached stays
    /// [`Error::Provider`] (the key may well be right).
    fn refusal(&self, error: Error, needed: &MasterKeyInfo, version: u32) -> Error {
        let configured = self.master.info();
        match error {
            Error::UnknownKeyVersion(_) => {
                let present = self
                    .master
                    .versions()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_else(|_| "unknown".into());
                Error::Custody(format!(
                    "the configured {configured} has no version {version}, which wrapped this \
                     store's keys (versions present: {present})"
                ))
            }
            Error::UnknownKeyId { .. } | Error::WrongKeyOrTampered => Error::Custody(format!(
                "the configured {configured} is not the key that wrapped this store's keys: its \
                 version {version} is a different key (this store needs the {needed} version \
                 {version})"
            )),
            other => other,
        }
    }
}

/// The self-test's message when the store names another provider or key than the configured one.
fn another_key(needed: &MasterKeyInfo, version: u32, configured: &MasterKeyInfo) -> Error {
    Error::Custody(format!(
        "this store's keys are wrapped by the {needed} (version {version}); the configured master \
         key is the {configured}"
    ))
}

/// The static name of a recorded provider kind, for messages.
fn provider_name(recorded: &str) -> &'static str {
    match recorded {
        "file" => "file",
        "transit" => "transit",
        "pkcs11" => "pkcs11",
        "aws-kms" => "aws-kms",
        _ => "unknown",
    }
}
