//! Store tests: the conformance suite for [`MemStore`] and [`RocksStore`], RocksDB reopen (also
//! for range scans over SST files and deleted rows), and the column-family table.

use crate::conformance::{check, put_all, range_keys, scan_keys};
use crate::{Batch, Cf, Durability, MemStore, RocksStore, Store};
use std::collections::HashSet;

mod mem {
    crate::conformance::store_conformance!((crate::MemStore::new(), ()));
}

mod rocks {
    crate::conformance::store_conformance!({
        let dir = tempfile::tempdir().unwrap();
        (crate::RocksStore::open(dir.path()).unwrap(), dir)
    });
}

mod pg {
    crate::conformance::store_conformance!({
        let url = crate::testing::Postgres::shared().database();
        (
            crate::PgStore::connect(&url, &crate::PgOptions::default()).unwrap(),
            (),
        )
    });
}

mod pg_engine;

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

/// After a reopen the rows live in SST files (RocksDB flushes recovered memtables at open), not
/// only in the memtable: range bounds must hold there too, and deleted rows (tombstones) inside
/// and beside the range must stay invisible in both directions.
#[test]
fn rocks_range_scans_after_reopen_skip_deleted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let key = |i: u16| [b"t/".as_slice(), &i.to_be_bytes()].concat();
    let store = RocksStore::open(dir.path()).unwrap();
    let mut batch = Batch::new();
    for i in 0..300u16 {
        batch.put(Cf::Audit, key(i), b"v".as_slice());
    }
    store.write(batch, Durability::Sync).unwrap();
    let mut batch = Batch::new();
    for i in (0..300u16).filter(|i| i % 3 == 0 || *i >= 250) {
        batch.delete(Cf::Audit, key(i));
    }
    store.write(batch, Durability::Sync).unwrap();
    drop(store);
    let store = RocksStore::open(dir.path()).unwrap();
    let live: Vec<Vec<u8>> = (10..260u16)
        .filter(|i| i % 3 != 0 && *i < 250)
        .map(key)
        .collect();
    assert_eq!(
        range_keys(&store, Cf::Audit, &key(10), &key(260), false),
        live
    );
    let mut rev = live.clone();
    rev.reverse();
    assert_eq!(
        range_keys(&store, Cf::Audit, &key(10), &key(260), true),
        rev
    );
    let mut first = None;
    store
        .scan_range_rev(Cf::Audit, &key(0), &key(300), &mut |k, _| {
            first = Some(k.to_vec());
            false
        })
        .unwrap();
    assert_eq!(first, Some(key(248)));
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
        "nostrconnect_pairings",
        "approvals",
        "claims",
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
