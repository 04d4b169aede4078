//! Filter parsing and matching (NIP-01 §"Filters").

use super::*;
use proto::nostr::{Crypto, Keypair, UnsignedEvent};

fn event(kind: u16, created_at: u64, p: &str) -> Event {
    Keypair::generate(&mut Crypto::from_os_rng()).sign_event(
        UnsignedEvent {
            created_at,
            kind,
            tags: vec![vec!["p".into(), p.into()], vec!["t".into(), "topic".into()]],
            content: String::new(),
        },
        &mut Crypto::from_os_rng(),
    )
}

#[track_caller]
fn check(filter: &str, event: &Event, expected: bool) {
    let f: Filter = serde_json::from_str(filter).unwrap();
    assert_eq!(f.matches(event), expected, "{filter}");
}

#[test]
fn fields_are_anded_and_lists_ored() {
    let p = "a".repeat(64);
    let e = event(24133, 100, &p);
    let author = e.pubkey.to_hex();
    check("{}", &e, true);
    check(r#"{"kinds":[1,24133]}"#, &e, true);
    check(r#"{"kinds":[1]}"#, &e, false);
    check(r#"{"kinds":[]}"#, &e, false);
    check(&format!(r##"{{"#p":["{p}"],"kinds":[24133]}}"##), &e, true);
    check(&format!(r##"{{"#p":["{}"]}}"##, "b".repeat(64)), &e, false);
    check(
        &format!(r#"{{"authors":["{author}"],"since":100,"until":100}}"#),
        &e,
        true,
    );
    check(r#"{"since":101}"#, &e, false);
    check(r#"{"until":99}"#, &e, false);
    check(&format!(r#"{{"ids":["{}"]}}"#, e.id_hex()), &e, true);
    check(r##"{"#t":["topic","other"]}"##, &e, true);
    check(r##"{"#t":["other"]}"##, &e, false);
    check(r#"{"search":"ignored","limit":0}"#, &e, true);
}

#[test]
fn hex_fields_must_be_exact_lowercase() {
    for bad in [
        r#"{"ids":["abc"]}"#,
        r##"{"#p":["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]}"##,
        r#"{"authors":[1]}"#,
        r#"{"kinds":[70000]}"#,
    ] {
        assert!(serde_json::from_str::<Filter>(bad).is_err(), "{bad}");
    }
    let too_many: Vec<u16> = (0..=300).collect();
    let json = serde_json::json!({ "kinds": too_many }).to_string();
    assert!(serde_json::from_str::<Filter>(&json).is_err());
}

#[test]
fn only_filters_naming_p_are_addressed() {
    let f: Filter = serde_json::from_str(r#"{"kinds":[24133]}"#).unwrap();
    assert!(!f.is_addressed());
    let author = "b".repeat(64);
    let f: Filter = serde_json::from_str(&format!(r#"{{"authors":["{author}"]}}"#)).unwrap();
    assert!(
        !f.is_addressed(),
        "authors alone would let anyone watch a remote signer"
    );
    let f: Filter = serde_json::from_str(&format!(r##"{{"#p":["{}"]}}"##, "a".repeat(64))).unwrap();
    assert!(f.is_addressed());
}
