//! Key custody services: tenant data-key rotation (every user re-sealed under a new data key),
//! the shredding a user deletion leaves to do, and master-key rotation; each resumable.
//!
//! Role: [`Admin::begin_tenant_key_rotation`] and [`Admin::begin_master_key_rotation`] record
//! what is to be done; [`Admin::run_key_custody`] does all that is pending — started at boot, by
//! those calls and after user deletions — so a crash at any point leaves work the next run
//! finishes. The state is the store's: a tenant with several data keys is rotating; a shred mark
//! `shred/<tenant id>/<user id>` in [`Cf::Meta`] (written in the deletion's own batch) lists the
//! data keys that sealed the deleted user's secrets, all of which must go; a master-key rotation
//! is recorded by `kms`.
//! Must not: retire a data key while any record is sealed under it (the last check runs under
//! the tenant's exclusive lock, so no writer holding an older key can be mid-write; it compares
//! with the current data key the store holds, not this node's cached one, which another node's
//! rotation may have made stale; and the retirement keeps exactly the key checked against, or
//! retires nothing), or make a request fail (a re-sealed record stays openable through the whole
//! rotation; see `Directory::load_keys` for the one race, which re-reads).
//!
//! Main items: [`Admin::run_key_custody`], [`CustodyEvent`], [`CustodyReport`].

use super::Admin;
use crate::audit::{now_ms, AuditRecord, Outcome};
use crate::Error;
use kms::Rewrapped;
use std::collections::{BTreeMap, BTreeSet};
use store::{Batch, Cf, Durability};

/// Prefix of shred marks in [`Cf::Meta`]: `shred/<tenant>/<user>` → JSON array of data key ids.
const SHRED_PREFIX: &str = "shred/";
/// Users re-sealed between two [`CustodyEvent::Resealed`] reports.
const REPORT_EVERY: u64 = 1_000;

/// One tenant's shred marks: the marks' own keys in [`Cf::Meta`], and the data key ids they doom.
type ShredMarks = (Vec<String>, BTreeSet<u32>);

/// Progress of [`Admin::run_key_custody`], for metrics and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustodyEvent {
    /// `count` more users of `tenant` were re-sealed under its current data key.
    Resealed {
        /// Tenant id.
        tenant: String,
        /// Users re-sealed since the last report.
        count: u64,
    },
    /// A tenant's rotation ended: every user is sealed under its current data key and the others
    /// are destroyed.
    TenantDone {
        /// Tenant id.
        tenant: String,
        /// Users re-sealed in this run.
        resealed: u64,
        /// Data key ids destroyed.
        retired: Vec<u32>,
    },
    /// `count` more wrapped data keys were rewrapped under the new master key version.
    Rewrapped {
        /// Wrapped keys rewrapped since the last report.
        count: u64,
    },
    /// A master-key rotation ended at `version`; `destroyed` versions are gone from the provider.
    MasterDone {
        /// The version everything is wrapped by now.
        version: u32,
        /// Versions destroyed in the provider.
        destroyed: Vec<u32>,
    },
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustodyReport {
    /// Tenants whose rotation (or shred) finished.
    pub tenants: usize,
    /// Users re-sealed.
    pub resealed: u64,
    /// Wrapped data keys rewrapped under a new master key version.
    pub rewrapped: u64,
    /// Master key versions destroyed.
    pub destroyed_versions: Vec<u32>,
}

