//! Checks 1 and 2 (manifest half): the crate dependency rule, and the relay
//! side's distance from every crate that can hold a secret key.
//!
//! Only crates that exist in the workspace are checked, so the rule can name
//! the target layout before every crate of it exists.

use crate::rule;
use crate::workspace::{Kind, Workspace};
use crate::{Check, Violation};

/// Check 1: every workspace crate is in [`rule::RULE`], and each of its
/// dependencies on another workspace crate is allowed by its rule (normal and
/// build dependencies by `deps`, dev-dependencies by `deps` or `dev_deps`).
pub fn check_deps(ws: &Workspace) -> Vec<Violation> {
    let mut out = Vec::new();
    for c in &ws.crates {
        let Some(r) = rule::rule_for(&c.name) else {
            out.push(Violation::new(
                Check::Deps,
                c.manifest(),
                1,
                format!(
                    "workspace crate `{}` is not in the dependency rule: add it to RULE in tidy/src/rule.rs",
                    c.name
                ),
            ));
            continue;
        };
        for d in c.deps.iter().filter(|d| d.workspace) {
            let allowed = r.deps.contains(&d.name.as_str())
                || (d.kind == Kind::Dev && r.dev_deps.contains(&d.name.as_str()));
            if !allowed {
                let mut may: Vec<&str> = r.deps.to_vec();
                if d.kind == Kind::Dev {
                    may.extend(r.dev_deps);
                }
                let may = if may.is_empty() {
                    "no workspace crate".to_owned()
                } else {
                    may.join(", ")
                };
                out.push(Violation::new(
                    Check::Deps,
                    c.manifest(),
                    d.line,
                    format!(
                        "`{}` must not depend on `{}` ({}); the rule allows: {may}",
                        c.name,
                        d.name,
                        d.kind.section()
                    ),
                ));
            }
        }
    }
    out
}

