//! Interop: nostr-tools' `BunkerSigner`, run by the machine's Node, uses a key that bunkerd
//! holds, and passes the client matrix (`support::matrix`). The suite installs the pinned npm
//! packages itself (`npm ci` in `tests/node`, `support::node`).

use crate::support::matrix::{self, Expect};
use crate::support::{node, TestServer};
use nostr_connect::prelude::{Event, JsonUtil, Keys};
use serde_json::Value;
use std::time::Duration;

/// Runs `node bunker_client.mjs args…` with `env`, returning its one JSON line and exit status (the
/// harness gives up by itself after 20 s).
pub async fn run_node(args: Vec<String>, env: Vec<(&'static str, String)>) -> (Value, i32) {
    let mut full = vec!["bunker_client.mjs".to_owned()];
    full.extend(args);
    node::run(full, env, Duration::from_secs(60)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_tools_bunker_signer_round_trips() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let third = Keys::generate();
    let (out, status) = run_node(
        vec![user.bunker_uri.clone(), third.secret_key().to_secret_hex()],
        vec![],
    )
    .await;
    assert_eq!(out["ok"], true, "nostr-tools run failed: {out}");
    assert_eq!(status, 0);
    assert_eq!(out["user_pubkey"], user.user_pubkey.as_str());
    assert_eq!(out["ping"], "pong");
    assert_eq!(out["nip44_roundtrip"], true);
    assert_eq!(out["nip04_roundtrip"], true);
    // Verify the signed event independently of nostr-tools, with rust-nostr.
    let event = Event::from_json(out["signed_event"].to_string()).expect("event parses");
    event.verify().expect("event verifies in rust-nostr");
    assert_eq!(event.pubkey.to_hex(), user.user_pubkey);
    server.server.stop().await;
}

/// The client matrix with nostr-tools (`bunker_client.mjs --matrix`): the one Node client with a
/// `logout`, after which the admin API lists no session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_tools_passes_the_client_matrix() {
    let expect = Expect {
        logout: true,
        error_hold: Duration::ZERO,
    };
    matrix::run_node_client(&["bunker_client.mjs", "--matrix"], expect).await;
}

/// Once connected, the app signs notes back to back while its tenant allows one request a second:
/// the one the relay refuses rejects `signEvent` with the relay's `rate-limited` text within 2 s.
/// nostr-tools needs no reply for that: its publish already fails on the relay's `OK false` ("All
/// promises were rejected: rate-limited: …"). bunkerd's error reply carrying the request id must
/// still reach the socket within 2 s, as it does for NDK, which depends on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_tools_fails_fast_on_a_rate_limited_request() {
    matrix::run_rate_limited(&["bunker_client.mjs", "--matrix"], Duration::ZERO).await;
}
