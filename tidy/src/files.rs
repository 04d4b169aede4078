//! The repository's files: listed by git (tracked plus untracked-but-not-
//! ignored, so `target/` and other ignored output never show), read as text,
//! and classified (test file, exempt from the reference scan, ...).
//!
//! Paths are relative to the workspace root with `/` separators everywhere.

use std::fmt;
use std::path::Path;
use std::process::Command;

/// Listing the files failed (git missing, not a repository, ...).
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "listing files with git: {}", self.0)
    }
}

impl std::error::Error for Error {}

/// One text file of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFile {
    /// Path relative to the workspace root, `/` separators.
    pub path: String,
    /// Its whole content.
    pub text: String,
}

impl TextFile {
    /// A text file at `path` holding `text` (for tests and loaders).
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        TextFile {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// Every file git knows of under `root`: `git ls-files --cached --others
/// --exclude-standard`, run at `root`. A path may name a file that is deleted
/// in the work tree; loaders skip those.
pub fn list(root: &Path) -> Result<Vec<String>, Error> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| Error(e.to_string()))?;
    if !out.status.success() {
        return Err(Error(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    let mut paths: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).replace('\\', "/"))
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Reads the listed files that are text: present, valid UTF-8, and free of
/// NUL bytes. Binary, missing and unreadable files are skipped.
pub fn load_text(root: &Path, paths: &[String]) -> Vec<TextFile> {
    paths
        .iter()
        .filter_map(|p| {
            let bytes = std::fs::read(root.join(p)).ok()?;
            if bytes.contains(&0) {
                return None;
            }
            let text = String::from_utf8(bytes).ok()?;
            Some(TextFile::new(p.clone(), text))
        })
        .collect()
}

/// The directory components of `path` (everything but the file name).
fn dirs(path: &str) -> impl Iterator<Item = &str> {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts.into_iter()
}

/// The file name of `path`.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A Rust test file: `*_tests.rs`, `tests.rs`, or anything under a `tests/`
/// directory.
pub fn is_test_source(path: &str) -> bool {
    let name = file_name(path);
    name.ends_with("_tests.rs") || name == "tests.rs" || dirs(path).any(|d| d == "tests")
}

/// Inside a build output or installed-package directory: a `target/` or
/// `node_modules/` directory anywhere in the path.
pub fn is_generated(path: &str) -> bool {
    dirs(path).any(|d| d == "target" || d == "node_modules")
}

/// Files the reference scan skips: lock files (generated), the node test
/// client's installed packages, and test vectors (third-party data kept as
/// published, under a `vectors/` directory below the top level).
pub fn is_reference_exempt(path: &str) -> bool {
    let name = file_name(path);
    name == "Cargo.lock"
        || name == "package-lock.json"
        || path.starts_with("tests/node/node_modules/")
        || dirs(path).skip(1).any(|d| d == "vectors")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sources_are_recognised() {
        for p in [
            "relay/src/conn_tests.rs",
            "relay/src/filter/tests.rs",
            "bunkerd/tests/binary.rs",
            "tests/e2e/main.rs",
        ] {
            assert!(is_test_source(p), "{p}");
        }
        for p in [
            "relay/src/conn.rs",
            "relay/src/tests_support.rs",
            "relay/src/attests.rs",
        ] {
            assert!(!is_test_source(p), "{p}");
        }
    }

    #[test]
    fn generated_paths_are_recognised() {
        assert!(is_generated("target/debug/build/x/out/a.rs"));
        assert!(is_generated("tests/node/node_modules/pkg/index.rs"));
        assert!(!is_generated("relay/src/target.rs"));
    }

    #[test]
    fn reference_exemptions() {
        for p in [
            "Cargo.lock",
            "tests/node/package-lock.json",
            "tests/node/node_modules/x/README.md",
            "signer/vectors/nip44.json",
            "signer/tests/vectors/deep/a.txt",
        ] {
            assert!(is_reference_exempt(p), "{p}");
        }
        for p in [
            "README.md",
            "vectors/top.md",
            "signer/src/vectors.rs",
            "tests/node/client.mjs",
        ] {
            assert!(!is_reference_exempt(p), "{p}");
        }
    }

    #[test]
    fn load_text_skips_binary_missing_and_non_utf8() {
        let dir = std::env::temp_dir().join(format!("tidy-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.md"), "hello\n").unwrap();
        std::fs::write(dir.join("b.bin"), [1u8, 0, 2]).unwrap();
        std::fs::write(dir.join("c.dat"), [0xffu8, 0xfe]).unwrap();
        let paths: Vec<String> = ["a.md", "b.bin", "c.dat", "gone.md"]
            .map(String::from)
            .to_vec();
        let got = load_text(&dir, &paths);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, vec![TextFile::new("a.md", "hello\n")]);
    }
}
