//! Check 3: the repository stands on its own. No text file refers to an
//! issue number, an acceptance item, or a design, protocol or style document
//! that lives outside the repository, nor to a sibling `shared` directory.
//!
//! tidy's own sources are scanned like every other file. They stay clean
//! because the pattern is written with regex escapes (`\.` for a dot, `[0-9]`
//! for a digit), which the pattern itself does not match, and because the
//! tests assemble their offending samples with `concat!`.

use regex::Regex;

use crate::files::{self, TextFile};
use crate::{Check, Violation};

/// The references a file must not make, case-insensitive.
pub const PATTERN: &str =
    r"(?i)issue [0-9]|issue #[0-9]|design\.md|protocol\.md|style\.md|acceptance [0-9]|\.\./shared/";

/// The compiled [`PATTERN`].
pub fn regex() -> Regex {
    Regex::new(PATTERN).expect("PATTERN is a valid regex")
}

/// Reports every line of every text file (except those of
/// [`files::is_reference_exempt`]) that matches [`PATTERN`].
pub fn check_refs(text: &[TextFile]) -> Vec<Violation> {
    let re = regex();
    let mut out = Vec::new();
    for f in text.iter().filter(|f| !files::is_reference_exempt(&f.path)) {
        for (i, line) in f.text.lines().enumerate() {
            if let Some(m) = re.find(line) {
                out.push(Violation::new(
                    Check::Refs,
                    f.path.clone(),
                    i + 1,
                    format!(
                        "refers to `{}`, which the repository does not hold: say what is meant in place",
                        m.as_str()
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reference_kind_is_reported() {
        let samples = [
            concat!("benchmarks for issue", " 3"),
            concat!("see Issue", " #12"),
            concat!("as design", ".md says"),
            concat!("PROTOCOL", ".MD section 4"),
            concat!("style", ".md §12"),
            concat!("acceptance", " 5 holds"),
            concat!("cat ..", "/shared/notes"),
        ];
        for s in samples {
            let f = TextFile::new("README.md", format!("# T\n\n{s}\n"));
            let v = check_refs(&[f]);
            assert_eq!(v.len(), 1, "{s}");
            assert_eq!((v[0].check, v[0].line), (Check::Refs, 3), "{s}");
        }
    }

    #[test]
    fn near_misses_pass() {
        let text = "issues are tracked elsewhere\nthe issue is #\nacceptance tests\n./shared/x\ndesign notes\n";
        assert_eq!(check_refs(&[TextFile::new("a.md", text)]), vec![]);
        // A longer name that ends in a forbidden one still matches.
        let text = concat!("see the re", "design", ".md draft\n");
        assert_eq!(check_refs(&[TextFile::new("a.md", text)]).len(), 1);
    }

    #[test]
    fn exempt_files_are_skipped() {
        let bad = concat!("issue", " 7\n");
        let files: Vec<TextFile> = [
            "Cargo.lock",
            "tests/node/package-lock.json",
            "tests/node/node_modules/x/a.md",
            "signer/vectors/v.json",
        ]
        .iter()
        .map(|p| TextFile::new(*p, bad))
        .collect();
        assert_eq!(check_refs(&files), vec![]);
        assert_eq!(
            check_refs(&[TextFile::new("tidy/Cargo.toml", bad)]).len(),
            1
        );
    }

    /// The reason tidy's sources need not be excluded: the pattern, as
    /// written in source, does not match itself, nor do the other files.
    #[test]
    fn pattern_does_not_match_its_own_source() {
        assert!(!regex().is_match(PATTERN));
        let own = include_str!("refs.rs");
        assert_eq!(
            check_refs(&[TextFile::new("tidy/src/refs.rs", own)]),
            vec![]
        );
    }
}
