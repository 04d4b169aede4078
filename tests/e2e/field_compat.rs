//! What mainstream clients need from a default tenant, tried the way they behave: Coracle's
//! `connect` perms followed by a kind-1 note; the everyday kinds signed and the wallet kinds refused
//! naming the permission; a tenant set to `grant: "requested"`; policy changes reaching a live
//! session both ways; revocation, logout and expiry that stick (the consumed secret never comes
//! back); a client whose clock runs 30 s ahead and subscribes with `since: <its now>`; bunker URIs
//! with literal relay URLs (Amethyst); a NIP-05 document that advertises no key bunkerd does not
//! answer for; the legacy calls.

use crate::admin_policy::{assert_error_reply, tenant_policy, user_path, user_policy, Session};
use crate::support::raw::{pk, secret_of, RawClient, Transport, WAIT};
use crate::support::{TestServer, User};
use nostr_connect::prelude::{nip44, EventBuilder, Keys, Kind, NostrSigner as _, Tag, Timestamp};
use serde_json::{json, Value};

/// The perms Coracle and Flotilla send with `connect`, through welshman's `Nip46Broker`.
const COR_PERMS: &str = "sign_event:22242,nip04_encrypt,nip04_decrypt,nip44_encrypt,nip44_decrypt";

/// Kinds everyday clients sign: notes, profile, follows, reposts, reactions, deletions, DMs (seal,
/// gift wrap), relay lists, a NIP-51 list, relay AUTH, NIP-98, Blossom, long-form.
const EVERYDAY: [u16; 15] = [
    1, 0, 3, 6, 7, 5, 13, 1059, 10002, 10000, 10050, 22242, 27235, 24242, 30023,
];

/// Wallet kinds (NIP-47, NIP-60, NIP-61) that stay closed by default.
const WALLET: [u16; 4] = [23194, 13194, 17375, 9321];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coracles_connect_then_a_note_signs_on_a_default_tenant() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let mut coracle = Session::open(&server, &user, &user.bunker_uri, Some(COR_PERMS)).await;
    coracle.assert_signs(1).await;
    for kind in EVERYDAY {
        coracle.assert_signs(kind).await;
    }
    for kind in WALLET {
        coracle
            .assert_refused(kind, "kind closed by this user's policy")
            .await;
    }
    let sessions = server
        .admin()
        .get_ok(&format!("{}/sessions", user_path(&user)))
        .await;
    let session = &sessions["items"][0];
    assert_eq!(
        session["requested_perms"],
        "nip04_decrypt,nip04_encrypt,nip44_decrypt,nip44_encrypt,sign_event:22242"
    );
    assert_eq!(session["approved_perms"], Value::Null);
    assert!(
        session["perms"].as_str().unwrap().contains("sign_event"),
        "{session}"
    );
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_grants_only_what_was_requested_refuses_coracles_note() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let strict = admin
        .put_ok(&tenant_policy(&user), json!({"grant": "requested"}))
        .await;
    assert_eq!(strict["grant"], "requested");
    let mut coracle = Session::open(&server, &user, &user.bunker_uri, Some(COR_PERMS)).await;
    coracle.assert_signs(22242).await;
    coracle
        .assert_refused(1, "not granted to this session")
        .await;
    // Back to the default: the same session signs its note at its next request.
    admin.put_ok(&tenant_policy(&user), json!({})).await;
    coracle.assert_signs(1).await;
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_changes_reach_a_live_session_both_ways() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let mut session = Session::open(&server, &user, &user.bunker_uri, None).await;
    session.assert_signs(7).await;
    session.assert_refused(23194, "kind closed").await;
    // Narrowed: the very next request is refused.
    admin
        .put_ok(&user_policy(&user), json!({"deny_kinds": [7]}))
        .await;
    session.assert_refused(7, "kind closed").await;
    // Widened: 23194 opens and 7 signs again, at the next request, without a new connect.
    admin
        .put_ok(&user_policy(&user), json!({"deny_kinds": []}))
        .await;
    session.assert_signs(7).await;
    session.assert_signs(23194).await;
    server.server.stop().await;
}

