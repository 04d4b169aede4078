//! Unit tests of [`Bunker::answer_refusal`] over a `MemStore`: a connected client's refused
//! request gets an error reply with its id, in its scheme, never run; a forged event, a client
//! without a session and an unreadable request get none.

use super::*;
use crate::admin::NewUser;
use crate::{BunkerConfig, UriOptions};
use kms::MemMasterKey;
use proto::nostr::{nip04, nip44, Crypto, Keypair, UnsignedEvent};
use std::sync::Arc;
use store::MemStore;

const NOW: u64 = 1_750_000_000;
const LIMITED: Refusal =
    Refusal::RateLimited("this organization's request rate is exceeded; slow down");

/// A bunker with one user; returns it, the remote-signer key and a fresh bunker secret.
fn hosted() -> (Bunker, PublicKey, String) {
    let bunker = Bunker::open(
        Arc::new(MemStore::new()),
        Arc::new(MemMasterKey::generate()),
        BunkerConfig::new("ws://127.0.0.1:7447"),
    )
    .unwrap();
    let (_, user, secret) = user_with_secret(&bunker, None);
    (bunker, user.remote_signer_pubkey, secret)
}

/// A user (in a new tenant unless `tenant` names one) and a fresh bunker secret for it, made
/// through `bunker`'s admin services at `NOW`; returns the tenant id too.
pub(crate) fn user_with_secret(
    bunker: &Bunker,
    tenant: Option<&str>,
) -> (String, crate::directory::UserRecord, String) {
    let admin = bunker.admin();
    let tenant = match tenant {
        Some(tenant) => tenant.to_owned(),
        None => admin.create_tenant("acme", NOW).unwrap().id,
    };
    let user = admin.create_user(&tenant, NewUser::default(), NOW).unwrap();
    let uri = admin
        .issue_bunker_uri(&tenant, &user.id, NOW, UriOptions::default())
        .unwrap();
    let secret = uri.uri.split("secret=").nth(1).unwrap().to_owned();
    (tenant, user, secret)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scheme {
    Nip44,
    Nip04,
}

/// A signed kind-24133 request from `client` to `remote` carrying `json`, at `created_at`.
pub(crate) fn request(
    client: &Keypair,
    remote: &PublicKey,
    json: &str,
    scheme: Scheme,
    at: u64,
) -> Event {
    let mut crypto = Crypto::from_os_rng();
    let content = match scheme {
        Scheme::Nip44 => {
            let key = nip44::ConversationKey::derive(&client.secret_key(), remote).unwrap();
            nip44::encrypt(&key, json, &mut crypto).unwrap()
        }
        Scheme::Nip04 => {
            let key = nip04::SharedKey::derive(&client.secret_key(), remote).unwrap();
            nip04::encrypt(&key, json, &mut crypto)
        }
    };
    client.sign_event(
        UnsignedEvent {
            created_at: at,
            kind: KIND_NOSTR_CONNECT,
            tags: vec![vec!["p".into(), remote.to_hex()]],
            content,
        },
        &mut crypto,
    )
}

/// The plaintext of a reply to `client`, decrypted in `scheme`.
pub(crate) fn open(
    client: &Keypair,
    remote: &PublicKey,
    reply: &Event,
    scheme: Scheme,
) -> serde_json::Value {
    let text = match scheme {
        Scheme::Nip44 => {
            let key = nip44::ConversationKey::derive(&client.secret_key(), remote).unwrap();
            nip44::decrypt(&key, &reply.content).unwrap()
        }
        Scheme::Nip04 => {
            let key = nip04::SharedKey::derive(&client.secret_key(), remote).unwrap();
            nip04::decrypt(&key, &reply.content).unwrap()
        }
    };
    serde_json::from_str(&text).unwrap()
}

/// A client connected to `remote` with `secret` (a session exists).
fn connected(bunker: &Bunker, remote: &PublicKey, secret: &str) -> Keypair {
    let client = Keypair::generate(&mut Crypto::from_os_rng());
    let connect =
        serde_json::json!({"id": "c1", "method": "connect", "params": [remote.to_hex(), secret]});
    let event = request(&client, remote, &connect.to_string(), Scheme::Nip44, NOW);
    let processed = bunker.process(&event, NOW, |_| true);
    assert!(processed.accepted.is_ok());
    let reply = processed.response.unwrap();
    assert_eq!(
        open(&client, remote, &reply, Scheme::Nip44)["result"],
        "ack"
    );
    client
}

#[test]
fn a_connected_clients_refused_request_gets_an_error_reply_in_its_scheme_and_is_not_run() {
    let (bunker, remote, secret) = hosted();
    let client = connected(&bunker, &remote, &secret);
    for scheme in [Scheme::Nip44, Scheme::Nip04] {
        // A `logout` that ran would end the session: the reply must not run it.
        let json = r#"{"id":"req-7","method":"logout","params":[]}"#;
        let event = request(&client, &remote, json, scheme, NOW);
        let reply = bunker.answer_refusal(&event, &LIMITED, NOW + 5).unwrap();
        reply.verify().unwrap();
        assert_eq!(reply.pubkey, remote, "from the remote-signer key");
        assert_eq!(reply.kind, KIND_NOSTR_CONNECT);
        assert_eq!(
            reply.first_tag_value("p"),
            Some(client.public_key().to_hex().as_str())
        );
        assert_eq!(reply.created_at, NOW + 5);
        assert_eq!(reply.content.contains("?iv="), scheme == Scheme::Nip04);
        assert_eq!(
            open(&client, &remote, &reply, scheme),
            serde_json::json!({
                "id": "req-7",
                "error": "rate-limited: this organization's request rate is exceeded; slow down"
            })
        );
        assert!(
            bunker.sessions.get(&remote, &client.public_key()).is_some(),
            "the refused logout was not run ({scheme:?})"
        );
    }
}

#[test]
fn the_reply_is_never_older_than_the_request() {
    let (bunker, remote, secret) = hosted();
    let client = connected(&bunker, &remote, &secret);
    // The client's clock runs 15 minutes ahead (refused by the created_at window).
    let ahead = NOW + 900;
    let json = r#"{"id":"early","method":"ping","params":[]}"#;
    let event = request(&client, &remote, json, Scheme::Nip44, ahead);
    let refusal = Refusal::Invalid("created_at is too far from the current time");
    let reply = bunker.answer_refusal(&event, &refusal, NOW).unwrap();
    assert_eq!(reply.created_at, ahead);
    let plain = open(&client, &remote, &reply, Scheme::Nip44);
    assert_eq!(
        plain["error"],
        "invalid: created_at is too far from the current time"
    );
}

#[test]
fn forged_sessionless_unreadable_and_misaddressed_requests_get_no_reply() {
    let (bunker, remote, secret) = hosted();
    let client = connected(&bunker, &remote, &secret);
    let json = r#"{"id":"x","method":"ping","params":[]}"#;

    let mut forged = request(&client, &remote, json, Scheme::Nip44, NOW);
    forged.sig[0] ^= 1;
    assert!(bunker.answer_refusal(&forged, &LIMITED, NOW).is_none());

    let mut tampered = request(&client, &remote, json, Scheme::Nip44, NOW);
    tampered.created_at += 1;
    assert!(
        bunker.answer_refusal(&tampered, &LIMITED, NOW).is_none(),
        "an id that does not match"
    );

    let stranger = Keypair::generate(&mut Crypto::from_os_rng());
    let sessionless = request(&stranger, &remote, json, Scheme::Nip44, NOW);
    assert!(bunker.answer_refusal(&sessionless, &LIMITED, NOW).is_none());

    let not_a_request = request(&client, &remote, "[1,2,3]", Scheme::Nip44, NOW);
    assert!(bunker
        .answer_refusal(&not_a_request, &LIMITED, NOW)
        .is_none());

    let elsewhere = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    let misaddressed = request(&client, &elsewhere, json, Scheme::Nip44, NOW);
    assert!(bunker
        .answer_refusal(&misaddressed, &LIMITED, NOW)
        .is_none());

    // Control: the same client's well-formed request is answered.
    let fine = request(&client, &remote, json, Scheme::Nip44, NOW);
    assert!(bunker.answer_refusal(&fine, &LIMITED, NOW).is_some());
}
