//! NIP-46 error replies to requests the relay refused before the signer ran them (its event-rate
//! limits, the `created_at` window, the tenant's request rate, a full signer-queue lane).
//!
//! Why: NIP-46 client libraries (NDK, go-nostr, rust-nostr) ignore a failed publish of an
//! ephemeral event and wait for a reply until their own timeout. [`Bunker::answer_refusal`] gives
//! such a client a reply it does read: `{"id":<request id>,"error":"<the OK's refusal text>"}`,
//! encrypted in the request's scheme and signed by the remote-signer key, like any response.
//!
//! It never runs the request: it verifies the event, routes it, requires an existing session,
//! decrypts it and parses it only as far as its `id`. Everything it cannot do yields no reply
//! (the client still has its `OK false`). Blocking (crypto): call it from the worker pool. It
//! logs nothing and audits nothing: the refusal was the relay's, and it is counted there.

use super::{Bunker, Refusal, Transport};
use crate::KIND_NOSTR_CONNECT;
use proto::nip46::{Reply, Request, RpcError};
use proto::nostr::{hex32, Event, PublicKey};

impl Bunker {
    /// The NIP-46 error reply to `event`, a kind-24133 request the relay refused with `refusal`
    /// (the text of its `OK false`), or `None` when it gets none. `now` is unix seconds.
    ///
    /// In order, each step yielding `None` when it fails: the event is kind 24133 and its id and
    /// BIP-340 signature verify (a forged event yields nothing); its `p` tag names a remote signer
    /// hosted here; its author (the client) holds a session with that remote signer; its content
    /// decrypts (NIP-44, or NIP-04 when it contains `?iv=`); the plaintext parses as far as a
    /// request `id` ([`Request::parse`]). The request itself is never run and no session changes.
    ///
    /// The reply is `{"id":<request id>,"error":"<prefix>: <text>"}` ([`Refusal::message`]),
    /// encrypted in the request's scheme, `p`-tagged to the client and signed by the remote-signer
    /// key, with `created_at` = max(`now`, the request's `created_at`): a client whose clock runs
    /// ahead subscribes with `since` at its own now, and would miss an older reply.
    pub fn answer_refusal(&self, event: &Event, refusal: &Refusal, now: u64) -> Option<Event> {
        if event.kind != KIND_NOSTR_CONNECT || event.verify().is_err() {
            return None;
        }
        let remote_signer = event
            .first_tag_value("p")
            .and_then(hex32)
            .filter(|pk| self.directory.is_hosted(pk))?;
        // Before any key is unsealed: no session, no reply.
        let signer_pk = PublicKey::from_bytes(&remote_signer).ok()?;
        self.sessions.get(&signer_pk, &event.pubkey)?;
        let keys = self.directory.keys(&remote_signer).ok()?;
        let transport = Transport::new(self, &keys, event).ok()?;
        let plaintext = transport.decrypt(&event.content).ok()?;
        let id = Request::parse(&plaintext).ok()?.id;
        drop(plaintext);
        let reply = Reply {
            id,
            body: Err(RpcError::RelayRefused(refusal.message())),
        };
        Some(self.response(&keys, &transport, event, reply, now))
    }
}

#[cfg(test)]
#[path = "refusal_tests.rs"]
pub(crate) mod tests;
