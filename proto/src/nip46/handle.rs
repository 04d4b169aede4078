//! The sans-IO request handler: `handle(context, incoming, now, crypto) -> outcome`.
//!
//! Everything the decision needs is passed in: the user's unsealed keys, whether the client has a
//! session, the bunker-URI record the `connect` secret names (looked up by its hash by the caller),
//! and the relay list. What must change in the world (bind a session, consume a secret, end a
//! session) comes back as an [`Effect`] for the caller to persist *before* it sends the reply.

use super::method::{legacy, logout, ping, public_key, switch_relays};
use super::{ClientMetadata, Incoming, Reply, Request, RpcError, Scheme};
use crate::nostr::{Crypto, Keypair, PublicKey};
use crate::policy::Policy;
use crate::policy::{self, Grant, Method, Permission, Perms};
use std::sync::Arc;

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
    /// When the session ends, Unix seconds (`Policy::session_expiry` of its `connect` time and its
    /// bunker URI's session TTL); `None`: no session, or it does not expire.
    pub session_expires_at: Option<u64>,
    /// For `connect` with a secret: the bunker-URI record stored under SHA-256(secret), if any.
    pub bunker_secret: Option<&'a BunkerSecretView>,
    /// Our relay URLs, for `switch_relays`.
    pub relays: &'a [String],
    /// Whether the policy's `ask_*` rules apply to this request ([`Approval`]).
    pub approval: Approval<'a>,
}

/// How a request stands toward the policy's approval rules ([`crate::policy::Policy::asks`]).
#[derive(Debug, Clone, Copy)]
pub enum Approval<'a> {
    /// Ask as the policy says, given what this session's client was already approved for.
    Check {
        /// What admins approved for this client with "remember" (NIP-46 perms).
        remembered: &'a Perms,
        /// Whether an admin confirmed this client (with "remember") since it paired.
        confirmed: bool,
    },
    /// An admin approved this very request: it runs without asking (the policy and the grant
    /// still apply).
    Granted,
}

/// A user's unsealed keys, as the signer shell loads them for one request. Never leaves the
/// signer process; redacted `Debug`; each [`Keypair`] zeroizes itself on drop.
pub struct UserKeys {
    /// Tenant id.
    pub tenant: String,
    /// User id.
    pub user_id: String,
    /// The identity keypair.
    pub user: Keypair,
    /// The remote-signer keypair.
    pub remote_signer: Keypair,
    /// Whether the user is disabled (requests are refused with an error reply).
    pub disabled: bool,
    /// The effective signing policy when the keys were loaded (the user's own, else the tenant's).
    /// Policy changes drop the cached keys, so the next request loads the new one.
    pub policy: Arc<Policy>,
}

impl std::fmt::Debug for UserKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserKeys")
            .field("tenant", &self.tenant)
            .field("user_id", &self.user_id)
            .field("user_pubkey", &self.user.public_key())
            .finish_non_exhaustive()
    }
}

/// The parts of a bunker-URI record that `connect` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BunkerSecretView {
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
pub enum Effect {
    /// Nothing to persist.
    None,
    /// Bind a session for (remote signer, client) and mark the secret consumed by the client.
    Connect {
        /// SHA-256 of the consumed secret (the bunker-URI record key).
        secret_hash: [u8; 32],
        /// Requested permissions, canonical (NIP-46 §"Permissions").
        perms: String,
        /// Permissions pre-approved on the bunker URI, canonical; `None` when it carried none.
        approved: Option<String>,
        /// Client display metadata, if sent.
        metadata: Option<ClientMetadata>,
    },
    /// End the session of this client (`logout`, or an expired session).
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
/// or not, is refused with [`RpcError::NotConnected`] before its params are looked at. A session past
/// `ctx.session_expires_at` answers everything but `ping` with [`RpcError::SessionExpired`] and
/// ends ([`Effect::Logout`]). Parse failures of permitted requests are answered with their error.
pub fn handle(ctx: &Context<'_>, incoming: Incoming, now: u64, crypto: &mut Crypto) -> Outcome {
    let id = incoming.id;
    // Authorization before validation: a client without a session learns nothing about params.
    if !ctx.has_session && !matches!(incoming.method.as_str(), "connect" | "ping") {
        return outcome(id, Err(RpcError::NotConnected), Effect::None);
    }
    let expired = ctx.has_session && ctx.session_expires_at.is_some_and(|t| now >= t);
    if expired && incoming.method != "ping" {
        return outcome(id, Err(RpcError::SessionExpired), Effect::Logout);
    }
    // A disabled user answers nothing but pings (an admin turned it off; sessions are kept).
    if ctx.keys.disabled && incoming.method != "ping" {
        return outcome(id, Err(RpcError::UserUnavailable), Effect::None);
    }
    let request = match incoming.request {
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
                allowed.and_then(|()| template.apply(user, now, crypto)),
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
            (allowed.and_then(|()| op.apply(user, crypto)), Effect::None)
        }
        Request::SwitchRelays => (Ok(switch_relays::apply(ctx.relays)), Effect::None),
        Request::GetRelays => (Ok(legacy::GET_RELAYS.to_owned()), Effect::None),
        Request::Describe => (Ok(legacy::describe()), Effect::None),
        Request::Logout => (Ok(logout::ACK.to_owned()), Effect::Logout),
    };
    outcome(id, body, effect)
}

/// The session's grant ∩ the user's current policy must allow `method` (and `kind`, `created_at`
/// for `sign_event`): [`crate::policy::check`]; then, unless an admin approved this request, the
/// policy's approval rules may hold it: [`RpcError::ApprovalRequired`].
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
    let policy = &ctx.keys.policy;
    policy::check(grant, policy, method, kind, created_at, now)
        .map_err(|denied| RpcError::PermissionDenied(denied.message()))?;
    let permission = Permission {
        method,
        kind: if method == Method::SignEvent {
            kind
        } else {
            None
        },
    };
    match ctx.approval {
        Approval::Check {
            remembered,
            confirmed,
        } if policy.asks(permission, remembered, confirmed) => {
            Err(RpcError::ApprovalRequired(permission.to_string()))
        }
        _ => Ok(()),
    }
}

fn outcome(id: String, body: Result<String, RpcError>, effect: Effect) -> Outcome {
    Outcome {
        reply: Reply { id, body },
        effect,
    }
}
