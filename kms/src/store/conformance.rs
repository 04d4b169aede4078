//! The store conformance suite: one macro, `store_conformance!(make_store_expr)`, that generates
//! the same tests for every [`Store`] implementation.
//!
//! `make_store_expr` must evaluate to `(store, guard)`: a fresh, empty store and a value kept
//! alive for the test's duration (e.g. the `TempDir` holding a RocksDB directory, or `()`).
//! Test-only; it must not depend on any one engine.

use super::{Batch, Cf, Durability, Store};

/// Expects `cf`/`key` to hold `expected` (`None` = absent).
#[track_caller]
pub(crate) fn check(store: &dyn Store, cf: Cf, key: &[u8], expected: Option<&[u8]>) {
    let got = store.get(cf, key).expect("get");
    assert_eq!(
        got.as_deref(),
        expected,
        "{}/{:?}",
        cf.name(),
        String::from_utf8_lossy(key)
    );
}

/// All keys under `prefix` in `cf`, in visiting order.
pub(crate) fn scan_keys(store: &dyn Store, cf: Cf, prefix: &[u8]) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    store
        .scan_prefix(cf, prefix, &mut |key, _| {
            keys.push(key.to_vec());
            true
        })
        .expect("scan_prefix");
    keys
}

/// Writes `pairs` into `cf` in one synced batch.
pub(crate) fn put_all(store: &dyn Store, cf: Cf, pairs: &[(&[u8], &[u8])]) {
    let mut batch = Batch::new();
    for (key, value) in pairs {
        batch.put(cf, *key, *value);
    }
    store.write(batch, Durability::Sync).expect("write");
}

