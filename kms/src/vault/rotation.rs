//! Master-key rotation: a new version in the provider, every wrapped data key (and the canary)
//! rewrapped under it, then the older versions destroyed in the provider.
//!
//! Role: make the rotation resumable after a crash at any point. Its state lives in
//! [`Cf::Meta`] under `kms/master-rotation` (`{"from":<version>,"to":<version or null>,
//! "retire":<bool>}`), written before the provider is asked for a new version; every step after
//! that is idempotent (a record already under `to` is skipped), and the old versions are
//! destroyed only once a scan of the store, under the vault's store lock held exclusively (no
//! process sharing the store can be writing a DEK record meanwhile), finds nothing wrapped by
//! them. A process whose copy of the master key is older than the store's keys (it wraps under
//! a version below them) is refused before it writes what that version wrapped.
//! What it must not do: retire a version that still wraps a data key, or touch a tenant's
//! sealed records (their data keys do not change; only how the data keys are wrapped does).
//!
//! Main items: `Vault::begin_master_rotation`, `Vault::rewrap_all`,
//! `Vault::finish_master_rotation`, [`MasterKeyStatus`].

use super::custody::canary_context;
use super::{dek_context, Vault};
use crate::master::MasterKeyInfo;
use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::{Batch, Cf, Durability};

/// Key of the rotation state in [`Cf::Meta`].
const STATE_KEY: &[u8] = b"kms/master-rotation";

/// A master-key rotation in progress, as stored.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct State {
    /// The version that was current when the rotation began.
    from: u32,
    /// The version everything is rewrapped under; `None` until the provider made it.
    to: Option<u32>,
    /// Whether versions below `to` are destroyed at the end.
    retire: bool,
}

/// Where the master key and the store stand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterKeyStatus {
    /// Provider and key.
    pub info: MasterKeyInfo,
    /// The version that wraps now.
    pub current_version: u32,
    /// Every version the provider still has, ascending.
    pub versions: Vec<u32>,
    /// Wrapped data keys (and the canary) per master key version that wrapped them.
    pub wrapped_by_version: BTreeMap<u32, u64>,
    /// The target version of a rotation in progress.
    pub rotating_to: Option<u32>,
    /// Whether that rotation destroys the older versions when it ends.
    pub retire: bool,
}

/// What one pass of [`Vault::rewrap_all`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewrapped {
    /// Wrapped data keys (and the canary) rewrapped under the target version.
    pub rewrapped: u64,
    /// Already under the target version.
    pub skipped: u64,
}

impl Vault {
    /// The master key's versions and how many wrapped keys each wraps.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`], [`Error::Store`], [`Error::Corrupt`].
    pub fn master_status(&self) -> Result<MasterKeyStatus, Error> {
        let mut wrapped_by_version = BTreeMap::new();
        self.for_each_record(|_, record| {
            for key in &record.keys {
                *wrapped_by_version.entry(key.version).or_insert(0) += 1;
            }
        })?;
        if let Some(canary) = self.read_canary()? {
            *wrapped_by_version.entry(canary.version).or_insert(0) += 1;
        }
        let state = self.read_state()?;
        Ok(MasterKeyStatus {
            info: self.master.info(),
            current_version: self.master.current_version()?,
            versions: self.master.versions()?,
            wrapped_by_version,
            rotating_to: state.and_then(|s| s.to),
            retire: state.is_some_and(|s| s.retire),
        })
    }

    /// Starts a master-key rotation, or joins the one in progress: records the intent, has the
    /// provider add a version (unless a crash left one made after the intent was recorded), and
    /// records it as the target. Returns the target version. From here on every new data key
    /// is wrapped under it.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`], [`Error::MasterKeyFile`] (a keyring file that cannot be
    /// rewritten), [`Error::Store`] (also when the store's lock cannot be taken).
    pub fn begin_master_rotation(&self, retire: bool) -> Result<u32, Error> {
        let _records = self.lock_all_records()?;
        let mut state = match self.read_state()? {
            Some(state) => state,
            None => {
                let state = State {
                    from: self.master.current_version()?,
                    to: None,
                    retire,
                };
                self.write_state(Some(&state))?;
                state
            }
        };
        if let Some(to) = state.to {
            return Ok(to);
        }
        let current = self.master.current_version()?;
        let to = if current > state.from {
            current
        } else {
            self.master.rotate()?
        };
        state.to = Some(to);
        self.write_state(Some(&state))?;
        Ok(to)
    }

    /// The target version of the rotation in progress, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Store`], [`Error::Corrupt`].
    pub fn master_rotation(&self) -> Result<Option<u32>, Error> {
        Ok(self.read_state()?.and_then(|s| s.to))
    }

