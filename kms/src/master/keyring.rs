//! [`Keyring`]: numbered AES-256 master key versions held in memory, the core of the embedded
//! providers, and [`MemMasterKey`], a keyring that lives only in memory (tests, benchmarks).
//!
//! Role: wrap with the highest version, unwrap with the version a ciphertext names, add and
//! destroy versions; read and write the keyring file's text form.
//! What it must not do: show key bytes anywhere but [`Keyring::to_text`] (the file's content).
//!
//! Keyring text form (one version per line, `#` comments and blank lines ignored):
//!
//! ```text
//! # bunkerd master keyring: "<version> <64 lowercase hex>", the highest version is current
//! 1 6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b
//! 2 d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f64aa4bd2c4e6c4f7a3
//! ```
//!
//! Each version's ciphertext is an envelope record ([`crate::envelope`]) whose key id is that
//! version's key check value, so a keyring whose version 1 was replaced refuses instead of
//! producing garbage.

use super::{MasterKey, MasterKeyInfo, Wrapped};
use crate::envelope::{fill_random, key_check_value, DataKey};
use crate::Error;
use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};
use zeroize::Zeroizing;

/// Label hashed with the master key bytes to derive the master key id.
const MASTER_KEY_ID_LABEL: &[u8] = b"bunkerd master key id v1";
/// First line written to a keyring file.
const TEXT_HEADER: &str =
    "# bunkerd master keyring: \"<version> <64 lowercase hex>\", the highest version is current\n";

/// Master key versions in memory, each a 32-byte AES-256 key. Debug shows versions and key ids
/// only; keys are zeroized on drop.
#[derive(Default)]
pub struct Keyring {
    versions: BTreeMap<u32, DataKey>,
}

impl Keyring {
    /// A keyring holding `bytes` as version 1 (the form of a single 32-byte key file).
    pub fn single(bytes: [u8; 32]) -> Keyring {
        let mut keyring = Keyring::default();
        keyring.insert(1, bytes);
        keyring
    }

    /// Parses the text form (module docs).
    ///
    /// # Errors
    ///
    /// A reason naming the line (never its key bytes): not `<version> <64 hex>`, version 0 or
    /// repeated, or no version at all.
    pub fn parse(text: &str) -> Result<Keyring, String> {
        let mut keyring = Keyring::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("line {}: expected \"<version> <64 hex digits>\"", n + 1);
            let (version, hex) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
            let version: u32 = version.parse().map_err(|_| bad())?;
            let bytes = decode_hex_key(hex.trim()).ok_or_else(bad)?;
            if version == 0 || keyring.versions.contains_key(&version) {
                return Err(format!(
                    "line {}: version {version} is 0 or repeated",
                    n + 1
                ));
            }
            keyring.insert(version, *bytes);
        }
        if keyring.versions.is_empty() {
            return Err("no key version".into());
        }
        Ok(keyring)
    }

    /// The text form, for writing the keyring file.
    ///
    /// # Security
    ///
    /// Holds every key in hex: write it only to the 0600 keyring file.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from(TEXT_HEADER));
        for (version, key) in &self.versions {
            text.push_str(&version.to_string());
            text.push(' ');
            for byte in key.expose_bytes() {
                text.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
                text.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
            }
            text.push('\n');
        }
        text
    }

    /// The highest version (current); 0 for an empty keyring.
    pub fn current(&self) -> u32 {
        self.versions.keys().next_back().copied().unwrap_or(0)
    }

    /// Every version, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.versions.keys().copied().collect()
    }

    /// Adds a random key as version `current + 1`, returning it.
    ///
    /// # Panics
    ///
    /// If the OS random number generator fails, or at version `u32::MAX`.
    pub fn add_random(&mut self) -> u32 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut());
        let version = self
            .current()
            .checked_add(1)
            .expect("version below u32::MAX");
        self.insert(version, *bytes);
        version
    }

    /// Removes every version below `keep_from` (their keys are zeroized); returns them.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when `keep_from` is above the current version (that would leave
    /// nothing to wrap with).
    pub fn retire(&mut self, keep_from: u32) -> Result<Vec<u32>, Error> {
        if keep_from > self.current() {
            return Err(Error::Unsupported(
                "retiring the current master key version",
            ));
        }
        let kept = self.versions.split_off(&keep_from);
        let retired = std::mem::replace(&mut self.versions, kept);
        Ok(retired.into_keys().collect())
    }

    /// Wraps under the current version.
    ///
    /// # Panics
    ///
    /// On an empty keyring (every constructor holds at least one version).
    pub fn wrap(&self, plaintext: &[u8], context: &[u8]) -> Wrapped {
        let (version, key) = self.versions.iter().next_back().expect("a key version");
        Wrapped {
            version: *version,
            ciphertext: key.seal_for(plaintext, context),
        }
    }

    /// Unwraps with the version the ciphertext names.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKeyVersion`] if that version is not here; then those of
    /// [`DataKey::open_for`].
    pub fn unwrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let key = self
            .versions
            .get(&wrapped.version)
            .ok_or(Error::UnknownKeyVersion(wrapped.version))?;
        key.open_for(&wrapped.ciphertext, context)
    }

    fn insert(&mut self, version: u32, bytes: [u8; 32]) {
        let id = key_check_value(MASTER_KEY_ID_LABEL, &bytes);
        self.versions
            .insert(version, DataKey::from_bytes(bytes, id));
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = self
            .versions
            .iter()
            .map(|(version, key)| format!("v{version}:{:#010x}", key.id()));
        f.debug_list().entries(ids).finish()
    }
}

