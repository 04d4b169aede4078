//! Loading tenants and routes from the store: at start, and again for a node of a cluster when
//! other nodes change them ([`crate::cluster`]), with what was cached from the old records.

use super::{parse_route, Directory, Route, TenantRecord};
use crate::cluster::{set_entry, Change};
use crate::Error;
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
        let read = || match self.store.get(Cf::Tenants, tenant.as_bytes())? {
            Some(value) => serde_json::from_slice::<TenantRecord>(&value)
                .map(Some)
                .map_err(|_| Error::Corrupt("tenant record")),
            None => Ok(None),
        };
        self.marks
            .mirror(&self.tenants, &tenant.to_owned(), read, set_entry)?;
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
        let read = || match self.store.get(Cf::SignerIndex, remote_signer.as_bytes())? {
            Some(value) => parse_route(remote_signer.as_bytes(), &value)
                .map(|(_, route)| Some(route))
                .ok_or(Error::Corrupt("signer index entry")),
            None => Ok(None),
        };
        self.marks
            .mirror(&self.routes, remote_signer, read, set_entry)?;
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
        let mut reload = self.marks.reload();
        let live: Vec<String> = self.tenants.iter().map(|e| e.key().clone()).collect();
        let stored = self.read_tenants()?;
        let ids: HashSet<String> = stored.iter().map(|t| t.id.clone()).collect();
        // Every tenant either side knew of: their cached data keys are dropped below.
        let every: HashSet<String> = ids.iter().chain(&live).cloned().collect();
        let mut missed = Vec::new();
        let tenants = stored.into_iter().map(|t| (t.id.clone(), Some(t)));
        let gone = live.into_iter().filter(|id| !ids.contains(id));
        for (id, record) in tenants.chain(gone.map(|id| (id, None))) {
            if !reload.apply(&self.tenants, id.clone(), record, set_entry) {
                missed.push(id);
            }
        }
        for id in missed {
            self.mirror_tenant(&id)?;
        }
        let live: Vec<PublicKey> = self.routes.iter().map(|e| *e.key()).collect();
        let stored = self.read_routes()?;
        let keys: HashSet<PublicKey> = stored.iter().map(|(pk, _)| *pk).collect();
        let mut missed = Vec::new();
        let routes = stored.into_iter().map(|(pk, route)| (pk, Some(route)));
        let gone = live.into_iter().filter(|pk| !keys.contains(pk));
        for (pk, route) in routes.chain(gone.map(|pk| (pk, None))) {
            if !reload.apply(&self.routes, pk, route, set_entry) {
                missed.push(pk);
            }
        }
        for pk in missed {
            self.mirror_remote_signer(&pk)?;
        }
        for tenant in &every {
            self.vault.forget(tenant);
        }
        self.key_epoch.fetch_add(1, Ordering::AcqRel);
        self.keys.clear();
        self.forget_nip05();
        Ok(())
    }
}
