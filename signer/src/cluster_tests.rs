//! Two [`Bunker`]s over one store, as two nodes of a cluster: each sends its changes to the other,
//! which mirrors them ([`Bunker::mirror`]) synchronously here (the bus's part is bunkerd's).

use super::*;
use crate::bunker::refusal::tests::{open, request, user_with_secret, Scheme};
use crate::BunkerConfig;
use kms::MemMasterKey;
use proto::nostr::{Crypto, Keypair};
use std::sync::{Mutex, Weak};
use store::{MemStore, Store};

const NOW: u64 = 1_750_000_000;

/// Delivers a node's changes to its peer, and counts them.
#[derive(Default)]
struct ToPeer {
    peer: Mutex<Weak<Bunker>>,
    sent: Mutex<Vec<Change>>,
}

impl Broadcast for ToPeer {
    fn send(&self, change: &Change) {
        self.sent.lock().unwrap().push(change.clone());
        if let Some(peer) = self.peer.lock().unwrap().upgrade() {
            peer.mirror(change).unwrap();
        }
    }
}

struct Pair {
    a: Arc<Bunker>,
    b: Arc<Bunker>,
    to_b: Arc<ToPeer>,
}

/// Two joined nodes over one store; `joined: false` leaves them unaware of each other.
fn pair(joined: bool) -> Pair {
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let master = Arc::new(MemMasterKey::generate());
    let node = || {
        let config = BunkerConfig::new("ws://127.0.0.1:7447");
        Arc::new(Bunker::open(store.clone(), master.clone(), config).unwrap())
    };
    let (a, b) = (node(), node());
    let (to_b, to_a) = (Arc::new(ToPeer::default()), Arc::new(ToPeer::default()));
    *to_b.peer.lock().unwrap() = Arc::downgrade(&b);
    *to_a.peer.lock().unwrap() = Arc::downgrade(&a);
    if joined {
        a.join_cluster(to_b.clone());
        b.join_cluster(to_a);
    }
    Pair { a, b, to_b }
}

fn call(bunker: &Bunker, client: &Keypair, remote: &PublicKey, json: serde_json::Value) -> Value {
    let event = request(client, remote, &json.to_string(), Scheme::Nip44, NOW);
    let reply = bunker.process(&event, NOW, |_| true).response.unwrap();
    open(client, remote, &reply, Scheme::Nip44)
}

type Value = serde_json::Value;

/// A user made on `a` after both opened, and a client connected to it on `a`.
fn connected_on_a(pair: &Pair) -> (String, String, PublicKey, Keypair) {
    let (tenant, user, secret) = user_with_secret(&pair.a, None);
    let remote = user.remote_signer_pubkey;
    let client = Keypair::generate(&mut Crypto::from_os_rng());
    assert_eq!(
        call(&pair.a, &client, &remote, connect(&remote, &secret))["result"],
        "ack"
    );
    (tenant, user.id, remote, client)
}

fn connect(remote: &PublicKey, secret: &str) -> Value {
    serde_json::json!({"id": "c", "method": "connect", "params": [remote.to_hex(), secret]})
}

/// A signed `get_public_key` request from `client`, dated `at`.
fn ask(client: &Keypair, remote: &PublicKey, id: &str, at: u64) -> proto::nostr::Event {
    request(
        client,
        remote,
        &get_public_key(id).to_string(),
        Scheme::Nip44,
        at,
    )
}

fn get_public_key(id: &str) -> Value {
    serde_json::json!({"id": id, "method": "get_public_key", "params": []})
}

#[test]
fn a_user_and_session_made_on_one_node_serve_on_the_other_until_revoked_there() {
    let pair = pair(true);
    let (tenant, user, remote, client) = connected_on_a(&pair);
    assert!(pair.b.is_hosted(remote.as_bytes()));
    let reply = call(&pair.b, &client, &remote, get_public_key("1"));
    assert!(reply["result"].is_string(), "{reply}");

    pair.a
        .admin()
        .revoke_sessions(&tenant, &user, Some(&client.public_key()))
        .unwrap();
    let reply = call(&pair.b, &client, &remote, get_public_key("2"));
    assert!(
        reply["error"].is_string(),
        "revoked on a, refused on b: {reply}"
    );
}

#[test]
fn without_the_cluster_the_other_node_never_learns() {
    let pair = pair(false);
    let (_, _, remote, _) = connected_on_a(&pair);
    assert!(!pair.b.is_hosted(remote.as_bytes()));
    assert!(pair.to_b.sent.lock().unwrap().is_empty());
}

