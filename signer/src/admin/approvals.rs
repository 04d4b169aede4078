//! Deciding on requests held for approval ([`crate::approvals`]): list them, approve one (once,
//! or remembered for its client), deny one, and expire the undecided. Each decision is one store
//! batch under the user's lock, written before the request is answered: a request is answered at
//! most once, even across a crash.

use super::Admin;
use crate::approvals::{self, ApprovalRecord, ApprovalStatus};
use crate::audit::{self, AuditRecord, Outcome};
use crate::bunker::Answer;
use crate::sessions::Sessions;
use crate::Error;
use proto::nip46::RpcError;
use proto::nostr::Event;
use proto::policy::Perms;
use store::{Batch, Durability};

/// What an admin decides on a held request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run it; with `remember`, such requests of its client (the same permission) no longer ask,
    /// and its client counts as confirmed for the policy's `ask_new_clients`.
    Approve {
        /// Remember the permission for the client.
        remember: bool,
    },
    /// Refuse it: the client gets an error reply.
    Deny,
}

/// A decision made: the record as it now stands, and the response for the client (`None` when
/// the request could not be answered any more: its remote-signer key was rotated or deleted).
#[derive(Debug)]
pub struct Decided {
    /// The decided record.
    pub record: ApprovalRecord,
    /// The signed response to publish where the client listens.
    pub response: Option<Event>,
}

/// Most approvals one listing returns.
pub const MAX_APPROVALS_LISTED: usize = 1000;

/// Most expired approvals one sweep answers.
const EXPIRE_BATCH: usize = 256;

impl Admin<'_> {
    /// The approvals of `tenant` (every status, or only `status`), newest first, at most
    /// [`MAX_APPROVALS_LISTED`].
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::Kms`] / [`Error::Corrupt`] on store failure.
    pub fn list_approvals(
        &self,
        tenant: &str,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRecord>, Error> {
        if self.bunker.directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound);
        }
        let mut found = approvals::of_tenant(&*self.bunker.store, tenant, usize::MAX)?;
        found.retain(|r| status.is_none_or(|s| r.status == s));
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        found.truncate(MAX_APPROVALS_LISTED);
        Ok(found)
    }

    /// One approval of `tenant`.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::NotFound`] for an unknown id; store errors.
    pub fn approval(&self, tenant: &str, id: &str) -> Result<ApprovalRecord, Error> {
        if self.bunker.directory.tenant(tenant).is_none() {
            return Err(Error::TenantNotFound);
        }
        approvals::get(&*self.bunker.store, tenant, id)?.ok_or(Error::NotFound("approval"))
    }

    /// Decides on a pending approval of `tenant` at `now` (Unix seconds), as `actor`; returns the
    /// decided record and the response for the client.
    ///
    /// # Errors
    ///
    /// [`Error::TenantNotFound`]; [`Error::NotFound`] for an unknown id; [`Error::Conflict`] when
    /// it was already decided or has expired; store errors.
    pub fn decide_approval(
        &self,
        tenant: &str,
        id: &str,
        decision: Decision,
        actor: &str,
        now: u64,
    ) -> Result<Decided, Error> {
        let user = self.approval(tenant, id)?.user;
        let bunker = self.bunker;
        let _guard = bunker.locks.user(tenant, &user)?;
        let mut record = self.approval(tenant, id)?;
        if record.status != ApprovalStatus::Pending {
            return Err(Error::Conflict("this request was already decided"));
        }
        if record.expires_at <= now {
            return Err(Error::Conflict("this request has expired"));
        }
        let mut batch = Batch::new();
        let mut remembered = None;
        record.status = match decision {
            Decision::Approve { remember: true } => {
                let stored =
                    Sessions::stored(&*bunker.store, &record.remote_signer, &record.client)?;
                if let Some(mut session_record) = stored {
                    let joined = match &session_record.remembered {
                        Some(before) => format!("{before},{}", record.permission),
                        None => record.permission.clone(),
                    };
                    session_record.remembered = Some(Perms::parse(&joined).to_string());
                    session_record.confirmed = true;
                    Sessions::put(&mut batch, &session_record);
                    remembered = Some(session_record);
                }
                ApprovalStatus::Remembered
            }
            Decision::Approve { remember: false } => ApprovalStatus::Approved,
            Decision::Deny => ApprovalStatus::Denied,
        };
        record.decided_at = Some(now);
        record.decided_by = Some(actor.to_owned());
        approvals::put(&mut batch, &record);
        bunker.store.write(batch, Durability::Sync)?;
        bunker.held.remove(record.remote_signer, record.client);
        if let Some(session_record) = remembered {
            bunker.sessions.put_live(session_record);
        }
        let answer = match decision {
            Decision::Approve { .. } => Answer::Run,
            Decision::Deny => Answer::Refuse(RpcError::ApprovalDenied(record.permission.clone())),
        };
        let response = answer_or_log(bunker.answer_held(&record, answer, now));
        Ok(Decided { record, response })
    }

    /// Expires the pending approvals due at `now` (at most 256 per call): each is marked expired,
    /// audited, and its client answered with an error reply.
    ///
    /// # Errors
    ///
    /// Store errors (approvals already expired in this call stay expired).
    pub fn expire_approvals(&self, now: u64) -> Result<Vec<Decided>, Error> {
        let bunker = self.bunker;
        let mut expired = Vec::new();
        for (tenant, id) in approvals::due(&*bunker.store, now, EXPIRE_BATCH)? {
            let Some(peek) = approvals::get(&*bunker.store, &tenant, &id)? else {
                continue;
            };
            let _guard = bunker.locks.user(&tenant, &peek.user)?;
            let Some(mut record) = approvals::get(&*bunker.store, &tenant, &id)? else {
                continue;
            };
            if record.status != ApprovalStatus::Pending || record.expires_at > now {
                continue;
            }
            record.status = ApprovalStatus::Expired;
            record.decided_at = Some(now);
            record.decided_by = Some("expiry".to_owned());
            let mut batch = Batch::new();
            approvals::put(&mut batch, &record);
            bunker.store.write(batch, Durability::Sync)?;
            bunker.held.remove(record.remote_signer, record.client);
            let mut audit = AuditRecord::new(
                audit::now_ms(),
                &record.tenant,
                "approval.expire",
                Outcome::Refused,
            );
            audit.user = Some(record.user.clone());
            audit.client = Some(record.client);
            audit.detail = Some(record.permission.clone());
            bunker.audit.record(audit);
            let answer = Answer::Refuse(RpcError::ApprovalExpired(record.permission.clone()));
            let response = answer_or_log(bunker.answer_held(&record, answer, now));
            expired.push(Decided { record, response });
        }
        Ok(expired)
    }
}

/// The response, or `None` (logged) when the held request could not be answered any more.
fn answer_or_log(answered: Result<Event, Error>) -> Option<Event> {
    answered
        .inspect_err(|e| {
            tracing::warn!(
                code = e.code(),
                "a decided request could not be answered (its remote-signer key is gone)"
            );
        })
        .ok()
}

#[cfg(test)]
#[path = "approvals_tests.rs"]
mod tests;
