//! `connect [<remote-signer-pubkey>, <secret>?, <requested perms>?, <client metadata>?]` → `"ack"`.
//!
//! Flow A of NIP-46 (`bunker://`): the client proves it holds a bunker URI by sending its secret.
//! Rules (`docs/protocol-notes.md` §2, §11.2, §11.3 and §11.8):
//! - param 0 is unreliable in the field (NDK sends the user pubkey or `""`); routing uses the event's
//!   `p` tag, so param 0 is kept for the record only.
//! - a secret is good for **one** `connect`: consumed on first success. A client that has a session
//!   gets `"ack"` whatever it sends (clients re-send `connect` after a reload); once the session
//!   ends (logout, revocation, expiry) the consumed secret is refused with [`RpcError::SecretUsed`],
//!   even for the client that used it, so a new bunker URI is needed.
//! - the reply is `"ack"`, never an echo of the secret (several clients reject an echoed secret).
//! - the secret is compared as its SHA-256 (the store keeps only the hash) in constant time.
//! - client metadata (param 3, JSON text or object) is a display hint only and never authorizes.

use super::param_str;
use crate::nip46::{truncate, Context, Effect, RpcError};
use crate::policy::Perms;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Longest client-metadata field we keep, in bytes (display hints: names and URLs).
const MAX_METADATA_FIELD: usize = 256;

/// A parsed `connect` request.
pub struct Connect {
    /// Param 0 as sent (a remote-signer or user pubkey, or empty). Not used for routing.
    pub remote_signer_hint: String,
    /// Param 1: the bunker URI secret; `None` when absent or `""`. Zeroized on drop.
    pub secret: Option<Zeroizing<String>>,
    /// Param 2: requested permissions, comma-separated `method[:kind]` (NIP-46 §"Permissions").
    pub perms: String,
    /// Param 3: unauthenticated client metadata.
    pub metadata: Option<ClientMetadata>,
}

/// Client-supplied display metadata from `connect` param 3 (NIP-46: `name`, `url`, `image`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// App name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// App URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// App image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Connect {
    /// Parses `connect` params. Every param is optional on the wire; a secret that is not a JSON
    /// string is treated as absent.
    ///
    /// # Errors
    ///
    /// None in practice: malformed optional params are dropped rather than refused, because the
    /// secret check decides the outcome.
    pub(crate) fn parse(params: &[&RawValue]) -> Result<Self, RpcError> {
        let secret = param_str(params.get(1))
            .filter(|s| !s.is_empty())
            .map(|s| Zeroizing::new(s.into_owned()));
        // Parsed whole (`Perms::parse` bounds its own input at an item boundary); cutting the raw
        // text first could turn `sign_event:12` into `sign_event:1`.
        let perms = Perms::parse(&param_str(params.get(2)).unwrap_or_default()).to_string();
        Ok(Connect {
            remote_signer_hint: param_str(params.first())
                .unwrap_or_default()
                .chars()
                .take(64)
                .collect(),
            secret,
            perms,
            metadata: params.get(3).and_then(|p| ClientMetadata::parse(p)),
        })
    }

    /// Decides a `connect`: `"ack"` plus the session to bind, or the refusal.
    pub(crate) fn apply(self, ctx: &Context<'_>, now: u64) -> (Result<String, RpcError>, Effect) {
        if ctx.has_session {
            return (Ok(ACK.to_owned()), Effect::None);
        }
        match self.check_secret(ctx, now) {
            Ok(secret_hash) => {
                // The requested perms are recorded; whether they narrow the session is the policy's
                // call at each request (`policy::GrantMode`). Pre-approved perms on the URI always
                // cap it.
                let approved = ctx
                    .bunker_secret
                    .and_then(|t| t.perms.as_deref())
                    .map(|p| Perms::parse(p).to_string());
                (
                    Ok(ACK.to_owned()),
                    Effect::Connect {
                        secret_hash,
                        perms: self.perms,
                        approved,
                        metadata: self.metadata,
                    },
                )
            }
            Err(e) => (Err(e), Effect::None),
        }
    }

    fn check_secret(&self, ctx: &Context<'_>, now: u64) -> Result<[u8; 32], RpcError> {
        let secret = self.secret.as_ref().ok_or(RpcError::SecretRequired)?;
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let token = ctx.bunker_secret.ok_or(RpcError::SecretInvalid)?;
        let same_hash: bool = token.secret_hash.ct_eq(&hash).into();
        if !same_hash || token.tenant != ctx.keys.tenant || token.user != ctx.keys.user_id {
            return Err(RpcError::SecretInvalid);
        }
        if now >= token.expires_at {
            return Err(RpcError::SecretExpired);
        }
        // A consumed secret never connects again, not even its own client: that client has a
        // session (answered above without a secret) unless it logged out or was revoked, and
        // either must end its access.
        match token.consumed_by {
            Some(_) => Err(RpcError::SecretUsed),
            None => Ok(hash),
        }
    }
}

/// The result of a successful `connect` in flow A (`docs/protocol-notes.md` §11.2).
const ACK: &str = "ack";

impl ClientMetadata {
    /// Reads param 3, sent as JSON text (the spec) or as a JSON object (some clients). Fields are
    /// cut to 256 bytes; anything unparseable is ignored.
    fn parse(param: &RawValue) -> Option<Self> {
        let parsed: ClientMetadata = match param_str(Some(&param)) {
            Some(text) => serde_json::from_str(&text).ok()?,
            None => serde_json::from_str(param.get()).ok()?,
        };
        let cut = |f: Option<String>| f.map(|s| truncate(&s, MAX_METADATA_FIELD));
        Some(ClientMetadata {
            name: cut(parsed.name),
            url: cut(parsed.url),
            image: cut(parsed.image),
        })
    }
}

/// Redacted: the secret is never printed, whatever `Zeroizing`'s own `Debug` does.
impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("remote_signer_hint", &self.remote_signer_hint)
            .field("has_secret", &self.secret.is_some())
            .field("perms", &self.perms)
            .field("metadata", &self.metadata)
            .finish()
    }
}
