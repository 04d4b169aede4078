//! What bunkerd reads from and writes to a foreign relay, as its client (NIP-01 relay-to-client
//! messages; NIP-42 `AUTH`): <https://github.com/nostr-protocol/nips/blob/master/01.md>,
//! <https://github.com/nostr-protocol/nips/blob/master/42.md>.
//!
//! Parsing is strict about shape and lenient about what bunkerd does not use: an unknown message
//! type or a `NOTICE` is [`FromRelay::Other`]; a malformed message is an error the link counts and
//! drops, never a reason to close.

use event::Event;
use serde_json::value::RawValue;

/// The prefix of the subscription ids bunkerd opens on a foreign relay; `-<n>` follows.
pub(crate) const SUBSCRIPTION_PREFIX: &str = "bunkerd";

/// Most remote-signer pubkeys one `REQ` filter names (relays bound a filter's size; more pubkeys
/// take more subscriptions).
pub(crate) const PUBKEYS_PER_REQ: usize = 256;

/// One relay-to-client message.
#[derive(Debug)]
pub(crate) enum FromRelay {
    /// `["EVENT", <subscription id>, <event>]`: the event, parsed, not verified.
    Event(Box<Event>),
    /// `["OK", <event id>, <accepted>, <message>]`.
    Ok {
        /// The event id, 32 bytes.
        id: [u8; 32],
        /// Whether the relay took it.
        accepted: bool,
        /// Its message (`auth-required: …` asks for NIP-42 first).
        message: String,
    },
    /// `["CLOSED", <subscription id>, <message>]`.
    Closed {
        /// Its message (`auth-required: …` asks for NIP-42 first).
        message: String,
    },
    /// `["EOSE", <subscription id>]`: the relay has taken the subscription.
    Eose,
    /// `["AUTH", <challenge>]` (NIP-42).
    Auth {
        /// The challenge string, as sent.
        challenge: String,
    },
    /// `NOTICE`, `COUNT` or a type bunkerd does not use.
    Other,
}

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Longest `AUTH` challenge accepted, bytes (NIP-42 sets none; real ones are 16–64).
const MAX_CHALLENGE_BYTES: usize = 256;

/// Parses one text frame from a relay.
///
/// # Errors
///
/// [`Malformed`] for anything but a JSON array whose first element is a string, or a known message
/// with the wrong arity or types, or an `EVENT` whose event does not parse.
pub(crate) fn parse(text: &str) -> Result<FromRelay, Malformed> {
    let parts: Vec<&RawValue> = serde_json::from_str(text).map_err(|_| Malformed)?;
    let kind: &str = parts
        .first()
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .ok_or(Malformed)?;
    let string = |i: usize| -> Result<String, Malformed> {
        parts
            .get(i)
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .ok_or(Malformed)
    };
    Ok(match (kind, parts.len()) {
        ("EVENT", 3) => {
            let event = Event::from_json(parts[2].get()).map_err(|_| Malformed)?;
            FromRelay::Event(Box::new(event))
        }
        ("OK", 3 | 4) => {
            let id = event::hex32(&string(1)?).ok_or(Malformed)?;
            let accepted: bool = serde_json::from_str(parts[2].get()).map_err(|_| Malformed)?;
            let message = if parts.len() == 4 {
                string(3)?
            } else {
                String::new()
            };
            FromRelay::Ok {
                id,
                accepted,
                message,
            }
        }
        ("EOSE", 2) => FromRelay::Eose,
        ("CLOSED", 2 | 3) => FromRelay::Closed {
            message: if parts.len() == 3 {
                string(2)?
            } else {
                String::new()
            },
        },
        ("AUTH", 2) => {
            let challenge = string(1)?;
            if challenge.len() > MAX_CHALLENGE_BYTES {
                return Err(Malformed);
            }
            FromRelay::Auth { challenge }
        }
        ("EVENT" | "OK" | "EOSE" | "CLOSED" | "AUTH", _) => return Err(Malformed),
        _ => FromRelay::Other,
    })
}

