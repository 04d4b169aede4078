//! Vaults of several processes (nodes) over one store: a node whose cached data keys predate
//! another node's rotation seals under the stored current key (or refuses), reports and retires
//! from the store, refuses to wrap under a master key version the store has moved past; and,
//! on PostgreSQL, two nodes' read-modify-writes of one DEK record are ordered by the store's
//! locks, so neither overwrites the other's data key.

use super::Vault;
use crate::envelope::sealed_key_id;
use crate::{MasterKey, MemMasterKey};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use store::testing::{Hooked, Postgres};
use store::{Batch, Cf, Durability, MemStore, PgOptions, PgStore, Store};

const SECRET: &[u8] = b"user secret key bytes";

fn seal(vault: &Vault, owner: &str) -> Vec<u8> {
    vault
        .seal("acme", "user_key", owner, "user", SECRET)
        .unwrap()
}

#[track_caller]
fn opens(vault: &Vault, owner: &str, sealed: &[u8]) {
    let opened = vault
        .open("acme", "user_key", owner, "user", sealed)
        .unwrap_or_else(|e| panic!("{owner}'s record does not open: {e}"));
    assert_eq!(opened.as_slice(), SECRET);
}

/// Two vaults (nodes) over one in-memory store and one master key, with tenant `acme`.
fn two_nodes() -> (Arc<dyn Store>, Arc<dyn MasterKey>, Vault, Vault) {
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let master: Arc<dyn MasterKey> = Arc::new(MemMasterKey::from_bytes([1; 32]));
    let a = Vault::load(master.clone(), store.clone()).unwrap();
    let b = Vault::load(master.clone(), store.clone()).unwrap();
    a.create_data_key("acme").unwrap();
    (store, master, a, b)
}

#[test]
fn a_node_whose_cache_predates_a_rotation_elsewhere_seals_under_the_stored_key() {
    let (store, master, a, b) = two_nodes();
    // b caches the first data key.
    let before = seal(&b, "alice");
    // a rotates, re-seals what it knows of, and retires; b is not told.
    let new = a.rotate_data_key("acme").unwrap();
    let secret = a
        .open("acme", "user_key", "alice", "user", &before)
        .unwrap();
    let alice = a
        .seal("acme", "user_key", "alice", "user", &secret)
        .unwrap();
    assert_eq!(a.retire_data_keys("acme", new).unwrap().len(), 1);
    // b seals a new user's secret: under the stored current key, not its cached one.
    let bob = seal(&b, "bob");
    assert_eq!(sealed_key_id(&bob), Some(new));
    let fresh = Vault::load(master, store).unwrap();
    opens(&fresh, "alice", &alice);
    opens(&fresh, "bob", &bob);
    opens(&b, "bob", &bob);
}

#[test]
fn sealing_fails_rather_than_fall_back_to_a_cached_key_the_store_no_longer_names() {
    let (store, _, a, b) = two_nodes();
    let _ = seal(&b, "alice");
    a.rotate_data_key("acme").unwrap();
    // The stored record names a current key it does not hold.
    let mut record: serde_json::Value =
        serde_json::from_slice(&store.get(Cf::Deks, b"acme").unwrap().unwrap()).unwrap();
    record["current"] = serde_json::json!(7);
    let mut batch = Batch::new();
    batch.put(Cf::Deks, "acme", serde_json::to_vec(&record).unwrap());
    store.write(batch, Durability::Sync).unwrap();
    let error = b
        .seal("acme", "user_key", "bob", "user", SECRET)
        .unwrap_err();
    assert_eq!(error.code(), "corrupt", "{error}");
    // And a destroyed tenant's keys are not used either.
    a.destroy_data_key("acme").unwrap();
    let error = b
        .seal("acme", "user_key", "bob", "user", SECRET)
        .unwrap_err();
    assert_eq!(error.code(), "no_data_key", "{error}");
}

#[test]
fn data_key_ids_are_the_stores_and_retiring_keeps_the_key_checked_or_nothing() {
    let (_, _, a, b) = two_nodes();
    let (first, _) = b.data_key_ids("acme").unwrap();
    let _ = seal(&b, "alice");
    let new = a.rotate_data_key("acme").unwrap();
    // b cached only the first key; what it reports is the store's.
    let (current, mut all) = b.data_key_ids("acme").unwrap();
    all.sort_unstable();
    let mut both = vec![first, new];
    both.sort_unstable();
    assert_eq!((current, all), (new, both));
    // A retirement checked against the old current key (another node rotated since) removes
    // nothing; against the current one, the rest.
    assert!(b.retire_data_keys("acme", first).unwrap().is_empty());
    assert_eq!(b.data_key_ids("acme").unwrap().1.len(), 2);
    assert_eq!(b.retire_data_keys("acme", new).unwrap(), vec![first]);
    assert_eq!(a.data_key_ids("acme").unwrap(), (new, vec![new]));
}

