//! Store tests: the conformance suite for [`MemStore`] and [`RocksStore`], RocksDB reopen, and
//! the column-family table.

use super::conformance::{check, put_all, scan_keys};
use super::{Cf, MemStore, RocksStore};
use std::collections::HashSet;

mod mem {
    super::super::conformance::store_conformance!((crate::MemStore::new(), ()));
}

mod rocks {
    super::super::conformance::store_conformance!({
        let dir = tempfile::tempdir().unwrap();
        (crate::RocksStore::open(dir.path()).unwrap(), dir)
    });
}

#[test]
fn rocks_data_survives_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/db");
    let store = RocksStore::open(&path).unwrap();
    put_all(
        &store,
        Cf::Deks,
        &[(b"acme", b"wrapped"), (b"globex", b"other")],
    );
    drop(store);
    let store = RocksStore::open(&path).unwrap();
    check(&store, Cf::Deks, b"acme", Some(b"wrapped"));
    assert_eq!(
        scan_keys(&store, Cf::Deks, b""),
        vec![b"acme".to_vec(), b"globex".to_vec()]
    );
    assert!(scan_keys(&store, Cf::Tenants, b"").is_empty());
}

#[test]
fn rocks_refuses_a_second_open_of_the_same_dir() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RocksStore::open(dir.path()).unwrap();
    let second = RocksStore::open(dir.path()).unwrap_err();
    assert_eq!(second.code(), "store");
}

#[test]
fn cf_names_are_the_documented_unique_names() {
    let names: Vec<&str> = Cf::ALL.iter().map(|cf| cf.name()).collect();
    let expected = [
        "meta",
        "tenants",
        "deks",
        "users",
        "signer_index",
        "connect_tokens",
        "sessions",
        "admin_tokens",
        "audit",
    ];
    assert_eq!(names, expected);
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), Cf::ALL.len());
}

#[test]
fn cf_index_matches_all() {
    for (i, cf) in Cf::ALL.iter().enumerate() {
        assert_eq!(cf.index(), i, "{cf:?}");
    }
}

#[test]
fn mem_store_debug_shows_counts_only() {
    let store = MemStore::new();
    put_all(&store, Cf::Meta, &[(b"k", b"secret-ish value")]);
    let shown = format!("{store:?}");
    assert_eq!(shown, "MemStore { entries: 1 }");
}
