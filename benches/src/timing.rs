//! A plain, robust timing loop for the `floor` report: calibrate a batch size, time several
//! batches with `std::time::Instant`, keep the median nanoseconds per call.
//!
//! Role: independent of criterion (the report never parses criterion's output files), so the
//! floor can be reproduced with one `cargo run`. Must not: time a call whose result is unused
//! (every result goes through `black_box`), or report a mean (one preempted batch on a shared
//! 2-core machine would skew it; the median does not move).
//!
//! Main items: [`Options`], [`Timing`], [`measure`].

use std::hint::black_box;
use std::time::{Duration, Instant};

#[cfg(test)]
#[path = "timing_tests.rs"]
mod tests;

/// How long and how often to time each primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Target wall time of one batch; the batch size doubles until a batch takes at least this.
    pub batch: Duration,
    /// Timed batches per primitive (odd, so the median is one batch). At least 1.
    pub rounds: usize,
}

impl Options {
    /// The report's default: 9 batches of at least 100 ms each (about 1 s per primitive).
    pub const DEFAULT: Options = Options {
        batch: Duration::from_millis(100),
        rounds: 9,
    };

    /// A quick pass for smoke runs: 3 batches of at least 5 ms.
    pub const QUICK: Options = Options {
        batch: Duration::from_millis(5),
        rounds: 3,
    };
}

/// The result of timing one primitive, in nanoseconds per call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Median over the batches of (batch time / calls per batch).
    pub median_ns: f64,
    /// Fastest batch, per call.
    pub min_ns: f64,
    /// Slowest batch, per call.
    pub max_ns: f64,
    /// Calls per batch after calibration.
    pub iters: u64,
}

/// Times `f`: warms up and calibrates the batch size to [`Options::batch`], then times
/// [`Options::rounds`] batches and returns the median time per call.
///
/// # Panics
///
/// If `opts.rounds` is 0.
pub fn measure<R>(opts: &Options, mut f: impl FnMut() -> R) -> Timing {
    assert!(opts.rounds > 0, "at least one round");
    let iters = calibrate(opts.batch, &mut f);
    let mut per_call: Vec<f64> = (0..opts.rounds)
        .map(|_| batch(iters, &mut f).as_nanos() as f64 / iters as f64)
        .collect();
    per_call.sort_by(f64::total_cmp);
    Timing {
        median_ns: median(&per_call),
        min_ns: per_call[0],
        max_ns: per_call[per_call.len() - 1],
        iters,
    }
}

/// Doubles the batch size until one batch takes at least `target` (this also warms caches and
/// the CPU clock). Returns the calls per batch.
fn calibrate<R>(target: Duration, f: &mut impl FnMut() -> R) -> u64 {
    let mut iters = 1u64;
    while batch(iters, f) < target && iters < (1 << 40) {
        iters *= 2;
    }
    iters
}

fn batch<R>(iters: u64, f: &mut impl FnMut() -> R) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed()
}

/// Median of sorted, non-empty values (the mean of the two middle ones for an even count).
pub(crate) fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}
