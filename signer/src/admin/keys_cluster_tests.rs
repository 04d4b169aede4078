//! Tenant data-key custody across two [`Bunker`]s over one store, as two nodes whose cluster bus
//! told the other nothing (a change that is late or lost): a node whose cached data keys predate
//! the other's rotation neither seals a new user under a retired key nor retires the key its
//! users are sealed under. Each user is then checked on a fresh node.

use crate::bunker::refusal::tests::{open, request, user_with_secret, Scheme};
use crate::{Bunker, BunkerConfig};
use kms::MemMasterKey;
use proto::nostr::{Crypto, Event, Keypair, PublicKey};
use std::sync::Arc;
use store::{MemStore, Store};

const NOW: u64 = 1_750_000_000;

struct Nodes {
    store: Arc<dyn Store>,
    master: Arc<MemMasterKey>,
}

impl Nodes {
    fn new() -> Nodes {
        Nodes {
            store: Arc::new(MemStore::new()),
            master: Arc::new(MemMasterKey::generate()),
        }
    }

    /// A node over the shared store, loading what it holds now; it joins no cluster.
    fn open(&self) -> Bunker {
        let config = BunkerConfig::new("ws://127.0.0.1:7447");
        Bunker::open(self.store.clone(), self.master.clone(), config).unwrap()
    }
}

fn call(bunker: &Bunker, client: &Keypair, remote: &PublicKey, json: serde_json::Value) -> String {
    let event = request(client, remote, &json.to_string(), Scheme::Nip44, NOW);
    let reply = bunker.process(&event, NOW, |_| true).response.unwrap();
    open(client, remote, &reply, Scheme::Nip44).to_string()
}

/// A user made on some node, with its bunker secret: on `fresh` (a node opened after every
/// change), its client connects (both of the user's secret keys unseal) and has an event signed
/// by the user's key.
#[track_caller]
fn signs(fresh: &Bunker, user: &crate::directory::UserRecord, secret: &str) {
    let remote = user.remote_signer_pubkey;
    let client = Keypair::generate(&mut Crypto::from_os_rng());
    let connect = serde_json::json!({
        "id": "c", "method": "connect", "params": [remote.to_hex(), secret],
    });
    let reply = call(fresh, &client, &remote, connect);
    assert!(reply.contains(r#""result":"ack""#), "connect: {reply}");
    let template = r#"{"kind":1,"content":"hi","tags":[],"created_at":1749996400}"#;
    let sign = serde_json::json!({"id": "s", "method": "sign_event", "params": [template]});
    let reply: serde_json::Value =
        serde_json::from_str(&call(fresh, &client, &remote, sign)).unwrap();
    let event = Event::from_json(reply["result"].as_str().expect("a signed event")).unwrap();
    event.verify().unwrap();
    assert_eq!(event.pubkey, user.user_pubkey);
}

#[test]
fn a_user_made_on_a_node_not_told_of_a_finished_rotation_signs_on_a_fresh_node() {
    let nodes = Nodes::new();
    let a = nodes.open();
    let (tenant, first, first_secret) = user_with_secret(&a, None);
    let b = nodes.open();
    // b caches the tenant's data key.
    let (_, second, second_secret) = user_with_secret(&b, Some(&tenant));
    // a rotates the tenant's data key to completion: every user re-sealed, the old key retired.
    let admin = a.admin();
    admin.begin_tenant_key_rotation(&tenant).unwrap();
    let report = admin.run_key_custody(&mut |_| {}).unwrap();
    assert_eq!((report.tenants, report.resealed), (1, 2));
    assert_eq!(a.vault().data_key_ids(&tenant).unwrap().1.len(), 1);
    // b, not told, makes a user.
    let (_, third, third_secret) = user_with_secret(&b, Some(&tenant));
    let fresh = nodes.open();
    signs(&fresh, &first, &first_secret);
    signs(&fresh, &second, &second_secret);
    signs(&fresh, &third, &third_secret);
}

#[test]
fn custody_on_a_node_with_stale_data_keys_keeps_the_key_users_are_sealed_under() {
    let nodes = Nodes::new();
    let a = nodes.open();
    let (tenant, first, first_secret) = user_with_secret(&a, None);
    let b = nodes.open();
    // A first rotation, started on a; b caches both data keys (the second is current).
    a.admin().begin_tenant_key_rotation(&tenant).unwrap();
    let (_, second, second_secret) = user_with_secret(&b, Some(&tenant));
    let (second_key, _) = a.vault().data_key_ids(&tenant).unwrap();
    // a finishes it (every user under the second key, the first retired), then starts another;
    // b is told of neither, so it still takes the second key for current.
    a.admin().run_key_custody(&mut |_| {}).unwrap();
    let under_second = a.vault().seal(&tenant, "probe", "", "probe", b"x").unwrap();
    let third_key = a.admin().begin_tenant_key_rotation(&tenant).unwrap();
    assert!(
        b.vault().is_current(&tenant, &under_second).unwrap(),
        "b's cache is stale"
    );
    // b runs the custody work: it must re-seal under the third key before retiring the second.
    let report = b.admin().run_key_custody(&mut |_| {}).unwrap();
    let fresh = nodes.open();
    signs(&fresh, &first, &first_secret);
    signs(&fresh, &second, &second_secret);
    assert_eq!(report.resealed, 2, "{report:?}");
    assert_ne!(second_key, third_key);
    assert_eq!(
        fresh.vault().data_key_ids(&tenant).unwrap(),
        (third_key, vec![third_key])
    );
}