#[test]
fn a_node_with_a_stale_copy_of_the_master_key_cannot_wrap_a_new_data_key() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let current = Arc::new(MemMasterKey::from_bytes([1; 32]));
    // Another node's copy of the same key, loaded before the rotation below.
    let stale = Arc::new(MemMasterKey::from_bytes([1; 32]));
    let a = Vault::load(current.clone(), store.clone()).unwrap();
    let b = Vault::load(stale, store.clone()).unwrap();
    a.create_data_key("acme").unwrap();
    a.begin_master_rotation(true).unwrap();
    // b has no version 2: what it would rewrap or wrap stays under version 1.
    let before = store.get(Cf::Deks, b"acme").unwrap();
    let error = b.rewrap_all(&mut |_| {}).unwrap_err();
    assert_eq!(error.code(), "custody", "{error}");
    assert_eq!(
        store.get(Cf::Deks, b"acme").unwrap(),
        before,
        "nothing rewritten"
    );
    let error = b.create_data_key("globex").unwrap_err();
    assert_eq!(error.code(), "custody", "{error}");
    a.rewrap_all(&mut |_| {}).unwrap();
    assert_eq!(a.finish_master_rotation().unwrap(), vec![1]);
    // Version 1 is gone; nothing b wraps under it is written.
    let error = b.create_data_key("globex").unwrap_err();
    assert_eq!(error.code(), "custody", "{error}");
    assert_eq!(store.get(Cf::Deks, b"globex").unwrap(), None);
    let error = b.rotate_data_key("acme").unwrap_err();
    assert_eq!(error.code(), "custody", "{error}");
    assert_eq!(a.data_key_ids("acme").unwrap().1.len(), 1);
}

/// Where the two nodes of [`race`] are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Idle,
    /// Node A's next read of a DEK record pauses.
    Armed,
    /// Node A read the record and waits for node B to move.
    ARead,
    /// Node B took a store lock or wrote (A then goes on).
    BMoved,
}

#[derive(Debug)]
struct Gate {
    step: Mutex<Step>,
    moved: Condvar,
}

impl Gate {
    fn set(&self, from: Step, to: Step) -> bool {
        let mut step = self.step.lock().unwrap();
        if *step != from {
            return false;
        }
        *step = to;
        self.moved.notify_all();
        true
    }

    fn wait_for(&self, want: Step) {
        let step = self.step.lock().unwrap();
        let (step, timeout) = self
            .moved
            .wait_timeout_while(step, Duration::from_secs(30), |s| *s != want)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "still {:?}, waiting for {want:?}",
            *step
        );
    }
}

/// One node's store: node A's pauses after reading a DEK record until node B has taken a store
/// lock (it may then block on it) or written (it then did its read-modify-write unordered).
fn gated(inner: PgStore, gate: &Arc<Gate>, is_a: bool) -> Hooked<PgStore> {
    let store = Hooked::new(inner);
    if is_a {
        let gate = gate.clone();
        return store.after_get(move |cf, _| {
            if cf == Cf::Deks && gate.set(Step::Armed, Step::ARead) {
                gate.wait_for(Step::BMoved);
            }
        });
    }
    let (on_lock, on_write) = (gate.clone(), gate.clone());
    store
        .before_lock(move |_, _| {
            on_lock.set(Step::ARead, Step::BMoved);
        })
        .after_write(move || {
            on_write.set(Step::ARead, Step::BMoved);
        })
}

/// Two nodes over one new PostgreSQL database, each with a connection pool of its own, and
/// tenant `acme`; `prepare` runs on node A before the race. Then node A runs `on_a` and, once A
/// has read the DEK record inside it, node B runs `on_b`. Returns both nodes and what each
/// returned, with a fresh node's vault.
fn race<A: Send, B: Send>(
    prepare: impl FnOnce(&Vault),
    on_a: impl FnOnce(&Vault) -> A + Send,
    on_b: impl FnOnce(&Vault) -> B + Send,
) -> (Vault, A, B) {
    let url = Postgres::shared().database();
    let master: Arc<dyn MasterKey> = Arc::new(MemMasterKey::from_bytes([1; 32]));
    let gate = Arc::new(Gate {
        step: Mutex::new(Step::Idle),
        moved: Condvar::new(),
    });
    let node = |is_a| {
        let inner = PgStore::connect(&url, &PgOptions::default()).unwrap();
        let store: Arc<dyn Store> = Arc::new(gated(inner, &gate, is_a));
        Vault::load(master.clone(), store).unwrap()
    };
    let (a, b) = (node(true), node(false));
    a.create_data_key("acme").unwrap();
    prepare(&a);
    assert!(gate.set(Step::Idle, Step::Armed));
    let (on_a, on_b) = std::thread::scope(|scope| {
        let on_a = scope.spawn(|| on_a(&a));
        gate.wait_for(Step::ARead);
        let on_b = scope.spawn(|| on_b(&b));
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    (node(false), on_a, on_b)
}

#[test]
fn two_nodes_rotating_one_tenant_at_once_agree_on_its_new_data_key() {
    let (fresh, on_a, on_b) = race(
        |_| {},
        |a| a.rotate_data_key("acme").unwrap(),
        |b| {
            let id = b.rotate_data_key("acme").unwrap();
            (id, seal(b, "bob"))
        },
    );
    let (on_b, bob) = on_b;
    assert_eq!(on_a, on_b, "both joined one rotation");
    assert_eq!(fresh.data_key_ids("acme").unwrap().0, on_a);
    assert_eq!(fresh.data_key_ids("acme").unwrap().1.len(), 2);
    opens(&fresh, "bob", &bob);
}

#[test]
fn a_data_key_added_while_another_node_rewraps_survives_the_master_key_retirement() {
    let (fresh, rewrapped, on_b) = race(
        |a| {
            a.begin_master_rotation(true).unwrap();
        },
        |a| a.rewrap_all(&mut |_| {}).unwrap(),
        |b| {
            let id = b.rotate_data_key("acme").unwrap();
            (id, seal(b, "bob"))
        },
    );
    assert_eq!(rewrapped.rewrapped, 2, "the data key and the canary");
    let (added, bob) = on_b;
    assert!(
        fresh.data_key_ids("acme").unwrap().1.contains(&added),
        "the data key node B added is in the record"
    );
    assert_eq!(fresh.finish_master_rotation().unwrap(), vec![1]);
    opens(&fresh, "bob", &bob);
    let after = Vault::load(fresh.master().clone(), fresh.store.clone()).unwrap();
    opens(&after, "bob", &bob);
}
