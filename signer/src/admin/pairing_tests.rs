//! Accepting `nostrconnect://` URIs: the session is durable and carries the client's relays and
//! name, the response is what clients wait for, and a URI pairs once.

use super::PairOptions;
use crate::admin::{KeyImport, NewUser};
use crate::directory::UserUpdate;
use crate::{Bunker, BunkerConfig, Error, KIND_NOSTR_CONNECT};
use kms::MemMasterKey;
use proto::nip46::nostrconnect::NostrConnectUri;
use proto::nostr::{nip44, Keypair};
use std::sync::Arc;
use store::{Cf, MemStore, Store};

struct Fixture {
    store: Arc<MemStore>,
    bunker: Bunker,
    tenant: String,
    user: String,
    client: Keypair,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemStore::new());
    let bunker = Bunker::open(
        store.clone(),
        Arc::new(MemMasterKey::generate()),
        BunkerConfig::new("ws://127.0.0.1:7447"),
    )
    .unwrap();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let new = NewUser {
        name: None,
        key: KeyImport::default(),
        nip05_name: None,
    };
    let user = admin.create_user(&tenant, new, 2).unwrap().id;
    let client = crate::crypto::with(Keypair::generate);
    Fixture {
        store,
        bunker,
        tenant,
        user,
        client,
    }
}

fn uri(client: &Keypair, query: &str) -> NostrConnectUri {
    let text = format!("nostrconnect://{}?{query}", client.public_key().to_hex());
    NostrConnectUri::parse(&text).unwrap()
}

const QUERY: &str =
    "relay=wss%3A%2F%2Frelay.example&relay=ws://127.0.0.1:7447&secret=s3cr3t&perms=sign_event:1&name=My+App";

