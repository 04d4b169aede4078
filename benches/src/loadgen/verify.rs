//! Verification of everything the timed phase recorded, with rust-nostr (independent of bunkerd's own
//! crypto): each response event's signature, author (the remote signer) and recipient (the client);
//! its NIP-44 decryption; the reply's request id; and the result per method — for `sign_event`, the
//! returned event's id, signature, pubkey (the user key) and content.

use super::client::{ClientResult, Identity, Prepared};
use super::Method;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use nostr::nips::nip44::v2::{self as nip44, ConversationKey};
use nostr::{Event, JsonUtil};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Counts over all clients.
#[derive(Debug, Default)]
pub(super) struct Outcomes {
    /// Requests sent in the timed phase.
    pub(super) sent: usize,
    /// Verified successful replies.
    pub(super) ok: usize,
    /// Verified error replies.
    pub(super) errors: usize,
    /// `OK false` refusals (rate limits, full queue).
    pub(super) refused: usize,
    /// Of `refused`, those whose message starts with `rate-limited:` (NIP-01's machine-readable
    /// prefix: a tenant over its rate, or a full signer queue).
    pub(super) rate_limited: usize,
    /// Sent, but neither answered nor refused within the time bound.
    pub(super) timeouts: usize,
    /// Responses that failed verification, or duplicates.
    pub(super) invalid: usize,
    /// Requests never sent (the time bound ended the phase first).
    pub(super) unsent: usize,
    /// Send → response latency of every verified reply.
    pub(super) latencies: Vec<Duration>,
    /// When each of `latencies` was sent (same order).
    pub(super) sent_at: Vec<Instant>,
    /// The first verification failure, for the report.
    pub(super) first_invalid: Option<String>,
}

/// Checks a response event and returns the decrypted reply JSON.
pub(super) fn open(id: &Identity, event: &Event) -> Result<Value, String> {
    event
        .verify()
        .map_err(|e| format!("response signature: {e}"))?;
    if event.pubkey != id.remote {
        return Err("response not authored by the remote signer".into());
    }
    let me = id.keys.public_key();
    if !event.tags.public_keys().any(|pk| *pk == me) {
        return Err("response not p-tagged to the client".into());
    }
    let payload = B64
        .decode(&event.content)
        .map_err(|_| "response is not base64".to_owned())?;
    let plain = nip44::decrypt_to_bytes(&id.conversation, &payload)
        .map_err(|e| format!("response decryption: {e}"))?;
    serde_json::from_slice(&plain).map_err(|_| "reply is not JSON".to_owned())
}

fn check_result(id: &Identity, request: &Prepared, result: &str) -> Result<(), String> {
    match request.method {
        Method::SignEvent => {
            let signed = Event::from_json(result).map_err(|e| format!("signed event: {e}"))?;
            signed
                .verify()
                .map_err(|e| format!("signed event signature: {e}"))?;
            if signed.pubkey != id.user {
                return Err("signed event is not by the user key".into());
            }
            if signed.content != request.content {
                return Err("signed event content changed".into());
            }
            Ok(())
        }
        Method::Nip44Encrypt => {
            let conv = ConversationKey::derive(id.third_party.secret_key(), &id.user)
                .map_err(|e| e.to_string())?;
            let payload = B64
                .decode(result)
                .map_err(|_| "result is not base64".to_owned())?;
            let plain = nip44::decrypt_to_bytes(&conv, &payload).map_err(|e| e.to_string())?;
            (plain == request.content.as_bytes())
                .then_some(())
                .ok_or_else(|| "nip44_encrypt result decrypts to something else".into())
        }
        Method::Ping => (result == "pong")
            .then_some(())
            .ok_or_else(|| "ping != pong".into()),
        Method::GetPublicKey => (result == id.user.to_hex())
            .then_some(())
            .ok_or_else(|| "get_public_key is not the user key".into()),
    }
}

/// Whether an `OK false` message carries NIP-01's `rate-limited:` prefix.
fn is_rate_limited(message: &str) -> bool {
    message.starts_with("rate-limited:")
}

/// Verifies every client's recorded frames.
pub(super) fn all(results: Vec<ClientResult>) -> Outcomes {
    let mut out = Outcomes::default();
    for result in results {
        one(&result, &mut out);
    }
    out
}

fn one(result: &ClientResult, out: &mut Outcomes) {
    let by_request: HashMap<&str, usize> = result
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.request_id.as_str(), i))
        .collect();
    let by_event: HashMap<&str, usize> = result
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.event_id.as_str(), i))
        .collect();
    let mut settled = vec![false; result.requests.len()];
    let invalid = |out: &mut Outcomes, why: String| {
        out.invalid += 1;
        out.first_invalid.get_or_insert(why);
    };
    for (at, bytes) in &result.frames {
        let Ok(msg) = serde_json::from_slice::<Value>(bytes) else {
            invalid(out, "relay sent a non-JSON frame".into());
            continue;
        };
        if msg[0] == "OK" && msg[2] == false {
            if let Some(&i) = msg[1].as_str().and_then(|id| by_event.get(id)) {
                settled[i] = true;
                out.refused += 1;
                if msg[3].as_str().is_some_and(is_rate_limited) {
                    out.rate_limited += 1;
                }
            }
            continue;
        }
        if msg[0] != "EVENT" {
            continue;
        }
        let checked = Event::from_json(msg[2].to_string())
            .map_err(|e| format!("response event: {e}"))
            .and_then(|event| open(&result.id, &event));
        let reply = match checked {
            Ok(reply) => reply,
            Err(why) => {
                invalid(out, why);
                continue;
            }
        };
        let Some(&i) = reply["id"].as_str().and_then(|id| by_request.get(id)) else {
            invalid(
                out,
                format!("reply for an unknown request id {}", reply["id"]),
            );
            continue;
        };
        let Some(sent_at) = result.sent[i] else {
            invalid(out, "reply to a request that was never sent".into());
            continue;
        };
        if std::mem::replace(&mut settled[i], true) {
            invalid(out, "second reply to one request".into());
            continue;
        }
        out.latencies.push(at.saturating_duration_since(sent_at));
        out.sent_at.push(sent_at);
        match (reply["result"].as_str(), reply["error"].as_str()) {
            (_, Some(_)) => out.errors += 1,
            (Some(value), None) => match check_result(&result.id, &result.requests[i], value) {
                Ok(()) => out.ok += 1,
                Err(why) => invalid(out, why),
            },
            (None, None) => invalid(out, "reply with neither result nor error".into()),
        }
    }
    for (i, sent) in result.sent.iter().enumerate() {
        match (sent, settled[i]) {
            (None, _) => out.unsent += 1,
            (Some(_), false) => {
                out.sent += 1;
                out.timeouts += 1;
            }
            (Some(_), true) => out.sent += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_rate_limited;

    #[test]
    fn rate_limited_is_told_by_its_nip01_prefix() {
        // Machine-readable prefixes of OK messages, from NIP-01:
        // https://github.com/nostr-protocol/nips/blob/master/01.md ("From relay to client").
        assert!(is_rate_limited(
            "rate-limited: this organization's request rate is exceeded; slow down"
        ));
        assert!(is_rate_limited(
            "rate-limited: the signer is busy; retry shortly"
        ));
        assert!(!is_rate_limited("blocked: not on the allow list"));
        assert!(!is_rate_limited("error: rate-limited: nested"));
        assert!(!is_rate_limited(""));
    }
}
