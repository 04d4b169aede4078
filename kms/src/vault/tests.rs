//! Vault tests: per-tenant isolation, crypto-shredding, reopening over RocksDB, and refusing
//! wrapped DEKs that are missing, corrupt or wrapped by another master key.

use super::Vault;
use crate::{MasterKey, MemMasterKey};
use std::sync::Arc;
use store::{Batch, Cf, Durability, MemStore, RocksStore, Store};

const SECRET: &[u8] = b"user secret key bytes";

/// A vault over `store` with the master key made from `master`.
fn vault(master: [u8; 32], store: &Arc<dyn Store>) -> Vault {
    Vault::new(
        Arc::new(MemMasterKey::from_bytes(master)),
        Arc::clone(store),
    )
}

/// Creates DEKs for `tenants` and writes them durably.
fn provision(vault: &Vault, store: &dyn Store, tenants: &[&str]) {
    let mut batch = Batch::new();
    for tenant in tenants {
        vault.create_data_key(tenant, &mut batch).unwrap();
    }
    store.write(batch, Durability::Sync).unwrap();
}

/// Opens `sealed` as (tenant, "user_key", owner, "user") and expects the error `code`.
#[track_caller]
fn check(vault: &Vault, tenant: &str, owner: &str, sealed: &[u8], code: &str) {
    match vault.open(tenant, "user_key", owner, "user", sealed) {
        Ok(_) => panic!("opened as {tenant}/{owner}, expected {code}"),
        Err(e) => assert_eq!(e.code(), code, "{e}"),
    }
}

fn mem_store() -> Arc<dyn Store> {
    Arc::new(MemStore::new())
}

#[test]
fn seal_and_open_round_trip() {
    let store = mem_store();
    let vault = vault([1; 32], &store);
    provision(&vault, &*store, &["acme"]);
    let sealed = vault
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    let opened = vault
        .open("acme", "user_key", "alice", "user", &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET);
}

#[test]
fn create_data_key_only_adds_to_the_batch() {
    let store = mem_store();
    let first = vault([1; 32], &store);
    let mut batch = Batch::new();
    first.create_data_key("acme", &mut batch).unwrap();
    assert!(!batch.is_empty());
    assert_eq!(
        store.get(Cf::Deks, b"acme").unwrap(),
        None,
        "nothing written yet"
    );
    let fresh = vault([1; 32], &store);
    assert_eq!(
        fresh.seal("acme", "r", "o", "x", b"").unwrap_err().code(),
        "no_data_key"
    );
    store.write(batch, Durability::Sync).unwrap();
    let sealed = first
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    let opened = fresh
        .open("acme", "user_key", "alice", "user", &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET);
}

#[test]
fn one_tenants_record_does_not_open_as_anothers() {
    let store = mem_store();
    let vault = vault([1; 32], &store);
    provision(&vault, &*store, &["acme", "globex"]);
    let sealed = vault
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    // Another tenant's DEK has another key id, so the header check refuses it first.
    check(&vault, "globex", "alice", &sealed, "unknown_key_id");
    check(&vault, "acme", "bob", &sealed, "wrong_key_or_tampered");
    check(&vault, "initech", "alice", &sealed, "no_data_key");
}

#[test]
fn destroyed_data_key_makes_records_unreadable() {
    let store = mem_store();
    let vault = vault([1; 32], &store);
    provision(&vault, &*store, &["acme", "globex"]);
    let sealed = vault
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    let other = vault
        .seal("globex", "user_key", "alice", "user", SECRET)
        .unwrap();
    vault.destroy_data_key("acme").unwrap();
    check(&vault, "acme", "alice", &sealed, "no_data_key");
    assert_eq!(store.get(Cf::Deks, b"acme").unwrap(), None);
    let fresh = Vault::new(Arc::new(MemMasterKey::from_bytes([1; 32])), store);
    check(&fresh, "acme", "alice", &sealed, "no_data_key");
    assert_eq!(
        fresh
            .open("globex", "user_key", "alice", "user", &other)
            .unwrap()
            .as_slice(),
        SECRET
    );
    vault.destroy_data_key("never-created").unwrap();
}

#[test]
fn fresh_vault_over_reopened_rocks_store_opens_old_records() {
    let dir = tempfile::tempdir().unwrap();
    let sealed = {
        let store: Arc<dyn Store> = Arc::new(RocksStore::open(dir.path()).unwrap());
        let vault = vault([3; 32], &store);
        provision(&vault, &*store, &["acme"]);
        vault
            .seal("acme", "user_key", "alice", "user", SECRET)
            .unwrap()
    };
    let store: Arc<dyn Store> = Arc::new(RocksStore::open(dir.path()).unwrap());
    let vault = vault([3; 32], &store);
    let opened = vault
        .open("acme", "user_key", "alice", "user", &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET);
}

#[test]
fn another_master_key_cannot_unwrap_the_data_key() {
    let store = mem_store();
    let vault_a = vault([1; 32], &store);
    provision(&vault_a, &*store, &["acme"]);
    let sealed = vault_a
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    let vault_b = vault([2; 32], &store);
    assert_ne!(vault_a.master_key_id(), vault_b.master_key_id());
    check(&vault_b, "acme", "alice", &sealed, "unknown_key_id");
}

#[test]
fn wrapped_data_key_moved_to_another_tenant_is_refused() {
    let store = mem_store();
    let vault = vault([1; 32], &store);
    provision(&vault, &*store, &["acme"]);
    let wrapped = store.get(Cf::Deks, b"acme").unwrap().unwrap();
    let mut batch = Batch::new();
    batch.put(Cf::Deks, "globex", wrapped);
    store.write(batch, Durability::Sync).unwrap();
    assert_eq!(
        vault.seal("globex", "r", "o", "x", b"").unwrap_err().code(),
        "wrong_key_or_tampered"
    );
}

#[test]
fn malformed_wrapped_data_keys_are_refused() {
    let store = mem_store();
    let master = MemMasterKey::from_bytes([1; 32]);
    let binding = super::dek_binding("short");
    let mut batch = Batch::new();
    batch
        .put(
            Cf::Deks,
            "short",
            master.seal(&[0u8; 35], &binding).unwrap(),
        )
        .put(Cf::Deks, "garbage", vec![1u8, 1, 0]);
    store.write(batch, Durability::Sync).unwrap();
    let vault = vault([1; 32], &store);
    assert_eq!(
        vault.seal("short", "r", "o", "x", b"").unwrap_err().code(),
        "corrupt"
    );
    assert_eq!(
        vault
            .seal("garbage", "r", "o", "x", b"")
            .unwrap_err()
            .code(),
        "truncated"
    );
}

#[test]
fn master_key_id_is_the_master_keys() {
    let store = mem_store();
    let vault = vault([4; 32], &store);
    assert_eq!(
        vault.master_key_id(),
        MemMasterKey::from_bytes([4; 32]).key_id()
    );
    let shown = format!("{vault:?}");
    assert!(shown.starts_with("Vault { master_key_id: 0x"), "{shown}");
}

/// The signer and relay share these across threads; losing `Send + Sync` must fail here.
#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vault>();
    assert_send_sync::<crate::DataKey>();
    assert_send_sync::<crate::FileMasterKey>();
    assert_send_sync::<RocksStore>();
    assert_send_sync::<MemStore>();
}
