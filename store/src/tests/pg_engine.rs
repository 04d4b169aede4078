//! What only [`PgStore`] has: migrations applied once (also by nodes starting together), data
//! kept across connections, bounded, password-free failures when the database is away, and locks
//! that order processes sharing one database.

use crate::conformance::{check, put_all};
use crate::testing::Postgres;
use crate::{Cf, PgOptions, PgStore, Store};
use std::time::{Duration, Instant};

fn migrations_recorded(url: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .unwrap()
        .get(0)
}

#[test]
fn data_survives_a_new_connection_and_migrations_run_once() {
    let url = Postgres::shared().database();
    let store = PgStore::connect(&url, &PgOptions::default()).unwrap();
    put_all(&store, Cf::Deks, &[(b"acme", b"wrapped")]);
    drop(store);
    let store = PgStore::connect(&url, &PgOptions::default()).unwrap();
    check(&store, Cf::Deks, b"acme", Some(b"wrapped"));
    assert_eq!(store.schema_version().unwrap(), 1);
    assert_eq!(migrations_recorded(&url), 1);
}

#[test]
fn nodes_starting_together_migrate_once() {
    let url = Postgres::shared().database();
    let stores: Vec<PgStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PgStore::connect(&url, &PgOptions::default())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    put_all(&stores[0], Cf::Users, &[(b"u", b"1")]);
    for store in &stores {
        check(store, Cf::Users, b"u", Some(b"1"));
    }
    assert_eq!(migrations_recorded(&url), 1);
}

#[test]
fn an_unreachable_database_fails_within_the_timeout_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("postgres://bunkerd:hunter2-secret@127.0.0.1:{port}/custody");
    let options = PgOptions {
        connect_timeout: Duration::from_secs(1),
        ..PgOptions::default()
    };
    let started = Instant::now();
    let error = PgStore::connect(&url, &options).unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        error.contains(&format!("127.0.0.1:{port}/custody")),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
    let error = PgStore::connect("postgres://bunkerd:hunter2@[::1", &options)
        .unwrap_err()
        .to_string();
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn a_server_that_stops_fails_reads_and_writes_within_the_timeouts() {
    let server = Postgres::start();
    let options = PgOptions {
        connect_timeout: Duration::from_secs(1),
        ..PgOptions::default()
    };
    let store = PgStore::connect(&server.database(), &options).unwrap();
    put_all(&store, Cf::Sessions, &[(b"s", b"1")]);
    drop(server);
    let started = Instant::now();
    let error = store.get(Cf::Sessions, b"s").unwrap_err().to_string();
    assert!(error.contains("127.0.0.1"), "{error}");
    let mut batch = crate::Batch::new();
    batch.put(Cf::Sessions, b"t".as_slice(), b"2".as_slice());
    assert!(store.write(batch, crate::Durability::Sync).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_sole_process_store_keeps_others_out_until_it_closes() {
    let url = Postgres::shared().database();
    let sole = PgOptions {
        sole_process: true,
        ..PgOptions::default()
    };
    let first = PgStore::connect(&url, &sole).unwrap();
    let error = PgStore::connect(&url, &sole).unwrap_err().to_string();
    assert!(error.contains("another bunkerd process"), "{error}");
    drop(first);
    // The lock goes with the first store's connection; the server notices the close at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match PgStore::connect(&url, &sole) {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(e.to_string().contains("another bunkerd process"), "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Options whose statement timeout bounds a lock wait to 1 s.
fn impatient() -> PgOptions {
    PgOptions {
        statement_timeout: Duration::from_secs(1),
        ..PgOptions::default()
    }
}

#[test]
fn locks_exclude_across_stores_by_key_and_mode_until_dropped() {
    use crate::LockMode::{Exclusive, Shared};
    let url = Postgres::shared().database();
    let a = PgStore::connect(&url, &impatient()).unwrap();
    let b = PgStore::connect(&url, &impatient()).unwrap();

    let held = a.lock(b"tenant/acme", Exclusive).unwrap();
    let refused = b.lock(b"tenant/acme", Exclusive).unwrap_err().to_string();
    assert!(refused.contains("taking a lock"), "{refused}");
    assert!(b.lock(b"tenant/acme", Shared).is_err(), "shared waits too");
    drop(b.lock(b"tenant/other", Exclusive).unwrap());
    drop(held);
    let exclusive = b.lock(b"tenant/acme", Exclusive).unwrap();
    drop(exclusive);

    let shared = a.lock(b"tenant/acme", Shared).unwrap();
    let also = b.lock(b"tenant/acme", Shared).unwrap();
    assert!(b.lock(b"tenant/acme", Exclusive).is_err());
    drop((shared, also));
    drop(a.lock(b"tenant/acme", Exclusive).unwrap());
}

/// 4 stores × 8 threads each increment one counter 8 times with a read-modify-write under the
/// exclusive lock: no increment is lost.
#[test]
fn read_modify_writes_under_the_lock_lose_nothing_across_stores() {
    const STORES: usize = 4;
    const THREADS: usize = 8;
    const ROUNDS: usize = 8;
    let url = Postgres::shared().database();
    let stores: Vec<PgStore> = (0..STORES)
        .map(|_| PgStore::connect(&url, &PgOptions::default()).unwrap())
        .collect();
    std::thread::scope(|scope| {
        for store in &stores {
            for _ in 0..THREADS {
                scope.spawn(move || {
                    for _ in 0..ROUNDS {
                        let _held = store.lock(b"counter", crate::LockMode::Exclusive).unwrap();
                        let now = store
                            .get(Cf::Users, b"counter")
                            .unwrap()
                            .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()));
                        let mut batch = crate::Batch::new();
                        batch.put(Cf::Users, b"counter".as_slice(), (now + 1).to_be_bytes());
                        store.write(batch, crate::Durability::Sync).unwrap();
                    }
                });
            }
        }
    });
    let total = (STORES * THREADS * ROUNDS) as u64;
    check(
        &stores[0],
        Cf::Users,
        b"counter",
        Some(&total.to_be_bytes()),
    );
}