/// A raw `connect` with `secret` from `client`; returns the reply.
async fn connect(client: &mut RawClient, user: &User, secret: &str) -> Value {
    let remote = pk(&user.remote_signer_pubkey);
    let params = vec![user.remote_signer_pubkey.clone(), secret.to_owned()];
    client
        .request(&remote, "connect", params, Transport::Nip44)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_logged_out_clients_cannot_return_with_their_secret() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let addr = server.server.relay_addr;
    let remote = pk(&user.remote_signer_pubkey);

    // Revoked by an admin: the client re-sends its stored secret (NDK's blockUntilReady does).
    let secret = secret_of(&user.bunker_uri);
    let mut revoked = RawClient::connect(addr).await;
    assert_eq!(connect(&mut revoked, &user, &secret).await["result"], "ack");
    assert_eq!(
        connect(&mut revoked, &user, &secret).await["result"],
        "ack",
        "a reconnect while the session lives is answered"
    );
    let client_hex = revoked.keys.public_key().to_hex();
    admin
        .delete_ok(&format!("{}/sessions/{client_hex}", user_path(&user)))
        .await;
    assert_error_reply(&connect(&mut revoked, &user, &secret).await, "already used");
    let after = revoked
        .request(&remote, "get_public_key", vec![], Transport::Nip44)
        .await;
    assert_error_reply(&after, "no session");

    // Logged out by itself.
    let secret = secret_of(&server.bunker_uri(&user).await);
    let mut leaving = RawClient::connect(addr).await;
    assert_eq!(connect(&mut leaving, &user, &secret).await["result"], "ack");
    let bye = leaving
        .request(&remote, "logout", vec![], Transport::Nip44)
        .await;
    assert_eq!(bye["result"], "ack");
    assert_error_reply(&connect(&mut leaving, &user, &secret).await, "already used");

    // A new URI lets it back in.
    let fresh = secret_of(&server.bunker_uri(&user).await);
    assert_eq!(connect(&mut leaving, &user, &fresh).await["result"], "ack");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_told_so_and_ended() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let uri = admin
        .post_ok(
            &format!("{}/bunker-uris", user_path(&user)),
            json!({"session_ttl_secs": 1}),
        )
        .await;
    let secret = secret_of(uri["bunker_uri"].as_str().unwrap());
    let mut client = RawClient::connect(server.server.relay_addr).await;
    assert_eq!(connect(&mut client, &user, &secret).await["result"], "ack");
    let sessions = admin
        .get_ok(&format!("{}/sessions", user_path(&user)))
        .await;
    // The session lives one second: wait for the clock to pass it.
    wait_until(sessions["items"][0]["expires_at"].as_u64().unwrap()).await;
    let remote = pk(&user.remote_signer_pubkey);
    let reply = client
        .request(&remote, "get_public_key", vec![], Transport::Nip44)
        .await;
    assert_eq!(reply["error"], "unauthorized: session expired", "{reply}");
    let sessions = admin
        .get_ok(&format!("{}/sessions", user_path(&user)))
        .await;
    assert_eq!(sessions["items"], json!([]), "the session ended");
    assert_error_reply(&connect(&mut client, &user, &secret).await, "already used");
    server.server.stop().await;
}