/// Whether a relay's message asks for NIP-42 authentication first.
pub(crate) fn auth_required(message: &str) -> bool {
    message.starts_with("auth-required:")
}

/// `["REQ", "bunkerd-<n>", {"kinds":[24133],"#p":[…],"since":<since>}]`, one per
/// [`PUBKEYS_PER_REQ`] pubkeys (64 lowercase hex each), numbered from 0.
pub(crate) fn subscriptions(pubkeys: &[String], since: u64) -> Vec<String> {
    pubkeys
        .chunks(PUBKEYS_PER_REQ)
        .enumerate()
        .map(|(n, chunk)| {
            serde_json::json!([
                "REQ",
                format!("{SUBSCRIPTION_PREFIX}-{n}"),
                {"kinds": [24133], "#p": chunk, "since": since}
            ])
            .to_string()
        })
        .collect()
}

/// `["CLOSE", "bunkerd-<n>"]`.
pub(crate) fn close(n: usize) -> String {
    serde_json::json!(["CLOSE", format!("{SUBSCRIPTION_PREFIX}-{n}")]).to_string()
}

/// `["EVENT", <event>]` for an event already serialized.
pub(crate) fn event(json: &str) -> String {
    format!("[\"EVENT\",{json}]")
}

/// `["AUTH", <event>]` for an event already serialized.
pub(crate) fn auth(json: &str) -> String {
    format!("[\"AUTH\",{json}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_message_bunkerd_uses() {
        assert!(matches!(
            parse(r#"["AUTH","abc"]"#),
            Ok(FromRelay::Auth { challenge }) if challenge == "abc"
        ));
        let id = "ab".repeat(32);
        assert!(matches!(
            parse(&format!(r#"["OK","{id}",false,"auth-required: sign in"]"#)),
            Ok(FromRelay::Ok { accepted: false, message, .. }) if auth_required(&message)
        ));
        assert!(matches!(
            parse(r#"["CLOSED","bunkerd-0","auth-required: who are you"]"#),
            Ok(FromRelay::Closed { message }) if auth_required(&message)
        ));
        assert!(matches!(
            parse(r#"["EOSE","bunkerd-0"]"#),
            Ok(FromRelay::Eose)
        ));
        assert!(matches!(parse(r#"["NOTICE","hi"]"#), Ok(FromRelay::Other)));
    }

    #[test]
    fn refuses_malformed_messages() {
        for bad in [
            "",
            "{}",
            "[]",
            "[1]",
            r#"["OK","zz",true,""]"#,
            r#"["OK"]"#,
            r#"["EVENT","s",{"id":1}]"#,
            r#"["AUTH"]"#,
            r#"["AUTH",1]"#,
        ] {
            assert_eq!(parse(bad).err(), Some(Malformed), "{bad}");
        }
        let long = format!(r#"["AUTH","{}"]"#, "a".repeat(MAX_CHALLENGE_BYTES + 1));
        assert_eq!(parse(&long).err(), Some(Malformed));
    }

    #[test]
    fn splits_subscriptions_by_size() {
        let keys: Vec<String> = (0..PUBKEYS_PER_REQ + 1)
            .map(|i| format!("{i:064x}"))
            .collect();
        let reqs = subscriptions(&keys, 7);
        assert_eq!(reqs.len(), 2);
        let first: serde_json::Value = serde_json::from_str(&reqs[0]).unwrap();
        assert_eq!(first[1], "bunkerd-0");
        assert_eq!(first[2]["#p"].as_array().unwrap().len(), PUBKEYS_PER_REQ);
        assert_eq!(first[2]["kinds"], serde_json::json!([24133]));
        assert_eq!(first[2]["since"], 7);
        assert_eq!(close(1), r#"["CLOSE","bunkerd-1"]"#);
    }
}
