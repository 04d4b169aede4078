//! Interop: rust-nostr's `nostr-connect` client, given a URI from the admin API, uses a key that
//! bunkerd holds: get_public_key, sign_event, NIP-44 and NIP-04 round trips with a third party, ping;
//! and it passes the client matrix (`support::matrix`); a request the relay refuses for the
//! tenant's rate fails at once.

use crate::support::matrix::{self, REFUSED_KIND};
use crate::support::raw::{pk, RawClient, Transport};
use crate::support::TestServer;
use nostr_connect::prelude::*;
use std::time::{Duration, Instant};

/// A client for `uri` with a fresh client keypair.
pub fn client(uri: &str) -> NostrConnect {
    let uri = NostrConnectURI::parse(uri).expect("bunker URI parses in rust-nostr");
    NostrConnect::new(uri, Keys::generate(), Duration::from_secs(15), None).expect("client")
}

/// Content with everything a canonical serializer can get wrong.
pub const TRICKY_CONTENT: &str =
    "gm 🤙🏽 \"quoted\" and 'single'\nsecond line\r\n\ttab \\ backslash / slash é ✓";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_connect_client_signs_encrypts_and_pings() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let signer = client(&user.bunker_uri);
    let third = Keys::generate();

    let user_pk = signer.get_public_key().await.expect("get_public_key");
    assert_eq!(user_pk.to_hex(), user.user_pubkey);
    assert_ne!(
        user.user_pubkey, user.remote_signer_pubkey,
        "user key differs from remote-signer key"
    );

    let unsigned = EventBuilder::text_note(TRICKY_CONTENT)
        .tags([
            Tag::hashtag("bunkerd"),
            Tag::public_key(third.public_key()),
            Tag::parse(["e", "", ""]).unwrap(),
        ])
        // An hour back: within the default policy's created_at bound (7 days), and not "now", so the
        // check below shows the signer kept it.
        .custom_created_at(Timestamp::from(Timestamp::now().as_secs() - 3600))
        .build(user_pk);
    let signed = signer
        .sign_event(unsigned.clone())
        .await
        .expect("sign_event");
    signed.verify().expect("signed event verifies");
    assert_eq!(signed.pubkey, user_pk);
    assert_eq!(signed.kind, unsigned.kind);
    assert_eq!(signed.content, unsigned.content);
    assert_eq!(signed.tags, unsigned.tags);
    assert_eq!(signed.created_at, unsigned.created_at);

    let to_third = signer
        .nip44_encrypt(&third.public_key(), "hello nip44 ✓")
        .await
        .unwrap();
    assert_eq!(
        nip44::decrypt(third.secret_key(), &user_pk, &to_third).unwrap(),
        "hello nip44 ✓"
    );
    let from_third = nip44::encrypt(
        third.secret_key(),
        &user_pk,
        "from third party",
        nip44::Version::V2,
    )
    .unwrap();
    assert_eq!(
        signer
            .nip44_decrypt(&third.public_key(), &from_third)
            .await
            .unwrap(),
        "from third party"
    );

    let to_third = signer
        .nip04_encrypt(&third.public_key(), "hello nip04")
        .await
        .unwrap();
    assert_eq!(
        nip04::decrypt(third.secret_key(), &user_pk, &to_third).unwrap(),
        "hello nip04"
    );
    let from_third = nip04::encrypt(third.secret_key(), &user_pk, "nip04 from third").unwrap();
    assert_eq!(
        signer
            .nip04_decrypt(&third.public_key(), &from_third)
            .await
            .unwrap(),
        "nip04 from third"
    );

    // nostr-connect has no ping; send it as the same client, by hand.
    let mut raw = RawClient::with_keys(server.server.relay_addr, signer.local_keys().clone()).await;
    let pong = raw
        .request(
            &pk(&user.remote_signer_pubkey),
            "ping",
            vec![],
            Transport::Nip44,
        )
        .await;
    assert_eq!(pong["result"], "pong");
    assert!(pong.get("error").is_none());

    signer.shutdown().await;
    server.server.stop().await;
}