/// Waits (bounded) until the wall clock reaches `at`, Unix seconds: expiry is what is under test.
async fn wait_until(at: u64) {
    let deadline = std::time::Instant::now() + WAIT;
    while crate::admin_policy::now() < at {
        assert!(std::time::Instant::now() < deadline, "clock stuck");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_expiry_a_new_uri_connects_on_the_first_try() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    // The policy's TTL, this time: it applies to live sessions too.
    admin
        .put_ok(&user_policy(&user), json!({"session_ttl_secs": 1}))
        .await;
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let first = secret_of(&user.bunker_uri);
    assert_eq!(connect(&mut client, &user, &first).await["result"], "ack");
    let sessions = admin
        .get_ok(&format!("{}/sessions", user_path(&user)))
        .await;
    wait_until(sessions["items"][0]["expires_at"].as_u64().unwrap()).await;
    // The app keeps its client key and comes back with a new URI: its very first request connects.
    let fresh = secret_of(&server.bunker_uri(&user).await);
    assert_eq!(connect(&mut client, &user, &fresh).await["result"], "ack");
    admin.put_ok(&user_policy(&user), json!({})).await;
    let remote = pk(&user.remote_signer_pubkey);
    let me = client
        .request(&remote, "get_public_key", vec![], Transport::Nip44)
        .await;
    assert_eq!(me["result"], user.user_pubkey.as_str());
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_clock_runs_30_s_ahead_gets_its_reply() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let keys = Keys::generate();
    let mut client = RawClient::with_keys(server.server.relay_addr, keys.clone()).await;
    let ahead = Timestamp::from(Timestamp::now().as_secs() + 30);
    // go-nostr and nak subscribe from their own `now`.
    let me = keys.public_key().to_hex();
    let req = json!(["REQ", "ahead", {"kinds": [24133], "#p": [me], "since": ahead.as_secs()}]);
    client.send_text(&req.to_string()).await;
    client
        .next_matching(|v| v[0] == "EOSE" && v[1] == "ahead")
        .await;
    let secret = secret_of(&user.bunker_uri);
    let request = json!({"id": "ahead-1", "method": "connect",
        "params": [user.remote_signer_pubkey, secret]})
    .to_string();
    let content = nip44::encrypt(keys.secret_key(), &remote, &request, nip44::Version::V2).unwrap();
    let event = EventBuilder::new(Kind::NostrConnect, content)
        .tag(Tag::public_key(remote))
        .custom_created_at(ahead)
        .sign_with_keys(&keys)
        .unwrap();
    let (accepted, message) = client.publish(&event).await;
    assert!(accepted, "{message}");
    let reply = client
        .next_matching(|v| v[0] == "EVENT" && v[1] == "ahead")
        .await;
    let created_at = reply[2]["created_at"].as_u64().unwrap();
    assert!(created_at >= ahead.as_secs(), "{created_at} < {ahead}");
    let plaintext = keys
        .nip44_decrypt(&remote, reply[2]["content"].as_str().unwrap())
        .await
        .unwrap();
    let reply: Value = serde_json::from_str(&plaintext).unwrap();
    assert_eq!(reply, json!({"id": "ahead-1", "result": "ack"}));
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bunker_uris_carry_literal_relay_urls() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let relay = format!("ws://{}", server.server.relay_addr);
    assert!(
        user.bunker_uri.starts_with(&format!(
            "bunker://{}?relay={relay}&secret=",
            user.remote_signer_pubkey
        )),
        "Amethyst wants a literal relay URL: {}",
        user.bunker_uri
    );
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_calls_are_answered() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;
    assert_eq!(
        connect(&mut client, &user, &secret_of(&user.bunker_uri)).await["result"],
        "ack"
    );
    let relays = client
        .request(&remote, "get_relays", vec![], Transport::Nip44)
        .await;
    assert_eq!(relays["result"], "{}");
    let describe = client
        .request(&remote, "describe", vec![], Transport::Nip44)
        .await;
    let methods: Vec<String> = serde_json::from_str(describe["result"].as_str().unwrap()).unwrap();
    assert!(methods.contains(&"sign_event".to_owned()), "{methods:?}");
    let key = client
        .request(&remote, "nip44_get_key", vec![], Transport::Nip44)
        .await;
    assert_error_reply(&key, "not supported");
    let bye = client
        .request(&remote, "disconnect", vec![], Transport::Nip44)
        .await;
    assert_eq!(bye["result"], "ack");
    let after = client
        .request(&remote, "ping", vec![], Transport::Nip44)
        .await;
    assert_eq!(after["result"], "pong");
    let gone = client
        .request(&remote, "get_public_key", vec![], Transport::Nip44)
        .await;
    assert_error_reply(&gone, "no session");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_approved_perms_that_name_nothing_are_refused() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let path = format!("{}/bunker-uris", user_path(&user));
    // A typo, or nothing at all, would otherwise read as "no pre-approved perms".
    for perms in ["", "sign_events", "get_relays"] {
        let body = json!({ "perms": perms }).to_string();
        let (status, error) = admin.call("POST", &path, Some(&body)).await;
        assert_eq!(status, 400, "{perms:?}: {error}");
        assert_eq!(error["error"]["code"], "invalid_input", "{error}");
    }
    let body = json!({"perms": "sign_event:1", "session_ttl_secs": 0}).to_string();
    assert_eq!(admin.call("POST", &path, Some(&body)).await.0, 400);
    server.server.stop().await;
}
