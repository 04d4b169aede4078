//! Crash consistency, short: the crash harness (`benches::crash`, the same code as the `crash`
//! binary) for a few rounds against the real `bunkerd` binary. Each round loads it with
//! provisioning and signing, SIGKILLs it mid-load, restarts it on the same data directory and checks
//! every acknowledged tenant, user, key import, bunker URI and session; nothing may be lost or
//! present in part.
//!
//! Asserted: no loss and no unexpected answer; and, so that the test cannot pass vacuously, that
//! every round acknowledged writes before its kill, had requests cut by the kill (it landed
//! mid-load), and that the restarts checked sessions signing and unused URIs connecting. A second
//! test shows the checks can see a loss at all: with RocksDB's write-ahead log deleted after the
//! kill (`Options::lose_wal`), the same round must report lost writes. The seed is printed; the
//! long run and its figures are in `benches/README.md`.

use crate::support::bunkerd_binary;
use benches::crash::{self, Options, Write};
use std::time::Duration;

/// Rounds: two data directories, so a restart also checks what earlier rounds acknowledged.
const ROUNDS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_write() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let work = tempfile::tempdir().expect("temp dir");
    let mut options = Options::new(bunkerd_binary(), seed);
    options.work_dir = work.path().to_path_buf();
    options.rounds = ROUNDS;
    options.rounds_per_dir = 3;
    options.kill_ms = (50, 600);
    options.max_time = Duration::from_secs(120);
    options.verbose = false;
    let report = crash::run(&options).await;
    let text = report
        .rounds
        .iter()
        .map(|r| r.line())
        .collect::<Vec<_>>()
        .join("\n");
    println!("{text}\n{}", report.summary());
    assert_eq!(report.aborted, None, "seed {seed}: {text}");
    assert!(
        !report.timed_out,
        "seed {seed}: rounds ran out of time: {text}"
    );
    assert_eq!(report.rounds.len(), ROUNDS, "seed {seed}");
    assert_eq!(
        report.losses(),
        0,
        "seed {seed}: acknowledged writes lost: {text}"
    );
    assert_eq!(
        report.unexpected(),
        0,
        "seed {seed}: unexpected answers: {text}"
    );
    for round in &report.rounds {
        assert!(
            round.acked.total() > 0,
            "seed {seed}: nothing acknowledged: {}",
            round.line()
        );
        assert!(
            round.cut.total() > 0,
            "seed {seed}: the kill cut no request (not mid-load): {}",
            round.line()
        );
    }
    let acked = report.acked();
    assert!(
        acked.get(Write::User) + acked.get(Write::ImportHex) > 0 && acked.get(Write::Connect) > 0,
        "seed {seed}: users and sessions acknowledged: {}",
        acked.text()
    );
    let checked = report.checked();
    assert!(
        checked.sessions_signed > 0 && checked.uris_connected > 0 && checked.users > 0,
        "seed {seed}: the restarts checked signing and connecting: {checked:?}"
    );
}

/// The self-check: deleting the write-ahead log after the kill loses the round's acknowledged
/// writes (a fresh data directory keeps them only there), and the harness must say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_reports_writes_lost_with_the_write_ahead_log() {
    let seed = 7;
    let work = tempfile::tempdir().expect("temp dir");
    let mut options = Options::new(bunkerd_binary(), seed);
    options.work_dir = work.path().to_path_buf();
    options.rounds = 1;
    options.kill_ms = (200, 400);
    options.max_time = Duration::from_secs(60);
    options.lose_wal = true;
    options.verbose = false;
    let report = crash::run(&options).await;
    assert_eq!(report.aborted, None);
    let round = &report.rounds[0];
    assert!(round.acked.get(Write::Tenant) > 0, "{}", round.line());
    assert!(
        round
            .losses
            .iter()
            .any(|l| l.starts_with("acknowledged tenant") && l.ends_with("is missing")),
        "the lost tenants are reported: {}",
        round.line()
    );
}
