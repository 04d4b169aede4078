//! The run report: throughput, latency percentiles and every count, as a table and one JSON line.

use super::verify::Outcomes;
use super::Options;
use serde::Serialize;
use std::time::Duration;

/// The verified result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Open-loop target rate, requests/s.
    pub target_rate: Option<f64>,
    /// Client connections.
    pub clients: usize,
    /// Requests sent in the timed phase.
    pub sent: usize,
    /// Verified successful replies.
    pub ok: usize,
    /// Error replies.
    pub errors: usize,
    /// `OK false` refusals.
    pub refused: usize,
    /// Of `refused`, those whose message starts with `rate-limited:` (NIP-01's prefix).
    pub rate_limited: usize,
    /// Sent but unanswered within the time bound.
    pub timeouts: usize,
    /// Responses that failed verification.
    pub invalid: usize,
    /// The first verification failure.
    pub first_invalid: Option<String>,
    /// Length of the timed phase, seconds.
    pub elapsed_s: f64,
    /// When the timed phase started (its first scheduled send), Unix time in milliseconds: with
    /// [`Options::duty`], the `on` windows start here every `on + off`.
    pub start_unix_ms: f64,
    /// Verified replies (ok + errors) per second of the timed phase.
    pub rps: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Report {
    pub(super) fn new(
        options: &Options,
        elapsed: Duration,
        start_unix_ms: f64,
        mut out: Outcomes,
    ) -> Self {
        out.latencies.sort_unstable();
        let pct = |p: f64| percentile(&out.latencies, p);
        let answered = out.ok + out.errors;
        Report {
            mode: if options.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            target_rate: options.rate,
            clients: options.clients,
            sent: out.sent,
            ok: out.ok,
            errors: out.errors,
            refused: out.refused,
            rate_limited: out.rate_limited,
            timeouts: out.timeouts,
            invalid: out.invalid,
            first_invalid: out.first_invalid,
            elapsed_s: elapsed.as_secs_f64(),
            start_unix_ms,
            rps: answered as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: out.latencies.last().map_or(0.0, ms),
        }
    }

    /// A human-readable summary.
    pub fn table(&self) -> String {
        format!(
            "mode {} clients {} | sent {} ok {} errors {} refused {} (rate-limited {}) timeouts {} \
             invalid {}\n\
             {:.0} req/s over {:.2} s | latency p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.2} ms",
            self.mode,
            self.clients,
            self.sent,
            self.ok,
            self.errors,
            self.refused,
            self.rate_limited,
            self.timeouts,
            self.invalid,
            self.rps,
            self.elapsed_s,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms
        )
    }

    /// The report as one JSON line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("report serializes")
    }
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    ms(&sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::percentile;
    use std::time::Duration;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.50), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
