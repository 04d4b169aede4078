//! Thread scheduling policies of the real `bunkerd serve` process (relay `sched`), read from
//! `/proc/<pid>/task/*/stat` (proc(5): field 41 is the policy; 0 SCHED_OTHER, 3 SCHED_BATCH,
//! 5 SCHED_IDLE).
//!
//! With the default `--io-policy batch`, RocksDB's flush and compaction threads (`rocksdb:high`,
//! `rocksdb:low`) must run under SCHED_IDLE — they are started from a SCHED_IDLE helper before the
//! store opens (`store::RocksStore::start_background_threads`); with `--io-policy normal` nothing is
//! changed, so they are not idle-class. (The I/O and signer threads' policies are not asserted: they
//! are only changed when the process runs at nice 0, which a test cannot assume.) Each start is a
//! fresh process: RocksDB's thread pools are process-wide, so this cannot be checked in-process
//! next to other tests.
//!
//! Linux only (`/proc`), like the policies themselves. Also process-level: a serving bunkerd has
//! core dumps disabled (`/proc/<pid>/limits`), and out of file descriptors its accept loop backs
//! off instead of spinning (`prlimit` lowers the running process's limit).

use crate::sigterm::Bunkerd;
use std::collections::BTreeMap;

const SCHED_IDLE: u32 = 5;

/// Thread name (`comm`, 15 bytes at most) → the policies of the process's threads of that name.
fn policies(pid: u32) -> BTreeMap<String, Vec<u32>> {
    let mut by_name: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc lists the threads") {
        let task = task.expect("a thread entry").path();
        // A thread may end between the listing and the reads (RocksDB's start-up helper does).
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(task.join("comm")),
            std::fs::read_to_string(task.join("stat")),
        ) else {
            continue;
        };
        // The command name (field 2) is parenthesized and may contain spaces: count from the last
        // closing parenthesis, after which field 3 comes first.
        let policy = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(41 - 3))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no policy field in {stat}"));
        by_name
            .entry(comm.trim_end().to_owned())
            .or_default()
            .push(policy);
    }
    by_name
}

/// Starts bunkerd with `extra` arguments, returns its threads' policies, and stops it cleanly.
async fn threads_of(extra: &[&str]) -> BTreeMap<String, Vec<u32>> {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Bunkerd::start_on_rocksdb(dir.path(), extra).await;
    // `bunkerd is serving` is logged after the store opened, so its threads exist by now.
    let threads = policies(server.pid);
    // (A development master key is warned about; a policy that could not be set would be too.)
    let refused: Vec<_> = server
        .log
        .iter()
        .filter(|l| {
            l["level"] == "WARN"
                && (l.to_string().contains("SCHED") || l.to_string().contains("scheduling"))
        })
        .collect();
    assert!(refused.is_empty(), "scheduling warnings: {refused:?}");
    let signalled = server.terminate();
    let (status, took) = server.wait_exit(signalled).await;
    server.assert_clean_exit(status, took);
    threads
}

#[tokio::test]
async fn rocksdb_flushes_and_compactions_run_under_sched_idle_by_default() {
    let threads = threads_of(&[]).await;
    for name in ["rocksdb:high", "rocksdb:low"] {
        let policies = threads
            .get(name)
            .unwrap_or_else(|| panic!("{name}: {threads:?}"));
        assert!(
            policies.iter().all(|&p| p == SCHED_IDLE),
            "{name}: every such thread under SCHED_IDLE; all threads: {threads:?}"
        );
    }
}

#[tokio::test]
async fn io_policy_normal_leaves_rocksdb_threads_alone() {
    let threads = threads_of(&["--io-policy", "normal"]).await;
    for name in ["rocksdb:high", "rocksdb:low"] {
        let policies = threads
            .get(name)
            .unwrap_or_else(|| panic!("{name}: {threads:?}"));
        assert!(!policies.contains(&SCHED_IDLE), "{name}: {threads:?}");
    }
}

/// A serving bunkerd has disabled core dumps for itself, hard limit included, so nothing in the
/// process can raise it again (`bunkerd::hygiene`; its `PR_SET_DUMPABLE` is not visible from
/// outside, `/proc/<pid>/limits` is).
#[tokio::test]
async fn a_serving_bunkerd_has_core_dumps_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Bunkerd::start_with(dir.path(), &[]).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid)).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("proc(5) lists the core limit");
    let values: Vec<&str> = core.split_whitespace().skip(4).take(2).collect();
    assert_eq!(values, ["0", "0"], "{core}");
    let signalled = server.terminate();
    let (status, took) = server.wait_exit(signalled).await;
    server.assert_clean_exit(status, took);
}

/// `GET /metrics` on `admin`, once it answers (bounded): the body.
async fn metrics_of(admin: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect(admin).await.ok()?;
            let request =
                format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut text = String::new();
            stream.read_to_string(&mut text).await.ok()?;
            text.contains(" 200 ").then_some(text)
        };
        let limit = std::time::Duration::from_secs(2);
        if let Ok(Some(text)) = tokio::time::timeout(limit, attempt).await {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/metrics did not answer"
        );
    }
}

/// Out of file descriptors, the accept loop backs off instead of spinning: with the process's fd
/// limit lowered under it (`prlimit`) and a flood of connections held open for one second, the
/// failed accepts number a handful (one per 100 ms back-off), not the hundreds of thousands of a
/// loop that retries at once; they are counted, and the relay serves again once fds are free.
#[tokio::test]
async fn out_of_file_descriptors_the_accept_loop_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Bunkerd::start_with(dir.path(), &[]).await;
    let pid = server.pid.to_string();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .expect("proc(5) lists the open-files limit")
        .to_owned();
    // The soft limit only: raising it back needs no privilege.
    let prlimit = |nofile: String| {
        let status = std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={nofile}:")])
            .status()
            .expect("prlimit (util-linux) runs");
        assert!(status.success(), "prlimit {nofile}");
    };
    prlimit((open + 8).to_string());
    let mut flood = Vec::new();
    for _ in 0..64 {
        flood.push(
            tokio::net::TcpStream::connect(server.relay_addr)
                .await
                .unwrap(),
        );
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    server
        .until_message("accept failed", |m| m == "accept failed", deadline)
        .await;
    // The measurement window: how many accepts fail while the fds stay exhausted.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    drop(flood);
    prlimit(soft);
    let metrics = metrics_of(server.admin_addr).await;
    let failed: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"bunkerd_accept_errors_total{error="resources",listener="relay"} "#)
        })
        .expect("the series exists")
        .parse()
        .unwrap();
    assert!((1.0..200.0).contains(&failed), "{failed} failed accepts");
    let signalled = server.terminate();
    let (status, took) = server.wait_exit(signalled).await;
    server.assert_clean_exit(status, took);
}
