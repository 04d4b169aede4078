//! The sweeper: ends expired sessions and deletes bunker-URI records that can no longer connect.
//!
//! Expiry is enforced at each request whether or not the sweeper ran (`nip46::handle` answers an
//! expired session `unauthorized: session expired` and ends it); the sweeper makes the store and the
//! admin API's lists agree without waiting for a request, and keeps the `bunker_secrets` column
//! family from growing with every URI ever issued.
//!
//! A bunker-URI record is deleted once it expired (used or not: the URI's lifetime bounds how long
//! it is listed), or once it was used and the session it created has ended: a used secret never
//! connects again either way (`connect` refuses consumed secrets). Every deletion runs under the
//! user's lock (the one a consuming `connect` holds), deciding again on the record, session and
//! policy as they are then. Approval records are deleted a week after their decision, or once
//! their user is gone.

use super::Admin;
use crate::approvals;
use crate::directory::BunkerSecretRecord;
use crate::sessions::Sessions;
use crate::Error;
use proto::policy::Policy;
use std::collections::HashMap;
use store::{Batch, Cf, Durability};

/// What one [`Admin::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Sessions ended because they expired.
    pub sessions: usize,
    /// Bunker-URI records deleted (expired, or used and their session ended).
    pub bunker_uris: usize,
    /// Approval records deleted: decided more than
    /// [`crate::approvals::DECIDED_RETENTION_SECS`] ago (expired: more than
    /// [`crate::approvals::EXPIRED_RETENTION_SECS`]), or of a user or tenant deleted since.
    pub approvals: usize,
}

impl Admin<'_> {
    /// Ends every session expired at `now` (Unix seconds) under its user's current policy and
    /// deletes every bunker-URI record that can no longer connect, durably. Blocking (store
    /// scans and synced writes): run it off the reactor, every minute or so.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] / [`Error::Kms`] from the store; what was swept before the failure stays
    /// swept.
    pub fn sweep(&self, now: u64) -> Result<Swept, Error> {
        Ok(Swept {
            sessions: self.sweep_sessions(now)?,
            bunker_uris: self.sweep_bunker_uris(now)?,
            approvals: self.sweep_approvals(now)?,
        })
    }

    /// Deletes the approval records no admin needs any more: decided over
    /// [`approvals::DECIDED_RETENTION_SECS`] ago, or whose user (or tenant) is gone — a request
    /// held for a deleted user can never be answered.
    fn sweep_approvals(&self, now: u64) -> Result<usize, Error> {
        let bunker = self.bunker;
        let mut deleted = 0;
        for record in approvals::all(&*bunker.store)? {
            let retention = match record.status {
                approvals::ApprovalStatus::Expired => approvals::EXPIRED_RETENTION_SECS,
                _ => approvals::DECIDED_RETENTION_SECS,
            };
            let stale = record
                .decided_at
                .is_some_and(|t| t.saturating_add(retention) <= now);
            let orphaned = matches!(
                bunker.directory.user(&record.tenant, &record.user),
                Err(Error::UserNotFound | Error::TenantNotFound)
            );
            if !stale && !orphaned {
                continue;
            }
            let _guard = bunker.locks.user(&record.tenant, &record.user)?;
            let mut batch = Batch::new();
            approvals::delete(&mut batch, &record);
            bunker.store.write(batch, Durability::Sync)?;
            if record.status == approvals::ApprovalStatus::Pending {
                bunker.held.remove(record.remote_signer, record.client);
            }
            deleted += 1;
        }
        Ok(deleted)
    }

    fn sweep_sessions(&self, now: u64) -> Result<usize, Error> {
        let bunker = self.bunker;
        let mut policies: HashMap<(String, String), Option<Policy>> = HashMap::new();
        let mut ended = 0;
        for session in bunker.sessions.all() {
            let (tenant, user) = (&session.record.tenant, &session.record.user);
            let policy = policies
                .entry((tenant.clone(), user.clone()))
                .or_insert_with(|| {
                    let found = bunker.directory.effective_policy(tenant, user);
                    found.ok().map(|(policy, _)| policy)
                });
            // A user deleted meanwhile took its sessions with it.
            let Some(policy) = policy else { continue };
            if session.expires_at(policy).is_none_or(|t| now < t) {
                continue;
            }
            let (rs, client) = (session.record.remote_signer, session.record.client);
            let _guard = bunker.locks.user(tenant, user)?;
            // Decided again under the lock, on the session as the store holds it now: the client
            // may have replaced it with a new one meanwhile, on this node or another whose word
            // has not reached this one's memory yet, or an admin changed the policy.
            let Some(stored) = Sessions::stored(&*bunker.store, &rs, &client)? else {
                continue;
            };
            let Ok((policy, _)) = bunker.directory.effective_policy(tenant, user) else {
                continue;
            };
            if policy
                .session_expiry(stored.created_at, stored.expires_at)
                .is_none_or(|t| now < t)
            {
                continue;
            }
            let mut batch = Batch::new();
            Sessions::delete(&mut batch, &rs, &client);
            bunker.store.write(batch, Durability::Sync)?;
            bunker.sessions.forget(&rs, &client);
            ended += 1;
        }
        Ok(ended)
    }

    fn sweep_bunker_uris(&self, now: u64) -> Result<usize, Error> {
        let bunker = self.bunker;
        let mut candidates: Vec<([u8; 32], BunkerSecretRecord)> = Vec::new();
        bunker
            .store
            .scan_prefix(Cf::BunkerSecrets, b"", &mut |key, value| {
                // Records are keyed by the 32-byte hash; the per-user index keys are longer text.
                if let (Ok(hash), Ok(record)) = (
                    <[u8; 32]>::try_from(key),
                    serde_json::from_slice::<BunkerSecretRecord>(value),
                ) {
                    candidates.push((hash, record));
                }
                true
            })?;
        let mut deleted = 0;
        for (hash, record) in candidates {
            if !self.retired(&record, now) {
                continue;
            }
            let _guard = bunker.locks.user(&record.tenant, &record.user)?;
            match bunker.directory.bunker_secret(&hash)? {
                Some((current, _)) if self.retired(&current, now) => {}
                _ => continue,
            }
            let mut batch = Batch::new();
            bunker
                .directory
                .delete_token_into(&mut batch, &record.tenant, &record.user, &hash);
            bunker.store.write(batch, Durability::Sync)?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Whether a bunker-URI record can no longer connect and no live session needs it listed.
    fn retired(&self, record: &BunkerSecretRecord, now: u64) -> bool {
        if now >= record.expires_at {
            return true;
        }
        let Some(client) = record.consumed_by else {
            return false;
        };
        match self.bunker.directory.user(&record.tenant, &record.user) {
            Ok(user) => self
                .bunker
                .sessions
                .get(&user.remote_signer_pubkey, &client)
                .is_none(),
            // The user is gone (its records were deleted with it) or unreadable: leave it.
            Err(_) => false,
        }
    }
}
