//! The `bunkerd` binary itself: it starts and answers `--version` and `--help`.
//!
//! Being an integration test of the `relay` package, this also makes `cargo test --workspace` build
//! `target/<profile>/bunkerd` before any test runs — the binary that the end-to-end tests which
//! drive the real process (`tests/e2e`: config, admin CLI, SIGTERM) start — so the README's test
//! command works from a fresh clone with nothing built.

use std::process::Command;

#[test]
fn the_binary_prints_its_name_and_version_and_its_subcommands() {
    let version = Command::new(env!("CARGO_BIN_EXE_bunkerd"))
        .arg("--version")
        .output()
        .expect("bunkerd runs");
    assert!(version.status.success(), "{version:?}");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("bunkerd {}", env!("CARGO_PKG_VERSION"))
    );
    let help = Command::new(env!("CARGO_BIN_EXE_bunkerd"))
        .arg("--help")
        .output()
        .expect("bunkerd runs");
    assert!(help.status.success(), "{help:?}");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("serve") && text.contains("admin"), "{text}");
}
