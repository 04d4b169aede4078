//! `tidy`: repository checks that need no build of the workspace (no RocksDB,
//! no compiling of the other crates), fast enough to run first in CI.
//!
//! Run it as `cargo run -p tidy` (prints every violation, exits 1 if any) or
//! through its own tests, `cargo test -p tidy`.
//!
//! The checks, each a function from small in-memory inputs to a list of
//! [`Violation`]s:
//!
//! 1. [`deps::check_deps`]: the crate dependency rule of [`rule::RULE`].
//! 2. [`deps::check_relay_deps`] and [`secrets::check_relay_sources`]: the
//!    relay side links no crate that can hold a secret key and names no
//!    secret-key type.
//! 3. [`refs::check_refs`]: text files refer to no document or issue the
//!    repository does not hold.
//! 4. [`layout::check_module_docs`]: every `.rs` file opens with `//!`.
//! 5. [`layout::check_file_sizes`]: no non-test `.rs` file is too long.
//! 6. [`layout::check_doc_sizes`]: the documents with a line budget keep it.
//!
//! Every table the checks use lives in [`rule`].
//! Every check is enforced: any violation fails the run.

pub mod deps;
pub mod files;
pub mod layout;
pub mod refs;
pub mod rule;
pub mod secrets;
pub mod workspace;

use std::fmt;
use std::path::Path;

use workspace::Workspace;

/// Which check found a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// The crate dependency rule ([`rule::RULE`]).
    Deps,
    /// Relay-side crates link nothing that can hold a secret key.
    RelayDeps,
    /// Relay-side sources name no secret-key type.
    RelaySource,
    /// Text files refer to nothing the repository does not hold.
    Refs,
    /// Every `.rs` file opens with a `//!` module doc.
    ModuleDoc,
    /// No non-test `.rs` file is too long.
    FileSize,
    /// Budgeted documents keep their line budget.
    DocSize,
}

impl Check {
    /// The short name printed with each violation.
    pub fn name(self) -> &'static str {
        match self {
            Check::Deps => "deps",
            Check::RelayDeps => "relay-deps",
            Check::RelaySource => "relay-source",
            Check::Refs => "refs",
            Check::ModuleDoc => "module-doc",
            Check::FileSize => "file-size",
            Check::DocSize => "doc-size",
        }
    }
}

/// One broken rule, at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// The check that found it.
    pub check: Check,
    /// The file, relative to the workspace root, with `/` separators.
    pub path: String,
    /// The 1-based line in that file.
    pub line: usize,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl Violation {
    /// A violation of `check` at `path:line`.
    pub fn new(
        check: Check,
        path: impl Into<String>,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        Violation {
            check,
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{}] {}",
            self.path,
            self.line,
            self.check.name(),
            self.message
        )
    }
}

/// What a full run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Every violation, sorted; any one fails the run.
    pub enforced: Vec<Violation>,
}

/// Runs every check over the workspace `ws` and the repository files listed
/// under its root.
pub fn run(ws: &Workspace) -> Result<Report, files::Error> {
    let listed = files::list(&ws.root)?;
    let text = files::load_text(&ws.root, &listed);
    Ok(run_on(ws, &listed, &text))
}

/// Runs every check over in-memory inputs: the workspace model, every listed
/// path (relative, `/` separators) and the text files among them.
pub fn run_on(ws: &Workspace, listed: &[String], text: &[files::TextFile]) -> Report {
    let mut enforced = Vec::new();
    enforced.extend(deps::check_deps(ws));
    enforced.extend(deps::check_relay_deps(ws));
    enforced.extend(secrets::check_relay_sources(ws, text));
    enforced.extend(refs::check_refs(text));
    enforced.extend(layout::check_module_docs(text));
    enforced.extend(layout::check_file_sizes(text));
    enforced.extend(layout::check_doc_sizes(listed, text));
    enforced.sort();
    Report { enforced }
}

/// Loads the workspace around `manifest` (or the current directory) and runs
/// every check.
pub fn run_at(manifest: Option<&Path>) -> Result<Report, Box<dyn std::error::Error>> {
    let ws = workspace::load(manifest)?;
    Ok(run(&ws)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use workspace::{Crate, Dep, Kind};

    fn relay(deps: &[(&str, Kind)]) -> Workspace {
        Workspace {
            root: ".".into(),
            crates: vec![Crate {
                name: "relay".into(),
                dir: "relay".into(),
                deps: deps
                    .iter()
                    .map(|(n, k)| Dep {
                        name: (*n).into(),
                        kind: *k,
                        workspace: true,
                        line: 1,
                    })
                    .collect(),
            }],
        }
    }

    /// A run over a relay with `deps` whose one source file has `src`.
    fn run_relay(deps: &[(&str, Kind)], src: &str) -> Report {
        let text = vec![files::TextFile::new("relay/src/lib.rs", src)];
        let listed: Vec<String> = text.iter().map(|f| f.path.clone()).collect();
        run_on(&relay(deps), &listed, &text)
    }

    /// The checks of `report`'s violations from the relay checks (the run
    /// also reports, for one, the budgeted documents missing here).
    fn relay_checks(report: &Report) -> Vec<Check> {
        let relay = [Check::Deps, Check::RelayDeps, Check::RelaySource];
        report
            .enforced
            .iter()
            .map(|v| v.check)
            .filter(|c| relay.contains(c))
            .collect()
    }

    #[test]
    fn relay_source_naming_a_secret_key_type_fails_the_run() {
        let src = "//! Relay.\nuse x::SecretKey;\n";
        // Enforced whatever the relay's dependencies are.
        for deps in [
            &[][..],
            &[("proto", Kind::Dev)],
            &[("signer", Kind::Normal)],
            &[("event", Kind::Normal)],
        ] {
            let report = run_relay(deps, src);
            let scan: Vec<&Violation> = report
                .enforced
                .iter()
                .filter(|v| v.check == Check::RelaySource)
                .collect();
            assert_eq!(scan.len(), 1, "{deps:?}: {:?}", report.enforced);
            assert_eq!(
                (scan[0].path.as_str(), scan[0].line),
                ("relay/src/lib.rs", 2)
            );
        }
    }

    #[test]
    fn relay_on_signer_fails_the_run_and_proto_only_as_a_normal_dependency() {
        let src = "//! Relay.\n";
        let report = run_relay(&[("signer", Kind::Normal)], src);
        assert_eq!(
            relay_checks(&report),
            vec![Check::Deps, Check::RelayDeps],
            "{:?}",
            report.enforced
        );
        let report = run_relay(&[("proto", Kind::Dev), ("event", Kind::Normal)], src);
        assert_eq!(relay_checks(&report), vec![], "{:?}", report.enforced);
    }

    #[test]
    fn violation_prints_file_line_check_message() {
        let v = Violation::new(Check::Refs, "a/b.md", 7, "bad");
        assert_eq!(v.to_string(), "a/b.md:7: [refs] bad");
    }
}
