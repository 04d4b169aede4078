//! The sans-IO request handler: `handle(context, envelope, now) -> outcome`.
//!
//! Everything the decision needs is passed in: the user's unsealed keys, whether the client has a
//! session, the bunker-URI record the `connect` secret names (looked up by its hash by the caller),
//! and the relay list. What must change in the world (bind a session, consume a secret, end a
//! session) comes back as an [`Effect`] for the caller to persist *before* it sends the reply.

use super::method::{logout, ping, public_key, switch_relays};
use super::{ClientMetadata, Envelope, Reply, Request, RpcError, Scheme};
use crate::directory::UserKeys;
use crate::nostr::PublicKey;
use crate::policy::{self, Grant, Method};

/// What [`handle`] may read. Built by the caller per request.
#[derive(Debug)]
pub struct Context<'a> {
    /// The unsealed user and remote-signer keys of the user this request is for.
    pub keys: &'a UserKeys,
    /// The client pubkey (author of the request event).
    pub client: PublicKey,
    /// Whether (remote signer, client) has a session.
    pub has_session: bool,
    /// The session's grant, when it has one (checked with the user's policy, `keys.policy`).
    pub grant: Option<&'a Grant>,
    /// For `connect` with a secret: the bunker-URI record stored under SHA-256(secret), if any.
    pub token: Option<&'a TokenView>,
    /// Our relay URLs, for `switch_relays`.
    pub relays: &'a [String],
}

/// The parts of a bunker-URI record that `connect` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    /// SHA-256 of the secret (the store key of the record), 32 bytes.
    pub secret_hash: [u8; 32],
    /// Tenant id the URI was issued in.
    pub tenant: String,
    /// User id the URI was issued for.
    pub user: String,
    /// Unix seconds after which the URI no longer connects.
    pub expires_at: u64,
    /// The client pubkey that consumed the secret, if any.
    pub consumed_by: Option<PublicKey>,
    /// Permissions pre-approved by the admin who issued the URI; they replace the client's request.
    pub perms: Option<String>,
}

/// A state change the caller must persist before sending the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Effect {
    /// Nothing to persist.
    None,
    /// Bind a session for (remote signer, client) and mark the secret consumed by the client.
    Connect {
        /// SHA-256 of the consumed secret (the bunker-URI record key).
        secret_hash: [u8; 32],
        /// Requested permissions, canonical (NIP-46 §"Permissions").
        perms: String,
        /// Granted permissions, canonical: (pre-approved or requested) ∩ the user's policy.
        grant: String,
        /// Client display metadata, if sent.
        metadata: Option<ClientMetadata>,
    },
    /// End the session of this client.
    Logout,
}

/// The reply and the effect of one request.
#[derive(Debug)]
pub struct Outcome {
    /// The reply to encrypt and send.
    pub reply: Reply,
    /// What to persist first.
    pub effect: Effect,
}

/// Decides one request. Pure: no clock (`now` is unix seconds), no store, no socket.
///
/// Authorization: without a session only `connect` and `ping` run; every other method name, known
/// or not, is refused with [`RpcError::NotConnected`] before its params are looked at.
/// Parse failures of permitted requests are answered with their error.
pub fn handle(ctx: &Context<'_>, envelope: Envelope, now: u64) -> Outcome {
    let id = envelope.id;
    // Authorization before validation: a client without a session learns nothing about params.
    if !ctx.has_session && !matches!(envelope.method.as_str(), "connect" | "ping") {
        return outcome(id, Err(RpcError::NotConnected), Effect::None);
    }
    // A disabled user answers nothing but pings (an admin turned it off; sessions are kept).
    if ctx.keys.disabled && envelope.method != "ping" {
        return outcome(id, Err(RpcError::UserUnavailable), Effect::None);
    }
    let request = match envelope.request {
        Ok(request) => request,
        Err(e) => return outcome(id, Err(e), Effect::None),
    };
    let user = &ctx.keys.user;
    let (body, effect) = match request {
        Request::Connect(connect) => connect.apply(ctx, now),
        Request::Ping => (Ok(ping::PONG.to_owned()), Effect::None),
        Request::GetPublicKey => (Ok(public_key::apply(user)), Effect::None),
        Request::SignEvent(template) => {
            let allowed = permit(
                ctx,
                Method::SignEvent,
                Some(template.kind),
                template.created_at,
                now,
            );
            (
                allowed.and_then(|()| template.apply(user, now)),
                Effect::None,
            )
        }
        Request::Cipher(op) => {
            let method = match (op.scheme, op.encrypt) {
                (Scheme::Nip44, true) => Method::Nip44Encrypt,
                (Scheme::Nip44, false) => Method::Nip44Decrypt,
                (Scheme::Nip04, true) => Method::Nip04Encrypt,
                (Scheme::Nip04, false) => Method::Nip04Decrypt,
            };
            let allowed = permit(ctx, method, None, None, now);
            (allowed.and_then(|()| op.apply(user)), Effect::None)
        }
        Request::SwitchRelays => (Ok(switch_relays::apply(ctx.relays)), Effect::None),
        Request::Logout => (Ok(logout::ACK.to_owned()), Effect::Logout),
    };
    outcome(id, body, effect)
}

/// The session's grant ∩ the user's current policy must allow `method` (and `kind`, `created_at`
/// for `sign_event`): [`crate::policy::check`].
fn permit(
    ctx: &Context<'_>,
    method: Method,
    kind: Option<u16>,
    created_at: Option<u64>,
    now: u64,
) -> Result<(), RpcError> {
    let Some(grant) = ctx.grant else {
        // Unreachable for these methods (authorization above requires a session); refuse anyway.
        return Err(RpcError::NotConnected);
    };
    policy::check(grant, &ctx.keys.policy, method, kind, created_at, now)
        .map_err(|denied| RpcError::PermissionDenied(denied.message()))
}

fn outcome(id: String, body: Result<String, RpcError>, effect: Effect) -> Outcome {
    Outcome {
        reply: Reply { id, body },
        effect,
    }
}