/// Check 2, manifest half: each crate of [`rule::RELAY_SIDE`] that exists
/// lists none of [`rule::SECRET_WORKSPACE_CRATES`] and none of its forbidden
/// external crates as a normal dependency (dev-dependencies may, for tests).
pub fn check_relay_deps(ws: &Workspace) -> Vec<Violation> {
    let mut out = Vec::new();
    for side in rule::RELAY_SIDE {
        let Some(c) = ws.get(side.name) else { continue };
        for d in c.deps.iter().filter(|d| d.kind == Kind::Normal) {
            let name = d.name.as_str();
            let secret_ws = d.workspace && rule::SECRET_WORKSPACE_CRATES.contains(&name);
            let secret_ext = !d.workspace && side.forbidden_external.contains(&name);
            if secret_ws || secret_ext {
                let what = if d.workspace {
                    "workspace crate"
                } else {
                    "crate"
                };
                out.push(Violation::new(
                    Check::RelayDeps,
                    c.manifest(),
                    d.line,
                    format!(
                        "relay-side `{}` must not depend on {what} `{name}`, which can hold secret keys",
                        side.name
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
    use crate::workspace::{Crate, Dep};

    /// A dependency for the test workspaces; `ext:` marks an external crate.
    fn dep(spec: &str, kind: Kind, line: usize) -> Dep {
        let (workspace, name) = match spec.strip_prefix("ext:") {
            Some(n) => (false, n),
            None => (true, spec),
        };
        Dep {
            name: name.into(),
            kind,
            workspace,
            line,
        }
    }

    fn krate(name: &str, deps: Vec<Dep>) -> Crate {
        Crate {
            name: name.into(),
            dir: name.into(),
            deps,
        }
    }

    fn ws(crates: Vec<Crate>) -> Workspace {
        Workspace {
            root: ".".into(),
            crates,
        }
    }

    /// The workspace as it is today (before `proto` exists).
    fn today() -> Workspace {
        use Kind::{Dev, Normal};
        ws(vec![
            krate("event", vec![dep("ext:secp256k1", Normal, 10)]),
            krate("store", vec![dep("ext:rocksdb", Normal, 10)]),
            krate("kms", vec![dep("store", Normal, 10)]),
            krate(
                "signer",
                vec![
                    dep("event", Normal, 10),
                    dep("kms", Normal, 11),
                    dep("store", Normal, 12),
                ],
            ),
            krate(
                "relay",
                vec![
                    dep("event", Normal, 10),
                    dep("ext:tokio", Normal, 11),
                    dep("proto", Dev, 12),
                ],
            ),
            krate(
                "bunkerd",
                vec![dep("relay", Normal, 10), dep("signer", Normal, 11)],
            ),
            krate(
                "benches",
                vec![dep("bunkerd", Normal, 10), dep("relay", Normal, 11)],
            ),
            krate(
                "tests",
                vec![dep("benches", Dev, 10), dep("bunkerd", Dev, 11)],
            ),
            krate("tidy", vec![dep("ext:regex", Normal, 10)]),
        ])
    }

    #[test]
    fn todays_layout_passes() {
        assert_eq!(check_deps(&today()), vec![]);
        assert_eq!(check_relay_deps(&today()), vec![]);
    }

    #[test]
    fn forbidden_edge_is_reported() {
        let w = ws(vec![
            krate("kms", vec![dep("signer", Kind::Normal, 12)]),
            krate("signer", vec![]),
        ]);
        let v = check_deps(&w);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].check, Check::Deps);
        assert_eq!((v[0].path.as_str(), v[0].line), ("kms/Cargo.toml", 12));
        assert!(
            v[0].message.contains("`kms` must not depend on `signer`"),
            "{}",
            v[0].message
        );
        assert!(v[0].message.contains("allows: store"), "{}", v[0].message);
    }

    #[test]
    fn build_deps_follow_the_normal_rule() {
        let w = ws(vec![krate("store", vec![dep("kms", Kind::Build, 3)])]);
        let v = check_deps(&w);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("build-dependencies"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn event_may_depend_on_nothing() {
        let w = ws(vec![krate("event", vec![dep("proto", Kind::Normal, 4)])]);
        let v = check_deps(&w);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].message.contains("no workspace crate"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn external_deps_are_not_governed_by_the_rule() {
        let w = ws(vec![krate(
            "event",
            vec![dep("ext:serde", Kind::Normal, 4)],
        )]);
        assert_eq!(check_deps(&w), vec![]);
    }

    #[test]
    fn unknown_workspace_crate_is_an_error() {
        let w = ws(vec![krate("gizmo", vec![])]);
        let v = check_deps(&w);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].path, "gizmo/Cargo.toml");
        assert!(
            v[0].message.contains("not in the dependency rule"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn dev_deps_may_be_wider_but_not_unbounded() {
        // tests may use everything as dev-dependencies...
        let w = ws(vec![krate(
            "tests",
            vec![dep("benches", Kind::Dev, 2), dep("relay", Kind::Dev, 3)],
        )]);
        assert_eq!(check_deps(&w), vec![]);
        // ...but not tidy.
        let w = ws(vec![krate("tests", vec![dep("tidy", Kind::Dev, 2)])]);
        assert_eq!(check_deps(&w).len(), 1);
        // A dev-dependency is still held to the rule of its crate.
        let w = ws(vec![krate("store", vec![dep("kms", Kind::Dev, 2)])]);
        assert_eq!(check_deps(&w).len(), 1);
    }

    #[test]
    fn relay_on_signer_as_a_normal_dependency_is_reported() {
        for kind in [Kind::Normal, Kind::Build] {
            let w = ws(vec![krate("relay", vec![dep("signer", kind, 2)])]);
            let v = check_deps(&w);
            assert_eq!(v.len(), 1, "{kind:?}: {v:?}");
            assert_eq!((v[0].check, v[0].line), (Check::Deps, 2));
            assert!(
                v[0].message.contains("`relay` must not depend on `signer`"),
                "{}",
                v[0].message
            );
            assert!(v[0].message.contains("allows: event"), "{}", v[0].message);
        }
        let w = ws(vec![krate("relay", vec![dep("signer", Kind::Normal, 2)])]);
        let v = check_relay_deps(&w);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].check, v[0].line), (Check::RelayDeps, 2));
        assert!(
            v[0].message.contains("workspace crate `signer`"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn relay_may_use_proto_as_a_dev_dependency_only() {
        let w = ws(vec![krate("relay", vec![dep("proto", Kind::Dev, 2)])]);
        assert_eq!(check_deps(&w), vec![]);
        assert_eq!(check_relay_deps(&w), vec![]);
        // The dev allowance is proto's alone: kms, store, signer stay out.
        for other in ["kms", "store", "signer"] {
            let w = ws(vec![krate("relay", vec![dep(other, Kind::Dev, 2)])]);
            assert_eq!(check_deps(&w).len(), 1, "{other}");
        }
    }

    #[test]
    fn every_secret_workspace_crate_is_off_limits_to_relay() {
        for c in rule::SECRET_WORKSPACE_CRATES {
            let w = ws(vec![krate("relay", vec![dep(c, Kind::Normal, 2)])]);
            assert_eq!(check_deps(&w).len(), 1, "{c}");
            assert_eq!(check_relay_deps(&w).len(), 1, "{c}");
        }
    }

    #[test]
    fn relay_secret_external_dep_is_reported() {
        let w = ws(vec![krate(
            "relay",
            vec![
                dep("ext:secp256k1", Kind::Normal, 7),
                dep("ext:aes-gcm", Kind::Normal, 8),
                // Dev-dependencies may hold keys (to build signed test events).
                dep("ext:rocksdb", Kind::Dev, 9),
            ],
        )]);
        let v = check_relay_deps(&w);
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!((v[0].check, v[0].line), (Check::RelayDeps, 7));
        assert!(v[0].message.contains("`secp256k1`"), "{}", v[0].message);
        assert!(v[1].message.contains("`aes-gcm`"), "{}", v[1].message);
    }

    #[test]
    fn event_may_verify_with_secp256k1_but_not_seal() {
        let w = ws(vec![krate(
            "event",
            vec![
                dep("ext:secp256k1", Kind::Normal, 7),
                dep("ext:chacha20poly1305", Kind::Normal, 8),
            ],
        )]);
        let v = check_relay_deps(&w);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("chacha20poly1305"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn event_on_a_secret_workspace_crate_is_reported_twice_over() {
        let w = ws(vec![krate("event", vec![dep("kms", Kind::Normal, 5)])]);
        assert_eq!(check_deps(&w).len(), 1);
        let v = check_relay_deps(&w);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].message.contains("workspace crate `kms`"),
            "{}",
            v[0].message
        );
    }
}
