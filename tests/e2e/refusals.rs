//! NIP-46's error paths: every failure is an error reply carrying the
//! request id (never silence), and replies use the request's transport scheme.

use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::TestServer;
use serde_json::Value;

/// Asserts an error reply: non-empty `error`, no `result`, and the error text contains `needle`.
#[track_caller]
fn check_error(reply: &Value, needle: &str) {
    let error = reply["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "expected an error reply, got {reply}");
    assert!(
        reply.get("result").is_none(),
        "error replies carry no result: {reply}"
    );
    assert!(
        error.contains(needle),
        "error {error:?} should mention {needle:?}"
    );
}

fn connect_params(remote: &str, secret: &str) -> Vec<String> {
    vec![remote.to_owned(), secret.to_owned()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumed_wrong_and_missing_secrets_are_refused_with_error_replies() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let secret = secret_of(&user.bunker_uri);
    let addr = server.server.relay_addr;

    let mut first = RawClient::connect(addr).await;
    let ok = first
        .request(
            &remote,
            "connect",
            connect_params(&user.remote_signer_pubkey, &secret),
            Transport::Nip44,
        )
        .await;
    assert_eq!(ok["result"], "ack", "flow A replies ack, never the secret");
    // The same client may connect again while its session lives (clients do after a reload).
    let again = first
        .request(
            &remote,
            "connect",
            connect_params("", &secret),
            Transport::Nip44,
        )
        .await;
    assert_eq!(again["result"], "ack");

    let mut second = RawClient::connect(addr).await;
    let reused = second
        .request(
            &remote,
            "connect",
            connect_params(&user.remote_signer_pubkey, &secret),
            Transport::Nip44,
        )
        .await;
    check_error(&reused, "already used");

    let wrong = second
        .request(
            &remote,
            "connect",
            connect_params("", &"ab".repeat(32)),
            Transport::Nip44,
        )
        .await;
    check_error(&wrong, "invalid secret");
    let missing = second
        .request(&remote, "connect", vec![], Transport::Nip44)
        .await;
    check_error(&missing, "secret");

    let template = r#"{"kind":1,"content":"hi","tags":[],"created_at":1700000000}"#.to_owned();
    let unconnected = second
        .request(&remote, "sign_event", vec![template], Transport::Nip44)
        .await;
    check_error(&unconnected, "no session");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_for_one_user_does_not_connect_to_another() {
    let server = TestServer::start().await;
    let alice = server.provision(None).await;
    let bob = server.provision_in(&alice.tenant, None).await;
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let reply = client
        .request(
            &pk(&bob.remote_signer_pubkey),
            "connect",
            connect_params("", &secret_of(&alice.bunker_uri)),
            Transport::Nip44,
        )
        .await;
    check_error(&reply, "invalid secret");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_and_unknown_methods_get_error_replies() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let connect = connect_params("", &secret_of(&user.bunker_uri));
    assert_eq!(
        client
            .request(&remote, "connect", connect, Transport::Nip44)
            .await["result"],
        "ack"
    );
    // `get_relays`, `describe` and `disconnect` are answered (field_compat.rs).
    for method in ["create_account", "nip44_get_key"] {
        check_error(
            &client
                .request(&remote, method, vec![], Transport::Nip44)
                .await,
            "not supported",
        );
    }
    check_error(
        &client
            .request(&remote, "frobnicate", vec![], Transport::Nip44)
            .await,
        "unknown method",
    );
    check_error(
        &client
            .request(
                &remote,
                "nip44_encrypt",
                vec!["not-a-key".into(), "x".into()],
                Transport::Nip44,
            )
            .await,
        "invalid params",
    );
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nip04_transport_switch_relays_and_logout() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;
    // A NIP-04 request gets a NIP-04 reply (checked inside `request`).
    let connect = connect_params("", &secret_of(&user.bunker_uri));
    assert_eq!(
        client
            .request(&remote, "connect", connect, Transport::Nip04)
            .await["result"],
        "ack"
    );
    let key = client
        .request(&remote, "get_public_key", vec![], Transport::Nip04)
        .await;
    assert_eq!(key["result"], user.user_pubkey.as_str());
    let template = serde_json::json!({"kind": 1, "content": "object param", "tags": [["t", "x"]]});
    // Some clients send the template as an object, not a string; created_at is then filled.
    let id = format!("obj-{}", std::process::id());
    let request =
        serde_json::json!({"id": id, "method": "sign_event", "params": [template]}).to_string();
    let event = client.request_event(&remote, &request, Transport::Nip44);
    assert!(client.publish(&event).await.0);
    let reply = client.next_matching(|v| v[0] == "EVENT").await;
    let content = reply[2]["content"].as_str().unwrap().to_owned();
    let plain = nostr_connect::prelude::nip44::decrypt(client.keys.secret_key(), &remote, &content)
        .unwrap();
    let reply: Value = serde_json::from_str(&plain).unwrap();
    let signed: Value = serde_json::from_str(reply["result"].as_str().unwrap()).unwrap();
    assert_eq!(signed["content"], "object param");
    assert!(signed["created_at"].as_u64().unwrap() > 1_700_000_000);

    let relays = client
        .request(&remote, "switch_relays", vec![], Transport::Nip44)
        .await;
    let list: Vec<String> = serde_json::from_str(relays["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        list,
        vec![server.relay_url()],
        "switch_relays answers our non-empty relay list"
    );

    assert_eq!(
        client
            .request(&remote, "logout", vec![], Transport::Nip44)
            .await["result"],
        "ack"
    );
    check_error(
        &client
            .request(&remote, "get_public_key", vec![], Transport::Nip44)
            .await,
        "no session",
    );
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_connect_client_with_a_consumed_secret_gets_the_error() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let first = crate::rust_nostr::client(&user.bunker_uri);
    use nostr_connect::prelude::NostrSigner;
    first.get_public_key().await.expect("first client connects");
    let second = crate::rust_nostr::client(&user.bunker_uri);
    let err = second
        .get_public_key()
        .await
        .expect_err("second client is refused");
    assert!(err.to_string().contains("already used"), "{err}");
    first.shutdown().await;
    second.shutdown().await;
    server.server.stop().await;
}
