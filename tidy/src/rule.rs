//! THE rule: which workspace crate may depend on which, what the relay side
//! must never touch, and the lists of names the checks look for.
//!
//! Everything a reviewer may want to change lives in this one file, as plain
//! tables:
//!
//! - [`RULE`]: for each workspace crate, the workspace crates it may depend on.
//!   A crate of the workspace that is missing here is an error, so a new crate
//!   has to be placed in the layering on purpose.
//! - [`RELAY_SIDE`], [`SECRET_WORKSPACE_CRATES`], [`SECRET_TYPES`]: what the
//!   crates that face the network without holding keys must stay away from.
//!
//! The target layout (a crate that does not exist yet is simply not checked):
//!
//! | crate     | what it holds                                                     | may depend on |
//! |-----------|-------------------------------------------------------------------|---------------|
//! | `event`   | NIP-01 events, public keys, ids, BIP-340 verification; no secrets | nothing       |
//! | `proto`   | the pure protocol core: keys, NIP-44/04/49/98, NIP-46, policy     | event         |
//! | `store`   | the `Store` trait, column families, RocksDB and in-memory engines | nothing       |
//! | `kms`     | master keys, sealed-record format, data keys, vault               | store         |
//! | `signer`  | the shell: directory, sessions, pool, audit, Bunker, admin        | event, proto, kms, store |
//! | `relay`   | the NIP-01 relay                                                  | event (tests: proto too) |
//! | `bunkerd` | the binary: config, server, metrics, sched, admin HTTP, CLI       | all of the above |
//! | `benches` | benchmarks and load tools                                         | every library crate |
//! | `tests`   | end-to-end tests                                                  | everything, benches included |
//! | `tidy`    | these checks                                                      | nothing       |

/// What one workspace crate may depend on, inside the workspace.
///
/// Only dependencies on other workspace crates are governed here; external
/// crates from the registry are free, except for the relay side (see
/// [`RELAY_SIDE`]).
#[derive(Debug, Clone, Copy)]
pub struct CrateRule {
    /// The crate's package name, as in its `Cargo.toml`.
    pub name: &'static str,
    /// Workspace crates it may use as normal or build dependencies.
    pub deps: &'static [&'static str],
    /// Workspace crates it may use as dev-dependencies *in addition to*
    /// [`CrateRule::deps`] (tests may reach wider than the code they test).
    pub dev_deps: &'static [&'static str],
}

/// The library crates of the target layout: what `benches` may link.
/// `bunkerd` is listed because it also has a library target (its server can
/// be started in-process by the load tools).
const LIBRARY_CRATES: &[&str] = &[
    "event", "proto", "store", "kms", "signer", "relay", "bunkerd",
];

/// Everything `tests` may use: every crate but itself and `tidy`.
const EVERYTHING: &[&str] = &[
    "event", "proto", "store", "kms", "signer", "relay", "bunkerd", "benches",
];

/// THE dependency rule: each workspace crate and the workspace crates it may
/// depend on. Edit this table (and only this table) to change the layering.
pub const RULE: &[CrateRule] = &[
    CrateRule {
        name: "event",
        deps: &[],
        dev_deps: &[],
    },
    CrateRule {
        name: "proto",
        deps: &["event"],
        dev_deps: &[],
    },
    CrateRule {
        name: "store",
        deps: &[],
        dev_deps: &[],
    },
    CrateRule {
        name: "kms",
        deps: &["store"],
        dev_deps: &[],
    },
    CrateRule {
        name: "signer",
        deps: &["event", "proto", "kms", "store"],
        dev_deps: &[],
    },
    CrateRule {
        name: "relay",
        deps: &["event"],
        // Tests sign the events they parse; the library may not name a
        // secret-key type (the source scan exempts test files).
        dev_deps: &["proto"],
    },
    CrateRule {
        name: "bunkerd",
        deps: &["event", "proto", "store", "kms", "signer", "relay"],
        dev_deps: &[],
    },
    CrateRule {
        name: "benches",
        deps: LIBRARY_CRATES,
        dev_deps: &[],
    },
    CrateRule {
        name: "tests",
        deps: EVERYTHING,
        dev_deps: &[],
    },
    CrateRule {
        name: "tidy",
        deps: &[],
        dev_deps: &[],
    },
];

