//! Vault tests: per-tenant isolation, crypto-shredding, reopening over RocksDB, the start-up
//! self-test (missing, replaced and wrong-version master keys, stores from before the canary),
//! tenant data-key rotation, master-key rotation resumed after a crash, and refusing DEK
//! records that are missing, corrupt or moved.

use super::Vault;
use crate::{Binding, MasterKey, MemMasterKey};
use std::sync::Arc;
use store::{Batch, Cf, Durability, MemStore, RocksStore, Store};

const SECRET: &[u8] = b"user secret key bytes";

fn master(bytes: [u8; 32]) -> Arc<dyn MasterKey> {
    Arc::new(MemMasterKey::from_bytes(bytes))
}

/// A vault over `store` with the master key made from `bytes`.
fn vault(bytes: [u8; 32], store: &Arc<dyn Store>) -> Vault {
    Vault::load(master(bytes), Arc::clone(store)).unwrap()
}

fn provision(vault: &Vault, tenants: &[&str]) {
    for tenant in tenants {
        vault.create_data_key(tenant).unwrap();
    }
}

/// Opens `sealed` as (tenant, "user_key", owner, "user") and expects the error `code`.
#[track_caller]
fn check(vault: &Vault, tenant: &str, owner: &str, sealed: &[u8], code: &str) {
    match vault.open(tenant, "user_key", owner, "user", sealed) {
        Ok(_) => panic!("opened as {tenant}/{owner}, expected {code}"),
        Err(e) => assert_eq!(e.code(), code, "{e}"),
    }
}

