//! Tidy checks (style.md §2, §15): the crate dependency graph is `relay → signer → kms`, nothing
//! depends on `relay` but `tests` and `benches`, and only `tests` (its load-generator smoke run) on
//! `benches`; every Rust source file opens with a `//!` doc comment.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn dependency_graph_points_one_way() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let internal = ["kms", "signer", "relay", "tests", "benches"];
    let allowed: &[(&str, &[&str])] = &[
        ("kms", &[]),
        ("signer", &["kms"]),
        ("relay", &["signer", "kms"]),
        ("tests", &["kms", "signer", "relay", "benches"]),
        ("benches", &["kms", "signer", "relay"]),
    ];
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let (_, ok) = allowed
            .iter()
            .find(|(n, _)| *n == name)
            .expect("known workspace crate");
        for dep in package["dependencies"].as_array().unwrap() {
            let dep = dep["name"].as_str().unwrap();
            if internal.contains(&dep) {
                assert!(
                    ok.contains(&dep),
                    "forbidden dependency edge {name} → {dep}"
                );
            }
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("node_modules") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in [
        "kms/src",
        "signer/src",
        "relay/src",
        "tests/e2e",
        "tests/examples",
    ] {
        rust_files(&root.join(krate), &mut files);
    }
    assert!(files.len() > 20);
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! module doc: {missing:?}"
    );
}
