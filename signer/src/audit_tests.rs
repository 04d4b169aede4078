//! Tests of the audit log: record shape and validation, tenant isolation, filters, pagination and
//! cursors, ordering, flush/durable/drop semantics, the full-queue and failed-write counters,
//! tenant deletion, a RocksDB round trip, and a property test against an in-memory model.

use super::*;
use crate::test_support::hooked;
use crossbeam_channel::unbounded;
use proptest::prelude::*;
use std::sync::atomic::AtomicBool;
use store::MemStore;

/// x of the secp256k1 generator: a valid x-only public key.
const CLIENT_HEX: &str = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

fn tenant(n: u8) -> String {
    format!("{n:032x}")
}

fn user(n: u8) -> String {
    format!("{:032x}", 0xabc0 + u32::from(n))
}

fn mem_log() -> (AuditLog, Arc<MemStore>) {
    let store = Arc::new(MemStore::new());
    (AuditLog::open(store.clone()).unwrap(), store)
}

fn rec(tenant: &str, time_ms: u64, action: &str) -> AuditRecord {
    AuditRecord::new(time_ms, tenant, action, Outcome::Ok)
}

/// Every page of `q`, concatenated; checks each page holds at most `limit` records.
fn all_pages(log: &AuditLog, tenant: &str, q: &AuditQuery) -> Vec<AuditRecord> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT) as usize;
    let mut q = q.clone();
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let page = log.query(tenant, &q).unwrap();
        assert!(page.records.len() <= limit);
        out.extend(page.records);
        match page.next_cursor {
            Some(cursor) => q.cursor = Some(cursor),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

fn actions(records: &[AuditRecord]) -> Vec<&str> {
    records.iter().map(|r| r.action.as_str()).collect()
}

#[track_caller]
fn check_invalid(result: Result<AuditPage, Error>, expected: &str) {
    match result {
        Err(Error::InvalidInput(text)) => assert_eq!(text, expected),
        other => panic!("expected invalid input {expected:?}, got {other:?}"),
    }
}

#[test]
fn json_field_names_are_stable_and_none_fields_are_omitted() {
    let full = AuditRecord {
        seq: 7,
        user: Some(user(1)),
        client: Some(PublicKey::from_hex(CLIENT_HEX).unwrap()),
        actor: Some("operator".into()),
        kind: Some(1),
        event_id: Some("ab".repeat(32)),
        detail: Some("permission denied: sign_event:0".into()),
        ..AuditRecord::new(1_700_000_000_123, tenant(1), "sign_event", Outcome::Refused)
    };
    let json = String::from_utf8(encode(&full)).unwrap();
    let expected = format!(
        concat!(
            r#"{{"time_ms":1700000000123,"seq":7,"tenant":"{}","user":"{}","client":"{}","#,
            r#""actor":"operator","action":"sign_event","kind":1,"event_id":"{}","#,
            r#""outcome":"refused","detail":"permission denied: sign_event:0"}}"#
        ),
        tenant(1),
        user(1),
        CLIENT_HEX,
        "ab".repeat(32)
    );
    assert_eq!(json, expected);
    assert_eq!(serde_json::from_str::<AuditRecord>(&json).unwrap(), full);
    let minimal = rec(&tenant(1), 5, "connect");
    let json = String::from_utf8(encode(&minimal)).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"time_ms":5,"seq":0,"tenant":"{}","action":"connect","outcome":"ok"}}"#,
            tenant(1)
        )
    );
    for (outcome, text) in [
        (Outcome::Ok, "ok"),
        (Outcome::Refused, "refused"),
        (Outcome::Error, "error"),
    ] {
        assert_eq!(outcome.as_str(), text);
        assert_eq!(
            serde_json::to_string(&outcome).unwrap(),
            format!("\"{text}\"")
        );
    }
}

