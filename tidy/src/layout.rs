//! Checks 4 to 6: every Rust file opens with a module doc, no non-test Rust
//! file grows past [`rule::MAX_RS_LINES`], and the documents of
//! [`rule::DOC_BUDGETS`] keep their line budgets.

use crate::files::{self, TextFile};
use crate::rule;
use crate::{Check, Violation};

/// Rust files among `text`, outside build output and installed packages.
fn rust_files(text: &[TextFile]) -> impl Iterator<Item = &TextFile> {
    text.iter()
        .filter(|f| f.path.ends_with(".rs") && !files::is_generated(&f.path))
}

/// Check 4: the first non-blank line of every `.rs` file starts with `//!`.
pub fn check_module_docs(text: &[TextFile]) -> Vec<Violation> {
    rust_files(text)
        .filter_map(|f| {
            let first = f.text.lines().enumerate().find(|(_, l)| !l.trim().is_empty());
            match first {
                Some((_, l)) if l.trim_start().starts_with("//!") => None,
                Some((i, _)) => Some(Violation::new(
                    Check::ModuleDoc,
                    f.path.clone(),
                    i + 1,
                    "the file must open with a `//!` comment saying what the module is for",
                )),
                None => Some(Violation::new(
                    Check::ModuleDoc,
                    f.path.clone(),
                    1,
                    "the file is empty: it must open with a `//!` comment saying what the module is for",
                )),
            }
        })
        .collect()
}

/// Rust files exempt from the size limit, and why:
///
/// - test files ([`files::is_test_source`]: `*_tests.rs`, `tests.rs`, any
///   file under a `tests/` directory): tables of cases read best whole;
/// - anything under `benches/benches/`: each Criterion benchmark is one file.
pub fn size_exempt(path: &str) -> bool {
    files::is_test_source(path) || path.starts_with("benches/benches/")
}

/// Check 5: no `.rs` file outside [`size_exempt`] has more than
/// [`rule::MAX_RS_LINES`] lines.
pub fn check_file_sizes(text: &[TextFile]) -> Vec<Violation> {
    rust_files(text)
        .filter(|f| !size_exempt(&f.path))
        .filter_map(|f| {
            let n = f.text.lines().count();
            (n > rule::MAX_RS_LINES).then(|| {
                Violation::new(
                    Check::FileSize,
                    f.path.clone(),
                    rule::MAX_RS_LINES + 1,
                    format!(
                        "{n} lines, over the limit of {}: split the module",
                        rule::MAX_RS_LINES
                    ),
                )
            })
        })
        .collect()
}

/// Check 6: each document of [`rule::DOC_BUDGETS`] exists (is among
/// `listed`) and has at most its budget of lines in `text`.
pub fn check_doc_sizes(listed: &[String], text: &[TextFile]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (path, budget) in rule::DOC_BUDGETS {
        let Some(f) = text.iter().find(|f| f.path == *path) else {
            if !listed.iter().any(|p| p == path) {
                out.push(Violation::new(
                    Check::DocSize,
                    *path,
                    1,
                    "this budgeted document is missing: restore it or update DOC_BUDGETS in tidy/src/rule.rs",
                ));
            }
            continue;
        };
        let n = f.text.lines().count();
        if n > *budget {
            out.push(Violation::new(
                Check::DocSize,
                *path,
                budget + 1,
                format!("{n} lines, over its budget of {budget}: tighten it"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> String {
        "x\n".repeat(n)
    }

    #[test]
    fn module_doc_must_open_the_file() {
        let files = vec![
            TextFile::new("a/src/ok.rs", "\n\n//! Fine.\nfn f() {}\n"),
            TextFile::new("a/src/indented.rs", "  //! Fine too.\n"),
            TextFile::new("a/src/plain.rs", "// Not a module doc.\n//! Too late.\n"),
            TextFile::new(
                "a/src/attr.rs",
                "\n#![allow(dead_code)]\n//! After an attribute.\n",
            ),
            TextFile::new("a/src/outer.rs", "/// An item doc.\nfn f() {}\n"),
            TextFile::new("a/src/empty.rs", "\n  \n"),
            TextFile::new("a/README.md", "no doc\n"),
            TextFile::new("target/debug/build/out.rs", "fn generated() {}\n"),
            TextFile::new("tests/node/node_modules/m/x.rs", "fn f() {}\n"),
        ];
        let v = check_module_docs(&files);
        let got: Vec<(&str, usize)> = v.iter().map(|v| (v.path.as_str(), v.line)).collect();
        assert_eq!(
            got,
            vec![
                ("a/src/plain.rs", 1),
                ("a/src/attr.rs", 2),
                ("a/src/outer.rs", 1),
                ("a/src/empty.rs", 1)
            ]
        );
        assert!(v.iter().all(|v| v.check == Check::ModuleDoc));
    }

    #[test]
    fn long_source_file_is_reported() {
        let files = vec![
            TextFile::new("relay/src/conn.rs", lines(rule::MAX_RS_LINES + 1)),
            TextFile::new("relay/src/ok.rs", lines(rule::MAX_RS_LINES)),
        ];
        let v = check_file_sizes(&files);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            (v[0].path.as_str(), v[0].line),
            ("relay/src/conn.rs", rule::MAX_RS_LINES + 1)
        );
        assert!(v[0].message.starts_with("801 lines"), "{}", v[0].message);
    }

    #[test]
    fn test_and_bench_files_may_be_long() {
        let long = lines(rule::MAX_RS_LINES * 2);
        let files: Vec<TextFile> = [
            "relay/src/conn_tests.rs",
            "relay/src/filter/tests.rs",
            "tests/e2e/support/mod.rs",
            "bunkerd/tests/binary.rs",
            "benches/benches/crypto.rs",
            "relay/README.md",
        ]
        .iter()
        .map(|p| TextFile::new(*p, long.clone()))
        .collect();
        assert_eq!(check_file_sizes(&files), vec![]);
        assert!(!size_exempt("benches/src/loadgen.rs"));
    }

    #[test]
    fn doc_over_budget_is_reported() {
        let listed = vec!["ARCHITECTURE.md".to_owned(), "benches/README.md".to_owned()];
        let files = vec![
            TextFile::new("ARCHITECTURE.md", lines(211)),
            TextFile::new("benches/README.md", lines(260)),
        ];
        let v = check_doc_sizes(&listed, &files);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            (v[0].check, v[0].path.as_str(), v[0].line),
            (Check::DocSize, "ARCHITECTURE.md", 211)
        );
        assert!(v[0].message.contains("budget of 210"), "{}", v[0].message);
    }

    #[test]
    fn missing_budgeted_doc_is_reported() {
        let listed = vec!["ARCHITECTURE.md".to_owned()];
        let files = vec![TextFile::new("ARCHITECTURE.md", lines(3))];
        let v = check_doc_sizes(&listed, &files);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].path, "benches/README.md");
        assert!(v[0].message.contains("missing"), "{}", v[0].message);
    }
}
