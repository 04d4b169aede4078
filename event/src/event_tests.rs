//! Tests of NIP-01 events: the assembled real-event vectors, our own canonical-serialization cases
//! (quotes, backslashes, `/`, control characters, DEL, emoji, empty tags), parsing rules and serde.

use serde_json::{json, Value};

use super::*;

const NIP01: &str = include_str!("vectors/nip01.events.json");

fn vectors() -> Value {
    serde_json::from_str(NIP01).expect("vector file is JSON")
}

/// A valid vector: serialization, id, parse, verify and JSON round trip.
#[track_caller]
fn check_valid(entry: &Value) {
    let raw = &entry["event"];
    let event = Event::from_value(raw.clone()).expect("vector parses");
    let text = serialize_for_id(
        &event.pubkey,
        event.created_at,
        event.kind,
        &event.tags,
        &event.content,
    );
    assert_eq!(text, entry["serialized_for_id"].as_str().expect("string"));
    let id = compute_id(
        &event.pubkey,
        event.created_at,
        event.kind,
        &event.tags,
        &event.content,
    );
    assert_eq!(hex::encode(id), raw["id"].as_str().expect("id"));
    assert_eq!(event.id_hex(), raw["id"].as_str().expect("id"));
    let from_text = Event::from_json(&raw.to_string()).expect("from_json");
    assert_eq!(from_text, event);
    assert_eq!(event.verify(), Ok(()));
    let round = Event::from_json(&event.to_json()).expect("to_json output parses");
    assert_eq!(round, event);
    assert_eq!(
        serde_json::from_str::<Value>(&event.to_json()).expect("JSON"),
        *raw
    );
}

#[test]
fn nip01_valid_vectors() {
    let v = vectors();
    let valid = v["valid"].as_array().expect("valid list");
    assert_eq!(valid.len(), 8);
    valid.iter().for_each(check_valid);
}

#[test]
fn nip01_invalid_vectors_fail_verify() {
    let v = vectors();
    let invalid = v["invalid"].as_array().expect("invalid list");
    assert_eq!(invalid.len(), 2);
    for entry in invalid {
        let event = Event::from_value(entry["event"].clone()).expect("shape is fine");
        let text = serialize_for_id(
            &event.pubkey,
            event.created_at,
            event.kind,
            &event.tags,
            &event.content,
        );
        assert_eq!(text, entry["serialized_for_id"].as_str().expect("string"));
        assert_eq!(event.verify(), Err(Error::InvalidId));
    }
}

fn pk() -> PublicKey {
    PublicKey::from_hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
        .expect("G.x")
}

/// Canonical serialization of `content` and `tags` against the exact expected JSON text.
#[track_caller]
fn check(tags: &[&[&str]], content: &str, expected_tags: &str, expected_content: &str) {
    let tags: Vec<Vec<String>> = tags
        .iter()
        .map(|t| t.iter().map(|s| s.to_string()).collect())
        .collect();
    let got = serialize_for_id(&pk(), 1700000000, 1, &tags, content);
    let expected = format!(
        "[0,\"{}\",1700000000,1,{expected_tags},{expected_content}]",
        pk()
    );
    assert_eq!(got, expected);
}