#[test]
fn records_of_two_tenants_never_mix() {
    let (log, _store) = mem_log();
    // Adjacent ids: tenant 1's rows sort right after tenant 0's.
    let (a, b) = (tenant(0), tenant(1));
    for i in 0..40u64 {
        log.record(rec(&a, i, "sign_event"));
        log.record(rec(&b, i, "nip44_encrypt"));
    }
    log.record_durable(rec(&a, 100, "user.create")).unwrap();
    log.flush().unwrap();
    let of_a = all_pages(&log, &a, &AuditQuery::default());
    let of_b = all_pages(&log, &b, &AuditQuery::default());
    assert_eq!(of_a.len(), 41);
    assert_eq!(of_b.len(), 40);
    assert!(of_a
        .iter()
        .all(|r| r.tenant == a && r.action != "nip44_encrypt"));
    assert!(of_b
        .iter()
        .all(|r| r.tenant == b && r.action == "nip44_encrypt"));
    let newest = AuditQuery {
        newest_first: true,
        ..AuditQuery::default()
    };
    assert_eq!(all_pages(&log, &b, &newest).len(), 40);
    assert!(log.query(&tenant(2), &newest).unwrap().records.is_empty());
}

#[test]
fn time_range_is_inclusive_then_exclusive() {
    let (log, _store) = mem_log();
    let t = tenant(3);
    for time in [10, 20, 20, 30, 40] {
        log.record(rec(&t, time, &format!("a{time}")));
    }
    log.flush().unwrap();
    let times = |from_ms, to_ms, newest_first| -> Vec<u64> {
        let q = AuditQuery {
            from_ms,
            to_ms,
            newest_first,
            ..AuditQuery::default()
        };
        all_pages(&log, &t, &q).iter().map(|r| r.time_ms).collect()
    };
    assert_eq!(times(Some(20), Some(40), false), [20, 20, 30]);
    assert_eq!(times(Some(20), Some(40), true), [30, 20, 20]);
    assert_eq!(times(Some(20), None, false), [20, 20, 30, 40]);
    assert_eq!(times(None, Some(20), false), [10]);
    assert_eq!(times(Some(20), Some(20), false), Vec::<u64>::new());
    assert_eq!(times(Some(41), None, true), Vec::<u64>::new());
    assert_eq!(times(None, None, false), [10, 20, 20, 30, 40]);
    assert_eq!(times(Some(0), Some(u64::MAX), false).len(), 5);
}

#[test]
fn user_and_action_filters_match_exactly() {
    let (log, _store) = mem_log();
    let t = tenant(4);
    let with_user = |time, u: Option<u8>, action: &str| AuditRecord {
        user: u.map(user),
        ..rec(&t, time, action)
    };
    log.record(with_user(1, Some(1), "sign_event"));
    log.record(with_user(2, Some(2), "sign_event"));
    log.record(with_user(3, Some(1), "nip44_decrypt"));
    log.record(with_user(4, None, "sign_event"));
    log.record(with_user(5, Some(1), "sign_event"));
    log.flush().unwrap();
    let times = |u: Option<u8>, action: Option<&str>| -> Vec<u64> {
        let q = AuditQuery {
            user: u.map(user),
            action: action.map(str::to_owned),
            limit: Some(1),
            ..AuditQuery::default()
        };
        all_pages(&log, &t, &q).iter().map(|r| r.time_ms).collect()
    };
    assert_eq!(times(Some(1), None), [1, 3, 5]);
    assert_eq!(times(None, Some("sign_event")), [1, 2, 4, 5]);
    assert_eq!(times(Some(1), Some("sign_event")), [1, 5]);
    assert_eq!(times(Some(2), Some("nip44_decrypt")), Vec::<u64>::new());
    // Exact, not prefix, matches.
    assert_eq!(times(None, Some("sign")), Vec::<u64>::new());
}

