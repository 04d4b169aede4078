//! Accepting a client's `nostrconnect://` URI for a user: NIP-46's client-initiated pairing
//! (<https://github.com/nostr-protocol/nips/blob/master/46.md>, "Direct connection initiated by
//! the client").
//!
//! The admin who submits the URI is the approval: bunkerd creates the session at once and builds
//! the `connect` response the client waits for — kind 24133 from the user's remote-signer key,
//! `p`-tagged to the client, NIP-44 `{"id":<random>,"result":<the URI's secret>}` — which the caller
//! publishes on the client's relays. Clients do not send `connect` in this flow: the response is
//! the pairing, and its author is the key every later request goes to. A URI in the older form
//! without a secret (`metadata=…`, as rust-nostr 0.44 writes) is answered `"ack"`, as that form's
//! clients expect.
//!
//! One URI pairs once: SHA-256 of (client pubkey, secret) is kept in [`store::Cf::Pairings`], and
//! a URI already accepted — or naming a client that already has a session with the user — is
//! refused with [`Error::Conflict`].

use super::Admin;
use crate::sessions::{SessionRecord, Sessions};
use crate::{Error, KIND_NOSTR_CONNECT};
use proto::nip46::nostrconnect::NostrConnectUri;
use proto::nip46::{ClientMetadata, Reply, Scheme};
use proto::nostr::{nip44, Event, UnsignedEvent};
use proto::policy::{Perms, MAX_SESSION_TTL_SECS};
use sha2::{Digest, Sha256};
use store::{Batch, Cf, Durability};
use zeroize::Zeroize;

/// What the admin decides when accepting a URI; the URI's own `perms` are what the client asks
/// for (they narrow the session only under the policy's `grant: "requested"`).
#[derive(Debug, Clone, Default)]
pub struct PairOptions {
    /// Pre-approved permissions (NIP-46 perms syntax) capping the session, as a bunker URI's
    /// `perms` do. Must name at least one permission.
    pub perms: Option<String>,
    /// Lifetime of the session, seconds from now (1..=[`MAX_SESSION_TTL_SECS`]); `None`: only
    /// the policy's `session_ttl_secs` ends it.
    pub session_ttl_secs: Option<u64>,
}

/// A pairing made: the session, and the `connect` response to publish on the client's relays
/// (all of them: the client may listen on any).
#[derive(Debug)]
pub struct Pairing {
    /// The session created, durably.
    pub session: SessionRecord,
    /// The signed `connect` response.
    pub response: Event,
}

impl Admin<'_> {
    /// Pairs the client of `uri` with a user at `now` (Unix seconds): creates the session
    /// durably and returns it with the signed `connect` response.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for options out of range, or `perms` that name no permission;
    /// [`Error::TenantNotFound`], [`Error::UserNotFound`]; [`Error::Conflict`] when the user is
    /// disabled, the URI was already accepted, or its client already has a session with the
    /// user; [`Error::Kms`] / [`Error::Store`].
    pub fn accept_nostrconnect(
        &self,
        tenant: &str,
        user: &str,
        uri: &NostrConnectUri,
        options: PairOptions,
        now: u64,
    ) -> Result<Pairing, Error> {
        let approved = match options.perms.as_deref().map(Perms::parse) {
            Some(perms) if perms.is_empty() => {
                return Err(Error::InvalidInput(
                    "perms names no NIP-46 permission (e.g. sign_event:1,nip44_encrypt)",
                ))
            }
            approved => approved.map(|p| p.to_string()),
        };
        if options
            .session_ttl_secs
            .is_some_and(|t| t == 0 || t > MAX_SESSION_TTL_SECS)
        {
            return Err(Error::InvalidInput(
                "session_ttl_secs must be 1 to 315360000 (ten years)",
            ));
        }
        let bunker = self.bunker;
        let _guard = bunker.locks.user(tenant, user)?;
        let record = bunker.user_in(tenant, user)?;
        if record.disabled {
            return Err(Error::Conflict("the user is disabled"));
        }
        let remote_signer = record.remote_signer_pubkey;
        let replay_key = pairing_key(uri);
        if bunker.store.get(Cf::Pairings, &replay_key)?.is_some() {
            return Err(Error::Conflict(
                "this nostrconnect URI was already accepted",
            ));
        }
        if bunker.sessions.get(&remote_signer, &uri.client).is_some() {
            return Err(Error::Conflict(
                "this client already has a session with the user",
            ));
        }
        let keys = bunker.directory.keys(remote_signer.as_bytes())?;
        let metadata = ClientMetadata {
            name: uri.name.clone(),
            url: uri.url.clone(),
            image: uri.image.clone(),
        };
        let session = SessionRecord {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            remote_signer,
            client: uri.client,
            perms: Perms::parse(uri.perms.as_deref().unwrap_or_default()).to_string(),
            approved,
            grant: None,
            expires_at: options.session_ttl_secs.map(|t| now.saturating_add(t)),
            scheme: Scheme::Nip44,
            metadata: (metadata != ClientMetadata::default()).then_some(metadata),
            relays: uri.relays.clone(),
            remembered: None,
            confirmed: false,
            created_at: now,
        };
        let response = crate::crypto::with(|c| -> Result<Event, Error> {
            let conversation =
                nip44::ConversationKey::derive(&keys.remote_signer.secret_key(), &uri.client)
                    .map_err(|_| Error::InvalidInput("the client pubkey is not a usable key"))?;
            let id = hex::encode(c.array::<8>());
            let result = if uri.secret.is_empty() {
                "ack"
            } else {
                uri.secret.as_str()
            };
            // The project's one reply encoder; the secret's copy in it is wiped after use.
            let mut reply = Reply {
                id,
                body: Ok(result.to_owned()),
            };
            let json = zeroize::Zeroizing::new(reply.to_json());
            if let Ok(body) = &mut reply.body {
                body.zeroize();
            }
            let content = nip44::encrypt(&conversation, &json, c)
                .map_err(|_| Error::InvalidInput("the secret is too long"))?;
            Ok(keys.remote_signer.sign_event(
                UnsignedEvent {
                    created_at: now,
                    kind: KIND_NOSTR_CONNECT,
                    tags: vec![vec!["p".to_owned(), uri.client.to_hex()]],
                    content,
                },
                c,
            ))
        })?;
        let mut batch = Batch::new();
        Sessions::put(&mut batch, &session);
        batch.put(
            Cf::Pairings,
            replay_key.to_vec(),
            serde_json::json!({ "tenant": tenant, "user": user, "accepted_at": now })
                .to_string()
                .into_bytes(),
        );
        bunker.store.write(batch, Durability::Sync)?;
        bunker.sessions.insert(session.clone());
        Ok(Pairing { session, response })
    }
}

/// The key of a URI's pairing record: SHA-256 of the client pubkey's 32 bytes and the secret.
fn pairing_key(uri: &NostrConnectUri) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(uri.client.as_bytes());
    hash.update(uri.secret.as_bytes());
    hash.finalize().into()
}

#[cfg(test)]
#[path = "pairing_tests.rs"]
mod tests;
