//! Loading tenants and routes from the store: at start, and again for a node of a cluster when
//! other nodes change them ([`crate::cluster`]), with what was cached from the old records.

use super::{parse_route, Directory, Route, TenantRecord};
use crate::cluster::{Change, WriteMarks, MIRROR_TRIES};
use crate::Error;
use dashmap::DashMap;
use proto::nostr::PublicKey;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use store::Cf;

impl Directory {
    /// Inserts every stored tenant and route (at start).
    pub(super) fn load_all(&self) -> Result<(), Error> {
        for tenant in self.read_tenants()? {
            self.tenants.insert(tenant.id.clone(), tenant);
        }
        for (pk, route) in self.read_routes()? {
            self.routes.insert(pk, route);
        }
        Ok(())
    }

    fn read_tenants(&self) -> Result<Vec<TenantRecord>, Error> {
        let mut bad = false;
        let mut tenants = Vec::new();
        self.store.scan_prefix(Cf::Tenants, b"", &mut |_, value| {
            match serde_json::from_slice::<TenantRecord>(value) {
                Ok(t) => tenants.push(t),
                Err(_) => bad = true,
            }
            !bad
        })?;
        if bad {
            return Err(Error::Corrupt("tenant record"));
        }
        Ok(tenants)
    }

    fn read_routes(&self) -> Result<Vec<(PublicKey, Route)>, Error> {
        let mut bad = false;
        let mut routes = Vec::new();
        self.store
            .scan_prefix(Cf::SignerIndex, b"", &mut |key, value| {
                match parse_route(key, value) {
                    Some(entry) => routes.push(entry),
                    None => bad = true,
                }
                !bad
            })?;
        if bad {
            return Err(Error::Corrupt("signer index entry"));
        }
        Ok(routes)
    }

    /// Tells the other nodes of a cluster that `tenant`'s data keys changed (rotated or retired
    /// here), so they load them again.
    pub(crate) fn data_keys_changed(&self, tenant: &str) {
        self.changes.send(Change::Tenant { id: tenant.into() });
    }

    /// Makes memory hold what the store holds for one tenant, after another node changed it
    /// ([`crate::cluster`]): its record (or its absence), and nothing cached from before (unsealed
    /// keys of its users, its data keys, NIP-05 names).
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the store cannot be read (memory is left as it was);
    /// [`Error::Corrupt`] for an undecodable record.
    pub(crate) fn mirror_tenant(&self, tenant: &str) -> Result<(), Error> {
        for _ in 0..MIRROR_TRIES {
            let mark = self.marks.read(&tenant);
            let stored = match self.store.get(Cf::Tenants, tenant.as_bytes())? {
                Some(value) => Some(
                    serde_json::from_slice::<TenantRecord>(&value)
                        .map_err(|_| Error::Corrupt("tenant record"))?,
                ),
                None => None,
            };
            if apply_unless_marked(&self.tenants, &self.marks, mark, tenant.to_owned(), stored) {
                break;
            }
        }
        self.vault.forget(tenant);
        self.drop_tenant_keys(tenant);
        self.forget_nip05();
        Ok(())
    }

    /// [`Directory::mirror_tenant`] for a user, by its remote-signer pubkey: its routing entry (or
    /// its absence) and its unsealed keys.
    ///
    /// # Errors
    ///
    /// As [`Directory::mirror_tenant`].
    pub(crate) fn mirror_remote_signer(&self, remote_signer: &PublicKey) -> Result<(), Error> {
        for _ in 0..MIRROR_TRIES {
            let mark = self.marks.read(remote_signer);
            let stored = match self.store.get(Cf::SignerIndex, remote_signer.as_bytes())? {
                Some(value) => Some(
                    parse_route(remote_signer.as_bytes(), &value)
                        .ok_or(Error::Corrupt("signer index entry"))?
                        .1,
                ),
                None => None,
            };
            if apply_unless_marked(&self.routes, &self.marks, mark, *remote_signer, stored) {
                break;
            }
        }
        self.drop_keys(remote_signer);
        self.forget_nip05();
        Ok(())
    }

    /// Reloads tenants and the routing index from the store (except entries this node wrote
    /// meanwhile) and drops every cached key, for a node that may have missed changes
    /// ([`crate::Bunker::reload`]). Entries are replaced in place, never cleared first, so a
    /// lookup meanwhile sees the old or the new entry.
    ///
    /// # Errors
    ///
    /// As [`Directory::load`].
    pub(crate) fn reload(&self) -> Result<(), Error> {
        let marks = self.marks.snapshot();
        let live: Vec<String> = self.tenants.iter().map(|e| e.key().clone()).collect();
        let stored = self.read_tenants()?;
        let ids: HashSet<String> = stored.iter().map(|t| t.id.clone()).collect();
        for record in stored {
            let mark = WriteMarks::read_in(&marks, &record.id);
            apply_unless_marked(
                &self.tenants,
                &self.marks,
                mark,
                record.id.clone(),
                Some(record),
            );
        }
        for id in live.into_iter().filter(|id| !ids.contains(id)) {
            let mark = WriteMarks::read_in(&marks, &id);
            apply_unless_marked(&self.tenants, &self.marks, mark, id, None);
        }
        let live: Vec<PublicKey> = self.routes.iter().map(|e| *e.key()).collect();
        let stored = self.read_routes()?;
        let keys: HashSet<PublicKey> = stored.iter().map(|(pk, _)| *pk).collect();
        for (pk, route) in stored {
            let mark = WriteMarks::read_in(&marks, &pk);
            apply_unless_marked(&self.routes, &self.marks, mark, pk, Some(route));
        }
        for pk in live.into_iter().filter(|pk| !keys.contains(pk)) {
            let mark = WriteMarks::read_in(&marks, &pk);
            apply_unless_marked(&self.routes, &self.marks, mark, pk, None);
        }
        for tenant in self.tenant_ids() {
            self.vault.forget(&tenant);
        }
        self.key_epoch.fetch_add(1, Ordering::AcqRel);
        self.keys.clear();
        self.forget_nip05();
        Ok(())
    }
}

/// Makes `map[key]` be `value` (`None`: absent) unless this node wrote `key` since `mark` was
/// read (then `false`): the check runs under the shard lock the writer's update takes.
fn apply_unless_marked<K, V>(
    map: &DashMap<K, V>,
    marks: &WriteMarks,
    mark: u64,
    key: K,
    value: Option<V>,
) -> bool
where
    K: std::hash::Hash + Eq + Clone,
{
    use dashmap::Entry;
    let entry = map.entry(key.clone());
    if marks.read(&key) != mark {
        return false;
    }
    match (entry, value) {
        (Entry::Occupied(mut live), Some(value)) => drop(live.insert(value)),
        (Entry::Vacant(slot), Some(value)) => drop(slot.insert(value)),
        (Entry::Occupied(live), None) => drop(live.remove()),
        (Entry::Vacant(_), None) => {}
    }
    true
}
