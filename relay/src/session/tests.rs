//! The per-connection state machine: admission rules and subscription bookkeeping, without sockets.

use super::*;
use signer::nostr::{Keypair, PublicKey, UnsignedEvent};

const NOW: u64 = 1_750_000_000;

struct Fake {
    hosted: PublicKey,
    seen: Option<[u8; 32]>,
}

impl Admission for Fake {
    fn is_hosted(&self, pk: &[u8; 32]) -> bool {
        pk == self.hosted.as_bytes()
    }
    fn seen(&self, id: &[u8; 32]) -> bool {
        self.seen == Some(*id)
    }
}

fn request(kind: u16, created_at: u64, to: &PublicKey) -> Event {
    UnsignedEvent {
        created_at,
        kind,
        tags: vec![vec!["p".into(), to.to_hex()]],
        content: "x".into(),
    }
    .sign(&Keypair::generate())
}

/// Sends one EVENT and returns the OK message text, or "submitted".
#[track_caller]
fn verdict(session: &mut Session, fake: &Fake, event: &Event) -> String {
    let text = format!(r#"["EVENT",{}]"#, event.to_json());
    let mut actions = session.on_text(&text, NOW, fake);
    assert_eq!(actions.len(), 1);
    match actions.pop().unwrap() {
        Action::Submit(_) => "submitted".into(),
        Action::Refuse { text, reason } => {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v[1], event.id_hex().as_str());
            let message = v[3].as_str().unwrap();
            assert!(
                message.starts_with(reason),
                "{reason} is the prefix of {message}"
            );
            format!("{} {}", v[2], message)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn admission_rules_for_events() {
    let hosted = Keypair::generate().public_key();
    let mut fake = Fake { hosted, seen: None };
    let mut s = Session::new(Limits::default());
    assert_eq!(
        verdict(&mut s, &fake, &request(24133, NOW, &hosted)),
        "submitted"
    );
    assert!(verdict(&mut s, &fake, &request(1, NOW, &hosted)).starts_with("false blocked:"));
    assert!(
        verdict(&mut s, &fake, &request(24133, NOW - 601, &hosted)).starts_with("false invalid:")
    );
    assert!(
        verdict(&mut s, &fake, &request(24133, NOW + 601, &hosted)).starts_with("false invalid:")
    );
    let stranger = Keypair::generate().public_key();
    assert!(verdict(&mut s, &fake, &request(24133, NOW, &stranger)).starts_with("false blocked:"));
    let dup = request(24133, NOW, &hosted);
    fake.seen = Some(dup.id);
    assert!(verdict(&mut s, &fake, &dup).starts_with("true duplicate:"));
}

#[test]
fn subscriptions_are_tracked_limited_and_closed() {
    let fake = Fake {
        hosted: Keypair::generate().public_key(),
        seen: None,
    };
    let mut s = Session::new(Limits {
        max_subscriptions: 2,
        ..Limits::default()
    });
    let addressed = format!(r##"{{"#p":["{}"],"limit":0}}"##, "a".repeat(64));
    let sub = |s: &mut Session, id: &str, filter: &str| {
        s.on_text(&format!(r#"["REQ","{id}",{filter}]"#), NOW, &fake)
    };

    assert!(matches!(
        &sub(&mut s, "a", &addressed)[..],
        [Action::Subscribe { .. }]
    ));
    // Re-using an id replaces the subscription.
    assert!(matches!(
        &sub(&mut s, "a", &addressed)[..],
        [Action::Unsubscribe { .. }, Action::Subscribe { .. }]
    ));
    assert!(matches!(
        &sub(&mut s, "b", &addressed)[..],
        [Action::Subscribe { .. }]
    ));
    match &sub(&mut s, "c", &addressed)[..] {
        [Action::Send(msg)] => assert!(msg.starts_with(r#"["CLOSED","c","blocked:"#)),
        other => panic!("{other:?}"),
    }
    // Unaddressed filters get EOSE and nothing else.
    match &sub(&mut s, "c", r#"{"kinds":[24133]}"#)[..] {
        [Action::Send(msg)] => assert_eq!(msg, r#"["EOSE","c"]"#),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &s.on_text(r#"["CLOSE","a"]"#, NOW, &fake)[..],
        [Action::Unsubscribe { .. }]
    ));
    assert!(s.on_text(r#"["CLOSE","a"]"#, NOW, &fake).is_empty());
    assert_eq!(s.close_all().len(), 1);
}