/// The client matrix with nostr-connect, driven as rust-nostr apps drive a signer: `EventBuilder`s
/// signed with `.sign(&signer)` (which asks `get_public_key` first), and the `NostrSigner` NIP-44
/// calls. nostr-connect has no logout (no NIP-46 `logout` request at all), so the session stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_connect_passes_the_client_matrix() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let signer = client(&user.bunker_uri);
    let third = Keys::generate();

    // nostr-connect connects on its first call; `bunker_uri()` is the public call that does only that.
    signer.bunker_uri().await.expect("connect");
    let user_pk = signer.get_public_key().await.expect("get_public_key");
    assert_eq!(user_pk.to_hex(), user.user_pubkey);

    let profile = Metadata::new().name("alice").about("client matrix");
    let builders = [
        EventBuilder::text_note("hello from the bunkerd client matrix ✓"),
        EventBuilder::contact_list([Contact::new(third.public_key())]),
        EventBuilder::metadata(&profile),
    ];
    let mut failed = Vec::new();
    for (builder, kind) in builders.into_iter().zip(matrix::SIGNED_KINDS) {
        match builder.sign(&signer).await {
            Ok(event) => matrix::check_signed(&serde_json::json!(event), kind, &user),
            Err(e) => failed.push(format!("sign_kind_{kind}: {e}")),
        }
    }

    let to_third = signer
        .nip44_encrypt(&third.public_key(), "to the third party ✓")
        .await
        .expect("nip44_encrypt");
    assert_eq!(
        nip44::decrypt(third.secret_key(), &user_pk, &to_third).unwrap(),
        "to the third party ✓"
    );
    let from_third = nip44::encrypt(
        third.secret_key(),
        &user_pk,
        "from the third party ✓",
        nip44::Version::V2,
    )
    .unwrap();
    let plain = signer
        .nip44_decrypt(&third.public_key(), &from_third)
        .await
        .expect("nip44_decrypt");
    assert_eq!(plain, "from the third party ✓");

    let started = Instant::now();
    let refused = EventBuilder::new(Kind::from(REFUSED_KIND), r#"{"method":"pay_invoice"}"#)
        .sign(&signer)
        .await;
    let elapsed = started.elapsed();
    let error = refused
        .expect_err("a wallet request is refused")
        .to_string();
    matrix::assert_refused(&error, elapsed, Duration::ZERO);

    assert_eq!(matrix::sessions(&server, &user).await.len(), 1);
    assert!(
        failed.is_empty(),
        "nostr-connect failed steps:\n{}",
        failed.join("\n")
    );
    signer.shutdown().await;
    server.server.stop().await;
}

/// A request the relay refuses for the tenant's rate (before any signing) reaches rust-nostr as an
/// error reply carrying its id, so the client fails at once instead of waiting out its own
/// 15-second timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_request_fails_fast_instead_of_timing_out() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let signer = client(&user.bunker_uri);
    let user_pk = signer.get_public_key().await.expect("get_public_key");
    server
        .admin()
        .patch_ok(
            &format!("/v1/tenants/{}", user.tenant),
            serde_json::json!({"limits": {"requests_per_sec": 1, "burst": 1}}),
        )
        .await;
    // One token a second: within a few back-to-back requests the relay refuses one.
    let mut refused = None;
    for i in 0..5 {
        let note = EventBuilder::text_note(format!("note {i}")).build(user_pk);
        let started = Instant::now();
        if let Err(e) = signer.sign_event(note).await {
            refused = Some((e.to_string(), started.elapsed()));
            break;
        }
    }
    let (error, elapsed) = refused.expect("one of five back-to-back requests is rate-limited");
    assert!(error.contains("rate-limited"), "{error}");
    assert!(
        elapsed < Duration::from_secs(2),
        "surfaced after {elapsed:?}, not the client's 15 s timeout"
    );
    server.server.stop().await;
}
