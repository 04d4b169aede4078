//! End-to-end tests: the real bunkerd (relay, signer pool, RocksDB in a temp dir) started on
//! 127.0.0.1:0 and driven over real sockets by real NIP-46 clients — rust-nostr's `nostr-connect`,
//! and through Node nostr-tools' `BunkerSigner`, NDK's `NDKNip46Signer` and welshman's
//! `Nip46Signer` (each in the client matrix, `support::matrix`) — and a raw NIP-01/NIP-46 client
//! built on rust-nostr's primitives for what the libraries cannot send (ping, NIP-04 transport,
//! malformed input).
//!
//! One test binary, so the suite links once: each module is one capability; `support` starts
//! servers and holds the clients.

// A test binary exports nothing: `pub` here only shares helpers between modules.
#![allow(unreachable_pub, missing_docs)]

mod admin_api;
mod admin_audit;
mod admin_cli;
mod admin_import;
mod admin_lifecycle;
mod admin_nip98;
mod admin_policy;
mod admin_query;
mod admin_races;
mod approvals;
mod backup;
mod cluster;
mod config;
mod crash;
mod custody;
mod deploy;
mod failover;
mod field_compat;
mod hostile;
mod http_nip46;
mod key_export;
mod key_rotation;
mod limits;
mod loadgen_smoke;
mod metrics;
mod ndk;
mod nostr_tools;
mod nostrconnect;
mod openapi;
mod refusal_replies;
mod refusals;
mod relay_protocol;
mod restart;
mod rust_nostr;
mod sched;
mod schemathesis;
mod sealed_store;
mod shutdown;
mod sigterm;
mod support;
mod welshman;
