//! Interop: NDK's `NDKNip46Signer` (`@nostr-dev-kit/ndk`, run by the machine's Node through
//! `tests/node/ndk_client.mjs`) passes the client matrix (`support::matrix`), logged in as NDK's
//! docs show: `NDKNip46Signer.bunker(ndk, uri, localKey)`, `blockUntilReady()`, then
//! `ndk.signer = signer` and `NDKEvent.sign()`. NDK has no logout. NDK has no request timeout
//! either: a request the relay refuses for its tenant's rate fails at once only because bunkerd
//! also sends an error reply carrying its id.

use crate::support::matrix::{self, Expect};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndk_passes_the_client_matrix() {
    let expect = Expect {
        logout: false,
        error_hold: Duration::ZERO,
    };
    let out = matrix::run_node_client(&["ndk_client.mjs"], expect).await;
    // blockUntilReady's handshake, in order: connect (no perms), get_public_key, switch_relays.
    let methods: Vec<&str> = out["wire"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods[..3],
        ["connect", "get_public_key", "switch_relays"],
        "{out}"
    );
}

/// Once connected, the app signs notes back to back while its tenant allows one request a second:
/// the one the relay refuses rejects `NDKEvent.sign()` with the relay's `rate-limited` text within
/// 2 s. Without the error reply NDK would wait forever (its publish's `OK false` goes nowhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndk_fails_fast_on_a_rate_limited_request() {
    matrix::run_rate_limited(&["ndk_client.mjs"], Duration::ZERO).await;
}
