//! NIP-01 message parsing and encoding.

use super::*;
use proto::nostr::{Crypto, Keypair, UnsignedEvent};

#[test]
fn parses_the_four_client_messages() {
    let e = Keypair::generate(&mut Crypto::from_os_rng()).sign_event(
        UnsignedEvent {
            created_at: 1,
            kind: 24133,
            tags: vec![],
            content: "x".into(),
        },
        &mut Crypto::from_os_rng(),
    );
    let text = format!(r#"["EVENT",{}]"#, e.to_json());
    assert!(matches!(parse(&text), Ok(ClientMessage::Event(parsed)) if *parsed == e));
    match parse(r#"["REQ","s",{"kinds":[1]},{"limit":0}]"#) {
        Ok(ClientMessage::Req { sub_id, filters }) => {
            assert_eq!((sub_id.as_str(), filters.len()), ("s", 2))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse(r#"["CLOSE","s"]"#), Ok(ClientMessage::Close(s)) if s == "s"));
    assert!(matches!(
        parse(r#"["AUTH",{"id":"x"}]"#),
        Ok(ClientMessage::Auth(None))
    ));
}

#[test]
fn malformed_messages_say_how_to_answer() {
    assert!(matches!(parse("{}"), Err(ParseError::Notice(_))));
    assert!(matches!(parse(r#"["NOPE"]"#), Err(ParseError::Notice(_))));
    assert!(matches!(parse(r#"["REQ",7]"#), Err(ParseError::Notice(_))));
    assert!(matches!(
        parse(r#"["REQ","",{}]"#),
        Err(ParseError::BadReq { .. })
    ));
    let long = "s".repeat(65);
    match parse(&format!(r#"["REQ","{long}",{{}}]"#)) {
        Err(ParseError::BadReq { sub_id, .. }) => assert_eq!(sub_id.len(), 64),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(r#"["REQ","s"]"#),
        Err(ParseError::BadReq { .. })
    ));
    // The parser's ceiling (the configured `max-filters` is the session's, below it).
    let too_many = ["{}"; MAX_FILTERS_PER_REQ + 1].join(",");
    assert!(matches!(
        parse(&format!(r#"["REQ","s",{too_many}]"#)),
        Err(ParseError::BadReq { .. })
    ));
    let most = ["{}"; MAX_FILTERS_PER_REQ].join(",");
    assert!(matches!(
        parse(&format!(r#"["REQ","s",{most}]"#)),
        Ok(ClientMessage::Req { .. })
    ));
    let id = "ab".repeat(32);
    assert_eq!(
        parse(&format!(r#"["EVENT",{{"id":"{id}","kind":"x"}}]"#)).unwrap_err(),
        ParseError::BadEvent {
            id,
            reason: "invalid: malformed event"
        }
    );
}

#[test]
fn relay_messages_are_json_arrays() {
    assert_eq!(ok("ab", true, ""), r#"["OK","ab",true,""]"#);
    assert_eq!(
        ok("ab", false, "invalid: \"x\""),
        r#"["OK","ab",false,"invalid: \"x\""]"#
    );
    assert_eq!(eose("s"), r#"["EOSE","s"]"#);
    assert_eq!(
        closed("s", "blocked: no"),
        r#"["CLOSED","s","blocked: no"]"#
    );
    assert_eq!(notice("hi"), r#"["NOTICE","hi"]"#);
    assert_eq!(event("s\"", "{}"), r#"["EVENT","s\"",{}]"#);
}
