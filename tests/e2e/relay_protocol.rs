//! The NIP-01/NIP-11 behaviour clients depend on: OK for every EVENT with the
//! standard prefixes, EOSE for every REQ, pongs, duplicates, retention for late subscribers.

use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::TestServer;
use nostr_connect::prelude::{EventBuilder, JsonUtil, Keys, Kind, Tag, Timestamp};
use serde_json::{json, Value};

async fn ok_for(client: &mut RawClient, event_json: &Value) -> (bool, String) {
    client
        .send_text(&json!(["EVENT", event_json]).to_string())
        .await;
    let id = event_json["id"].as_str().unwrap().to_owned();
    let ok = client
        .next_matching(|v| v[0] == "OK" && v[1] == id.as_str())
        .await;
    (ok[2].as_bool().unwrap(), ok[3].as_str().unwrap().to_owned())
}

#[track_caller]
fn check_refused(result: &(bool, String), prefix: &str) {
    assert!(!result.0, "expected OK false, got {result:?}");
    assert!(
        result.1.starts_with(prefix),
        "expected prefix {prefix:?}, got {:?}",
        result.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_refused_with_standard_prefixes() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;

    let note = EventBuilder::text_note("not for a bunker")
        .sign_with_keys(&client.keys)
        .unwrap();
    check_refused(
        &ok_for(&mut client, &serde_json::to_value(&note).unwrap()).await,
        "blocked:",
    );

    let good = client.request_event(
        &remote,
        r#"{"id":"1","method":"ping","params":[]}"#,
        Transport::Nip44,
    );
    let mut bad_sig = serde_json::to_value(&good).unwrap();
    let sig = bad_sig["sig"].as_str().unwrap();
    let first = if sig.starts_with('0') { '1' } else { '0' };
    let flipped = format!("{first}{}", &sig[1..]);
    bad_sig["sig"] = flipped.into();
    check_refused(&ok_for(&mut client, &bad_sig).await, "invalid:");

    let mut bad_id = serde_json::to_value(&good).unwrap();
    bad_id["content"] = "tampered".into();
    check_refused(&ok_for(&mut client, &bad_id).await, "invalid:");

    let stranger = Keys::generate().public_key();
    let unknown = client.request_event(
        &stranger,
        r#"{"id":"1","method":"ping","params":[]}"#,
        Transport::Nip44,
    );
    check_refused(
        &ok_for(&mut client, &serde_json::to_value(&unknown).unwrap()).await,
        "blocked:",
    );

    let stale = EventBuilder::new(Kind::NostrConnect, "x")
        .tag(Tag::public_key(remote))
        .custom_created_at(Timestamp::from(Timestamp::now().as_secs() - 3600))
        .sign_with_keys(&client.keys)
        .unwrap();
    check_refused(
        &ok_for(&mut client, &serde_json::to_value(&stale).unwrap()).await,
        "invalid:",
    );

    let garbage = EventBuilder::new(Kind::NostrConnect, "bm90IGEgbmlwNDQgcGF5bG9hZA==")
        .tag(Tag::public_key(remote))
        .sign_with_keys(&client.keys)
        .unwrap();
    check_refused(
        &ok_for(&mut client, &serde_json::to_value(&garbage).unwrap()).await,
        "invalid:",
    );

    // A malformed event with a readable id still gets an OK naming it.
    let malformed = json!({"id": "ab".repeat(32), "kind": "nope"});
    check_refused(&ok_for(&mut client, &malformed).await, "invalid:");

    // Accepted once, then reported as a duplicate (OK true, NIP-01).
    assert!(client.publish(&good).await.0);
    let dup = client.publish(&good).await;
    assert!(dup.0 && dup.1.starts_with("duplicate:"), "{dup:?}");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_req_gets_eose_or_closed() {
    let server = TestServer::start().await;
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let me = client.keys.public_key().to_hex();
    let probes = [
        json!(["REQ", "probe", {"ids": ["a".repeat(64)], "limit": 0}]),
        json!(["REQ", "empty", {}]),
        json!(["REQ", "notes", {"kinds": [1], "limit": 10}]),
        json!(["REQ", "mine", {"kinds": [24133], "#p": [me], "since": 0}]),
        json!(["REQ", "two", {"kinds": [1]}, {"authors": [me]}]),
    ];
    for req in &probes {
        client.send_text(&req.to_string()).await;
        let sub = req[1].as_str().unwrap().to_owned();
        let reply = client.next_matching(|v| v[1] == sub.as_str()).await;
        assert_eq!(reply[0], "EOSE", "REQ {req} → {reply}");
    }
    client
        .send_text(&json!(["REQ", "bad", {"#p": ["not-hex"]}]).to_string())
        .await;
    let closed = client.next_matching(|v| v[1] == "bad").await;
    assert_eq!(closed[0], "CLOSED");
    assert!(closed[2].as_str().unwrap().starts_with("invalid:"));
    client
        .send_text(&json!(["CLOSE", "mine"]).to_string())
        .await;
    client.send_text("not json").await;
    let notice = client.next_matching(|v| v[0] == "NOTICE").await;
    assert!(notice[1].as_str().unwrap().starts_with("invalid:"));
    assert_eq!(client.ping_frame(b"are you there").await, b"are you there");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_subscriber_still_gets_its_response() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let request =
        json!({"id": "late-1", "method": "connect", "params": ["", secret_of(&user.bunker_uri)]});
    let event = client.request_event(&remote, &request.to_string(), Transport::Nip44);
    assert!(
        client.publish(&event).await.0,
        "accepted before anyone subscribed"
    );
    // Reconnect (a new socket) and subscribe with `since`: the retained response arrives before EOSE.
    let mut again = RawClient::with_keys(server.server.relay_addr, client.keys.clone()).await;
    let me = again.keys.public_key().to_hex();
    let since = Timestamp::now().as_secs() - 60;
    again
        .send_text(&json!(["REQ", "r", {"kinds": [24133], "#p": [me], "since": since}]).to_string())
        .await;
    let first = again.next().await;
    assert_eq!(first[0], "EVENT", "retained response first, got {first}");
    let eose = again.next().await;
    assert_eq!(eose[0], "EOSE");
    let response = nostr_connect::prelude::Event::from_json(first[2].to_string()).unwrap();
    response.verify().unwrap();
    assert_eq!(response.pubkey, remote);
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nip11_document_and_single_endpoint() {
    let server = TestServer::start().await;
    let addr = server.server.relay_addr;
    let (status, headers, body) = http_get(addr, "/", Some("application/nostr+json")).await;
    assert_eq!(status, 200);
    assert!(
        headers.contains("access-control-allow-origin: *"),
        "{headers}"
    );
    let doc: Value = serde_json::from_str(&body).unwrap();
    let nips: Vec<u64> = serde_json::from_value(doc["supported_nips"].clone()).unwrap();
    assert!(nips.contains(&1) && nips.contains(&11), "{doc}");
    assert_eq!(doc["limitation"]["restricted_writes"], true);
    assert!(doc["limitation"]["max_message_length"].as_u64().unwrap() >= 65_536);
    assert!(doc["software"].is_string() && doc["version"].is_string());
    let (status, _, _) = http_get(addr, "/some/other/path", None).await;
    assert_eq!(status, 404);
    server.server.stop().await;
}

/// A plain HTTP/1.1 GET; returns (status, lower-cased header block, body).
async fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_messages_are_joined_and_capped_in_total() {
    let server = TestServer::start().await;
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let req = json!(["REQ", "frag", {"kinds": [24133], "#p": ["a".repeat(64)], "limit": 0}]);
    client.send_fragmented(req.to_string().as_bytes(), 3).await;
    assert_eq!(client.next().await, json!(["EOSE", "frag"]));
    // 192 KiB in 64 KiB frames: each frame is under the cap, the message is not.
    let big = format!(r#"["REQ","x",{{"search":"{}"}}]"#, "y".repeat(192 * 1024));
    client.send_fragmented(big.as_bytes(), 3).await;
    assert_eq!(client.close_code().await, 1009, "message too big");
    server.server.stop().await;
}