#[test]
fn pagination_over_250_records_gives_100_100_50_in_order() {
    let (log, _store) = mem_log();
    let t = tenant(5);
    for i in 0..250u64 {
        log.record(rec(&t, 1000 + i / 3, &format!("m{i}")));
    }
    log.flush().unwrap();
    for newest_first in [false, true] {
        let mut q = AuditQuery {
            newest_first,
            ..AuditQuery::default()
        };
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let page = log.query(&t, &q).unwrap();
            sizes.push(page.records.len());
            seen.extend(page.records);
            match page.next_cursor {
                Some(cursor) => q.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(sizes, [100, 100, 50], "newest_first = {newest_first}");
        let mut expected: Vec<String> = (0..250).map(|i| format!("m{i}")).collect();
        if newest_first {
            expected.reverse();
        }
        assert_eq!(actions(&seen), expected);
    }
}

#[test]
fn cursors_are_bound_to_their_tenant_and_order() {
    let (log, _store) = mem_log();
    let (a, b) = (tenant(6), tenant(7));
    for i in 0..5 {
        log.record(rec(&a, i, "ping"));
        log.record(rec(&b, i, "ping"));
    }
    log.flush().unwrap();
    let first = AuditQuery {
        limit: Some(2),
        ..AuditQuery::default()
    };
    let cursor = log.query(&a, &first).unwrap().next_cursor.unwrap();
    let with = |cursor: &str, newest_first| AuditQuery {
        cursor: Some(cursor.to_owned()),
        newest_first,
        ..first.clone()
    };
    check_invalid(
        log.query(&b, &with(&cursor, false)),
        "cursor belongs to another tenant",
    );
    check_invalid(
        log.query(&a, &with(&cursor, true)),
        "cursor is for the other order",
    );
    assert_eq!(
        log.query(&a, &with(&cursor, false)).unwrap().records.len(),
        2
    );
    let mut truncated = cursor.clone();
    truncated.pop();
    let long = format!("{cursor}AAAA");
    for bad in ["", "!!!", "AAAA", truncated.as_str(), long.as_str()] {
        check_invalid(log.query(&a, &with(bad, false)), "cursor is malformed");
    }
    // A well-formed cursor of an unknown format version.
    let mut raw = B64URL.decode(&cursor).unwrap();
    raw[0] = 2;
    let other_version = B64URL.encode(raw);
    check_invalid(
        log.query(&a, &with(&other_version, false)),
        "cursor is malformed",
    );
}

#[test]
fn a_cursors_position_rebuilds_the_same_cursor() {
    let (log, _store) = mem_log();
    let a = tenant(9);
    for i in 0..5 {
        log.record(rec(&a, 1_000 + i, "ping"));
    }
    log.flush().unwrap();
    let first = AuditQuery {
        limit: Some(2),
        ..AuditQuery::default()
    };
    let cursor = log.query(&a, &first).unwrap().next_cursor.unwrap();
    let (time_ms, seq) = cursor_position(&cursor).expect("a cursor has a position");
    assert_eq!(time_ms, 1_001, "the last record examined");
    assert_eq!(cursor_after(&a, false, time_ms, seq).unwrap(), cursor);
    assert_eq!(cursor_position("!!!"), None);
    // Any position is one to continue after: from 1002 on, three records remain.
    let rest = AuditQuery {
        cursor: Some(cursor_after(&a, false, 1_001, u64::MAX).unwrap()),
        ..AuditQuery::default()
    };
    assert_eq!(log.query(&a, &rest).unwrap().records.len(), 3);
    assert!(cursor_after("not-a-tenant", false, 0, 0).is_err());
}

#[test]
fn records_of_one_millisecond_keep_their_recording_order() {
    let (log, _store) = mem_log();
    let t = tenant(8);
    // Buffered and durable records interleaved: the order is that of `seq`, assigned at the
    // call, whatever order the writes reach the store in.
    for i in 0..60 {
        if i % 10 == 9 {
            log.record_durable(rec(&t, 42, &format!("m{i}"))).unwrap();
        } else {
            log.record(rec(&t, 42, &format!("m{i}")));
        }
    }
    log.flush().unwrap();
    let got = all_pages(&log, &t, &AuditQuery::default());
    let expected: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
    assert_eq!(actions(&got), expected);
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[test]
fn seq_starts_at_the_wall_clock_in_nanoseconds() {
    let before = unix_nanos();
    let (log, _store) = mem_log();
    let t = tenant(9);
    log.record_durable(rec(&t, 1, "ping")).unwrap();
    let page = log.query(&t, &AuditQuery::default()).unwrap();
    assert!(page.records[0].seq > before);
}

#[test]
fn flush_makes_every_queued_record_visible() {
    let (log, _store) = mem_log();
    let t = tenant(10);
    // More than one writer batch.
    for i in 0..1000u64 {
        log.record(rec(&t, i, "sign_event"));
    }
    log.flush().unwrap();
    assert_eq!(all_pages(&log, &t, &AuditQuery::default()).len(), 1000);
    assert_eq!((log.dropped(), log.rejected(), log.failed()), (0, 0, 0));
}

#[test]
fn record_durable_is_visible_at_once_and_validates() {
    let (log, store) = mem_log();
    let t = tenant(11);
    let admin = AuditRecord {
        actor: Some(format!("nip98:{CLIENT_HEX}")),
        user: Some(user(3)),
        ..rec(&t, 7, "user.create")
    };
    log.record_durable(admin.clone()).unwrap();
    let page = log.query(&t, &AuditQuery::default()).unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(
        AuditRecord {
            seq: 0,
            ..page.records[0].clone()
        },
        admin
    );
    let bad = AuditRecord {
        actor: Some("has space".into()),
        ..rec(&t, 8, "user.create")
    };
    assert!(matches!(
        log.record_durable(bad),
        Err(Error::InvalidInput(_))
    ));
    let mut rows = 0;
    store
        .scan_prefix(Cf::Audit, b"", &mut |_, _| {
            rows += 1;
            true
        })
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn detail_is_cut_to_256_bytes_at_a_character_boundary() {
    let (log, _store) = mem_log();
    let t = tenant(12);
    let ascii = "x".repeat(300);
    // 1 + 2 × 200 bytes: byte 256 falls inside an "é", so the cut is at 255.
    let multibyte = format!("a{}", "é".repeat(200));
    let short = "permission denied: sign_event:0".to_owned();
    for (time, detail) in [(1, &ascii), (2, &multibyte), (3, &short)] {
        let r = AuditRecord {
            detail: Some(detail.clone()),
            ..rec(&t, time, "sign_event")
        };
        log.record(r.clone());
        log.record_durable(AuditRecord {
            time_ms: time + 10,
            ..r
        })
        .unwrap();
    }
    log.flush().unwrap();
    let got = all_pages(&log, &t, &AuditQuery::default());
    let details: Vec<&str> = got.iter().map(|r| r.detail.as_deref().unwrap()).collect();
    let cut_ascii = &ascii[..DETAIL_MAX_BYTES];
    let cut_multi = &multibyte[..255];
    assert_eq!(
        details,
        [cut_ascii, cut_multi, &short, cut_ascii, cut_multi, &short]
    );
}

#[test]
fn malformed_records_are_rejected_and_counted() {
    let (log, store) = mem_log();
    let t = tenant(13);
    let bad = [
        rec("not-a-tenant", 1, "ping"),
        rec(&t.to_uppercase(), 1, "ping"),
        rec(&t, 1, ""),
        rec(&t, 1, "Sign_Event"),
        rec(&t, 1, "sign event"),
        rec(&t, 1, &"a".repeat(ACTION_MAX_BYTES + 1)),
        AuditRecord {
            user: Some("u1".into()),
            ..rec(&t, 1, "ping")
        },
        AuditRecord {
            event_id: Some("AB".repeat(32)),
            ..rec(&t, 1, "sign_event")
        },
        AuditRecord {
            event_id: Some("ab".repeat(31)),
            ..rec(&t, 1, "sign_event")
        },
        AuditRecord {
            actor: Some(String::new()),
            ..rec(&t, 1, "user.create")
        },
        AuditRecord {
            actor: Some("a".repeat(ACTOR_MAX_BYTES + 1)),
            ..rec(&t, 1, "user.create")
        },
    ];
    let count = bad.len() as u64;
    for r in bad {
        log.record(r.clone());
        assert!(matches!(log.record_durable(r), Err(Error::InvalidInput(_))));
    }
    // The longest valid fields pass.
    log.record(AuditRecord {
        actor: Some("a".repeat(ACTOR_MAX_BYTES)),
        ..rec(&t, 2, &"a".repeat(ACTION_MAX_BYTES))
    });
    log.flush().unwrap();
    assert_eq!(log.rejected(), count);
    let mut rows = 0;
    store
        .scan_prefix(Cf::Audit, b"", &mut |_, _| {
            rows += 1;
            true
        })
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn query_rejects_bad_input() {
    let (log, _store) = mem_log();
    let t = tenant(14);
    let q = AuditQuery::default();
    check_invalid(
        log.query("nope", &q),
        "tenant must be a 32-character lowercase hex id",
    );
    for limit in [0, MAX_LIMIT + 1] {
        let q = AuditQuery {
            limit: Some(limit),
            ..AuditQuery::default()
        };
        check_invalid(log.query(&t, &q), "limit must be 1 to 1000");
    }
    for limit in [1, MAX_LIMIT] {
        let q = AuditQuery {
            limit: Some(limit),
            ..AuditQuery::default()
        };
        assert!(log.query(&t, &q).is_ok());
    }
    let q = AuditQuery {
        user: Some("ABC".into()),
        ..AuditQuery::default()
    };
    check_invalid(
        log.query(&t, &q),
        "user must be a 32-character lowercase hex id",
    );
    let q = AuditQuery {
        action: Some("Sign".into()),
        ..AuditQuery::default()
    };
    check_invalid(
        log.query(&t, &q),
        "action must be 1 to 64 characters of a-z 0-9 _ . : -",
    );
    let q = AuditQuery {
        from_ms: Some(5),
        to_ms: Some(4),
        ..AuditQuery::default()
    };
    check_invalid(log.query(&t, &q), "from_ms must not exceed to_ms");
    assert!(matches!(
        log.delete_tenant("nope"),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn a_query_examines_at_most_max_examined_rows_and_returns_a_cursor() {
    let store = Arc::new(MemStore::new());
    let config = AuditConfig {
        max_examined: 10,
        ..AuditConfig::default()
    };
    let log = AuditLog::open_with(store, config).unwrap();
    let t = tenant(15);
    for i in 0..25u64 {
        let u = if i == 12 { user(2) } else { user(1) };
        log.record(AuditRecord {
            user: Some(u),
            ..rec(&t, i, "ping")
        });
    }
    log.flush().unwrap();
    let mut q = AuditQuery {
        user: Some(user(2)),
        ..AuditQuery::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = log.query(&t, &q).unwrap();
        pages.push(page.records.iter().map(|r| r.time_ms).collect::<Vec<_>>());
        match page.next_cursor {
            Some(cursor) => q.cursor = Some(cursor),
            None => break,
        }
    }
    // Rows 0–9, 10–19, 20–24: the match (row 12) is on the second page.
    assert_eq!(pages, [vec![], vec![12], vec![]]);
}

#[test]
fn corrupt_rows_are_reported() {
    let (log, store) = mem_log();
    let t = tenant(16);
    log.record_durable(rec(&t, 1, "ping")).unwrap();
    let code = |log: &AuditLog| log.query(&t, &AuditQuery::default()).unwrap_err().code();
    let mut batch = Batch::new();
    batch.put(Cf::Audit, row_key(&t, 2, 0).to_vec(), b"not json".to_vec());
    store.write(batch, Durability::Sync).unwrap();
    assert_eq!(code(&log), "corrupt_record");
    // A valid record stored under another row's key.
    let mut batch = Batch::new();
    batch.put(
        Cf::Audit,
        row_key(&t, 2, 0).to_vec(),
        encode(&rec(&t, 3, "ping")),
    );
    store.write(batch, Durability::Sync).unwrap();
    assert_eq!(code(&log), "corrupt_record");
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let (entered_tx, entered) = unbounded();
    let (release_tx, release) = unbounded::<()>();
    // Each write announces itself, then waits until the test drops the release sender (after
    // which it returns at once).
    let store = Arc::new(hooked(move |_, _| {
        entered_tx.send(()).unwrap();
        let _ = release.recv();
        Ok(())
    }));
    let config = AuditConfig {
        queue_capacity: 4,
        ..AuditConfig::default()
    };
    let log = AuditLog::open_with(store, config).unwrap();
    let t = tenant(17);
    log.record(rec(&t, 0, "ping"));
    // The writer now holds record 0 inside a blocked write; the queue is empty.
    entered.recv().unwrap();
    for i in 1..=4 {
        log.record(rec(&t, i, "ping"));
    }
    assert_eq!(log.dropped(), 0);
    for i in 5..=7 {
        log.record(rec(&t, i, "ping"));
    }
    assert_eq!(log.dropped(), 3);
    drop(release_tx);
    log.flush().unwrap();
    let times: Vec<u64> = all_pages(&log, &t, &AuditQuery::default())
        .iter()
        .map(|r| r.time_ms)
        .collect();
    assert_eq!(times, [0, 1, 2, 3, 4]);
}

#[test]
fn failed_writes_are_counted_and_reported_once_by_flush() {
    // Writes fail while `fail` is set.
    let fail = Arc::new(AtomicBool::new(true));
    let failing = fail.clone();
    let store = Arc::new(hooked(move |_, _| {
        if failing.load(Ordering::SeqCst) {
            return Err(store::Error::Engine("injected failure".into()));
        }
        Ok(())
    }));
    let log = AuditLog::open(store.clone()).unwrap();
    let t = tenant(18);
    for i in 0..3 {
        log.record(rec(&t, i, "ping"));
    }
    assert_eq!(log.flush().unwrap_err().code(), "store");
    assert_eq!(log.failed(), 3);
    log.flush().unwrap();
    assert_eq!(
        log.record_durable(rec(&t, 9, "user.create"))
            .unwrap_err()
            .code(),
        "store"
    );
    fail.store(false, Ordering::SeqCst);
    log.record(rec(&t, 4, "ping"));
    log.shutdown().unwrap();
    let log = AuditLog::open(store).unwrap();
    let times: Vec<u64> = all_pages(&log, &t, &AuditQuery::default())
        .iter()
        .map(|r| r.time_ms)
        .collect();
    assert_eq!(times, [4]);
}

#[test]
fn dropping_the_log_writes_everything_queued() {
    let store = Arc::new(MemStore::new());
    let t = tenant(19);
    let log = AuditLog::open(store.clone()).unwrap();
    for i in 0..700u64 {
        log.record(rec(&t, i, "sign_event"));
    }
    drop(log);
    let log = AuditLog::open(store).unwrap();
    assert_eq!(all_pages(&log, &t, &AuditQuery::default()).len(), 700);
}

#[test]
fn delete_tenant_removes_every_row_of_that_tenant_only() {
    let (log, _store) = mem_log();
    let (a, b) = (tenant(20), tenant(21));
    // More than one delete batch, some still queued when the delete starts.
    for i in 0..2500u64 {
        log.record(rec(&a, i, "sign_event"));
    }
    log.record_durable(rec(&a, 9999, "user.create")).unwrap();
    for i in 0..30u64 {
        log.record(rec(&b, i, "sign_event"));
    }
    assert_eq!(log.delete_tenant(&a).unwrap(), 2501);
    assert!(log
        .query(&a, &AuditQuery::default())
        .unwrap()
        .records
        .is_empty());
    assert_eq!(all_pages(&log, &b, &AuditQuery::default()).len(), 30);
    assert_eq!(log.delete_tenant(&a).unwrap(), 0);
    log.record(rec(&a, 1, "connect"));
    log.flush().unwrap();
    assert_eq!(all_pages(&log, &a, &AuditQuery::default()).len(), 1);
}

#[test]
fn rocks_store_round_trip_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant(22);
    {
        let store = Arc::new(store::RocksStore::open(dir.path()).unwrap());
        let log = AuditLog::open(store).unwrap();
        for i in 0..150u64 {
            log.record(rec(&t, 5000 + i / 50, &format!("m{i}")));
        }
        log.record_durable(rec(&t, 5002, "m150")).unwrap();
        log.shutdown().unwrap();
    }
    let store = Arc::new(store::RocksStore::open(dir.path()).unwrap());
    let log = AuditLog::open(store).unwrap();
    // Same millisecond as the last rows of the previous process: sorts after them.
    log.record_durable(rec(&t, 5002, "m151")).unwrap();
    let q = AuditQuery {
        from_ms: Some(5001),
        limit: Some(40),
        ..AuditQuery::default()
    };
    let got = all_pages(&log, &t, &q);
    let expected: Vec<String> = (50..152).map(|i| format!("m{i}")).collect();
    assert_eq!(actions(&got), expected);
    let newest = AuditQuery {
        newest_first: true,
        limit: Some(1),
        ..AuditQuery::default()
    };
    assert_eq!(log.query(&t, &newest).unwrap().records[0].action, "m151");
    assert_eq!(log.delete_tenant(&t).unwrap(), 152);
    assert!(log.query(&t, &newest).unwrap().records.is_empty());
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Op {
    Record {
        tenant: u8,
        user: Option<u8>,
        action: u8,
        time_ms: u64,
        durable: bool,
    },
    Delete {
        tenant: u8,
    },
    Query {
        tenant: u8,
        from_ms: Option<u64>,
        to_ms: Option<u64>,
        user: Option<u8>,
        action: Option<u8>,
        limit: u32,
        newest_first: bool,
    },
}

const ACTIONS: [&str; 3] = ["sign_event", "nip44_decrypt", "user.create"];

fn op() -> impl Strategy<Value = Op> {
    let record = (
        0..2u8,
        proptest::option::of(0..3u8),
        0..3u8,
        0..6u64,
        any::<bool>(),
    )
        .prop_map(|(tenant, user, action, time_ms, durable)| Op::Record {
            tenant,
            user,
            action,
            time_ms,
            durable,
        });
    let query = (
        0..2u8,
        proptest::option::of(0..7u64),
        proptest::option::of(0..7u64),
        proptest::option::of(0..3u8),
        proptest::option::of(0..3u8),
        1..5u32,
        any::<bool>(),
    )
        .prop_map(
            |(tenant, from_ms, to_ms, user, action, limit, newest_first)| Op::Query {
                tenant,
                from_ms,
                to_ms,
                user,
                action,
                limit,
                newest_first,
            },
        );
    prop_oneof![6 => record, 1 => (0..2u8).prop_map(|tenant| Op::Delete { tenant }), 3 => query]
}

/// The model's row: (tenant, user, action, time_ms), kept in recording order.
type Row = (u8, Option<u8>, u8, u64);

/// What a query should return according to the model: the tenant's rows in the range and
/// matching the filters, by time then recording order (reversed for newest first).
fn expected_rows(model: &[Row], t: u8, q: &AuditQuery) -> Vec<Row> {
    let user_filter = q.user.as_ref().map(|id| (0..3u8).find(|n| user(*n) == *id));
    let mut rows: Vec<Row> = model
        .iter()
        .filter(|row| {
            row.0 == t
                && q.from_ms.is_none_or(|from| row.3 >= from)
                && q.to_ms.is_none_or(|to| row.3 < to)
                && user_filter.is_none_or(|u| row.1 == u)
                && q.action
                    .as_deref()
                    .is_none_or(|a| ACTIONS[usize::from(row.2)] == a)
        })
        .copied()
        .collect();
    // A stable sort: rows of the same millisecond keep their recording order.
    rows.sort_by_key(|row| row.3);
    if q.newest_first {
        rows.reverse();
    }
    rows
}

/// A stored record as a model row.
fn as_row(t: u8, r: &AuditRecord) -> Row {
    let u = r
        .user
        .as_ref()
        .map(|id| (0..3u8).find(|n| user(*n) == *id).expect("a model user"));
    let a = ACTIONS
        .iter()
        .position(|a| *a == r.action)
        .expect("a model action");
    (t, u, u8::try_from(a).unwrap(), r.time_ms)
}

/// Runs `ops` against a fresh log over a [`MemStore`] and against the model.
fn run_against_model(ops: Vec<Op>, max_examined: usize) -> Result<(), TestCaseError> {
    let config = AuditConfig {
        max_examined,
        ..AuditConfig::default()
    };
    let log = AuditLog::open_with(Arc::new(MemStore::new()), config).unwrap();
    let mut model: Vec<Row> = Vec::new();
    for op in ops {
        match op {
            Op::Record {
                tenant: t,
                user: u,
                action,
                time_ms,
                durable,
            } => {
                let r = AuditRecord {
                    user: u.map(user),
                    ..rec(&tenant(t), time_ms, ACTIONS[usize::from(action)])
                };
                if durable {
                    log.record_durable(r).unwrap();
                } else {
                    log.record(r);
                }
                model.push((t, u, action, time_ms));
            }
            Op::Delete { tenant: t } => {
                let before = model.len();
                model.retain(|row| row.0 != t);
                prop_assert_eq!(log.delete_tenant(&tenant(t)).unwrap(), before - model.len());
            }
            Op::Query {
                tenant: t,
                from_ms,
                to_ms,
                user: u,
                action,
                limit,
                newest_first,
            } => {
                log.flush().unwrap();
                let q = AuditQuery {
                    from_ms,
                    to_ms,
                    user: u.map(user),
                    action: action.map(|a| ACTIONS[usize::from(a)].to_owned()),
                    limit: Some(limit),
                    cursor: None,
                    newest_first,
                };
                if from_ms.unwrap_or(0) > to_ms.unwrap_or(u64::MAX) {
                    let result = log.query(&tenant(t), &q);
                    prop_assert!(matches!(result, Err(Error::InvalidInput(_))));
                    continue;
                }
                let got: Vec<Row> = all_pages(&log, &tenant(t), &q)
                    .iter()
                    .map(|r| as_row(t, r))
                    .collect();
                prop_assert_eq!(got, expected_rows(&model, t, &q));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any sequence of records (buffered or durable), deletions and paginated queries (with a
    /// small, random `max_examined`) agrees with the model.
    #[test]
    fn the_log_agrees_with_an_in_memory_model(
        ops in proptest::collection::vec(op(), 1..40),
        max_examined in 1..8usize,
    ) {
        run_against_model(ops, max_examined)?;
    }
}
