//! Interop: nostr-tools' `BunkerSigner`, run by the machine's Node, uses a key that bunkerd
//! holds. The suite installs the pinned npm packages itself (`npm ci` in `tests/node`).

use crate::support::TestServer;
use nostr_connect::prelude::{Event, JsonUtil, Keys};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use tokio::sync::OnceCell;

static NPM_CI: OnceCell<()> = OnceCell::const_new();

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Installs the harness's npm packages once per test run.
async fn npm_ci() {
    NPM_CI
        .get_or_init(|| async {
            let status = tokio::task::spawn_blocking(|| {
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(node_dir())
                    .status()
            })
            .await
            .unwrap()
            .expect("npm runs (Node and npm are required for this suite)");
            assert!(status.success(), "npm ci failed in tests/node");
        })
        .await;
}

/// Runs `node bunker_client.mjs args…` with `env`, returning its one JSON line and exit status.
pub async fn run_node(args: Vec<String>, env: Vec<(&'static str, String)>) -> (Value, i32) {
    npm_ci().await;
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("node");
        cmd.arg("bunker_client.mjs")
            .args(&args)
            .current_dir(node_dir());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "node printed no JSON line; stdout: {stdout}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (value, output.status.code().unwrap_or(-1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_tools_bunker_signer_round_trips() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let third = Keys::generate();
    let (out, status) = run_node(
        vec![user.bunker_uri.clone(), third.secret_key().to_secret_hex()],
        vec![],
    )
    .await;
    assert_eq!(out["ok"], true, "nostr-tools run failed: {out}");
    assert_eq!(status, 0);
    assert_eq!(out["user_pubkey"], user.user_pubkey.as_str());
    assert_eq!(out["ping"], "pong");
    assert_eq!(out["nip44_roundtrip"], true);
    assert_eq!(out["nip04_roundtrip"], true);
    // Verify the signed event independently of nostr-tools, with rust-nostr.
    let event = Event::from_json(out["signed_event"].to_string()).expect("event parses");
    event.verify().expect("event verifies in rust-nostr");
    assert_eq!(event.pubkey.to_hex(), user.user_pubkey);
    server.server.stop().await;
}