/// A crate of the relay side: it faces the network and must never hold a
/// secret key, so it may not link the crates that can.
#[derive(Debug, Clone, Copy)]
pub struct RelaySide {
    /// The crate's package name.
    pub name: &'static str,
    /// External (registry) crates it must not list as normal dependencies.
    pub forbidden_external: &'static [&'static str],
}

/// External crates that handle secret keys or sealed secrets: signing
/// (`secp256k1`), symmetric ciphers, password hashing, the key stores (RocksDB,
/// PostgreSQL's client) and the master-key providers (`cryptoki`, `aws-sdk-kms`).
const SECRET_EXTERNALS: &[&str] = &[
    "secp256k1",
    "aes-gcm",
    "aes",
    "chacha20",
    "chacha20poly1305",
    "scrypt",
    "rocksdb",
    "postgres",
    "cryptoki",
    "aws-sdk-kms",
];

/// The same as [`SECRET_EXTERNALS`] without `secp256k1`: `event` verifies
/// BIP-340 signatures and cannot avoid the library, though it never holds a
/// secret key with it.
const SECRET_EXTERNALS_BUT_SECP: &[&str] = &[
    "aes-gcm",
    "aes",
    "chacha20",
    "chacha20poly1305",
    "scrypt",
    "rocksdb",
    "postgres",
    "cryptoki",
    "aws-sdk-kms",
];

/// The relay-side crates and the external crates each must not depend on.
/// Their non-test sources are also scanned for [`SECRET_TYPES`].
pub const RELAY_SIDE: &[RelaySide] = &[
    RelaySide {
        name: "relay",
        forbidden_external: SECRET_EXTERNALS,
    },
    RelaySide {
        name: "event",
        forbidden_external: SECRET_EXTERNALS_BUT_SECP,
    },
];

/// Workspace crates that can hold secret keys: no relay-side crate may list
/// them as normal dependencies (dev-dependencies may, for tests).
pub const SECRET_WORKSPACE_CRATES: &[&str] = &["proto", "signer", "kms", "store"];

/// Names of secret-key types (ours and the libraries'). A relay-side source
/// file that names one of them, as a whole word, is a violation.
pub const SECRET_TYPES: &[&str] = &[
    "SecretKey",
    "Keypair",
    "Keys",
    "DataKey",
    "MasterKey",
    "FileMasterKey",
    "MemMasterKey",
    "SharedSecret",
    "ConversationKey",
    "Nsec",
];

/// Longest `.rs` file allowed, in lines (test files are exempt, see
/// [`crate::layout::size_exempt`]).
pub const MAX_RS_LINES: usize = 800;

/// Documents with a line budget: path from the workspace root and the most
/// lines it may have.
pub const DOC_BUDGETS: &[(&str, usize)] = &[("ARCHITECTURE.md", 210), ("benches/README.md", 260)];

/// The rule for `name`, if the table has one.
pub fn rule_for(name: &str) -> Option<&'static CrateRule> {
    RULE.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name the tables mention must be a crate of [`RULE`], so a typo
    /// cannot silently allow or forbid nothing.
    #[test]
    fn tables_name_only_known_crates() {
        for r in RULE {
            for d in r.deps.iter().chain(r.dev_deps) {
                assert!(rule_for(d).is_some(), "{} allows unknown crate {d}", r.name);
                assert_ne!(*d, r.name, "{} may not depend on itself", r.name);
            }
        }
        for s in RELAY_SIDE {
            assert!(rule_for(s.name).is_some(), "relay side {}", s.name);
        }
        for c in SECRET_WORKSPACE_CRATES {
            assert!(rule_for(c).is_some(), "secret crate {c}");
        }
    }

    /// The rule keeps the relay side's normal dependencies away from the
    /// secret crates (dev-dependencies may reach them, for tests).
    #[test]
    fn rule_keeps_relay_side_off_secret_crates() {
        for s in RELAY_SIDE {
            let r = rule_for(s.name).expect("relay-side crate in RULE");
            for c in SECRET_WORKSPACE_CRATES {
                assert!(!r.deps.contains(c), "{} may depend on {c}", s.name);
            }
        }
    }

    #[test]
    fn rule_names_are_unique() {
        for (i, a) in RULE.iter().enumerate() {
            assert!(RULE[i + 1..].iter().all(|b| b.name != a.name), "{}", a.name);
        }
    }
}
