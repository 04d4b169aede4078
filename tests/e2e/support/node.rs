//! The Node side of the suite: `tests/node`, its pinned npm packages (installed once per run with
//! `npm ci`) and its scripts, each of which prints one JSON line. Every module that runs Node goes
//! through here, so `npm ci` (which first deletes `node_modules`) never runs while a script does.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::sync::OnceCell;

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
    let line = stdout.lines().last().unwrap_or_default();
    let value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "`node {what}` printed no JSON line; stdout: {stdout}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (value, output.status.code().unwrap_or(-1))
}
