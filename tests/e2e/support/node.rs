//! The Node side of the suite: `tests/node`, its pinned npm packages (installed once per run with
//! `npm ci`) and its scripts, each of which prints one JSON line (last, after a ready line when it
//! pauses for the test: [`run_paused`]). Every module that runs Node goes
//! through here, so `npm ci` (which first deletes `node_modules`) never runs while a script does.

use serde_json::Value;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::{timeout_at, Instant};

/// The line a script run by [`run_paused`] prints when it stops for the test (`READY_LINE` in
/// `tests/node/matrix.mjs`).
pub const READY: &str = r#"{"ready":true}"#;

static NPM_CI: OnceCell<()> = OnceCell::const_new();

/// `tests/node`.
pub fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Installs the pinned npm packages (`npm ci` in `tests/node`) once per test run; every caller
/// waits for that one install.
pub async fn npm_ci() {
    NPM_CI
        .get_or_init(|| async {
            let output = tokio::task::spawn_blocking(|| {
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(node_dir())
                    .output()
            })
            .await
            .unwrap()
            .expect("npm runs (Node.js 20+ and npm are required for this suite)");
            assert!(
                output.status.success(),
                "npm ci failed in tests/node: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        })
        .await;
}

/// Runs `node <args…>` in `tests/node` with `env` added, after [`npm_ci`]. Returns the last line of
/// stdout parsed as JSON and the exit code. A run still going after `limit` is killed and fails the
/// test (each script also has its own, shorter timeout).
pub async fn run(
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    limit: Duration,
) -> (Value, i32) {
    npm_ci().await;
    let what = args.join(" ");
    let mut cmd = Command::new("node");
    cmd.args(&args)
        .current_dir(node_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("node runs (Node.js 20+ is required)");
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    let output = match tokio::time::timeout(limit, waiting).await {
        Ok(joined) => joined.unwrap().expect("waiting for node"),
        Err(_) => {
            crate::support::signal(pid, "KILL");
            panic!("`node {what}` did not finish within {limit:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = last_json_line(&what, &stdout, &String::from_utf8_lossy(&output.stderr));
    (value, output.status.code().unwrap_or(-1))
}

/// Like [`run`], for a script that stops halfway for the test to act: once it prints [`READY`] on
/// stdout, `between` runs, then `go` is written to the script's stdin. A script that ends without
/// printing [`READY`] is not signalled (its report says why). Everything, `between` included, must
/// end within `limit`, or the script is killed and the test fails.
pub async fn run_paused(
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    limit: Duration,
    between: impl Future<Output = ()>,
) -> (Value, i32) {
    npm_ci().await;
    let deadline = Instant::now() + limit;
    let what = args.join(" ");
    let mut child = node(&args, env, Stdio::piped());
    let pid = child.id();
    let overran = |during: &str| -> ! {
        crate::support::signal(pid, "KILL");
        panic!("`node {what}` did not finish within {limit:?} ({during})");
    };
    // Stdout line by line (to see READY as it comes), stderr whole: each on a thread of its own, so
    // neither pipe can fill up and stall the script.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut seen = Vec::new();
    let mut ready = false;
    while !ready {
        match timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) => {
                ready = line == READY;
                seen.push(line);
            }
            Ok(None) => break,
            Err(_) => overran("waiting for READY"),
        }
    }
    if ready {
        if timeout_at(deadline, between).await.is_err() {
            overran("while the test acted");
        }
        // A script that already gave up finds its stdin closed; its report says why.
        let _ = stdin.write_all(b"go\n");
    }
    drop(stdin);
    loop {
        match timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) => seen.push(line),
            Ok(None) => break,
            Err(_) => overran("after go"),
        }
    }
    let exited = tokio::task::spawn_blocking(move || child.wait());
    let status = match timeout_at(deadline, exited).await {
        Ok(joined) => joined.unwrap().expect("waiting for node"),
        Err(_) => overran("exiting"),
    };
    let stderr = stderr.join().expect("the stderr reader");
    let value = last_json_line(&what, &seen.join("\n"), &stderr);
    (value, status.code().unwrap_or(-1))
}

/// Starts `node <args…>` in `tests/node` with `env` added, stdin and stdout piped.
fn node(args: &[String], env: Vec<(&'static str, String)>, stderr: Stdio) -> std::process::Child {
    let mut cmd = Command::new("node");
    cmd.args(args)
        .current_dir(node_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("node runs (Node.js 20+ is required)")
}

/// The last line of `stdout`, parsed as JSON; panics with both outputs when it is not JSON.
fn last_json_line(what: &str, stdout: &str, stderr: &str) -> Value {
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| {
        panic!("`node {what}` printed no JSON line; stdout: {stdout}; stderr: {stderr}")
    })
}

/// A script steered line by line: JSON objects out, commands in (`nostrconnect_client.mjs`).
/// Killed when dropped.
pub struct Steered {
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    stdin: std::process::ChildStdin,
    what: String,
}

impl Steered {
    /// Starts `node <args…>` in `tests/node` with `env` added, after [`npm_ci`].
    pub async fn start(args: Vec<String>, env: Vec<(&'static str, String)>) -> Self {
        npm_ci().await;
        let what = args.join(" ");
        let mut child = node(&args, env, Stdio::inherit());
        let (lines_tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().expect("piped stdin");
        Steered {
            child,
            lines,
            stdin,
            what,
        }
    }

    /// The next JSON line, within `limit`; panics (the script killed) when none comes.
    pub async fn next(&mut self, limit: Duration) -> Value {
        match tokio::time::timeout(limit, self.lines.recv()).await {
            Ok(Some(line)) => serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("`node {}` printed a non-JSON line: {line}", self.what)),
            Ok(None) => panic!("`node {}` ended early", self.what),
            Err(_) => panic!("`node {}` printed nothing within {limit:?}", self.what),
        }
    }

    /// The next JSON line that has `key`, within `limit`; the lines before it are returned too.
    pub async fn next_with(&mut self, key: &str, limit: Duration) -> (Value, Vec<Value>) {
        let deadline = Instant::now() + limit;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let value = self.next(left).await;
            if value.get(key).is_some() {
                return (value, skipped);
            }
            assert!(
                value.get("error").is_none() || key == "error",
                "`node {}` failed: {value}",
                self.what
            );
            skipped.push(value);
        }
    }

    /// Writes one command line.
    pub fn send(&mut self, command: &str) {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("`node {}` stdin: {e}", self.what));
    }
}

impl Drop for Steered {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
