//! Interop: welshman's `Nip46Broker`/`Nip46Signer` (`@welshman/signer`, run by the machine's Node
//! through `tests/node/welshman_client.mjs`) passes the client matrix (`support::matrix`), logged
//! in as Coracle logs in, with Coracle's connect perms, which ask for no `sign_event` kind but
//! 22242: the policy, not the request, decides what the session may sign. welshman has no logout,
//! and holds every error reply back for 3 s before its caller sees it.

use crate::support::matrix::{self, Expect};
use std::time::Duration;

/// Coracle's `nip46Perms`, as the harness sends them (welshman_client.mjs cites the source).
const CORACLE_PERMS: &str =
    "sign_event:22242,nip04_encrypt,nip04_decrypt,nip44_encrypt,nip44_decrypt";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welshman_passes_the_client_matrix() {
    let expect = Expect {
        logout: false,
        error_hold: Duration::from_secs(3),
    };
    let out = matrix::run_node_client(&["welshman_client.mjs"], expect).await;
    let connect = &out["wire"]["requests"][0];
    assert_eq!(connect["method"], "connect", "{out}");
    assert_eq!(connect["params"][2], CORACLE_PERMS, "{out}");
}
