//! Client-initiated pairing (`nostrconnect://`, NIP-46): real clients show a URI, an admin hands
//! it to bunkerd, and the client is answered and served on the relays it named — bunkerd's own, or
//! a foreign relay (rust-nostr's `nostr-relay-builder` as its own process,
//! [`crate::support::foreign`]). Both clients: nostr-tools' `BunkerSigner.fromURI`
//! (`tests/node/nostrconnect_client.mjs`) and rust-nostr's `nostr-connect` in client mode.

use crate::metrics::{scrape, value};
use crate::support::foreign::ForeignRelay;
use crate::support::node::Steered;
use crate::support::raw::{pk, RawClient, Transport};
use crate::support::{TestServer, User};
use nostr_connect::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Each step's bound: pairing includes the client's own relay handshakes and, after a relay
/// restart, nostr-tools' reconnect (10 s) and bunkerd's ([`relay::foreign`]: under 2 s after a
/// short outage).
const STEP: Duration = Duration::from_secs(40);

/// Pairs `user` with the client of `uri` through the admin API; returns the session it answers.
pub async fn accept(server: &TestServer, user: &User, uri: &str) -> Value {
    let path = format!("/v1/tenants/{}/users/{}/nostrconnect", user.tenant, user.id);
    let (status, body) = server
        .admin()
        .call("POST", &path, Some(&json!({ "uri": uri }).to_string()))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// The user's sessions, as the admin API lists them.
async fn sessions(server: &TestServer, user: &User) -> Vec<Value> {
    let path = format!("/v1/tenants/{}/users/{}/sessions", user.tenant, user.id);
    let page = server.admin().get_ok(&path).await;
    page["items"].as_array().cloned().unwrap_or_default()
}

/// Starts nostr-tools' client on `relays`; returns it with the URI it shows.
pub async fn nostr_tools(relays: &[&str], env: Vec<(&'static str, String)>) -> (Steered, String) {
    let mut args = vec!["nostrconnect_client.mjs".to_owned()];
    args.extend(relays.iter().map(|r| (*r).to_owned()));
    let mut client = Steered::start(args, env).await;
    let shown = client.next(STEP).await;
    let uri = shown["uri"]
        .as_str()
        .expect("the client shows a URI")
        .to_owned();
    (client, uri)
}

/// Asks the client for a signed note; asserts it is the user's. Returns the note's `created_at`
/// (the second its response is dated).
async fn signs(client: &mut Steered, user: &User, when: &str) -> u64 {
    client.send("sign");
    let signed = loop {
        let line = client.next(STEP).await;
        assert!(line.get("error").is_none(), "{when}: {line}");
        if line.get("signed").is_some() {
            break line;
        }
    };
    assert_eq!(signed["user_pubkey"], user.user_pubkey.as_str(), "{when}");
    assert_eq!(
        signed["signed"]["pubkey"],
        user.user_pubkey.as_str(),
        "{when}"
    );
    signed["signed"]["created_at"].as_u64().expect("created_at")
}

/// Waits until the clock is past second `last`. nostr-tools re-subscribes after a reconnect with
/// `since` = its last event's `created_at` + 1, so a response dated in that same second would be
/// filtered out by the relay: a real client's quirk, kept out of what this test measures.
async fn past_second(last: u64) {
    while ::relay::dispatch::unix_now() <= last {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until bunkerd has dialled its foreign relay again at least `reconnects` times and is
/// subscribed there (`bunkerd_foreign_relays{state="connected"}`): a request a client publishes
/// before then is an ephemeral event no relay keeps for bunkerd.
async fn wait_linked(server: &TestServer, reconnects: f64) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let scraped = scrape(server).await;
        let linked = value(
            &scraped,
            "bunkerd_foreign_relays",
            &[("state", "connected")],
        );
        let dialled = value(&scraped, "bunkerd_foreign_relay_reconnects_total", &[]);
        if linked == 1.0 && dialled >= reconnects {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not linked: {linked} connected, {dialled} reconnects"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Requests read from foreign relays so far.
async fn foreign_in(server: &TestServer) -> f64 {
    value(
        &scrape(server).await,
        "bunkerd_foreign_relay_events_total",
        &[("direction", "in")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_tools_pairs_through_bunkerds_own_relay() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let own = server.relay_url();
    let (mut client, uri) = nostr_tools(&[&own], vec![]).await;
    let session = accept(&server, &user, &uri).await;
    assert_eq!(session["metadata"]["name"], "nostr-tools e2e", "{session}");
    let (paired, _) = client.next_with("paired", STEP).await;
    assert_eq!(paired["remote_signer"], user.remote_signer_pubkey.as_str());
    signs(&mut client, &user, "on bunkerd's relay").await;
    let listed = sessions(&server, &user).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["client_pubkey"], session["client_pubkey"]);
    assert_eq!(listed[0]["metadata"]["name"], "nostr-tools e2e");
    assert_eq!(listed[0]["relays"], json!([own]), "{listed:?}");
    assert_eq!(foreign_in(&server).await, 0.0, "no foreign relay was used");
    client.send("quit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_tools_pairs_through_a_foreign_relay_and_follows_switch_relays() {
    let relay = ForeignRelay::start(false);
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let (mut client, uri) = nostr_tools(&[&relay.url], vec![]).await;
    let session = accept(&server, &user, &uri).await;
    assert_eq!(session["relays"], json!([relay.url]), "{session}");
    let (paired, _) = client.next_with("paired", STEP).await;
    assert_eq!(paired["remote_signer"], user.remote_signer_pubkey.as_str());
    // fromURI asked `switch_relays` (on the foreign relay) and moved to bunkerd's own relay.
    assert_eq!(paired["relays"], json!([server.relay_url()]), "{paired}");
    assert!(
        foreign_in(&server).await >= 1.0,
        "switch_relays came in over the link"
    );
    signs(&mut client, &user, "after switch_relays").await;
    // Its next request came to bunkerd's own listener: the session moved there.
    let listed = sessions(&server, &user).await;
    assert_eq!(
        listed[0]["relays"],
        json!([server.relay_url()]),
        "{listed:?}"
    );
    client.send("quit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_on_a_foreign_relay_survives_relay_and_bunkerd_restarts() {
    let mut relay = ForeignRelay::start(false);
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let env = vec![("SKIP_SWITCH", "1".to_owned())];
    let (mut client, uri) = nostr_tools(&[&relay.url], env).await;
    accept(&server, &user, &uri).await;
    client.next_with("paired", STEP).await;
    let last = signs(&mut client, &user, "on the foreign relay").await;
    let served = foreign_in(&server).await;
    assert!(
        served >= 2.0,
        "get_public_key and sign_event came over the link: {served}"
    );

    relay.restart();
    wait_linked(&server, 1.0).await;
    past_second(last).await;
    signs(&mut client, &user, "after the foreign relay restarted").await;
    assert!(foreign_in(&server).await > served);

    let (dir, _tmp, addr) = server.stop().await;
    let server = TestServer::start_in(&dir, addr).await;
    wait_linked(&server, 0.0).await;
    signs(&mut client, &user, "after bunkerd restarted").await;
    assert!(
        foreign_in(&server).await >= 1.0,
        "the restarted bunkerd re-dialled the relay"
    );
    let listed = sessions(&server, &user).await;
    assert_eq!(listed[0]["relays"], json!([relay.url]), "{listed:?}");
    client.send("quit");
}

/// nostr-tools' `BunkerSigner` cannot answer a relay's NIP-42 challenge (it passes no `onauth`),
/// so this client is raw: it writes its request to the relay (writing needs no AUTH there) and
/// reads the reply on bunkerd's own relay, where every response is also delivered. bunkerd could
/// only have read the request by authenticating its subscription with the remote-signer key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bunkerd_authenticates_to_a_relay_that_requires_nip42() {
    let relay = ForeignRelay::start(true);
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let keys = Keys::generate();
    let uri = format!(
        "nostrconnect://{}?relay={}&secret=auth-test",
        keys.public_key().to_hex(),
        relay.url
    );
    accept(&server, &user, &uri).await;
    // Subscribed there only after answering the relay's challenge.
    wait_linked(&server, 0.0).await;
    let relay_addr = relay.url.trim_start_matches("ws://").parse().unwrap();
    answered_over(&server, &user, keys, relay_addr, "over-auth").await;
    assert!(foreign_in(&server).await >= 1.0);
}

/// A raw client with `keys` writes `get_public_key` (id `id`) to the relay at `relay_addr` (plain
/// websocket) and reads the reply on bunkerd's own relay, where every response is also delivered:
/// bunkerd answered it only if its link to that relay read it.
async fn answered_over(
    server: &TestServer,
    user: &User,
    keys: Keys,
    relay_addr: std::net::SocketAddr,
    id: &str,
) {
    let mut listener = RawClient::with_keys(server.server.relay_addr, keys.clone()).await;
    listener.subscribe().await;
    let mut writer = RawClient::with_keys(relay_addr, keys).await;
    let remote = pk(&user.remote_signer_pubkey);
    let request = json!({"id": id, "method": "get_public_key", "params": []});
    let event = writer.request_event(&remote, &request.to_string(), Transport::Nip44);
    let (accepted, message) = writer.publish(&event).await;
    assert!(accepted, "{message}");
    let message = listener
        .next_matching(|v| v[0] == "EVENT" && v[1] == "replies")
        .await;
    let reply = listener.open_reply(&remote, &message, Transport::Nip44);
    assert_eq!(reply["id"], id);
    assert_eq!(reply["result"], user.user_pubkey.as_str());
}

/// A `wss://` foreign relay is reached through rustls, trusting the CA of
/// `foreign_relays_ca_file` (and only it: without it, the same relay is never linked). The client
/// is raw, as in the NIP-42 test: it writes to the relay's plain port and reads the reply on
/// bunkerd's own relay; bunkerd can only have read the request through its TLS link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_relay_is_served_over_tls_with_the_configured_ca() {
    let relay = ForeignRelay::start(false);
    let plain: std::net::SocketAddr = relay.url.trim_start_matches("ws://").parse().unwrap();
    let front = crate::support::tls::TlsFront::start(plain).await;
    let wss = format!("wss://localhost:{}", front.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &front.ca_pem).unwrap();

    // Without the CA, the certificate is refused: dials fail and the link never connects.
    let untrusting = TestServer::start().await;
    let stranger = untrusting.provision(None).await;
    let uri = format!(
        "nostrconnect://{}?relay={wss}&secret=tls",
        Keys::generate().public_key().to_hex()
    );
    accept(&untrusting, &stranger, &uri).await;
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let scraped = scrape(&untrusting).await;
        let dials = value(&scraped, "bunkerd_foreign_relay_reconnects_total", &[]);
        let linked = value(
            &scraped,
            "bunkerd_foreign_relays",
            &[("state", "connected")],
        );
        assert_eq!(linked, 0.0, "linked without trusting the certificate");
        if dials >= 2.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no dial failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let server = TestServer::start_with(|c| c.foreign.ca_file = Some(ca_file.clone())).await;
    let user = server.provision(None).await;
    let keys = Keys::generate();
    let uri = format!(
        "nostrconnect://{}?relay={wss}&secret=tls",
        keys.public_key().to_hex()
    );
    accept(&server, &user, &uri).await;
    wait_linked(&server, 0.0).await;
    answered_over(&server, &user, keys, plain, "over-tls").await;
}

/// rust-nostr's client mode (0.44: the older `metadata=` URI without a secret, answered `"ack"`).
async fn rust_nostr_pairs_on(server: &TestServer, user: &User, relay: &str) {
    let keys = Keys::generate();
    let relays = [RelayUrl::parse(relay).unwrap()];
    let uri = NostrConnectURI::client(keys.public_key(), relays, "rust-nostr e2e");
    let signer = NostrConnect::new(uri.clone(), keys, STEP, None).expect("client");
    // The client subscribes on its first request and waits for the connect response.
    let asked = tokio::spawn(async move {
        let pubkey = signer.get_public_key().await;
        (signer, pubkey)
    });
    let session = accept(server, user, &uri.to_string()).await;
    assert_eq!(session["metadata"]["name"], "rust-nostr e2e");
    let (signer, pubkey) = asked.await.unwrap();
    assert_eq!(pubkey.expect("get_public_key").to_hex(), user.user_pubkey);
    let note = EventBuilder::text_note("signed through nostrconnect")
        .build(PublicKey::parse(&user.user_pubkey).unwrap());
    let signed = signer.sign_event(note).await.expect("sign_event");
    signed.verify().expect("the signed note verifies");
    signer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_nostr_pairs_through_bunkerds_relay_and_a_foreign_one() {
    let relay = ForeignRelay::start(false);
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    rust_nostr_pairs_on(&server, &user, &server.relay_url()).await;
    let before = foreign_in(&server).await;
    rust_nostr_pairs_on(&server, &user, &relay.url).await;
    assert!(foreign_in(&server).await >= before + 2.0);
    let listed = sessions(&server, &user).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().any(|s| s["relays"] == json!([relay.url])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uris_and_replays_are_refused_naming_the_bad_part() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let path = format!("/v1/tenants/{}/users/{}/nostrconnect", user.tenant, user.id);
    let client = "a".repeat(64);
    let relay = "wss%3A%2F%2Frelay.example";
    let cases = [
        (
            format!("bunker://{client}?relay={relay}&secret=s"),
            "uri_scheme",
        ),
        (
            format!("nostrconnect://zz?relay={relay}&secret=s"),
            "uri_client_pubkey",
        ),
        (
            format!("nostrconnect://{client}?relay={relay}"),
            "uri_missing_secret",
        ),
        (
            format!("nostrconnect://{client}?secret=s"),
            "uri_missing_relay",
        ),
        (
            format!("nostrconnect://{client}?relay=https%3A%2F%2Fx&secret=s"),
            "uri_relay",
        ),
        (
            format!(
                "nostrconnect://{client}?secret=s{}",
                (0..9)
                    .map(|i| format!("&relay=wss%3A%2F%2Fr{i}.example"))
                    .collect::<String>()
            ),
            "uri_too_many_relays",
        ),
    ];
    for (uri, code) in cases {
        let (status, body) = server
            .admin()
            .call("POST", &path, Some(&json!({ "uri": uri }).to_string()))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{uri}: {body}"
        );
    }
    assert!(sessions(&server, &user).await.is_empty());

    // A valid URI pairs once.
    let keys = Keys::generate();
    let uri = format!(
        "nostrconnect://{}?relay={}&secret=once",
        keys.public_key().to_hex(),
        server.relay_url()
    );
    accept(&server, &user, &uri).await;
    let (status, body) = server
        .admin()
        .call("POST", &path, Some(&json!({ "uri": uri }).to_string()))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_relay_bounds_refuse_with_a_clear_error_and_a_counted_metric() {
    let server = TestServer::start_with(|c| {
        c.foreign.max_relays_per_tenant = 1;
        c.foreign.allow_private = false;
    })
    .await;
    let user = server.provision(None).await;
    let path = format!("/v1/tenants/{}/users/{}/nostrconnect", user.tenant, user.id);
    let pairing = |relays: &[&str]| {
        let relays: String = relays.iter().map(|r| format!("&relay={r}")).collect();
        let client = Keys::generate().public_key().to_hex();
        json!({ "uri": format!("nostrconnect://{client}?secret=s{relays}") }).to_string()
    };
    let refused = |s: &str, reason: &str| {
        value(
            s,
            "bunkerd_foreign_relay_refusals_total",
            &[("reason", reason)],
        )
    };
    let before = scrape(&server).await;

    let body = pairing(&["wss://relay-a.example", "wss://relay-b.example"]);
    let (status, answer) = server.admin().call("POST", &path, Some(&body)).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["error"]["code"], "foreign_relays_per_tenant",
        "{answer}"
    );
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("foreign_relays_per_tenant"));

    let body = pairing(&["ws://127.0.0.1:9"]);
    let (status, answer) = server.admin().call("POST", &path, Some(&body)).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "foreign_relay_private", "{answer}");

    let after = scrape(&server).await;
    assert_eq!(
        refused(&after, "foreign_relays_per_tenant")
            - refused(&before, "foreign_relays_per_tenant"),
        1.0
    );
    assert_eq!(
        refused(&after, "foreign_relay_private") - refused(&before, "foreign_relay_private"),
        1.0
    );
    // Nothing was created by a refusal.
    assert!(sessions(&server, &user).await.is_empty());
}