    /// Rewraps every wrapped data key (and the canary) below the rotation's target version,
    /// one tenant record at a time under that record's locks (read again under them, so a DEK
    /// another process added meanwhile is kept), through the provider's own rewrap where it has
    /// one; `progress` is called after each record with the running totals. Requests keep being
    /// served: data keys themselves do not change.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] without a rotation in progress; [`Error::Custody`] when the
    /// provider rewraps under a version below the target (this process's copy of the master key
    /// is older than the rotation); [`Error::Provider`], [`Error::Store`] (also when a store's
    /// lock cannot be taken), [`Error::Corrupt`]. What was rewrapped stays rewrapped; calling
    /// again continues.
    pub fn rewrap_all(&self, progress: &mut dyn FnMut(Rewrapped)) -> Result<Rewrapped, Error> {
        let to = self.master_rotation()?.ok_or(Error::Unsupported(
            "rewrapping without a master-key rotation",
        ))?;
        let mut tenants = Vec::new();
        self.for_each_record(|tenant, record| {
            tenants.push((
                tenant.to_owned(),
                record.keys.iter().any(|k| k.version < to),
            ));
        })?;
        let mut done = Rewrapped::default();
        for (tenant, stale) in tenants {
            if stale {
                done.rewrapped += self.rewrap_tenant(&tenant, to)?;
            } else {
                done.skipped += 1;
            }
            progress(done);
        }
        let _records = self.lock_all_records()?;
        if let Some(canary) = self.read_canary()? {
            if canary.version < to {
                let wrapped = self.master.rewrap(&canary.wrapped()?, &canary_context())?;
                self.write_canary(&canary.with(&wrapped))?;
                done.rewrapped += 1;
            }
        }
        Ok(done)
    }

    /// Ends the rotation: under the vault's store lock held exclusively (no process sharing the
    /// store writes a DEK record until it returns), checks in the store — not in what any vault
    /// cached — that nothing is wrapped below the target, destroys the older versions in the
    /// provider if the rotation retires them, and clears the state. Returns the versions
    /// destroyed.
    ///
    /// # Errors
    ///
    /// [`Error::Custody`] while something is still wrapped below the target (run
    /// [`Vault::rewrap_all`] again): destroying those versions would lose what they wrap;
    /// [`Error::Unsupported`] without a rotation; [`Error::Provider`]; [`Error::Store`] (also
    /// when the store's lock cannot be taken); [`Error::Corrupt`] for an undecodable record,
    /// which then cannot be shown to be rewrapped.
    pub fn finish_master_rotation(&self) -> Result<Vec<u32>, Error> {
        let _records = self.lock_all_records()?;
        let state = self.read_state()?.ok_or(Error::Unsupported(
            "finishing without a master-key rotation",
        ))?;
        let to = state.to.ok_or(Error::Unsupported(
            "finishing a rotation that has no target",
        ))?;
        let mut stale = 0u64;
        self.for_each_record(|_, record| {
            stale += record.keys.iter().filter(|k| k.version < to).count() as u64;
        })?;
        if self.read_canary()?.is_some_and(|c| c.version < to) {
            stale += 1;
        }
        if stale > 0 {
            return Err(Error::Custody(format!(
                "{stale} wrapped keys are still below master key version {to}"
            )));
        }
        let destroyed = if state.retire {
            self.master.retire(to)?
        } else {
            Vec::new()
        };
        self.write_state(None)?;
        Ok(destroyed)
    }

    /// Rewraps one tenant's record; returns how many DEKs it rewrapped.
    fn rewrap_tenant(&self, tenant: &str, to: u32) -> Result<u64, Error> {
        let _records = self.lock_record(tenant)?;
        let mut record = match self.read_record_for_update(tenant) {
            Ok(record) => record,
            // Deleted since the scan.
            Err(Error::NoDataKey(_)) => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut count = 0;
        for stored in record.keys.iter_mut().filter(|k| k.version < to) {
            let wrapped = self
                .master
                .rewrap(&stored.wrapped()?, &dek_context(tenant))?;
            self.check_rewrapped(wrapped.version, to)?;
            stored.version = wrapped.version;
            stored.wrapped = B64.encode(&wrapped.ciphertext);
            count += 1;
        }
        if count > 0 {
            self.write_record(tenant, &record)?;
        }
        Ok(count)
    }

    /// Refuses to store a new data key wrapped under `version` when the store's keys have moved
    /// past it (the canary's version, or a rotation's target): this process's copy of the master
    /// key is older than another process's rotation, and what it wraps would not open once that
    /// rotation retires the version (nor on a process without it).
    pub(super) fn check_wrap_version(&self, version: u32) -> Result<(), Error> {
        let canary = self.read_canary()?.map_or(0, |c| c.version);
        let target = self.read_state()?.and_then(|s| s.to).unwrap_or(0);
        self.check_rewrapped(version, canary.max(target))
    }

    /// [`Error::Custody`] unless `version` is at least `floor`.
    fn check_rewrapped(&self, version: u32, floor: u32) -> Result<(), Error> {
        if version >= floor {
            return Ok(());
        }
        Err(Error::Custody(format!(
            "the configured {} wraps under version {version}, but this store's keys are \
             wrapped by version {floor} or later: this process's copy of the master key is \
             stale (another node rotated it); restart it with the current one",
            self.master.info()
        )))
    }

    fn read_state(&self) -> Result<Option<State>, Error> {
        let Some(value) = self.store.get(Cf::Meta, STATE_KEY)? else {
            return Ok(None);
        };
        serde_json::from_slice(&value)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("master-key rotation state: {e}")))
    }

    fn write_state(&self, state: Option<&State>) -> Result<(), Error> {
        let mut batch = Batch::new();
        match state {
            Some(state) => batch.put(
                Cf::Meta,
                STATE_KEY,
                serde_json::to_vec(state).expect("the state serializes"),
            ),
            None => batch.delete(Cf::Meta, STATE_KEY),
        };
        self.store.write(batch, Durability::Sync)?;
        Ok(())
    }
}