#[track_caller]
fn custody_error(master: Arc<dyn MasterKey>, store: &Arc<dyn Store>, needle: &str) {
    match Vault::load(master, Arc::clone(store)) {
        Ok(_) => panic!("the self-test passed; expected {needle:?}"),
        Err(e) => {
            assert_eq!(e.code(), "custody", "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}

fn mem_store() -> Arc<dyn Store> {
    Arc::new(MemStore::new())
}

/// Every (cf, key, value) in the store, to prove that nothing was written.
fn dump(store: &dyn Store) -> Vec<(Cf, Vec<u8>, Vec<u8>)> {
    let mut all = Vec::new();
    for cf in Cf::ALL {
        store
            .scan_prefix(cf, b"", &mut |k, v| {
                all.push((cf, k.to_vec(), v.to_vec()));
                true
            })
            .unwrap();
    }
    all
}

#[test]
fn seal_and_open_round_trip() {
    let store = mem_store();
    let vault = vault([1; 32], &store);
    provision(&vault, &["acme"]);
    let sealed = vault
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    let opened = vault
        .open("acme", "user_key", "alice", "user", &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET);
    assert!(vault.is_current("acme", &sealed).unwrap());
    assert_eq!(
        vault.create_data_key("acme").unwrap_err().code(),
        "unsupported",
        "a second create would orphan every sealed record"
    );
}

#[test]
fn one_tenants_record_does_not_open_as_anothers() {
    let store = mem_store();
    let vault = vault([1; 32], &store);
    provision(&vault, &["acme", "globex"]);
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
    provision(&vault, &["acme", "globex"]);
    let sealed = vault
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    let other = vault
        .seal("globex", "user_key", "alice", "user", SECRET)
        .unwrap();
    vault.destroy_data_key("acme").unwrap();
    check(&vault, "acme", "alice", &sealed, "no_data_key");
    assert_eq!(store.get(Cf::Deks, b"acme").unwrap(), None);
    let fresh = self::vault([1; 32], &store);
    check(&fresh, "acme", "alice", &sealed, "no_data_key");
    let opened = fresh
        .open("globex", "user_key", "alice", "user", &other)
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET);
    vault.destroy_data_key("never-created").unwrap();
}

#[test]
fn fresh_vault_over_reopened_rocks_store_opens_old_records() {
    let dir = tempfile::tempdir().unwrap();
    let sealed = {
        let store: Arc<dyn Store> = Arc::new(RocksStore::open(dir.path()).unwrap());
        let vault = vault([3; 32], &store);
        provision(&vault, &["acme"]);
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
fn the_self_test_refuses_a_replaced_or_shorter_master_key_and_writes_nothing() {
    let store = mem_store();
    let rotated = Arc::new(MemMasterKey::from_bytes([1; 32]));
    {
        let vault = Vault::load(rotated.clone(), Arc::clone(&store)).unwrap();
        provision(&vault, &["acme"]);
        vault.begin_master_rotation(false).unwrap();
        vault.rewrap_all(&mut |_| {}).unwrap();
        vault.finish_master_rotation().unwrap();
    }
    let before = dump(&*store);
    // Replaced: version 1 of another key cannot open what version 2 of ours wrapped, and a
    // keyring with version 2 of another key is "a different key".
    custody_error(master([2; 32]), &store, "has no version 2");
    let mut impostor = crate::Keyring::single([2; 32]);
    impostor.add_random();
    custody_error(
        Arc::new(MemMasterKey::from_keyring(impostor)),
        &store,
        "its version 2 is a different key",
    );
    // Our key as it was before the rotation (a stale copy of the key file): no version 2.
    custody_error(master([1; 32]), &store, "has no version 2, which");
    assert!(before == dump(&*store), "a failed self-test writes nothing");
    // The right key passes.
    Vault::load(rotated, Arc::clone(&store)).unwrap();
}

#[test]
fn a_store_from_before_the_canary_is_checked_then_given_one() {
    let store = mem_store();
    // The first format: the DEK record is a bare envelope record wrapped by the file key.
    let context = Binding {
        record: "dek",
        tenant: "acme",
        owner: "",
        role: "dek",
    }
    .context()
    .unwrap();
    let dek = crate::DataKey::from_bytes([7; 32], 0x0102_0304);
    let mut plaintext = 0x0102_0304u32.to_be_bytes().to_vec();
    plaintext.extend_from_slice(&[7; 32]);
    let legacy = MemMasterKey::from_bytes([1; 32])
        .wrap(&plaintext, &context)
        .unwrap();
    let sealed = dek.seal(
        SECRET,
        &Binding {
            record: "user_key",
            tenant: "acme",
            owner: "alice",
            role: "user",
        },
    );
    let mut batch = Batch::new();
    batch.put(Cf::Deks, "acme", legacy.ciphertext);
    store.write(batch, Durability::Sync).unwrap();

    let before = dump(&*store);
    custody_error(master([2; 32]), &store, "is not the key that wrapped");
    assert!(before == dump(&*store), "nothing written");
    let vault = vault([1; 32], &store);
    assert!(store.get(Cf::Meta, b"kms/canary").unwrap().is_some());
    let opened = vault
        .open("acme", "user_key", "alice", "user", &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET);
    // A rotation rewrites the record in the current format, keeping the old DEK's id.
    vault.rotate_data_key("acme").unwrap();
    assert!(!vault.is_current("acme", &sealed).unwrap());
    let opened = vault
        .open("acme", "user_key", "alice", "user", &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET);
    assert!(crate::store_holds_keys(&*store).unwrap());
    assert!(!crate::store_holds_keys(&MemStore::new()).unwrap());
}

#[test]
fn a_tenant_data_key_rotation_keeps_old_records_open_until_retired() {
    let store = mem_store();
    let vault = vault([1; 32], &store);
    provision(&vault, &["acme", "globex"]);
    let old = vault
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    let new_id = vault.rotate_data_key("acme").unwrap();
    assert_eq!(vault.rotate_data_key("acme").unwrap(), new_id, "joins");
    assert_eq!(vault.rotating_tenants().unwrap(), vec!["acme".to_owned()]);
    let new = vault
        .seal("acme", "user_key", "alice", "user", SECRET)
        .unwrap();
    assert_eq!(crate::envelope::sealed_key_id(&new), Some(new_id));
    // Both open, from this vault and from a fresh one (both DEKs are in the record).
    let fresh = self::vault([1; 32], &store);
    for v in [&vault, &fresh] {
        assert_eq!(
            v.open("acme", "user_key", "alice", "user", &old)
                .unwrap()
                .as_slice(),
            SECRET
        );
        assert_eq!(
            v.open("acme", "user_key", "alice", "user", &new)
                .unwrap()
                .as_slice(),
            SECRET
        );
    }
    let removed = vault.retire_data_keys("acme", new_id).unwrap();
    assert_eq!(removed.len(), 1);
    assert!(vault.rotating_tenants().unwrap().is_empty());
    check(&vault, "acme", "alice", &old, "unknown_key_id");
    check(
        &self::vault([1; 32], &store),
        "acme",
        "alice",
        &old,
        "unknown_key_id",
    );
    assert!(vault.is_current("acme", &new).unwrap());
}

#[test]
fn a_master_rotation_interrupted_anywhere_completes_after_a_restart() {
    let store = mem_store();
    let master = Arc::new(MemMasterKey::from_bytes([1; 32]));
    let vault = Vault::load(master.clone(), Arc::clone(&store)).unwrap();
    provision(&vault, &["a", "b", "c"]);
    let sealed = vault
        .seal("b", "user_key", "alice", "user", SECRET)
        .unwrap();
    let to = vault.begin_master_rotation(true).unwrap();
    // "Crash" after one tenant was rewrapped: a new vault over the same store and provider.
    let mut seen = 0;
    let _ = vault.rewrap_all(&mut |done| seen = done.rewrapped);
    drop(vault);
    let vault = Vault::load(master.clone(), Arc::clone(&store)).unwrap();
    assert_eq!(vault.master_rotation().unwrap(), Some(to));
    assert_eq!(
        vault.begin_master_rotation(true).unwrap(),
        to,
        "no second version"
    );
    assert_eq!(master.versions().unwrap(), vec![1, to]);
    let again = vault.rewrap_all(&mut |_| {}).unwrap();
    assert_eq!(again.rewrapped, 0, "the first pass had finished: {seen}");
    assert_eq!(vault.finish_master_rotation().unwrap(), vec![1]);
    let opened = Vault::load(master.clone(), Arc::clone(&store))
        .unwrap()
        .open("b", "user_key", "alice", "user", &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), SECRET);

    // Finishing while something is still wrapped below the target is refused.
    let to = vault.begin_master_rotation(true).unwrap();
    let error = vault.finish_master_rotation().unwrap_err();
    assert_eq!(error.code(), "custody");
    assert!(error
        .to_string()
        .contains(&format!("below master key version {to}")));
    assert_eq!(master.versions().unwrap(), vec![2, to], "nothing retired");
}

#[test]
fn wrapped_data_key_moved_to_another_tenant_is_refused() {
    let store = mem_store();
    let vault = vault([1; 32], &store);
    provision(&vault, &["acme"]);
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
    let vault = vault([1; 32], &store);
    let mut batch = Batch::new();
    batch
        .put(Cf::Deks, "garbage", vec![1u8, 1, 0])
        .put(Cf::Deks, "json", b"{\"format\":2}".to_vec())
        .put(
            Cf::Deks,
            "empty",
            b"{\"format\":2,\"current\":1,\"keys\":[]}".to_vec(),
        );
    store.write(batch, Durability::Sync).unwrap();
    for (tenant, code) in [
        ("garbage", "truncated"),
        ("json", "corrupt"),
        ("empty", "corrupt"),
    ] {
        let error = vault.seal(tenant, "r", "o", "x", b"").unwrap_err();
        assert_eq!(error.code(), code, "{tenant}: {error}");
    }
}

#[test]
fn debug_names_the_master_key_not_its_bytes() {
    let store = mem_store();
    let vault = vault([4; 32], &store);
    let shown = format!("{vault:?}");
    assert!(
        shown.starts_with("Vault { master: MasterKeyInfo { provider: \"file\""),
        "{shown}"
    );
    assert!(!shown.contains("4, 4"), "{shown}");
}

/// The signer and relay share these across threads; losing `Send + Sync` must fail here.
#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vault>();
    assert_send_sync::<crate::DataKey>();
    assert_send_sync::<crate::FileMasterKey>();
    assert_send_sync::<crate::TransitMasterKey>();
    assert_send_sync::<RocksStore>();
    assert_send_sync::<MemStore>();
}
