//! The tests that read the real repository: the dependency rule on the workspace's actual
//! `cargo metadata --no-deps`, and every enforced check on the tracked files.

use std::path::Path;

#[test]
fn dependency_rule_holds_on_the_real_workspace() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let ws = tidy::workspace::load(Some(&manifest)).expect("cargo metadata --no-deps");
    assert!(ws.get("tidy").is_some(), "tidy is a workspace member");
    let violations = tidy::deps::check_deps(&ws);
    let shown: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        violations.is_empty(),
        "dependency rule violations:\n{}",
        shown.join("\n")
    );
}

/// Every enforced check on the real tree: `cargo test --workspace` fails on any violation, as
/// `cargo run -p tidy` (CI's first step) does.
#[test]
fn every_check_holds_on_the_real_repository() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let report = tidy::run_at(Some(&manifest)).expect("the checks run");
    let shown: Vec<String> = report.enforced.iter().map(ToString::to_string).collect();
    assert!(
        report.enforced.is_empty(),
        "tidy violations (run `cargo run -p tidy`):\n{}",
        shown.join("\n")
    );
}
