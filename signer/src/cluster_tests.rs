//! Two [`Bunker`]s over one store, as two nodes of a cluster: each sends its changes to the other,
//! which mirrors them ([`Bunker::mirror`]) synchronously here (the bus's part is bunkerd's).

use super::*;
use crate::bunker::refusal::tests::{open, request, user_with_secret, Scheme};
use crate::sessions::Sessions;
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

/// A user made on `a` (tenant id, user id, remote-signer pubkey) and a client key of no session.
fn user_on_a(pair: &Pair) -> (String, String, PublicKey, Keypair) {
    let (tenant, user, _) = user_with_secret(&pair.a, None);
    let client = Keypair::generate(&mut Crypto::from_os_rng());
    (tenant, user.id, user.remote_signer_pubkey, client)
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

/// Node b mirrors a session made on a whose store read finds it, while `meanwhile` runs between
/// that read and its apply; every later read finds it gone (the store after `meanwhile`).
/// Returns whether b holds the session at the end, and how many reads the mirror made.
fn mirror_racing(meanwhile: impl Fn(&Sessions, &PublicKey, &PublicKey)) -> (bool, usize) {
    let pair = pair(true);
    let (_, _, remote, client) = connected_on_a(&pair);
    let client = client.public_key();
    let sessions = &pair.b.sessions;
    let k = (*remote.as_bytes(), *client.as_bytes());
    let stored = sessions.get(&remote, &client).unwrap().record.clone();
    let reads = std::cell::Cell::new(0);
    let read = || {
        reads.set(reads.get() + 1);
        if reads.get() == 1 {
            meanwhile(sessions, &remote, &client);
            return Ok(Some(stored.clone()));
        }
        Ok(None)
    };
    sessions
        .marks
        .mirror(&sessions.map, &k, read, |e, r| sessions.set(e, r))
        .unwrap();
    (sessions.get(&remote, &client).is_some(), reads.get())
}

#[test]
fn a_mirror_that_read_before_a_local_write_leaves_that_write_in_memory() {
    // b itself ends the session (store, mark, memory): what the mirror read is not put back.
    let (held, reads) = mirror_racing(|sessions, remote, client| sessions.forget(remote, client));
    assert!(!held);
    assert_eq!(reads, 2, "read again");
}

#[test]
fn of_two_mirrors_of_a_session_the_later_read_stays() {
    // The mirror of the session's revocation reads the store without it and applies first.
    let (held, _) = mirror_racing(|sessions, remote, client| {
        let k = (*remote.as_bytes(), *client.as_bytes());
        let revoked = || Ok(None);
        sessions
            .marks
            .mirror(&sessions.map, &k, revoked, |e, r| sessions.set(e, r))
            .unwrap();
    });
    assert!(!held, "not revived");
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

#[test]
fn an_edit_on_a_node_that_missed_a_change_keeps_that_change() {
    // b hears nothing from a but what it reloads.
    let pair = pair(false);
    let admin_key = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    let tenant = pair.a.admin().create_tenant("acme", NOW).unwrap().id;
    pair.a
        .admin()
        .add_admin_pubkey(&tenant, admin_key, None, NOW)
        .unwrap();
    pair.b.reload().unwrap();
    // a removes the admin key; b, which still has it in memory, renames the tenant.
    pair.a
        .admin()
        .remove_admin_pubkey(&tenant, &admin_key, NOW)
        .unwrap();
    let rename = crate::directory::TenantUpdate {
        name: Some("renamed".into()),
        ..Default::default()
    };
    pair.b.admin().update_tenant(&tenant, rename, NOW).unwrap();
    let stored = pair.a.directory.tenant_for_update(&tenant).unwrap();
    assert_eq!(stored.name, "renamed");
    assert!(
        stored.admin_pubkeys.is_empty(),
        "the removed admin stays removed"
    );
}

#[test]
fn a_node_that_never_heard_of_a_session_still_revokes_it() {
    let pair = pair(false);
    let (tenant, user, remote, client) = connected_on_a(&pair);
    pair.b.reload().unwrap();
    assert!(
        pair.b.sessions.get(&remote, &client.public_key()).is_some(),
        "b reloaded it"
    );
    // A second client connects on a; b does not hear of it.
    let uri = pair
        .a
        .admin()
        .issue_bunker_uri(&tenant, &user, NOW, crate::UriOptions::default())
        .unwrap();
    let secret = uri.uri.split("secret=").nth(1).unwrap().to_owned();
    let other = Keypair::generate(&mut Crypto::from_os_rng());
    assert_eq!(
        call(&pair.a, &other, &remote, connect(&remote, &secret))["result"],
        "ack"
    );
    assert!(pair.b.sessions.get(&remote, &other.public_key()).is_none());
    // b revokes that one by name, then all: both from the store.
    let revoked = pair
        .b
        .admin()
        .revoke_sessions(&tenant, &user, Some(&other.public_key()))
        .unwrap();
    assert_eq!(revoked, 1);
    let third = Keypair::generate(&mut Crypto::from_os_rng());
    let uri = pair
        .a
        .admin()
        .issue_bunker_uri(&tenant, &user, NOW, crate::UriOptions::default())
        .unwrap();
    let secret = uri.uri.split("secret=").nth(1).unwrap().to_owned();
    assert_eq!(
        call(&pair.a, &third, &remote, connect(&remote, &secret))["result"],
        "ack"
    );
    let revoked = pair
        .b
        .admin()
        .revoke_sessions(&tenant, &user, None)
        .unwrap();
    assert_eq!(revoked, 2, "the reloaded session and the unheard one");
    let mut left = 0;
    pair.a
        .store
        .scan_prefix(Cf::Sessions, remote.as_bytes(), &mut |_, _| {
            left += 1;
            true
        })
        .unwrap();
    assert_eq!(left, 0, "no session left in the store");
}

#[test]
fn a_token_another_node_created_is_revoked_here_and_gone_with_its_tenant() {
    let pair = pair(false);
    let tenant = pair.a.admin().create_tenant("acme", NOW).unwrap().id;
    pair.b.reload().unwrap();
    let a_tokens = crate::admin::AdminTokens::load(pair.a.store.clone()).unwrap();
    let b_tokens = crate::admin::AdminTokens::load(pair.b.store.clone()).unwrap();
    let created = |label: &str| {
        let (_, record) = pair
            .a
            .admin()
            .create_admin_token(
                &a_tokens,
                &tenant,
                Some(label.into()),
                "operator".into(),
                NOW,
            )
            .unwrap();
        record
    };
    let (first, _second) = (created("one"), created("two"));
    assert!(b_tokens.list(&tenant).is_empty(), "b never heard of them");
    pair.b
        .admin()
        .revoke_admin_token(&b_tokens, &tenant, &first.id)
        .unwrap();
    pair.b.admin().delete_tenant(&b_tokens, &tenant).unwrap();
    a_tokens.reload().unwrap();
    assert!(
        a_tokens.list(&tenant).is_empty(),
        "no token outlives its tenant"
    );
}

#[test]
fn a_session_ended_elsewhere_is_not_revived_by_its_move_to_our_relays() {
    // a pairs a client that named a foreign relay; b ends the session; a has not heard.
    let pair = pair(false);
    let (tenant, user, remote, client) = user_on_a(&pair);
    let text = format!(
        "nostrconnect://{}?relay=wss%3A%2F%2Frelay.example&secret=s",
        client.public_key().to_hex()
    );
    let uri = proto::nip46::nostrconnect::NostrConnectUri::parse(&text).unwrap();
    pair.a
        .admin()
        .accept_nostrconnect(&tenant, &user, &uri, Default::default(), NOW)
        .unwrap();
    let switch = serde_json::json!({"id": "s", "method": "switch_relays", "params": []});
    let verified = |json: &Value| {
        let event = request(&client, &remote, &json.to_string(), Scheme::Nip44, NOW);
        event.into_verified().unwrap()
    };
    let asked =
        pair.a
            .process_verified(&verified(&switch), Some("wss://relay.example"), NOW, |_| {
                true
            });
    assert!(asked.response.is_some());
    pair.b.reload().unwrap();
    assert_eq!(
        pair.b
            .admin()
            .revoke_sessions(&tenant, &user, Some(&client.public_key()))
            .unwrap(),
        1
    );

    // The client's next request reaches a's own listener: the move to a's relays must not
    // write back the session b ended.
    pair.a
        .process_verified(&verified(&get_public_key("1")), None, NOW, |_| true);
    let stored = Sessions::stored(&*pair.a.store, &remote, &client.public_key()).unwrap();
    assert!(stored.is_none(), "the ended session stays ended");
    assert!(
        pair.a.sessions.get(&remote, &client.public_key()).is_none(),
        "and a drops it as soon as it finds out"
    );
}

#[test]
fn the_sweeper_ends_the_expired_session_it_holds_not_its_stored_successor() {
    // A session with a 60 s lifetime on a; b reloads it and then hears nothing more.
    let pair = pair(false);
    let (tenant, user, remote, client) = user_on_a(&pair);
    let issue = |session_ttl_secs| {
        let options = crate::UriOptions {
            session_ttl_secs,
            ..Default::default()
        };
        let uri = pair
            .a
            .admin()
            .issue_bunker_uri(&tenant, &user, NOW, options);
        uri.unwrap().uri.split("secret=").nth(1).unwrap().to_owned()
    };
    let connect_at = |secret: &str, at: u64| {
        let json = connect(&remote, secret).to_string();
        let event = request(&client, &remote, &json, Scheme::Nip44, at);
        let reply = pair.a.process(&event, at, |_| true).response.unwrap();
        open(&client, &remote, &reply, Scheme::Nip44)["result"].clone()
    };
    assert_eq!(connect_at(&issue(Some(60)), NOW), "ack");
    pair.b.reload().unwrap();

    // Past its end, the client connects again on a with a URI whose session does not expire.
    let later = NOW + 100;
    assert_eq!(connect_at(&issue(None), later), "ack");
    // b's sweeper finds its copy expired; the store holds the new session, which stays.
    assert_eq!(pair.b.admin().sweep(later).unwrap().sessions, 0);
    let stored = Sessions::stored(&*pair.a.store, &remote, &client.public_key()).unwrap();
    assert_eq!(stored.map(|s| s.created_at), Some(later));
}

#[test]
fn a_logout_waits_for_the_users_lock() {
    // The lock a relay move or an admin write of the session holds, on this node or (through the
    // store's lock) another: the logout's delete comes after the whole of theirs.
    let pair = pair(false);
    let (tenant, user, remote, client) = connected_on_a(&pair);
    let held = pair.a.locks.user(&tenant, &user).unwrap();
    let logout = serde_json::json!({"id": "l", "method": "logout", "params": []});
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| done.send(call(&pair.a, &client, &remote, logout)).unwrap());
        let early = finished.recv_timeout(std::time::Duration::from_millis(300));
        assert!(early.is_err(), "answered under another's lock: {early:?}");
        drop(held);
        let reply = finished.recv_timeout(std::time::Duration::from_secs(30));
        assert_eq!(reply.unwrap()["result"], "ack");
    });
    let stored = Sessions::stored(&*pair.a.store, &remote, &client.public_key()).unwrap();
    assert!(stored.is_none());
}
