//! The store conformance suite: one macro, `store_conformance!(make_store_expr)`, that generates
//! the same tests for every [`Store`] implementation.
//!
//! `make_store_expr` must evaluate to `(store, guard)`: a fresh, empty store and a value kept
//! alive for the test's duration (e.g. the `TempDir` holding a RocksDB directory, or `()`).
//! Test-only; it must not depend on any one engine.

use crate::{Batch, Cf, Durability, Store};

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

/// All keys of `cf` in `[start, end)`, in visiting order: ascending, or descending when `rev`.
pub(crate) fn range_keys(
    store: &dyn Store,
    cf: Cf,
    start: &[u8],
    end: &[u8],
    rev: bool,
) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    let mut visit = |key: &[u8], _: &[u8]| {
        keys.push(key.to_vec());
        true
    };
    if rev {
        store.scan_range_rev(cf, start, end, &mut visit)
    } else {
        store.scan_range(cf, start, end, &mut visit)
    }
    .expect("scan_range");
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
        use $crate::conformance::{check, put_all, range_keys, scan_keys};
        use $crate::{Batch, Cf, Durability, Store};

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
        fn insert_new_writes_once_whoever_races() {
            let (store, _guard) = $make;
            for durability in [Durability::Sync, Durability::Buffered] {
                let key = format!("{durability:?}");
                let wins = std::sync::atomic::AtomicUsize::new(0);
                std::thread::scope(|scope| {
                    for i in 0..8u8 {
                        let (store, wins, key) = (&store, &wins, &key);
                        scope.spawn(move || {
                            let won = store
                                .insert_new(Cf::Claims, key.as_bytes(), &[i], durability)
                                .unwrap();
                            if won {
                                wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        });
                    }
                });
                assert_eq!(wins.into_inner(), 1, "{durability:?}");
                let kept = store.get(Cf::Claims, key.as_bytes()).unwrap().unwrap();
                assert!(!store
                    .insert_new(Cf::Claims, key.as_bytes(), b"later", durability)
                    .unwrap());
                check(&store, Cf::Claims, key.as_bytes(), Some(&kept));
            }
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

        /// `[start, end)`: the start key is visited, the end key is not, in both directions;
        /// keys that extend a bound (`a` → `a\x00`) sort right after it.
        #[test]
        fn range_bounds_are_inclusive_then_exclusive() {
            let (store, _guard) = $make;
            let keys: [&[u8]; 8] = [b"c", b"a", b"b\x00", b"ab", b"b", b"a\x00", b"", b"\xff"];
            for key in keys {
                put_all(&store, Cf::Audit, &[(key, b"v")]);
            }
            put_all(&store, Cf::Users, &[(b"aa", b"other family")]);
            let inner: Vec<&[u8]> = vec![b"a\x00", b"ab"];
            assert_eq!(range_keys(&store, Cf::Audit, b"a\x00", b"b", false), inner);
            let with_b: Vec<&[u8]> = vec![b"a", b"a\x00", b"ab", b"b"];
            assert_eq!(range_keys(&store, Cf::Audit, b"a", b"b\x00", false), with_b);
            let rev: Vec<&[u8]> = vec![b"b", b"ab", b"a\x00", b"a"];
            assert_eq!(range_keys(&store, Cf::Audit, b"a", b"b\x00", true), rev);
            // Bounds that are not keys themselves.
            let between: Vec<&[u8]> = vec![b"ab", b"b", b"b\x00"];
            assert_eq!(range_keys(&store, Cf::Audit, b"aa", b"bb", false), between);
            // The whole family: from the empty key to past `\xff`.
            let all = range_keys(&store, Cf::Audit, b"", b"\xff\x00", false);
            let mut sorted: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
            sorted.sort();
            assert_eq!(all, sorted);
            sorted.reverse();
            assert_eq!(
                range_keys(&store, Cf::Audit, b"", b"\xff\x00", true),
                sorted
            );
            // `\xff` itself is excluded by an end of `\xff`.
            assert!(
                !range_keys(&store, Cf::Audit, b"c", b"\xff", false).contains(&b"\xff".to_vec())
            );
        }

        #[test]
        fn empty_and_inverted_ranges_visit_nothing() {
            let (store, _guard) = $make;
            put_all(
                &store,
                Cf::Audit,
                &[(b"k1", b"1"), (b"k2", b"2"), (b"k4", b"4")],
            );
            for rev in [false, true] {
                // start == end, even on an existing key.
                assert!(range_keys(&store, Cf::Audit, b"k1", b"k1", rev).is_empty());
                // start > end is empty, not an error.
                assert!(range_keys(&store, Cf::Audit, b"k4", b"k1", rev).is_empty());
                assert!(range_keys(&store, Cf::Audit, b"z", b"", rev).is_empty());
                // A gap between keys, and past the last key.
                assert!(range_keys(&store, Cf::Audit, b"k3", b"k4", rev).is_empty());
                assert!(range_keys(&store, Cf::Audit, b"k5", b"k9", rev).is_empty());
                // Another column family holds nothing in the range.
                assert!(range_keys(&store, Cf::Users, b"k", b"l", rev).is_empty());
            }
        }

        #[test]
        fn range_scans_stop_when_the_visitor_says_so() {
            let (store, _guard) = $make;
            put_all(
                &store,
                Cf::Audit,
                &[(b"r1", b"1"), (b"r2", b"2"), (b"r3", b"3"), (b"r4", b"4")],
            );
            let mut seen = Vec::new();
            store
                .scan_range(Cf::Audit, b"r1", b"r9", &mut |key, value| {
                    seen.push((key.to_vec(), value.to_vec()));
                    seen.len() < 2
                })
                .unwrap();
            assert_eq!(
                seen,
                vec![
                    (b"r1".to_vec(), b"1".to_vec()),
                    (b"r2".to_vec(), b"2".to_vec())
                ]
            );
            seen.clear();
            store
                .scan_range_rev(Cf::Audit, b"r1", b"r9", &mut |key, value| {
                    seen.push((key.to_vec(), value.to_vec()));
                    seen.len() < 2
                })
                .unwrap();
            assert_eq!(
                seen,
                vec![
                    (b"r4".to_vec(), b"4".to_vec()),
                    (b"r3".to_vec(), b"3".to_vec())
                ]
            );
        }

        /// Ranges longer than any internal chunk keep their order in both directions, resume
        /// exactly where a stopped scan left off, and stop at any point.
        #[test]
        fn long_range_scans_resume_and_stop_anywhere() {
            let (store, _guard) = $make;
            let key = |i: u16| [b"log/".as_slice(), &i.to_be_bytes()].concat();
            let mut batch = Batch::new();
            for i in (0..500u16).rev() {
                batch.put(Cf::Audit, key(i), i.to_be_bytes());
            }
            batch
                .put(Cf::Audit, "log0", "outside")
                .put(Cf::Audit, "lof", "outside");
            store.write(batch, Durability::Sync).unwrap();
            let up: Vec<Vec<u8>> = (100..400u16).map(key).collect();
            assert_eq!(
                range_keys(&store, Cf::Audit, &key(100), &key(400), false),
                up
            );
            let down: Vec<Vec<u8>> = up.iter().rev().cloned().collect();
            assert_eq!(
                range_keys(&store, Cf::Audit, &key(100), &key(400), true),
                down
            );
            // Page through [0, 500) 130 keys at a time in each direction.
            let (start, end) = (key(0), key(500));
            for rev in [false, true] {
                let mut pages: Vec<Vec<u8>> = Vec::new();
                let (mut low, mut high) = (start.clone(), end.clone());
                loop {
                    let mut page = Vec::new();
                    let mut visit = |k: &[u8], _: &[u8]| {
                        page.push(k.to_vec());
                        page.len() < 130
                    };
                    if rev {
                        store
                            .scan_range_rev(Cf::Audit, &low, &high, &mut visit)
                            .unwrap();
                    } else {
                        store
                            .scan_range(Cf::Audit, &low, &high, &mut visit)
                            .unwrap();
                    }
                    let Some(last) = page.last().cloned() else {
                        break;
                    };
                    if rev {
                        high = last;
                    } else {
                        low = [last.as_slice(), &[0]].concat();
                    }
                    assert!(
                        page.len() == 130 || page.len() == 500 % 130,
                        "{}",
                        page.len()
                    );
                    pages.extend(page);
                }
                let mut expected: Vec<Vec<u8>> = (0..500u16).map(key).collect();
                if rev {
                    expected.reverse();
                }
                assert_eq!(pages, expected, "rev = {rev}");
            }
        }

        #[test]
        fn range_visitor_may_call_back_into_the_store() {
            let (store, _guard) = $make;
            let store: &dyn Store = &store;
            put_all(store, Cf::Users, &[(b"u1", b"t1"), (b"u2", b"t2")]);
            put_all(store, Cf::Tenants, &[(b"t1", b"one"), (b"t2", b"two")]);
            let mut joined = Vec::new();
            store
                .scan_range_rev(Cf::Users, b"u", b"v", &mut |_, tenant| {
                    joined.push(store.get(Cf::Tenants, tenant).unwrap().unwrap());
                    true
                })
                .unwrap();
            assert_eq!(joined, vec![b"two".to_vec(), b"one".to_vec()]);
        }

        #[test]
        fn export_sees_one_point_in_time_of_every_family() {
            let (store, _guard) = $make;
            let store: &dyn Store = &store;
            put_all(store, Cf::Users, &[(b"u1", b"a"), (b"u2", b"b")]);
            put_all(store, Cf::Tenants, &[(b"t1", b"one")]);
            let mut seen = Vec::new();
            let mut written = false;
            store
                .export(&mut |cf, key, value| {
                    if !written {
                        // Written after the export began: never seen.
                        let mut batch = Batch::new();
                        batch.put(Cf::Users, b"u0".to_vec(), b"late".to_vec());
                        batch.put(Cf::Approvals, b"x".to_vec(), b"late".to_vec());
                        batch.delete(Cf::Users, b"u2".to_vec());
                        store.write(batch, Durability::Sync).unwrap();
                        written = true;
                    }
                    seen.push((cf, key.to_vec(), value.to_vec()));
                    Ok(())
                })
                .unwrap();
            let expected: Vec<(Cf, Vec<u8>, Vec<u8>)> = vec![
                (Cf::Tenants, b"t1".to_vec(), b"one".to_vec()),
                (Cf::Users, b"u1".to_vec(), b"a".to_vec()),
                (Cf::Users, b"u2".to_vec(), b"b".to_vec()),
            ];
            assert_eq!(seen, expected);
            let stop = store.export(&mut |_, _, _| Err($crate::Error::Engine("stop".into())));
            assert!(matches!(stop, Err($crate::Error::Engine(m)) if m == "stop"));
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