/// 64 hex digits (either case) as 32 bytes.
fn decode_hex_key(hex: &str) -> Option<Zeroizing<[u8; 32]>> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high << 4 | low).ok()?;
    }
    Some(bytes)
}

/// A master keyring in memory only, for tests and benchmarks: rotation adds a random version,
/// retirement forgets versions. Its ciphertexts are the same as [`crate::FileMasterKey`]'s for
/// the same key bytes and version.
#[derive(Debug)]
pub struct MemMasterKey {
    keyring: RwLock<Keyring>,
}

impl MemMasterKey {
    /// A fresh random key as version 1, from the OS CSPRNG.
    ///
    /// # Panics
    ///
    /// If the OS random number generator fails.
    pub fn generate() -> MemMasterKey {
        let mut keyring = Keyring::default();
        keyring.add_random();
        MemMasterKey::from_keyring(keyring)
    }

    /// `bytes` as version 1.
    ///
    /// # Security
    ///
    /// The caller must zeroize its own copy of `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> MemMasterKey {
        MemMasterKey::from_keyring(Keyring::single(bytes))
    }

    /// Every version of `keyring`.
    pub fn from_keyring(keyring: Keyring) -> MemMasterKey {
        MemMasterKey {
            keyring: RwLock::new(keyring),
        }
    }
}

impl MasterKey for MemMasterKey {
    fn info(&self) -> MasterKeyInfo {
        MasterKeyInfo {
            provider: "file",
            key: String::new(),
        }
    }

    fn current_version(&self) -> Result<u32, Error> {
        Ok(self.read().current())
    }

    fn versions(&self) -> Result<Vec<u32>, Error> {
        Ok(self.read().versions())
    }

    fn wrap(&self, plaintext: &[u8], context: &[u8]) -> Result<Wrapped, Error> {
        Ok(self.read().wrap(plaintext, context))
    }

    fn unwrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.read().unwrap(wrapped, context)
    }

    fn rotate(&self) -> Result<u32, Error> {
        Ok(self.write().add_random())
    }

    fn retire(&self, keep_from: u32) -> Result<Vec<u32>, Error> {
        self.write().retire(keep_from)
    }
}

impl MemMasterKey {
    /// Replaces every version (the file provider, after rewriting its file).
    pub(super) fn replace(&self, keyring: Keyring) {
        *self.write() = keyring;
    }

    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        // Every change is one map operation, so a poisoned lock still guards a whole keyring.
        self.keyring.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keyring> {
        self.keyring.write().unwrap_or_else(PoisonError::into_inner)
    }
}