#[test]
fn a_user_disabled_on_one_node_is_refused_on_the_other_whose_keys_were_cached() {
    let pair = pair(true);
    let (tenant, user, remote, client) = connected_on_a(&pair);
    let reply = call(&pair.b, &client, &remote, get_public_key("1"));
    assert!(reply["result"].is_string(), "{reply}");
    let update = crate::directory::UserUpdate {
        disabled: Some(true),
        ..Default::default()
    };
    pair.a
        .admin()
        .update_user(&tenant, &user, update, NOW)
        .unwrap();
    let reply = call(&pair.b, &client, &remote, get_public_key("2"));
    assert!(reply["error"].is_string(), "{reply}");
}

#[test]
fn a_request_that_reaches_both_nodes_runs_once() {
    let pair = pair(true);
    let (_, _, remote, client) = connected_on_a(&pair);
    let event = ask(&client, &remote, "x", NOW);
    let first = pair.a.process(&event, NOW, |_| true);
    let second = pair.b.process(&event, NOW, |_| true);
    assert!(first.response.is_some() && !first.duplicate);
    assert!(second.response.is_none() && second.duplicate);
    assert_eq!(second.accepted, Ok(()));
}

#[test]
fn data_keys_rotated_on_one_node_open_on_the_other() {
    let pair = pair(true);
    let (tenant, _, remote, client) = connected_on_a(&pair);
    // b has loaded the tenant's data key.
    assert!(call(&pair.b, &client, &remote, get_public_key("1"))["result"].is_string());
    let admin = pair.a.admin();
    admin.begin_tenant_key_rotation(&tenant).unwrap();
    admin.run_key_custody(&mut |_| {}).unwrap();
    // A user sealed under the new data key, served by b.
    let (_, user, secret) = user_with_secret(&pair.a, Some(&tenant));
    let remote = user.remote_signer_pubkey;
    assert_eq!(
        call(&pair.b, &client, &remote, connect(&remote, &secret))["result"],
        "ack"
    );
}

#[test]
fn old_claims_are_pruned_and_new_ones_kept() {
    let pair = pair(true);
    let (_, _, remote, client) = connected_on_a(&pair);
    let (old, new) = (
        ask(&client, &remote, "o", NOW - 100),
        ask(&client, &remote, "n", NOW),
    );
    assert!(pair.a.claim(&old).unwrap() && pair.a.claim(&new).unwrap());
    assert_eq!(pair.a.prune_claims(NOW - 50).unwrap(), 1);
    assert!(pair.b.claim(&old).unwrap(), "a pruned claim is gone");
    assert!(!pair.b.claim(&new).unwrap(), "a recent claim is kept");
}

#[test]
fn a_mirror_that_read_before_a_local_write_leaves_that_write_in_memory() {
    let pair = pair(true);
    let (_, _, remote, client) = connected_on_a(&pair);
    let client = client.public_key();
    let k = (*remote.as_bytes(), *client.as_bytes());
    // b's mirror reads the mark, then the store (the session is there)...
    let mark = pair.b.sessions.marks.read(&k);
    let stored = pair
        .b
        .sessions
        .get(&remote, &client)
        .unwrap()
        .record
        .clone();
    // ...then b itself ends the session (store, mark, memory)...
    pair.b.sessions.forget(&remote, &client);
    // ...so what the mirror read is not put back.
    assert!(!pair
        .b
        .sessions
        .apply_unless_marked(k, mark, Some(stored.clone())));
    assert!(pair.b.sessions.get(&remote, &client).is_none());
    let mark = pair.b.sessions.marks.read(&k);
    assert!(pair.b.sessions.apply_unless_marked(k, mark, Some(stored)));
    assert!(pair.b.sessions.get(&remote, &client).is_some());
}

#[test]
fn a_session_the_other_node_has_not_heard_of_yet_is_read_from_the_store() {
    let pair = pair(true);
    let (_, user, secret) = user_with_secret(&pair.a, None);
    // b knows the user, and hears nothing more: the session's change is late.
    *pair.to_b.peer.lock().unwrap() = Weak::new();
    let remote = user.remote_signer_pubkey;
    let client = Keypair::generate(&mut Crypto::from_os_rng());
    assert_eq!(
        call(&pair.a, &client, &remote, connect(&remote, &secret))["result"],
        "ack"
    );
    assert!(pair.b.sessions.get(&remote, &client.public_key()).is_none());
    let reply = call(&pair.b, &client, &remote, get_public_key("1"));
    assert!(reply["result"].is_string(), "{reply}");
}
