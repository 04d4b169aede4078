//! Requests held for an admin's approval ([`crate::approvals`]): holding one when the policy's
//! approval rules ask, answering it once decided (run, or refused), and the page's view of it.

use super::{Bunker, Transport};
use crate::approvals::{self, ApprovalRecord, ApprovalStatus};
use crate::Error;
use proto::nip46::{self, Reply, Request, RpcError, UserKeys};
use proto::nostr::Event;
use store::{Batch, Durability};

/// How a held request is answered.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Run it as approved (the policy and the session's grant still apply).
    Run,
    /// Refuse it with this error reply.
    Refuse(RpcError),
}

/// What the approval page shows. Holds no secret; the preview is the `sign_event` template's
/// content, cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldView {
    /// The permission it needs (`sign_event:0`).
    pub permission: String,
    /// The client's display name from its session, if it gave one.
    pub client_name: Option<String>,
    /// The client pubkey, 64 hex.
    pub client_pubkey: String,
    /// The first [`PREVIEW_CHARS`] characters of the event to sign, when it is a `sign_event`.
    pub preview: Option<String>,
    /// Unix seconds it was held.
    pub created_at: u64,
    /// Unix seconds it expires if nobody decides.
    pub expires_at: u64,
    /// Where it stands.
    pub status: ApprovalStatus,
}

/// How much of a `sign_event` template's content the page shows, characters.
pub const PREVIEW_CHARS: usize = 280;

impl Bunker {
    /// Holds `event`, which needs `permission`, for an admin's approval at `now` (Unix seconds):
    /// writes the pending record durably and returns the page URL for the `auth_url` reply;
    /// `None` when its client already has [`approvals::MAX_HELD_PER_CLIENT`] requests held.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] when the store write fails (the client is then answered `internal error`).
    pub(super) fn hold(
        &self,
        keys: &UserKeys,
        event: &Event,
        origin: Option<&str>,
        permission: &str,
        now: u64,
    ) -> Result<Option<String>, Error> {
        let remote_signer = keys.remote_signer.public_key();
        if !self.held.try_add(remote_signer, event.pubkey) {
            return Ok(None);
        }
        let (id, token) = crate::crypto::with(|c| {
            (
                hex::encode(c.array::<16>()),
                zeroize::Zeroizing::new(hex::encode(c.array::<32>())),
            )
        });
        let record = ApprovalRecord {
            id,
            tenant: keys.tenant.clone(),
            user: keys.user_id.clone(),
            remote_signer,
            client: event.pubkey,
            permission: permission.to_owned(),
            request: event.to_json(),
            origin: origin.map(str::to_owned),
            created_at: now,
            expires_at: now.saturating_add(self.config.approval_ttl_secs),
            status: ApprovalStatus::Pending,
            decided_at: None,
            decided_by: None,
            token_key: hex::encode(approvals::token_key(&token)),
        };
        let mut batch = Batch::new();
        approvals::put_new(&mut batch, &record, &token);
        if let Err(e) = self.store.write(batch, Durability::Sync) {
            self.held.remove(remote_signer, event.pubkey);
            return Err(e.into());
        }
        Ok(Some(format!(
            "{}/approvals/{}",
            self.config.approval_base_url,
            token.as_str()
        )))
    }

    /// Answers a held request at `now`: decrypts it again, runs it (with the approval rules
    /// lifted) or refuses it, audits, and returns the signed response for its client.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] when the stored request no longer parses or decrypts; the errors of
    /// [`crate::directory::Directory::keys`] when its remote-signer key is gone (rotated or
    /// deleted since).
    pub fn answer_held(
        &self,
        record: &ApprovalRecord,
        answer: Answer,
        now: u64,
    ) -> Result<Event, Error> {
        let (event, keys, transport, incoming) = self.open_held(record)?;
        let method = nip46::method_label(&incoming.method);
        let kind = match &incoming.request {
            Ok(Request::SignEvent(template)) => Some(template.kind),
            _ => None,
        };
        let reply = match answer {
            Answer::Run => self.run(&keys, event.pubkey, transport.scheme(), incoming, true, now),
            Answer::Refuse(error) => Reply {
                id: incoming.id,
                body: Err(error),
            },
        };
        self.audit_reply(&keys, event.pubkey, method, kind, &reply);
        Ok(self.response(&keys, &transport, &event, reply, now))
    }

    /// The page's view of the request a page token names; `None` for an unknown token.
    ///
    /// # Errors
    ///
    /// [`Error::Kms`] / [`Error::Corrupt`] on store failure.
    pub fn held_view(&self, token: &str) -> Result<Option<HeldView>, Error> {
        let Some(record) = approvals::by_token(&*self.store, token)? else {
            return Ok(None);
        };
        let preview = self
            .open_held(&record)
            .ok()
            .and_then(|(_, _, _, incoming)| match incoming.request {
                Ok(Request::SignEvent(template)) => {
                    Some(template.content.chars().take(PREVIEW_CHARS).collect())
                }
                _ => None,
            });
        let client_name = self
            .sessions
            .get(&record.remote_signer, &record.client)
            .and_then(|s| s.record.metadata.as_ref().and_then(|m| m.name.clone()));
        Ok(Some(HeldView {
            permission: record.permission,
            client_name,
            client_pubkey: record.client.to_hex(),
            preview,
            created_at: record.created_at,
            expires_at: record.expires_at,
            status: record.status,
        }))
    }

    /// The stored request, its keys, transport and parsed content.
    fn open_held(
        &self,
        record: &ApprovalRecord,
    ) -> Result<(Event, std::sync::Arc<UserKeys>, Transport, nip46::Incoming), Error> {
        const UNREADABLE: Error = Error::Corrupt("held request");
        let event = Event::from_json(&record.request).map_err(|_| UNREADABLE)?;
        let keys = self.directory.keys(record.remote_signer.as_bytes())?;
        let transport = Transport::new(self, &keys, &event).map_err(|_| UNREADABLE)?;
        let plaintext = transport.decrypt(&event.content).map_err(|_| UNREADABLE)?;
        let incoming = Request::parse(&plaintext).map_err(|_| UNREADABLE)?;
        Ok((event, keys, transport, incoming))
    }
}