#[test]
fn accepting_a_uri_makes_a_durable_session_and_the_response_clients_wait_for() {
    let f = fixture();
    let accepted = uri(&f.client, QUERY);
    let pairing = f
        .bunker
        .admin()
        .accept_nostrconnect(&f.tenant, &f.user, &accepted, PairOptions::default(), 100)
        .unwrap();
    let user = f.bunker.directory().user(&f.tenant, &f.user).unwrap();
    let remote_signer = user.remote_signer_pubkey;

    let session = &pairing.session;
    assert_eq!(
        (session.remote_signer, session.client),
        (remote_signer, f.client.public_key())
    );
    assert_eq!(
        session.relays,
        ["wss://relay.example", "ws://127.0.0.1:7447"]
    );
    assert_eq!(
        session.metadata.as_ref().and_then(|m| m.name.as_deref()),
        Some("My App")
    );
    assert_eq!(session.perms, "sign_event:1");
    let live = f
        .bunker
        .sessions()
        .get(&remote_signer, &f.client.public_key())
        .expect("live session");
    assert_eq!(live.record, *session);
    let mut rows = 0;
    f.store
        .scan_prefix(Cf::Sessions, b"", &mut |_, _| {
            rows += 1;
            true
        })
        .unwrap();
    assert_eq!(rows, 1, "the session is in the store");

    let response = &pairing.response;
    response.verify().expect("signed");
    assert_eq!(response.kind, KIND_NOSTR_CONNECT);
    assert_eq!(
        response.pubkey, remote_signer,
        "authored by the remote signer"
    );
    assert_eq!(
        response.tags,
        vec![vec!["p".to_owned(), f.client.public_key().to_hex()]]
    );
    let conversation =
        nip44::ConversationKey::derive(&f.client.secret_key(), &remote_signer).unwrap();
    let plaintext = nip44::decrypt(&conversation, &response.content).unwrap();
    let reply: serde_json::Value = serde_json::from_str(&plaintext).unwrap();
    assert_eq!(reply["result"], "s3cr3t");
    assert!(reply["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(reply.get("error").is_none());
}

#[test]
fn a_uri_pairs_once_even_after_its_session_is_revoked() {
    let f = fixture();
    let admin = f.bunker.admin();
    let accepted = uri(&f.client, QUERY);
    admin
        .accept_nostrconnect(&f.tenant, &f.user, &accepted, PairOptions::default(), 100)
        .unwrap();
    let again =
        admin.accept_nostrconnect(&f.tenant, &f.user, &accepted, PairOptions::default(), 101);
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    // Another secret for a client that already has a session.
    let other = uri(&f.client, "relay=wss://relay.example&secret=other");
    let busy = admin.accept_nostrconnect(&f.tenant, &f.user, &other, PairOptions::default(), 102);
    assert!(matches!(busy, Err(Error::Conflict(_))), "{busy:?}");
    admin
        .revoke_sessions(&f.tenant, &f.user, Some(&f.client.public_key()))
        .unwrap();
    let replayed =
        admin.accept_nostrconnect(&f.tenant, &f.user, &accepted, PairOptions::default(), 103);
    assert!(
        matches!(replayed, Err(Error::Conflict(m)) if m.contains("already accepted")),
        "{replayed:?}"
    );
    // A new URI of the same client pairs again.
    admin
        .accept_nostrconnect(&f.tenant, &f.user, &other, PairOptions::default(), 104)
        .unwrap();
}

#[test]
fn the_older_form_without_a_secret_is_answered_ack() {
    let f = fixture();
    let legacy = uri(
        &f.client,
        "metadata=%7B%22name%22%3A%22Old%22%7D&relay=wss://relay.example",
    );
    let pairing = f
        .bunker
        .admin()
        .accept_nostrconnect(&f.tenant, &f.user, &legacy, PairOptions::default(), 100)
        .unwrap();
    let conversation =
        nip44::ConversationKey::derive(&f.client.secret_key(), &pairing.response.pubkey).unwrap();
    let plaintext = nip44::decrypt(&conversation, &pairing.response.content).unwrap();
    let reply: serde_json::Value = serde_json::from_str(&plaintext).unwrap();
    assert_eq!(reply["result"], "ack");
}

#[test]
fn refusals_write_nothing() {
    let f = fixture();
    let admin = f.bunker.admin();
    let accepted = uri(&f.client, QUERY);
    let no_perms = PairOptions {
        perms: Some("bogus".to_owned()),
        ..PairOptions::default()
    };
    let long = PairOptions {
        session_ttl_secs: Some(0),
        ..PairOptions::default()
    };
    for options in [no_perms, long] {
        let refused = admin.accept_nostrconnect(&f.tenant, &f.user, &accepted, options, 100);
        assert!(
            matches!(refused, Err(Error::InvalidInput(_))),
            "{refused:?}"
        );
    }
    let unknown =
        admin.accept_nostrconnect(&f.tenant, "nobody", &accepted, PairOptions::default(), 100);
    assert!(matches!(unknown, Err(Error::UserNotFound)), "{unknown:?}");
    let disable = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    admin.update_user(&f.tenant, &f.user, disable, 100).unwrap();
    let disabled =
        admin.accept_nostrconnect(&f.tenant, &f.user, &accepted, PairOptions::default(), 101);
    assert!(matches!(disabled, Err(Error::Conflict(_))), "{disabled:?}");
    for cf in [Cf::Sessions, Cf::Pairings] {
        let mut rows = 0;
        f.store
            .scan_prefix(cf, b"", &mut |_, _| {
                rows += 1;
                true
            })
            .unwrap();
        assert_eq!(rows, 0, "{cf:?}");
    }
    // The URI was never accepted: once the user is enabled again, it pairs.
    let enable = UserUpdate {
        disabled: Some(false),
        ..UserUpdate::default()
    };
    admin.update_user(&f.tenant, &f.user, enable, 102).unwrap();
    admin
        .accept_nostrconnect(&f.tenant, &f.user, &accepted, PairOptions::default(), 103)
        .unwrap();
}
