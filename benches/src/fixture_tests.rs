//! Smoke tests: every fixture input is what the benchmarks claim it is, so the benches cannot rot
//! into timing error paths.

use super::*;
use crate::pipeline::handle_sign_event;
use crate::RawSecp;
use proto::nip46::Request;
use proto::nostr::verify_schnorr;
use relay::message::{self, ClientMessage};

#[track_caller]
fn check(fx: &Fixture, response: &Event) {
    response.verify().expect("response verifies");
    assert_eq!(response.kind, KIND_NOSTR_CONNECT);
    assert_eq!(response.pubkey, fx.remote_signer.public_key());
    let reply = nip44::decrypt(&fx.conversation, &response.content).expect("reply decrypts");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["id"], REQUEST_ID);
    let note = Event::from_json(reply["result"].as_str().unwrap()).unwrap();
    note.verify().expect("signed note verifies");
    assert_eq!(note.pubkey, fx.user.public_key());
    assert_eq!(note.id, fx.note_id());
    assert_eq!(note.content, NOTE_CONTENT);
}

#[test]
fn request_is_realistic_and_parses_at_every_layer() {
    let fx = Fixture::new();
    let len = fx.request.content.len();
    assert!((380..=450).contains(&len), "request content is {len} chars");
    let Ok(ClientMessage::Event(parsed)) = message::parse(&fx.request_frame) else {
        panic!("frame does not parse as EVENT");
    };
    assert_eq!(*parsed, fx.request);
    assert_eq!(Fixture::event_id(&fx.request), fx.request.id);
    let envelope = Request::parse(&fx.request_plaintext).expect("request has an id");
    assert!(matches!(envelope.request, Ok(Request::SignEvent(_))));
}

#[test]
fn fixture_response_and_pipeline_answer_the_request() {
    let fx = Fixture::new();
    check(&fx, &fx.response);
    let cached = handle_sign_event(&fx, Some(&fx.conversation)).expect("cached path works");
    check(&fx, &cached);
    let derived = handle_sign_event(&fx, None).expect("uncached path works");
    check(&fx, &derived);
}

#[test]
fn raw_primitives_agree_with_the_wrappers() {
    let fx = Fixture::new();
    let mut raw = RawSecp::new(&fx);
    assert_eq!(&raw.conversation_key(), fx.conversation.as_bytes());
    assert!(raw.verify_client(&fx.request.id, &fx.request.sig));
    assert!(!raw.verify_client(&fx.response.id, &fx.request.sig));
    let msg = fx.note_id();
    for every in [1, 2, crate::raw::OUR_RESEED_EVERY] {
        let sig = raw.sign_reblinding(&msg, &[7; 32], every);
        assert!(raw.verify_signer(&msg, &sig));
        assert!(verify_schnorr(&fx.remote_signer.public_key(), &msg, &sig));
    }
    assert!(RawSecp::parse_xonly(fx.client.public_key().as_bytes()).is_some());
}

#[test]
fn plaintexts_and_sealed_secret_round_trip() {
    let fx = Fixture::new();
    assert_eq!((fx.small.len(), fx.large.len()), (SMALL_LEN, LARGE_LEN));
    for text in [&fx.small, &fx.large] {
        let ct = signer::crypto::with(|c| nip44::encrypt(&fx.conversation, text, c)).unwrap();
        assert_eq!(&nip44::decrypt(&fx.conversation, &ct).unwrap(), text);
        let ct = signer::crypto::with(|c| nip04::encrypt(&fx.nip04, text, c));
        assert_eq!(&nip04::decrypt(&fx.nip04, &ct).unwrap(), text);
    }
    let opened = fx
        .sealed
        .key
        .open(&fx.sealed.record, &fx.sealed.binding())
        .unwrap();
    assert_eq!(
        opened.as_slice(),
        fx.remote_signer.secret_key().expose_bytes()
    );
}