impl Admin<'_> {
    /// Starts a data-key rotation of `tenant` (idempotent while one runs); returns the new data
    /// key's id. [`Admin::run_key_custody`] re-seals the users and destroys the old key.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::Kms`] (provider or store).
    pub fn begin_tenant_key_rotation(&self, tenant: &str) -> Result<u32, Error> {
        let bunker = self.bunker;
        let _guard = bunker.locks.tenant_shared(tenant)?;
        if bunker.directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound);
        }
        let id = bunker.vault().rotate_data_key(tenant)?;
        bunker.directory.data_keys_changed(tenant);
        Ok(id)
    }

    /// Starts a master-key rotation (idempotent while one runs): the provider adds a version
    /// that wraps from now on; returns it. `retire`: destroy the older versions when every data
    /// key is rewrapped (older backups then stop opening — the point of a shred).
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] (provider or store).
    pub fn begin_master_key_rotation(&self, retire: bool) -> Result<u32, Error> {
        Ok(self.bunker.vault().begin_master_rotation(retire)?)
    }

    /// Pending custody work: tenants whose data-key rotation is in progress, and user deletions
    /// whose shred has not run.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`], [`Error::Corrupt`].
    pub fn pending_key_custody(&self) -> Result<(u64, u64), Error> {
        let rotating = self.bunker.vault().rotating_tenants()?.len() as u64;
        let shreds = self.shred_marks()?.values().map(|m| m.0.len() as u64).sum();
        Ok((rotating, shreds))
    }

    /// Adds to `batch` the shred mark of a user being deleted: the data keys its secrets may be
    /// sealed under (as the store holds them, not as this node cached them), all of which a
    /// later run replaces and destroys.
    pub(crate) fn mark_shred(
        &self,
        batch: &mut Batch,
        tenant: &str,
        user: &str,
    ) -> Result<(), Error> {
        let (_, ids) = self.bunker.vault().data_key_ids(tenant)?;
        let value = serde_json::to_vec(&ids).expect("ids serialize");
        batch.put(Cf::Meta, format!("{SHRED_PREFIX}{tenant}/{user}"), value);
        Ok(())
    }

    /// Does every pending custody job: each rotating or shred-marked tenant re-sealed and its
    /// old data keys destroyed, then a master-key rotation in progress rewrapped and finished.
    /// Blocks (run it on its own thread); safe to call again after a failure or a crash.
    ///
    /// # Errors
    ///
    /// The first [`Error`] met; what was done stays done.
    pub fn run_key_custody(
        &self,
        observe: &mut dyn FnMut(CustodyEvent),
    ) -> Result<CustodyReport, Error> {
        let bunker = self.bunker;
        let vault = bunker.vault();
        let mut report = CustodyReport::default();
        let marks = self.shred_marks()?;
        let mut tenants: BTreeSet<String> = vault.rotating_tenants()?.into_iter().collect();
        tenants.extend(marks.keys().cloned());
        for tenant in tenants {
            let doomed = marks.get(&tenant).map(|m| &m.1);
            let (resealed, retired) = match self.finish_tenant(&tenant, doomed, observe) {
                Ok(done) => done,
                Err(Error::Kms(kms::Error::NoDataKey(_))) => (0, Vec::new()),
                Err(e) => return Err(e),
            };
            if let Some((keys, _)) = marks.get(&tenant) {
                let mut batch = Batch::new();
                for key in keys {
                    batch.delete(Cf::Meta, key.as_bytes().to_vec());
                }
                bunker.store.write(batch, Durability::Sync)?;
            }
            self.audit_system(
                &tenant,
                "keys.resealed",
                format!("users re-sealed under the new data key: {resealed}"),
            );
            observe(CustodyEvent::TenantDone {
                tenant,
                resealed,
                retired,
            });
            report.tenants += 1;
            report.resealed += resealed;
        }
        if let Some(version) = vault.master_rotation()? {
            let mut last = 0;
            let mut report_progress = |done: Rewrapped| {
                if done.rewrapped > last {
                    observe(CustodyEvent::Rewrapped {
                        count: done.rewrapped - last,
                    });
                    last = done.rewrapped;
                }
            };
            let done = vault.rewrap_all(&mut report_progress)?;
            // The canary is rewrapped after the last progress report.
            report_progress(done);
            let destroyed = vault.finish_master_rotation()?;
            for tenant in bunker.directory.tenant_ids() {
                let detail = format!("data keys rewrapped by master key version {version}");
                self.audit_system(&tenant, "keys.rewrapped", detail);
            }
            observe(CustodyEvent::MasterDone {
                version,
                destroyed: destroyed.clone(),
            });
            report.rewrapped += done.rewrapped;
            report.destroyed_versions = destroyed;
        }
        Ok(report)
    }

    /// Rotates `tenant` until no data key in `doomed` (nor any non-current one) is left.
    fn finish_tenant(
        &self,
        tenant: &str,
        doomed: Option<&BTreeSet<u32>>,
        observe: &mut dyn FnMut(CustodyEvent),
    ) -> Result<(u64, Vec<u32>), Error> {
        let vault = self.bunker.vault();
        let mut resealed = 0;
        let mut retired = Vec::new();
        loop {
            let (current, all) = vault.data_key_ids(tenant)?;
            if all.len() > 1 {
                resealed += self.reseal_tenant(tenant, observe)?;
                retired.extend(self.retire_when_resealed(tenant)?);
                self.bunker.directory.data_keys_changed(tenant);
            } else if doomed.is_some_and(|d| d.contains(&current)) {
                // Shared, as `begin_tenant_key_rotation`: no retirement check runs meanwhile.
                let _guard = self.bunker.locks.tenant_shared(tenant)?;
                vault.rotate_data_key(tenant)?;
                self.bunker.directory.data_keys_changed(tenant);
            } else {
                return Ok((resealed, retired));
            }
        }
    }

    /// Re-seals every user of `tenant` not yet under its current data key, one at a time under
    /// the user's lock (buffered writes: the synced retirement that follows makes them durable).
    fn reseal_tenant(
        &self,
        tenant: &str,
        observe: &mut dyn FnMut(CustodyEvent),
    ) -> Result<u64, Error> {
        let bunker = self.bunker;
        let mut resealed = 0;
        let mut unreported = 0;
        for user in bunker.directory.user_ids(tenant)? {
            let _guard = bunker.locks.user(tenant, &user)?;
            let mut batch = Batch::new();
            match bunker.directory.reseal_user(tenant, &user, &mut batch) {
                Ok(true) => bunker.store.write(batch, Durability::Buffered)?,
                Ok(false) | Err(Error::UserNotFound) => continue,
                Err(e) => return Err(e),
            }
            resealed += 1;
            unreported += 1;
            if unreported == REPORT_EVERY {
                observe(CustodyEvent::Resealed {
                    tenant: tenant.to_owned(),
                    count: unreported,
                });
                unreported = 0;
            }
        }
        if unreported > 0 {
            observe(CustodyEvent::Resealed {
                tenant: tenant.to_owned(),
                count: unreported,
            });
        }
        Ok(resealed)
    }

    /// Under the tenant's exclusive lock (no user-level writer can be mid-write with an older
    /// key), checks that every user is sealed under the current data key and destroys the others;
    /// returns their ids, or none if a record still needs re-sealing (the caller loops).
    ///
    /// The current data key is the store's: this node's cached one may predate another node's
    /// rotation (the change it sent may be late or lost), and checking against it would retire
    /// the key users are still sealed under. The retirement keeps the key checked against, and
    /// retires nothing if the tenant was rotated again since.
    fn retire_when_resealed(&self, tenant: &str) -> Result<Vec<u32>, Error> {
        let bunker = self.bunker;
        let vault = bunker.vault();
        let _guard = bunker.locks.tenant_exclusive(tenant)?;
        vault.forget(tenant);
        let (current, _) = vault.data_key_ids(tenant)?;
        for user in bunker.directory.user_ids(tenant)? {
            if bunker.directory.needs_reseal(tenant, &user)? {
                return Ok(Vec::new());
            }
        }
        Ok(vault.retire_data_keys(tenant, current)?)
    }

    /// The shred marks per tenant: their keys, and the data key ids they doom.
    fn shred_marks(&self) -> Result<BTreeMap<String, ShredMarks>, Error> {
        let mut marks: BTreeMap<String, ShredMarks> = BTreeMap::new();
        let mut bad = false;
        self.bunker
            .store
            .scan_prefix(Cf::Meta, SHRED_PREFIX.as_bytes(), &mut |key, value| {
                let key = String::from_utf8_lossy(key).into_owned();
                let tenant = key[SHRED_PREFIX.len()..]
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                match serde_json::from_slice::<Vec<u32>>(value) {
                    Ok(ids) => {
                        let entry = marks.entry(tenant).or_default();
                        entry.0.push(key);
                        entry.1.extend(ids);
                    }
                    Err(_) => bad = true,
                }
                true
            })?;
        if bad {
            return Err(Error::Corrupt("shred mark"));
        }
        Ok(marks)
    }

    /// A custody record in the tenant's audit log (actor `system`); a failed write is logged.
    fn audit_system(&self, tenant: &str, action: &'static str, detail: String) {
        let mut record = AuditRecord::new(now_ms(), tenant, action, Outcome::Ok);
        record.actor = Some("system".into());
        record.detail = Some(detail);
        if let Err(e) = self.bunker.audit.record_durable(record) {
            tracing::error!(
                code = e.code(),
                action,
                "writing a custody audit record failed"
            );
        }
    }
}
