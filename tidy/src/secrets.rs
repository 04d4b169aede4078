//! Check 2, source half: the non-test Rust sources of the relay-side crates
//! name no secret-key type ([`rule::SECRET_TYPES`], matched as whole words).
//!
//! Test files are exempt (see [`files::is_test_source`]): tests may build
//! signed client events with real keys. Whole-line `//` comments are skipped
//! too: saying that the relay never sees a `SecretKey` is not holding one.
//! Every violation fails the run, like those of the other checks.

use regex::Regex;

use crate::files::{self, TextFile};
use crate::rule;
use crate::workspace::Workspace;
use crate::{Check, Violation};

/// The regex matching any [`rule::SECRET_TYPES`] name as a whole word.
pub fn secret_type_regex() -> Regex {
    let names: Vec<String> = rule::SECRET_TYPES
        .iter()
        .map(|n| regex::escape(n))
        .collect();
    Regex::new(&format!(r"\b(?:{})\b", names.join("|")))
        .expect("secret-type names form a valid regex")
}

/// Scans the non-test `.rs` files under each relay-side crate's directory
/// for secret-key type names, one violation per offending line.
pub fn check_relay_sources(ws: &Workspace, text: &[TextFile]) -> Vec<Violation> {
    let re = secret_type_regex();
    let mut out = Vec::new();
    for side in rule::RELAY_SIDE {
        let Some(c) = ws.get(side.name) else { continue };
        let prefix = if c.dir.is_empty() {
            String::new()
        } else {
            format!("{}/", c.dir)
        };
        for f in text {
            let Some(rel) = f.path.strip_prefix(&prefix) else {
                continue;
            };
            if !f.path.ends_with(".rs") || files::is_test_source(rel) {
                continue;
            }
            for (i, line) in f.text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                let found: Vec<&str> = re.find_iter(line).map(|m| m.as_str()).collect();
                if !found.is_empty() {
                    out.push(Violation::new(
                        Check::RelaySource,
                        f.path.clone(),
                        i + 1,
                        format!(
                            "relay-side `{}` names secret-key type {}: the relay side must never hold a secret key",
                            side.name,
                            found.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Crate;

    fn ws(names: &[&str]) -> Workspace {
        Workspace {
            root: ".".into(),
            crates: names
                .iter()
                .map(|n| Crate {
                    name: (*n).into(),
                    dir: (*n).into(),
                    deps: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn relay_file_naming_a_secret_key_type_is_reported() {
        let files = vec![TextFile::new(
            "relay/src/conn.rs",
            "//! Conn.\nuse signer::nostr::Event;\nfn f(k: &secp256k1::SecretKey) {}\n",
        )];
        let v = check_relay_sources(&ws(&["relay"]), &files);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            (v[0].check, v[0].path.as_str(), v[0].line),
            (Check::RelaySource, "relay/src/conn.rs", 3)
        );
        assert!(v[0].message.contains("`SecretKey`"), "{}", v[0].message);
    }

    #[test]
    fn every_listed_type_is_caught_and_event_is_relay_side() {
        for name in rule::SECRET_TYPES {
            let files = vec![TextFile::new(
                "event/src/lib.rs",
                format!("//! E.\nlet x: {name};\n"),
            )];
            assert_eq!(
                check_relay_sources(&ws(&["event"]), &files).len(),
                1,
                "{name}"
            );
        }
    }

    #[test]
    fn matches_are_whole_words() {
        let src = "//! R.\nstruct PublicKeys; let nsec = 1; fn keys() {} struct MyKeypair2; let x = Keysmith;\n";
        let files = vec![TextFile::new("relay/src/a.rs", src)];
        assert_eq!(check_relay_sources(&ws(&["relay"]), &files), vec![]);
        let files = vec![TextFile::new(
            "relay/src/a.rs",
            "//! R.\nlet k = Keys::generate();\n",
        )];
        assert_eq!(check_relay_sources(&ws(&["relay"]), &files).len(), 1);
    }

    #[test]
    fn several_names_on_one_line_make_one_violation() {
        let files = vec![TextFile::new(
            "relay/src/a.rs",
            "//! R.\nfn f(a: DataKey, b: MasterKey) {}\n",
        )];
        let v = check_relay_sources(&ws(&["relay"]), &files);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].message.contains("`DataKey`, `MasterKey`"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn tests_comments_and_other_crates_are_exempt() {
        let bad = "//! X.\nlet k: SecretKey;\n";
        let files = vec![
            TextFile::new("relay/src/conn_tests.rs", bad),
            TextFile::new("relay/src/filter/tests.rs", bad),
            TextFile::new("relay/tests/e2e.rs", bad),
            TextFile::new(
                "relay/src/doc.rs",
                "//! Never a SecretKey here.\n    // nor a Keypair\n",
            ),
            TextFile::new("relay/README.md", bad),
            TextFile::new("signer/src/keys.rs", bad),
            TextFile::new("relayx/src/lib.rs", bad),
        ];
        assert_eq!(
            check_relay_sources(&ws(&["relay", "signer", "relayx"]), &files),
            vec![]
        );
    }

    #[test]
    fn absent_relay_side_crates_are_not_scanned() {
        let files = vec![TextFile::new(
            "event/src/lib.rs",
            "//! E.\nlet k: SecretKey;\n",
        )];
        assert_eq!(check_relay_sources(&ws(&["relay"]), &files), vec![]);
    }
}
