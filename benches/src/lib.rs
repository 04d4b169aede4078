//! Shared fixtures and measuring tools for bunkerd's benchmarks: the criterion micro-benchmarks in
//! `benches/`, the `floor` report (`src/bin/floor.rs`), the end-to-end load generator
//! ([`loadgen`], `src/bin/loadgen.rs`) and the crash-consistency harness ([`crash`],
//! `src/bin/crash.rs`).
//!
//! Role: build one realistic NIP-46 `sign_event` exchange ([`Fixture`]), the raw secp256k1 0.31
//! primitives with an explicit context ([`RawSecp`]), the composed request path
//! ([`pipeline::handle_sign_event`]), a plain `Instant` timing loop ([`timing`]) and the arithmetic
//! that turns per-primitive medians into a per-request cost ([`report`]).
//!
//! Must not: be a dependency of any production crate (the architecture test allows `benches` to
//! depend on `kms`, `signer` and `relay`, never the reverse); read files at run time (except the
//! operator token the crash harness's own bunkerd writes); hide a failure (a fixture that does not
//! verify or decrypt panics at build time, before anything is timed). Keys here are fixed test
//! constants or generated for the run, never real secrets.
//!
//! Main types: [`Fixture`], [`RawSecp`], [`timing::Timing`], [`report::RequestCost`].

pub mod crash;
pub mod fixture;
pub mod loadgen;
pub mod pipeline;
pub mod raw;
pub mod report;
pub mod timing;

pub use fixture::Fixture;
pub use raw::RawSecp;

use std::time::Duration;

/// Criterion settings shared by every bench target: 30 samples, 1 s warm-up, 2 s measurement.
///
/// Short on purpose: `cargo bench -p benches` must finish in under five minutes on a 2-core
/// machine. The crypto medians are stable to a few percent at this length; raise the times on the
/// command line (`-- --measurement-time 10`) for publication-grade figures.
pub fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}
