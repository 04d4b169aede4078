//! The pure part of one `sign_event` request, composed from bunkerd's own functions in the order
//! `signer::Bunker::process` runs them: verify → (derive) → decrypt → parse → sign the note →
//! encode the reply → encrypt → sign the response.
//!
//! Role: a measured cross-check of the floor report's sum of parts (it adds the JSON parse and
//! encode work the sum leaves out). Must not: touch a store, a clock, the directory or the pool
//! (routing, unsealing and persistence are not on the cached `sign_event` path, or are timed
//! separately in the `envelope` bench).
//!
//! Main items: [`handle_sign_event`], [`PipelineError`].

use proto::nip46::{handle, Approval, Context, Reply, Request};
use proto::nostr::{nip44, Event, UnsignedEvent};
use signer::KIND_NOSTR_CONNECT;

use crate::fixture::{Fixture, NOW};

/// Why the composed request path failed (each means a broken fixture, not a slow path).
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum PipelineError {
    /// The request event's id or signature does not verify.
    #[error("request does not verify")]
    Verify,
    /// The request content does not NIP-44 decrypt with the conversation key.
    #[error("request does not decrypt")]
    Decrypt,
    /// The plaintext is not a NIP-46 `sign_event` request with valid params.
    #[error("request is not a valid sign_event")]
    Parse,
    /// The reply is over the NIP-44 plaintext limit.
    #[error("reply does not encrypt")]
    Encrypt,
}

impl PipelineError {
    /// Stable snake_case code per variant.
    pub fn code(&self) -> &'static str {
        match self {
            PipelineError::Verify => "verify",
            PipelineError::Decrypt => "decrypt",
            PipelineError::Parse => "parse",
            PipelineError::Encrypt => "encrypt",
        }
    }
}

/// Runs the fixture's request through the `sign_event` path and returns the signed response
/// event. With `cached = None` the NIP-44 conversation key is derived (one ECDH + HKDF-extract),
/// as for a client's first request; with `Some(key)` it is the session's cached key.
///
/// # Errors
///
/// [`PipelineError::Verify`], [`PipelineError::Decrypt`], [`PipelineError::Parse`] or
/// [`PipelineError::Encrypt`] when the corresponding step fails (never for a [`Fixture`]).
///
/// # Panics
///
/// If the OS has no randomness (signing and encryption draw fresh randomness).
pub fn handle_sign_event(
    fx: &Fixture,
    cached: Option<&nip44::ConversationKey>,
) -> Result<Event, PipelineError> {
    let request = &fx.request;
    request.verify().map_err(|_| PipelineError::Verify)?;
    let derived;
    let ck = match cached {
        Some(ck) => ck,
        None => {
            let secret = fx.remote_signer.secret_key();
            derived = nip44::ConversationKey::derive(&secret, &request.pubkey)
                .map_err(|_| PipelineError::Decrypt)?;
            &derived
        }
    };
    let plaintext = nip44::decrypt(ck, &request.content).map_err(|_| PipelineError::Decrypt)?;
    let reply = sign_requested_note(fx, request.pubkey, &plaintext)?;
    signer::crypto::with(|c| {
        let content =
            nip44::encrypt(ck, &reply.to_json(), c).map_err(|_| PipelineError::Encrypt)?;
        let unsigned = UnsignedEvent {
            created_at: NOW,
            kind: KIND_NOSTR_CONNECT,
            tags: vec![vec!["p".to_owned(), request.pubkey.to_hex()]],
            content,
        };
        Ok(fx.remote_signer.sign_event(unsigned, c))
    })
}

/// Parses the decrypted request and runs bunkerd's own sans-IO handler on it, as a client with a
/// session (the cached `sign_event` path).
fn sign_requested_note(
    fx: &Fixture,
    client: proto::nostr::PublicKey,
    plaintext: &str,
) -> Result<Reply, PipelineError> {
    let incoming = Request::parse(plaintext).map_err(|_| PipelineError::Parse)?;
    let ctx = Context {
        keys: &fx.keys,
        client,
        has_session: true,
        grant: Some(&fx.grant),
        session_expires_at: None,
        bunker_secret: None,
        relays: &[],
        approval: Approval::Granted,
    };
    let reply = signer::crypto::with(|c| handle(&ctx, incoming, NOW, c)).reply;
    reply.body.as_ref().map_err(|_| PipelineError::Parse)?;
    Ok(reply)
}
