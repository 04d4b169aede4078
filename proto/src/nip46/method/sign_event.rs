//! `sign_event [<event template>]` → the signed event, as a JSON string (NIP-46 §"Methods").
//!
//! Field rules (`docs/protocol-notes.md` §11.5): the template is a JSON **string** by the spec,
//! but some clients send an object, so both are accepted. `kind`, `tags`, `content` and
//! `created_at` are signed exactly as given — never altered — and `created_at` is filled with `now`
//! only when missing. A template's `id` and `sig` are ignored (recomputed); a `pubkey` that is not
//! the user's is refused, since signing it would produce an event the client did not describe.

use super::param_str;
use crate::nip46::RpcError;
use crate::nostr::{Crypto, Keypair, UnsignedEvent};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A parsed `sign_event` template.
pub struct SignEvent {
    /// Event kind, 0..=65535 (NIP-01).
    pub kind: u16,
    /// Event content, signed verbatim.
    pub content: String,
    /// Event tags, signed verbatim.
    pub tags: Vec<Vec<String>>,
    /// Unix seconds; `None` when the template had none (then `now` is used).
    pub created_at: Option<u64>,
    /// The template's `pubkey`, when given (32-byte x-only, lowercase hex expected).
    pub pubkey: Option<String>,
}

#[derive(Deserialize)]
struct Template {
    kind: u64,
    #[serde(default)]
    content: String,
    #[serde(default)]
    tags: Vec<Vec<String>>,
    #[serde(default)]
    created_at: Option<u64>,
    #[serde(default)]
    pubkey: Option<String>,
}

impl SignEvent {
    /// Parses param 0 as a JSON string holding the template, or as the template object itself.
    ///
    /// # Errors
    ///
    /// [`RpcError::InvalidParams`] when param 0 is missing, not an object with an integer `kind`
    /// in 0..=65535, has non-string tag elements, or a non-integer `created_at`.
    pub(crate) fn parse(params: &[&RawValue]) -> Result<Self, RpcError> {
        const SHAPE: &str = "expected [<event template JSON with kind, content, tags, created_at>]";
        let first = params.first().ok_or(RpcError::InvalidParams(SHAPE))?;
        let template: Template = match param_str(Some(first)) {
            Some(text) => serde_json::from_str(&text),
            None => serde_json::from_str(first.get()),
        }
        .map_err(|_| RpcError::InvalidParams(SHAPE))?;
        let kind = u16::try_from(template.kind)
            .map_err(|_| RpcError::InvalidParams("kind must be an integer in 0..=65535"))?;
        Ok(SignEvent {
            kind,
            content: template.content,
            tags: template.tags,
            created_at: template.created_at,
            pubkey: template.pubkey,
        })
    }

    /// Signs the template with the user key and returns the full event as compact JSON.
    ///
    /// # Errors
    ///
    /// [`RpcError::PubkeyMismatch`] when the template names another pubkey.
    pub(crate) fn apply(
        self,
        user: &Keypair,
        now: u64,
        crypto: &mut Crypto,
    ) -> Result<String, RpcError> {
        if let Some(given) = &self.pubkey {
            if !given.eq_ignore_ascii_case(&user.public_key().to_hex()) {
                return Err(RpcError::PubkeyMismatch);
            }
        }
        let unsigned = UnsignedEvent {
            created_at: self.created_at.unwrap_or(now),
            kind: self.kind,
            tags: self.tags,
            content: self.content,
        };
        Ok(user.sign_event(unsigned, crypto).to_json())
    }
}

/// Redacted: content and tags are the user's unsigned event.
impl std::fmt::Debug for SignEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignEvent")
            .field("kind", &self.kind)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}
