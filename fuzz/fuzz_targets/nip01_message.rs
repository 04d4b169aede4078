//! Fuzz target: NIP-01 client messages (`relay::message`) and the per-connection state machine
//! they drive (`relay::connection::Connection`), <https://github.com/nostr-protocol/nips/blob/master/01.md>.
//!
//! Input: UTF-8 text, several messages separated by NUL (which JSON text cannot hold raw), fed in
//! order to one connection.
//!
//! Checked for each message: parsing with and without the key cache agrees; a parsed `EVENT`
//! serializes (`Event::to_json`) to JSON that parses back to the same event, its canonical id
//! serialization is the JSON array `[0, pubkey, created_at, kind, tags, content]` and hashes to
//! `compute_id`; sub ids are 1 to 64 characters, a REQ has 1 to
//! 256 filters of at most 256 values per list; refusals carry a 64-hex id or a bounded sub id and an
//! `invalid:` reason; the relay's encoders give the JSON arrays they say. The connection answers an
//! `EVENT` with exactly one `OK` (sent, refused or submitted) and a `REQ` with a subscription, an
//! `EOSE` or a `CLOSED`, sends only JSON arrays, and never holds more subscriptions than its limit.

#![no_main]

use bunkerd_fuzz::is_json_array_of;
use event::{compute_id, serialize_for_id, Event, LiftCache};
use libfuzzer_sys::fuzz_target;
use relay::connection::{Action, Admission, Connection, Limits};
use relay::filter::{Filter, MAX_FILTER_VALUES};
use relay::message::{self, ClientMessage, ParseError, MAX_FILTERS_PER_REQ, MAX_SUB_ID_CHARS};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A fixed "now" inside the range events in the corpus use.
const NOW: u64 = 1_700_000_000;

/// Hosts every key whose first byte is even; has seen every id starting with 0xff.
struct Fixed;

impl Admission for Fixed {
    fn is_hosted(&self, pk: &[u8; 32]) -> bool {
        pk[0] % 2 == 0
    }
    fn seen(&self, id: &[u8; 32]) -> bool {
        id[0] == 0xff
    }
}

fn check_event(e: &Event) {
    let json = e.to_json();
    let back = Event::from_json(&json).expect("to_json output parses");
    assert_eq!(&back, e, "to_json round trip");
    let canonical = serialize_for_id(&e.pubkey, e.created_at, e.kind, &e.tags, &e.content);
    let v: Value = serde_json::from_str(&canonical).expect("canonical form is JSON");
    let want = json!([
        0,
        e.pubkey.to_hex(),
        e.created_at,
        e.kind,
        e.tags,
        e.content
    ]);
    assert_eq!(v, want, "canonical form holds the fields");
    let id = compute_id(&e.pubkey, e.created_at, e.kind, &e.tags, &e.content);
    assert_eq!(id, <[u8; 32]>::from(Sha256::digest(canonical.as_bytes())));
    let framed = message::event("sub", &json);
    let parts: Vec<Value> = serde_json::from_str(&framed).expect("EVENT frame is JSON");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "EVENT");
    assert_eq!(parts[1], "sub");
    assert_eq!(
        Event::from_value(parts[2].clone()).expect("framed event parses"),
        *e
    );
}

fn check_sub_id(id: &str) {
    let n = id.chars().count();
    assert!((1..=MAX_SUB_ID_CHARS).contains(&n), "sub id of {n} chars");
    assert!(is_json_array_of(
        &message::eose(id),
        &[json!("EOSE"), json!(id)]
    ));
}

fn check_filter(f: &Filter) {
    let lens = [
        f.ids.as_ref().map_or(0, Vec::len),
        f.authors.as_ref().map_or(0, Vec::len),
        f.kinds.as_ref().map_or(0, Vec::len),
        f.p_tags.as_ref().map_or(0, Vec::len),
    ];
    assert!(
        lens.iter().all(|&n| n <= MAX_FILTER_VALUES),
        "filter list too long"
    );
    assert!(f
        .other_tags
        .iter()
        .all(|(_, v)| v.len() <= MAX_FILTER_VALUES));
}

fn check_parse(parsed: &Result<ClientMessage, ParseError>) {
    match parsed {
        Ok(ClientMessage::Event(e)) => check_event(e),
        Ok(ClientMessage::Req { sub_id, filters }) => {
            check_sub_id(sub_id);
            assert!((1..=MAX_FILTERS_PER_REQ).contains(&filters.len()));
            filters.iter().for_each(check_filter);
        }
        Ok(ClientMessage::Close(sub_id)) => check_sub_id(sub_id),
        Ok(ClientMessage::Auth(id)) => {
            if let Some(id) = id {
                assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
        Err(ParseError::Notice(reason)) => {
            assert!(reason.starts_with("invalid: "), "{reason}");
            assert!(is_json_array_of(
                &message::notice(reason),
                &[json!("NOTICE"), json!(reason)]
            ));
        }
        Err(ParseError::BadEvent { id, reason }) => {
            assert!(
                id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id}"
            );
            assert!(reason.starts_with("invalid: "));
            let ok = message::ok(id, false, reason);
            assert!(is_json_array_of(
                &ok,
                &[json!("OK"), json!(id), json!(false), json!(reason)]
            ));
        }
        Err(ParseError::BadReq { sub_id, reason }) => {
            assert!(sub_id.chars().count() <= MAX_SUB_ID_CHARS);
            assert!(reason.starts_with("invalid: "));
            let closed = message::closed(sub_id, reason);
            assert!(is_json_array_of(
                &closed,
                &[json!("CLOSED"), json!(sub_id), json!(reason)]
            ));
        }
    }
}

fn check_actions(parsed: &Result<ClientMessage, ParseError>, actions: &[Action]) {
    for action in actions {
        let text = match action {
            Action::Send(text) | Action::Refuse { text, .. } => text,
            _ => continue,
        };
        let parts: Vec<Value> = serde_json::from_str(text).expect("the relay sends JSON arrays");
        assert!(!parts.is_empty());
    }
    let oks = actions
        .iter()
        .filter(|a| match a {
            Action::Submit(_) | Action::Refuse { .. } => true,
            Action::Send(text) => text.starts_with("[\"OK\""),
            _ => false,
        })
        .count();
    match parsed {
        Ok(ClientMessage::Event(_)) => assert_eq!(oks, 1, "one OK per EVENT: {actions:?}"),
        Ok(ClientMessage::Req { sub_id, .. }) => {
            let answered = actions.iter().any(|a| match a {
                Action::Subscribe { sub_id: s, .. } => s == sub_id,
                Action::Send(text) => {
                    text.starts_with("[\"CLOSED\"") || text.starts_with("[\"EOSE\"")
                }
                _ => false,
            });
            assert!(
                answered,
                "REQ without a subscription, EOSE or CLOSED: {actions:?}"
            );
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let mut connection = Connection::new(&limits);
    let mut cache = LiftCache::default();
    for part in text.split('\0') {
        let parsed = message::parse_cached(part, &mut cache);
        let plain = message::parse(part);
        assert_eq!(
            format!("{parsed:?}"),
            format!("{plain:?}"),
            "the key cache changed a parse"
        );
        check_parse(&parsed);
        let actions = connection.on_text(part, NOW, &Fixed, &mut cache);
        check_actions(&parsed, &actions);
    }
    assert!(connection.close_all().len() <= limits.max_subscriptions);
});
