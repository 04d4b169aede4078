//! The conformance suite every master-key provider passes, against its real server or token.
//!
//! Role: one sequence of checks — wrap and unwrap, context binding, tampering, another key
//! refusing, versions, rotation, rewrap, retirement destroying old versions, and a [`Vault`]
//! over the provider (self-test, data keys, a whole master-key rotation, the self-test refusing
//! another key) — so providers differ only in how they are started.
//! What it must not do: depend on a provider's ciphertext format beyond "bytes".
//!
//! Main item: [`run`].

use super::MasterKey;
use crate::{Error, Vault};
use std::sync::Arc;
use store::{MemStore, Store};

const PLAINTEXT: &[u8] = b"a 36-byte data key record, or so...";

fn context(tenant: &str) -> Vec<u8> {
    crate::vault::dek_context(tenant)
}

/// Changes one byte near the end of a ciphertext, keeping it printable base64 when it was.
fn tamper(mut ciphertext: Vec<u8>) -> Vec<u8> {
    let at = ciphertext.len() - 6;
    ciphertext[at] = match ciphertext[at] {
        b'A' => b'B',
        b if b.is_ascii_alphanumeric() => b'A',
        b => b ^ 1,
    };
    ciphertext
}

#[track_caller]
fn refused<T>(result: Result<T, Error>, codes: &[&str]) {
    match result {
        Ok(_) => panic!("expected one of {codes:?}, got success"),
        Err(e) => assert!(codes.contains(&e.code()), "expected {codes:?}, got {e}"),
    }
}

/// Runs the suite. `master` must be a fresh key with exactly one version; `other` another key
/// of the same provider. Leaves `master` rotated three times with only its last version.
pub(crate) fn run(master: Arc<dyn MasterKey>, other: Arc<dyn MasterKey>) {
    master.health().unwrap();
    let v1 = master.current_version().unwrap();
    assert_eq!(master.versions().unwrap(), vec![v1]);
    let ctx = context("acme");

    // Wrap and unwrap, bound to the context; tampering and another key refused.
    let w1 = master.wrap(PLAINTEXT, &ctx).unwrap();
    assert_eq!(w1.version, v1);
    assert_eq!(master.unwrap(&w1, &ctx).unwrap().as_slice(), PLAINTEXT);
    assert_ne!(
        master.wrap(PLAINTEXT, &ctx).unwrap(),
        w1,
        "fresh randomness"
    );
    refused(
        master.unwrap(&w1, &context("acne")),
        &["wrong_key_or_tampered"],
    );
    let mut tampered = w1.clone();
    tampered.ciphertext = tamper(tampered.ciphertext);
    refused(master.unwrap(&tampered, &ctx), &["wrong_key_or_tampered"]);
    refused(
        other.unwrap(&w1, &ctx),
        &[
            "wrong_key_or_tampered",
            "unknown_key_id",
            "unknown_key_version",
        ],
    );

    // Rotation adds a version; older ciphertexts still open; rewrap moves them forward.
    let v2 = master.rotate().unwrap();
    assert!(v2 > v1);
    assert_eq!(master.current_version().unwrap(), v2);
    assert_eq!(master.versions().unwrap(), vec![v1, v2]);
    let w2 = master.wrap(PLAINTEXT, &ctx).unwrap();
    assert_eq!(w2.version, v2);
    assert_eq!(master.unwrap(&w1, &ctx).unwrap().as_slice(), PLAINTEXT);
    let rewrapped = master.rewrap(&w1, &ctx).unwrap();
    assert_eq!(rewrapped.version, v2);
    assert_eq!(
        master.unwrap(&rewrapped, &ctx).unwrap().as_slice(),
        PLAINTEXT
    );
    refused(
        master.rewrap(&w1, &context("acne")),
        &["wrong_key_or_tampered"],
    );

    // Retirement destroys older versions; the current one cannot be retired.
    refused(master.retire(v2 + 1), &["unsupported"]);
    let v3 = master.rotate().unwrap();
    assert_eq!(master.retire(v3).unwrap(), vec![v1, v2]);
    assert_eq!(master.versions().unwrap(), vec![v3]);
    refused(master.unwrap(&w1, &ctx), &["unknown_key_version"]);
    refused(master.unwrap(&w2, &ctx), &["unknown_key_version"]);
    refused(master.rewrap(&rewrapped, &ctx), &["unknown_key_version"]);
    assert_eq!(master.retire(v3).unwrap(), Vec::<u32>::new());

    vault_over(&master, &other);
}

/// A vault over the provider: self-test, data keys, a master-key rotation while records keep
/// opening, and the self-test refusing `other`.
fn vault_over(master: &Arc<dyn MasterKey>, other: &Arc<dyn MasterKey>) {
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let vault = Vault::load(Arc::clone(master), Arc::clone(&store)).unwrap();
    vault.create_data_key("acme").unwrap();
    vault.create_data_key("globex").unwrap();
    let sealed = vault
        .seal("acme", "user_key", "alice", "user", b"k")
        .unwrap();

    let from = master.current_version().unwrap();
    let to = vault.begin_master_rotation(true).unwrap();
    assert!(to > from);
    assert_eq!(vault.begin_master_rotation(true).unwrap(), to, "joins");
    let done = vault.rewrap_all(&mut |_| {}).unwrap();
    assert_eq!(done.rewrapped, 3, "two data keys and the canary");
    assert_eq!(vault.finish_master_rotation().unwrap(), vec![from]);
    let status = vault.master_status().unwrap();
    assert_eq!(status.versions, vec![to]);
    assert_eq!(
        status.wrapped_by_version.into_iter().collect::<Vec<_>>(),
        vec![(to, 3)]
    );
    assert_eq!(status.rotating_to, None);

    // A fresh vault (no cache) opens what was sealed before the rotation.
    let again = Vault::load(Arc::clone(master), Arc::clone(&store)).unwrap();
    let opened = again
        .open("acme", "user_key", "alice", "user", &sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), b"k");
    refused(
        Vault::load(Arc::clone(other), Arc::clone(&store)),
        &["custody"],
    );
}