/// Generates the conformance tests for the store built by `$make` (see the module docs).
macro_rules! store_conformance {
    ($make:expr) => {
        use $crate::store::conformance::{check, put_all, scan_keys};
        use $crate::store::{Batch, Cf, Durability, Store};

        #[test]
        fn get_put_overwrite_delete() {
            let (store, _guard) = $make;
            check(&store, Cf::Users, b"k", None);
            put_all(&store, Cf::Users, &[(b"k", b"v1")]);
            check(&store, Cf::Users, b"k", Some(b"v1"));
            put_all(&store, Cf::Users, &[(b"k", b"v2")]);
            check(&store, Cf::Users, b"k", Some(b"v2"));
            let mut batch = Batch::new();
            batch
                .delete(Cf::Users, b"k".as_slice())
                .delete(Cf::Users, b"absent".as_slice());
            store.write(batch, Durability::Sync).unwrap();
            check(&store, Cf::Users, b"k", None);
        }

        #[test]
        fn empty_keys_and_values_are_stored() {
            let (store, _guard) = $make;
            put_all(
                &store,
                Cf::Meta,
                &[(b"", b"empty key"), (b"empty value", b"")],
            );
            check(&store, Cf::Meta, b"", Some(b"empty key"));
            check(&store, Cf::Meta, b"empty value", Some(b""));
        }

        #[test]
        fn both_durabilities_write() {
            let (store, _guard) = $make;
            for (durability, key) in [(Durability::Sync, "s"), (Durability::Buffered, "b")] {
                let mut batch = Batch::new();
                batch.put(Cf::Sessions, key, "v");
                store.write(batch, durability).unwrap();
                check(&store, Cf::Sessions, key.as_bytes(), Some(b"v"));
            }
            store.write(Batch::new(), Durability::Sync).unwrap();
        }

        #[test]
        fn batch_applies_in_order_across_families() {
            let (store, _guard) = $make;
            put_all(&store, Cf::Users, &[(b"old", b"x")]);
            let mut batch = Batch::new();
            batch
                .put(Cf::Tenants, "t", "tenant")
                .put(Cf::Deks, "t", "dek")
                .delete(Cf::Users, "old")
                .put(Cf::Audit, "gone", "1")
                .delete(Cf::Audit, "gone")
                .delete(Cf::Audit, "back")
                .put(Cf::Audit, "back", "2");
            assert!(!batch.is_empty());
            check(&store, Cf::Tenants, b"t", None);
            store.write(batch, Durability::Sync).unwrap();
            check(&store, Cf::Tenants, b"t", Some(b"tenant"));
            check(&store, Cf::Deks, b"t", Some(b"dek"));
            check(&store, Cf::Users, b"old", None);
            check(&store, Cf::Audit, b"gone", None);
            check(&store, Cf::Audit, b"back", Some(b"2"));
        }

        /// A reader scanning while batches land must never see half a batch.
        #[test]
        fn readers_never_see_half_a_batch() {
            let (store, _guard) = $make;
            let store: &dyn Store = &store;
            put_all(store, Cf::Meta, &[(b"pair/a", b"0"), (b"pair/b", b"0")]);
            let writer_done = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    for i in 1..=300u32 {
                        let mut batch = Batch::new();
                        let v = i.to_string();
                        batch
                            .put(Cf::Meta, "pair/a", v.clone())
                            .put(Cf::Meta, "pair/b", v);
                        store.write(batch, Durability::Buffered).unwrap();
                    }
                    writer_done.store(true, std::sync::atomic::Ordering::Release);
                });
                while !writer_done.load(std::sync::atomic::Ordering::Acquire) {
                    let mut values = Vec::new();
                    store
                        .scan_prefix(Cf::Meta, b"pair/", &mut |_, v| {
                            values.push(v.to_vec());
                            true
                        })
                        .unwrap();
                    assert_eq!(values.len(), 2);
                    assert_eq!(values[0], values[1], "saw half a batch");
                }
            });
            check(store, Cf::Meta, b"pair/a", Some(b"300"));
        }

        #[test]
        fn column_families_are_separate_namespaces() {
            let (store, _guard) = $make;
            for cf in Cf::ALL {
                put_all(&store, cf, &[(b"same key", cf.name().as_bytes())]);
            }
            for cf in Cf::ALL {
                check(&store, cf, b"same key", Some(cf.name().as_bytes()));
                assert_eq!(scan_keys(&store, cf, b""), vec![b"same key".to_vec()]);
            }
            let mut batch = Batch::new();
            batch.delete(Cf::Users, "same key");
            store.write(batch, Durability::Sync).unwrap();
            check(&store, Cf::Users, b"same key", None);
            check(&store, Cf::Sessions, b"same key", Some(b"sessions"));
        }

        #[test]
        fn scan_is_ascending_and_stays_inside_the_prefix() {
            let (store, _guard) = $make;
            let keys: [&[u8]; 9] = [
                b"b",
                b"a\xff",
                b"ab",
                b"a",
                b"",
                b"aa",
                b"a\x00",
                b"`",
                b"a\xff\xff",
            ];
            for key in keys {
                put_all(&store, Cf::Users, &[(key, b"v")]);
            }
            let a: Vec<&[u8]> = vec![b"a", b"a\x00", b"aa", b"ab", b"a\xff", b"a\xff\xff"];
            assert_eq!(scan_keys(&store, Cf::Users, b"a"), a);
            let ff: Vec<&[u8]> = vec![b"a\xff", b"a\xff\xff"];
            assert_eq!(scan_keys(&store, Cf::Users, b"a\xff"), ff);
            assert_eq!(scan_keys(&store, Cf::Users, b"b"), vec![b"b".to_vec()]);
            assert!(scan_keys(&store, Cf::Users, b"c").is_empty());
            assert!(scan_keys(&store, Cf::Users, b"ac").is_empty());
            assert_eq!(scan_keys(&store, Cf::Users, b"").len(), keys.len());
        }

        #[test]
        fn scan_stops_when_the_visitor_says_so() {
            let (store, _guard) = $make;
            put_all(
                &store,
                Cf::Audit,
                &[(b"x1", b"1"), (b"x2", b"2"), (b"x3", b"3")],
            );
            let mut seen = Vec::new();
            store
                .scan_prefix(Cf::Audit, b"x", &mut |key, value| {
                    seen.push((key.to_vec(), value.to_vec()));
                    seen.len() < 2
                })
                .unwrap();
            assert_eq!(
                seen,
                vec![
                    (b"x1".to_vec(), b"1".to_vec()),
                    (b"x2".to_vec(), b"2".to_vec())
                ]
            );
        }

        #[test]
        fn long_scans_keep_order_and_stop_anywhere() {
            let (store, _guard) = $make;
            let mut batch = Batch::new();
            for i in (0..500u16).rev() {
                batch.put(
                    Cf::Audit,
                    [b"log/".as_slice(), &i.to_be_bytes()].concat(),
                    i.to_be_bytes(),
                );
            }
            batch
                .put(Cf::Audit, "log0", "outside")
                .put(Cf::Audit, "lof", "outside");
            store.write(batch, Durability::Sync).unwrap();
            let keys = scan_keys(&store, Cf::Audit, b"log/");
            let expected: Vec<Vec<u8>> = (0..500u16)
                .map(|i| [b"log/".as_slice(), &i.to_be_bytes()].concat())
                .collect();
            assert_eq!(keys, expected);
            let mut count = 0;
            store
                .scan_prefix(Cf::Audit, b"log/", &mut |_, _| {
                    count += 1;
                    count < 130
                })
                .unwrap();
            assert_eq!(count, 130);
        }

        #[test]
        fn visitor_may_call_back_into_the_store() {
            let (store, _guard) = $make;
            let store: &dyn Store = &store;
            put_all(store, Cf::Users, &[(b"u1", b"t1"), (b"u2", b"t2")]);
            put_all(store, Cf::Tenants, &[(b"t1", b"one"), (b"t2", b"two")]);
            let mut joined = Vec::new();
            store
                .scan_prefix(Cf::Users, b"u", &mut |_, tenant| {
                    joined.push(store.get(Cf::Tenants, tenant).unwrap().unwrap());
                    true
                })
                .unwrap();
            assert_eq!(joined, vec![b"one".to_vec(), b"two".to_vec()]);
        }
    };
}

pub(crate) use store_conformance;
