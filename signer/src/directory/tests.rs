//! Unit tests of the unsealed-key cache and the NIP-05 index against changes they must not
//! outlive: a load that read the store before an invalidation is never cached after it (the
//! interleaving is forced step by step, so the test does not depend on thread timing).

use crate::admin::NewUser;
use crate::directory::{TenantUpdate, UserUpdate};
use crate::{Bunker, BunkerConfig};
use kms::MemMasterKey;
use proto::policy::{Policy, SignKinds};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use store::MemStore;

fn open() -> Bunker {
    Bunker::open(
        Arc::new(MemStore::new()),
        Arc::new(MemMasterKey::generate()),
        BunkerConfig::new("ws://127.0.0.1:7447"),
    )
    .unwrap()
}

#[test]
fn keys_read_before_a_user_update_are_not_cached_after_it() {
    let bunker = open();
    let (admin, directory) = (bunker.admin(), bunker.directory());
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let user = admin.create_user(&tenant, NewUser::default(), 1).unwrap();
    let rs = *user.remote_signer_pubkey.as_bytes();

    // A request misses the cache and reads the store…
    let epoch = directory.key_epoch.load(Ordering::Acquire);
    let stale = directory.load_keys(&rs).unwrap();
    assert!(!stale.disabled);
    // …an admin disables the user meanwhile…
    let disable = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    admin.update_user(&tenant, &user.id, disable, 2).unwrap();
    // …and only then does the request try to cache what it read.
    directory.cache_keys(user.remote_signer_pubkey, stale, epoch);
    assert!(
        directory.keys(&rs).unwrap().disabled,
        "the cache serves the write"
    );

    // A load that read after the last change is cached.
    directory.forget_keys(&user.remote_signer_pubkey);
    let epoch = directory.key_epoch.load(Ordering::Acquire);
    let fresh = directory.load_keys(&rs).unwrap();
    directory.cache_keys(user.remote_signer_pubkey, fresh.clone(), epoch);
    assert!(Arc::ptr_eq(&directory.keys(&rs).unwrap(), &fresh));
}

#[test]
fn keys_read_before_a_tenant_policy_change_are_not_cached_after_it() {
    let bunker = open();
    let (admin, directory) = (bunker.admin(), bunker.directory());
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let user = admin.create_user(&tenant, NewUser::default(), 1).unwrap();
    let rs = *user.remote_signer_pubkey.as_bytes();
    let epoch = directory.key_epoch.load(Ordering::Acquire);
    let stale = directory.load_keys(&rs).unwrap();
    let policy = Policy {
        sign_kinds: SignKinds::Only([1].into_iter().collect()),
        ..Policy::default()
    };
    admin.set_tenant_policy(&tenant, policy.clone(), 2).unwrap();
    directory.cache_keys(user.remote_signer_pubkey, stale, epoch);
    assert_eq!(*directory.keys(&rs).unwrap().policy, policy);
    // A tenant change that is not a policy keeps what is cached.
    let cached = directory.keys(&rs).unwrap();
    let rename = TenantUpdate {
        name: Some("acme 2".to_owned()),
        ..TenantUpdate::default()
    };
    admin.update_tenant(&tenant, rename, 3).unwrap();
    assert!(Arc::ptr_eq(&directory.keys(&rs).unwrap(), &cached));
}

#[test]
fn nip05_names_are_read_from_an_index_that_no_user_change_outlives() {
    let bunker = open();
    let (admin, directory) = (bunker.admin(), bunker.directory());
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let domain = TenantUpdate {
        nip05_domain: Some(Some("acme.example".to_owned())),
        ..TenantUpdate::default()
    };
    admin.update_tenant(&tenant, domain, 1).unwrap();
    let named = |name: &str| NewUser {
        nip05_name: Some(name.to_owned()),
        ..NewUser::default()
    };
    let alice = admin.create_user(&tenant, named("alice"), 1).unwrap();
    let lookup = |name| directory.nip05_lookup("acme.example", name).unwrap();
    let alice_keys = (alice.user_pubkey, alice.remote_signer_pubkey);
    assert_eq!(lookup("alice"), Some(alice_keys));
    assert!(directory.nip05_names.contains_key(&tenant), "indexed");
    assert_eq!(lookup("bob"), None);

    // Each change drops the index; the next lookup reads the change.
    let bob = admin.create_user(&tenant, named("bob"), 2).unwrap();
    assert_eq!(
        lookup("bob"),
        Some((bob.user_pubkey, bob.remote_signer_pubkey))
    );
    let disable = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    admin.update_user(&tenant, &alice.id, disable, 3).unwrap();
    assert_eq!(lookup("alice"), None, "a disabled user has no NIP-05 name");
    admin.delete_user(&tenant, &bob.id).unwrap();
    assert_eq!(lookup("bob"), None);

    // An index built from a read before a change is not kept after it.
    let epoch = directory.nip05_epoch.load(Ordering::Acquire);
    directory.forget_nip05();
    assert_ne!(directory.nip05_epoch.load(Ordering::Acquire), epoch);
    assert!(directory.nip05_names.is_empty());
}
