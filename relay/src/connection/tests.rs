//! The per-connection state machine: admission rules and subscription bookkeeping, without sockets.

use super::*;
use proto::nostr::{Crypto, Keypair, PublicKey, UnsignedEvent};

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
    Keypair::generate(&mut Crypto::from_os_rng()).sign_event(
        UnsignedEvent {
            created_at,
            kind,
            tags: vec![vec!["p".into(), to.to_hex()]],
            content: "x".into(),
        },
        &mut Crypto::from_os_rng(),
    )
}

/// Sends one EVENT and returns the OK message text, or "submitted".
#[track_caller]
fn verdict(connection: &mut Connection, fake: &Fake, event: &Event) -> String {
    let text = format!(r#"["EVENT",{}]"#, event.to_json());
    let mut actions = connection.on_text(&text, NOW, fake, &mut LiftCache::default());
    assert_eq!(actions.len(), 1);
    match actions.pop().unwrap() {
        Action::Submit(_) => "submitted".into(),
        Action::Refuse { text, reason, .. } => {
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
    let hosted = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    let mut fake = Fake { hosted, seen: None };
    let mut s = Connection::new(&Limits::default());
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
    let stranger = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    assert!(verdict(&mut s, &fake, &request(24133, NOW, &stranger)).starts_with("false blocked:"));
    let dup = request(24133, NOW, &hosted);
    fake.seen = Some(dup.id);
    assert!(verdict(&mut s, &fake, &dup).starts_with("true duplicate:"));
}

#[test]
fn only_rate_and_created_at_refusals_carry_the_event_for_an_error_reply() {
    let hosted = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    let mut fake = Fake { hosted, seen: None };
    let mut s = Connection::new(&Limits::default());
    let answer = |s: &mut Connection, fake: &Fake, event: &Event| {
        let text = format!(r#"["EVENT",{}]"#, event.to_json());
        match s
            .on_text(&text, NOW, fake, &mut LiftCache::default())
            .pop()
            .unwrap()
        {
            Action::Refuse { answer, .. } => answer.map(|a| {
                assert_eq!(a.event.id, event.id, "the refused event itself");
                a.cause
            }),
            other => panic!("{other:?}"),
        }
    };
    let early = request(24133, NOW + 601, &hosted);
    assert_eq!(answer(&mut s, &fake, &early), Some(Cause::CreatedAt));
    assert_eq!(answer(&mut s, &fake, &request(1, NOW, &hosted)), None);
    let stranger = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    assert_eq!(answer(&mut s, &fake, &request(24133, NOW, &stranger)), None);
    let dup = request(24133, NOW, &hosted);
    fake.seen = Some(dup.id);
    assert_eq!(answer(&mut s, &fake, &dup), None);
}

#[test]
fn subscriptions_are_tracked_limited_and_closed() {
    let fake = Fake {
        hosted: Keypair::generate(&mut Crypto::from_os_rng()).public_key(),
        seen: None,
    };
    let mut s = Connection::new(&Limits {
        max_subscriptions: 2,
        ..Limits::default()
    });
    let addressed = format!(r##"{{"#p":["{}"],"limit":0}}"##, "a".repeat(64));
    let sub = |s: &mut Connection, id: &str, filter: &str| {
        s.on_text(
            &format!(r#"["REQ","{id}",{filter}]"#),
            NOW,
            &fake,
            &mut LiftCache::default(),
        )
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
        &s.on_text(r#"["CLOSE","a"]"#, NOW, &fake, &mut LiftCache::default())[..],
        [Action::Unsubscribe { .. }]
    ));
    assert!(s
        .on_text(r#"["CLOSE","a"]"#, NOW, &fake, &mut LiftCache::default())
        .is_empty());
    assert_eq!(s.close_all().len(), 1);
}

/// An admission whose buckets and address counts are given, recording the refusals it is told of.
struct Limited {
    inner: Fake,
    events_left: std::cell::Cell<u32>,
    subs_left: std::cell::Cell<u32>,
    refused: std::cell::RefCell<Vec<Limit>>,
}

impl Admission for Limited {
    fn is_hosted(&self, pk: &[u8; 32]) -> bool {
        self.inner.is_hosted(pk)
    }
    fn seen(&self, id: &[u8; 32]) -> bool {
        self.inner.seen(id)
    }
    fn admit_event(&self) -> Result<(), Limit> {
        let left = self.events_left.get();
        self.events_left.set(left.saturating_sub(1));
        if left == 0 {
            Err(Limit::IpEvents)
        } else {
            Ok(())
        }
    }
    fn open_subscription(&self) -> Result<(), Limit> {
        let left = self.subs_left.get();
        if left == 0 {
            return Err(Limit::IpSubscriptions);
        }
        self.subs_left.set(left - 1);
        Ok(())
    }
    fn close_subscription(&self) {
        self.subs_left.set(self.subs_left.get() + 1);
    }
    fn refused(&self, limit: Limit) {
        self.refused.borrow_mut().push(limit);
    }
}

#[test]
fn connection_and_address_limits_refuse_with_their_prefix_and_are_reported() {
    let hosted = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    let gate = Limited {
        inner: Fake { hosted, seen: None },
        events_left: 1.into(),
        subs_left: 1.into(),
        refused: Vec::new().into(),
    };
    let mut s = Connection::new(&Limits {
        max_filters: 2,
        ..Limits::default()
    });
    let fake_verdict = |s: &mut Connection, event: &Event| {
        let text = format!(r#"["EVENT",{}]"#, event.to_json());
        match &s.on_text(&text, NOW, &gate, &mut LiftCache::default())[..] {
            [Action::Submit(_)] => "submitted".to_owned(),
            [Action::Refuse {
                text,
                reason,
                limit,
                answer,
            }] => {
                let cause = answer.as_ref().map(|a| a.cause);
                format!("{reason} {limit:?} {cause:?} {text}")
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        fake_verdict(&mut s, &request(24133, NOW, &hosted)),
        "submitted"
    );
    let refused = fake_verdict(&mut s, &request(24133, NOW, &hosted));
    // The refusal names its limit (which decides demotion, `socket::Placement`).
    assert!(
        refused.starts_with("rate-limited Some(IpEvents) Some(Limit(IpEvents)) ")
            && refused.contains(r#"false,"rate-limited: too many events from your address"#),
        "{refused}"
    );
    // Even an event that would be refused anyway costs a token first: the bucket is checked first.
    let blocked = fake_verdict(&mut s, &request(1, NOW, &hosted));
    assert!(
        blocked.starts_with("rate-limited Some(IpEvents) Some(Limit(IpEvents)) "),
        "{blocked}"
    );
    // Refusals of the event itself name no limit.
    gate.events_left.set(1);
    let wrong_kind = fake_verdict(&mut s, &request(1, NOW, &hosted));
    assert!(wrong_kind.starts_with("blocked None None "), "{wrong_kind}");

    let filter = format!(r##"{{"#p":["{}"]}}"##, "a".repeat(64));
    let req = |s: &mut Connection, id: &str, filters: usize| {
        let filters = vec![filter.as_str(); filters].join(",");
        s.on_text(
            &format!(r#"["REQ","{id}",{filters}]"#),
            NOW,
            &gate,
            &mut LiftCache::default(),
        )
    };
    match &req(&mut s, "three", 3)[..] {
        [Action::Send(msg)] => assert!(
            msg.starts_with(r#"["CLOSED","three","invalid: too many filters"#),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &req(&mut s, "a", 2)[..],
        [Action::Subscribe { .. }]
    ));
    match &req(&mut s, "b", 1)[..] {
        [Action::Send(msg)] => assert!(msg.starts_with(r#"["CLOSED","b","blocked:"#), "{msg}"),
        other => panic!("{other:?}"),
    }
    // Closing gives the address's slot back.
    let closed = s.on_text(r#"["CLOSE","a"]"#, NOW, &gate, &mut LiftCache::default());
    assert!(matches!(&closed[..], [Action::Unsubscribe { .. }]));
    assert!(matches!(
        &req(&mut s, "b", 1)[..],
        [Action::Subscribe { .. }]
    ));
    assert_eq!(
        *gate.refused.borrow(),
        vec![
            Limit::IpEvents,
            Limit::IpEvents,
            Limit::FiltersPerReq,
            Limit::IpSubscriptions
        ]
    );
}
