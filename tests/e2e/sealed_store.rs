//! Sealed storage, seen from outside: the master key file is 0600, no secret key or bunker secret
//! is stored in clear anywhere in RocksDB, and a sealed key moved to another user's record fails to
//! open.

use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::TestServer;
use nostr_connect::prelude::Keys;
use std::os::unix::fs::PermissionsExt;
use store::{Batch, Cf, Durability};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_holds_no_clear_secrets_and_sealed_keys_are_bound_to_their_user() {
    let server = TestServer::start().await;
    let mode = std::fs::metadata(server.data_dir.join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "master key file mode");

    let keys = Keys::generate();
    let secret_hex = keys.secret_key().to_secret_hex();
    let alice = server.provision(Some(&secret_hex)).await;
    let bob = server.provision_in(&alice.tenant, None).await;
    let bunker_secret = secret_of(&bob.bunker_uri);
    let (dir, tmp, addr) = server.stop().await;

    let store = crate::support::open_store(&dir);
    let secret_bytes = keys.secret_key().to_secret_bytes();
    let mut rows = 0;
    for cf in Cf::ALL {
        store
            .scan_prefix(cf, b"", &mut |k, v| {
                rows += 1;
                for needle in [
                    &secret_bytes[..],
                    secret_hex.as_bytes(),
                    bunker_secret.as_bytes(),
                ] {
                    assert!(
                        !contains(k, needle) && !contains(v, needle),
                        "clear secret in {cf:?}"
                    );
                }
                true
            })
            .unwrap();
    }
    assert!(rows >= 5, "the scan saw the provisioned rows");

    // Move alice's sealed user key into bob's record: it must not open as bob's.
    let alice_key = format!("{}/{}", alice.tenant, alice.id);
    let bob_key = format!("{}/{}", bob.tenant, bob.id);
    let alice_rec: serde_json::Value =
        serde_json::from_slice(&store.get(Cf::Users, alice_key.as_bytes()).unwrap().unwrap())
            .unwrap();
    let mut bob_rec: serde_json::Value =
        serde_json::from_slice(&store.get(Cf::Users, bob_key.as_bytes()).unwrap().unwrap())
            .unwrap();
    bob_rec["sealed_user_key"] = alice_rec["sealed_user_key"].clone();
    let mut batch = Batch::new();
    batch.put(
        Cf::Users,
        bob_key.as_bytes(),
        serde_json::to_vec(&bob_rec).unwrap(),
    );
    store.write(batch, Durability::Sync).unwrap();
    drop(store);

    let server = TestServer::start_in(&dir, addr).await;
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let event = client.request_event(
        &pk(&bob.remote_signer_pubkey),
        &format!(r#"{{"id":"x","method":"connect","params":["","{bunker_secret}"]}}"#),
        Transport::Nip44,
    );
    let (accepted, message) = client.publish(&event).await;
    assert!(
        !accepted && message.starts_with("error:"),
        "moved key must not open: {message}"
    );
    server.server.stop().await;
    drop(tmp);
}