#[test]
fn canonical_escapes() {
    check(&[], "say \"hi\"", "[]", r#""say \"hi\"""#);
    check(&[], r"back\slash", "[]", r#""back\\slash""#);
    check(&[], "a/b </script>", "[]", r#""a/b </script>""#);
    check(&[], "l1\nl2\r\t\u{8}\u{c}", "[]", r#""l1\nl2\r\t\b\f""#);
    check(&[], "\u{0}\u{1}\u{1f}", "[]", r#""\u0000\u0001\u001f""#);
    check(&[], "\u{1b}[0m\u{b}", "[]", r#""\u001b[0m\u000b""#);
    check(&[], "del\u{7f}", "[]", "\"del\u{7f}\"");
    check(
        &[],
        "🦄 héllo ⚡ \u{2028}",
        "[]",
        "\"🦄 héllo ⚡ \u{2028}\"",
    );
    check(&[], "", "[]", r#""""#);
}

#[test]
fn canonical_tags() {
    check(&[&[]], "x", "[[]]", r#""x""#);
    check(&[&[""], &["t", ""]], "x", r#"[[""],["t",""]]"#, r#""x""#);
    check(
        &[&["e", "a\"b", "c\\d"], &["p", "\n"]],
        "x",
        r#"[["e","a\"b","c\\d"],["p","\n"]]"#,
        r#""x""#,
    );
    check(
        &[&["emoji", "🎉", "\u{1}"]],
        "x",
        r#"[["emoji","🎉","\u0001"]]"#,
        r#""x""#,
    );
}

/// Our escaper must agree with serde_json (what JS `JSON.stringify` also emits) for every ASCII
/// character and a few multi-byte ones, since clients compute ids with such encoders.
#[test]
fn escaper_matches_serde_json() {
    let mut all: String = (0u8..=0x7f).map(char::from).collect();
    all.push_str("é€🦄\u{fffd}");
    let mut ours = String::new();
    crate::canon::push_str(&mut ours, &all);
    assert_eq!(ours, serde_json::to_string(&all).expect("string"));
}

fn good_event_json() -> Value {
    vectors()["valid"][0]["event"].clone()
}

/// A field edit that must make parsing fail with `InvalidEvent`, without echoing input.
#[track_caller]
fn check_rejected(field: &str, value: Value) {
    let mut v = good_event_json();
    v[field] = value;
    let err = Event::from_json(&v.to_string()).expect_err("must be rejected");
    assert_eq!(err.code(), "invalid_event", "{field}: {err}");
    assert!(
        !err.to_string().contains("13adc511"),
        "no input echo: {err}"
    );
    assert_eq!(
        Event::from_value(v).expect_err("same rules").code(),
        "invalid_event"
    );
}

#[test]
fn from_json_rejects_bad_fields() {
    let id = good_event_json()["id"].as_str().expect("id").to_owned();
    check_rejected("id", json!(id.to_uppercase()));
    check_rejected("id", json!(&id[..62]));
    check_rejected("sig", json!("ab"));
    check_rejected("pubkey", json!("f".repeat(64)));
    check_rejected("pubkey", json!("XYZ"));
    check_rejected("kind", json!(65536));
    check_rejected("kind", json!(-1));
    check_rejected("kind", json!("1"));
    check_rejected("created_at", json!(-5));
    check_rejected("created_at", json!(1.5));
    check_rejected("tags", json!([["p", 1]]));
    check_rejected("tags", json!([["p", null]]));
    check_rejected("tags", json!(["p"]));
    check_rejected("content", Value::Null);
}

#[test]
fn from_json_rejects_non_events_and_ignores_extra_fields() {
    for bad in ["", "[]", "null", "{}", "{\"id\":", "not json"] {
        assert_eq!(
            Event::from_json(bad).expect_err(bad).code(),
            "invalid_event"
        );
    }
    let mut v = good_event_json();
    v.as_object_mut().expect("object").remove("sig");
    assert_eq!(
        Event::from_value(v).expect_err("missing sig").code(),
        "invalid_event"
    );
    let mut v = good_event_json();
    v["extra"] = json!({"nested": [1, 2]});
    let event = Event::from_value(v).expect("unknown fields ignored");
    assert_eq!(event.verify(), Ok(()));
}

#[test]
fn first_tag_value_picks_first_named_tag() {
    let mut event = Event::from_value(good_event_json()).expect("vector");
    event.tags = vec![
        vec!["e".into()],
        vec!["p".into(), "first".into()],
        vec!["p".into(), "second".into()],
    ];
    assert_eq!(event.first_tag_value("p"), Some("first"));
    assert_eq!(
        event.first_tag_value("e"),
        None,
        "first `e` tag has no value"
    );
    assert_eq!(event.first_tag_value("t"), None);
}

#[test]
fn serde_inside_json_structures() {
    let event = Event::from_value(good_event_json()).expect("vector");
    let wrapped = json!({ "event": event });
    assert_eq!(wrapped["event"], good_event_json());
    let back: Vec<Event> = serde_json::from_value(json!([good_event_json()])).expect("deserialize");
    assert_eq!(back, vec![event]);
    let mut bad = good_event_json();
    bad["kind"] = json!(70000);
    let err = serde_json::from_value::<Vec<Event>>(json!([bad])).expect_err("kind out of range");
    assert!(err.to_string().contains("kind is above 65535"), "{err}");
}

#[test]
fn lift_cache_parses_like_from_json() {
    let json = good_event_json().to_string();
    let mut cache = crate::LiftCache::default();
    let first = Event::from_json_cached(&json, &mut cache).expect("vector");
    let again = Event::from_json_cached(&json, &mut cache).expect("vector, from the cache");
    assert_eq!(first, Event::from_json(&json).expect("vector"));
    assert_eq!(again, first);
    assert_eq!(again.verify(), Ok(()));
    let mut bad = good_event_json();
    // 32 bytes of 0xff are above the field prime p: never the x of a point.
    bad["pubkey"] = json!("ff".repeat(32));
    assert_eq!(
        Event::from_json_cached(&bad.to_string(), &mut cache),
        Err(Error::InvalidEvent(
            "pubkey is not a valid x-only public key"
        ))
    );
}
