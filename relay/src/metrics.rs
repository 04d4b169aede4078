//! The relay's Prometheus counters, updated where things happen: requests with their latency and
//! queue wait when the signer's verdict comes back (`socket.rs`), refusals by their NIP-01 prefix
//! and by limit, connections and subscriptions. [`RelayMetrics::register`] puts them in the
//! server's registry; the `bunkerd` crate owns that registry, the state gauges read at scrape
//! time and the rendering.
//!
//! Labels are bounded: `tenant` (as many as tenants), `method` (the fixed NIP-46 method labels),
//! `outcome`, `reason`, `limit` (the fixed [`crate::limits::Limit`] labels), `cause` (the fixed
//! [`crate::answer::DROP_CAUSES`]). Never a user or client pubkey, never anything secret.

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};
use std::time::Duration;

/// Latency buckets, seconds: 250 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Creates an integer counter `name` with `help` and registers it in `registry`.
///
/// # Panics
///
/// If `name` is not a valid metric name or is already registered (names are static here).
pub fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(registry, IntCounter::new(name, help))
}

/// [`counter`] with `labels`.
///
/// # Panics
///
/// As [`counter`].
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

/// An integer gauge, as [`counter`].
///
/// # Panics
///
/// As [`counter`].
pub fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(registry, IntGauge::new(name, help))
}

/// An integer gauge with `labels`, as [`counter`].
///
/// # Panics
///
/// As [`counter`].
pub fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

/// Registers a metric just created (a clone stays in the registry).
///
/// # Panics
///
/// As [`counter`].
pub fn registered<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric name");
    metric
}

/// The `reason` label values of `bunkerd_events_rejected_total`: the NIP-01 prefixes
/// (`rate-limited` written `rate_limited`), and `other`.
const REJECT_REASONS: [&str; 7] = [
    "invalid",
    "blocked",
    "duplicate",
    "rate_limited",
    "error",
    "restricted",
    "other",
];

/// The `reason` label values of `bunkerd_connections_closed_total`: the relay's own reasons to
/// close a websocket (its client stopped reading, stopped answering pings, or held no
/// subscription for too long).
pub const CLOSE_REASONS: [&str; 3] = ["write_timeout", "ping_timeout", "no_subscription"];

/// The relay's counters and gauges: `bunkerd_requests_total{tenant,method,outcome}`,
/// `bunkerd_request_duration_seconds{tenant,method}`, `bunkerd_pool_queue_wait_seconds`,
/// `bunkerd_events_rejected_total{reason}`, `bunkerd_rate_limited_total{tenant}`,
/// `bunkerd_limit_refusals_total{limit}`, `bunkerd_websocket_connections`,
/// `bunkerd_websocket_connections_opened_total`, `bunkerd_websocket_connections_demoted`,
/// `bunkerd_websocket_connection_demotions_total`, `bunkerd_subscriptions`,
/// `bunkerd_store_errors_total`, `bunkerd_refusal_replies_total{reason}`,
/// `bunkerd_refusal_replies_dropped_total{cause}`, `bunkerd_connections_closed_total{reason}`.
pub struct RelayMetrics {
    requests: IntCounterVec,
    request_duration: HistogramVec,
    queue_wait: Histogram,
    events_rejected: IntCounterVec,
    rate_limited: IntCounterVec,
    limit_refusals: IntCounterVec,
    pub(crate) connections: IntGauge,
    pub(crate) connections_opened: IntCounter,
    pub(crate) connections_demoted: IntGauge,
    pub(crate) connection_demotions: IntCounter,
    pub(crate) subscriptions: IntGauge,
    pub(crate) store_errors: IntCounter,
    refusal_replies: IntCounterVec,
    refusal_replies_dropped: IntCounterVec,
    pub(crate) connections_closed: IntCounterVec,
}

impl std::fmt::Debug for RelayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayMetrics").finish_non_exhaustive()
    }
}

impl RelayMetrics {
    /// Creates the relay's metrics and registers them in `registry`.
    ///
    /// # Panics
    ///
    /// If `registry` already holds one of these names (one relay per registry).
    pub fn register(registry: &Registry) -> Self {
        let counter_vec = |name, help, labels| counter_vec(registry, name, help, labels);
        let counter = |name, help| counter(registry, name, help);
        let gauge = |name, help| gauge(registry, name, help);
        let request_duration = registered(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "bunkerd_request_duration_seconds",
                    "NIP-46 request latency in bunkerd: accepted by the relay to response delivered",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["tenant", "method"],
            ),
        );
        let queue_wait = registered(
            registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "bunkerd_pool_queue_wait_seconds",
                    "Time a request waited in the signer queue before a worker took it",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            ),
        );
        let limit_refusals = counter_vec(
            "bunkerd_limit_refusals_total",
            "Refusals by a configured limit (connections, events, subscriptions, filters, tenant rate, queues), by limit",
            &["limit"],
        );
        // Every limit is present from the start (at 0), so rates and alerts see it before it bites.
        for limit in crate::limits::Limit::ALL {
            limit_refusals.with_label_values(&[limit.label()]);
        }
        let refusal_replies = counter_vec(
            "bunkerd_refusal_replies_total",
            "NIP-46 error replies sent to requests the relay refused before the signer ran them, by what refused them",
            &["reason"],
        );
        for cause in crate::answer::Cause::ALL {
            refusal_replies.with_label_values(&[cause.label()]);
        }
        let refusal_replies_dropped = counter_vec(
            "bunkerd_refusal_replies_dropped_total",
            "Refused requests that could have had a NIP-46 error reply and got none, by cause: tenant_budget, total_budget (the reply budgets), queue (the signer queue's reply lane), declined (no session, or an unreadable request), verify_budget (the relay-wide budget of signature checks), forged (the signature does not verify)",
            &["cause"],
        );
        for cause in crate::answer::DROP_CAUSES {
            refusal_replies_dropped.with_label_values(&[cause]);
        }
        let events_rejected = counter_vec(
            "bunkerd_events_rejected_total",
            "EVENTs answered OK false (or OK true duplicate), by NIP-01 reason prefix",
            &["reason"],
        );
        // Every reason is present from the start (at 0), so panels and rate() alerts see the first
        // refusal.
        for reason in REJECT_REASONS {
            events_rejected.with_label_values(&[reason]);
        }
        let connections_closed = counter_vec(
            "bunkerd_connections_closed_total",
            "Websocket connections the relay closed itself, by reason: write_timeout (the client read nothing for the write timeout), ping_timeout (no frame, not even a pong, after a ping), no_subscription (open without a subscription too long)",
            &["reason"],
        );
        for reason in CLOSE_REASONS {
            connections_closed.with_label_values(&[reason]);
        }
        RelayMetrics {
            connections_closed,
            requests: counter_vec(
                "bunkerd_requests_total",
                "NIP-46 requests answered, by tenant, method and outcome (ok, error, refused)",
                &["tenant", "method", "outcome"],
            ),
            request_duration,
            queue_wait,
            events_rejected,
            rate_limited: counter_vec(
                "bunkerd_rate_limited_total",
                "Requests refused with rate-limited: by their tenant's rate or its signer queue lane, or a full signer queue, by tenant",
                &["tenant"],
            ),
            limit_refusals,
            connections: gauge(
                "bunkerd_websocket_connections",
                "Open websocket connections",
            ),
            connections_opened: counter(
                "bunkerd_websocket_connections_opened_total",
                "Websocket connections accepted since start",
            ),
            connections_demoted: gauge(
                "bunkerd_websocket_connections_demoted",
                "Open websocket connections served by the low-priority I/O thread after a rate-limited refusal",
            ),
            connection_demotions: counter(
                "bunkerd_websocket_connection_demotions_total",
                "Moves of a websocket connection to the low-priority I/O thread since start",
            ),
            subscriptions: gauge("bunkerd_subscriptions", "Open subscriptions (REQs)"),
            store_errors: counter(
                "bunkerd_store_errors_total",
                "Requests or admin calls that failed on the key store",
            ),
            refusal_replies,
            refusal_replies_dropped,
        }
    }

    /// Counts one answered request and its latency (seconds) and queue wait.
    pub fn request(
        &self,
        tenant: &str,
        method: &str,
        outcome: &str,
        latency: Duration,
        queue_wait: Duration,
    ) {
        self.requests
            .with_label_values(&[tenant, method, outcome])
            .inc();
        self.request_duration
            .with_label_values(&[tenant, method])
            .observe(latency.as_secs_f64());
        self.queue_wait.observe(queue_wait.as_secs_f64());
    }

    /// Counts one refused (or duplicate) EVENT by its NIP-01 reason prefix (`invalid`, `blocked`,
    /// `rate-limited` → `rate_limited`, `duplicate`, `error`, `restricted`).
    pub fn rejected(&self, reason: &str) {
        // One of `REJECT_REASONS`.
        let reason = match reason {
            "rate-limited" => "rate_limited",
            "invalid" | "blocked" | "duplicate" | "error" | "restricted" => reason,
            _ => "other",
        };
        self.events_rejected.with_label_values(&[reason]).inc();
    }

    /// Counts one refusal by `limit`.
    pub fn limit_refused(&self, limit: crate::limits::Limit) {
        self.limit_refusals
            .with_label_values(&[limit.label()])
            .inc();
    }

    /// Counts one rate-limited request of `tenant`.
    pub fn rate_limited(&self, tenant: &str) {
        self.rate_limited.with_label_values(&[tenant]).inc();
    }

    /// Creates `tenant`'s `bunkerd_rate_limited_total` series at 0 if it has none yet, so rate()
    /// alerts see the tenant's first refusal (called at each scrape for the tenants that exist).
    pub fn touch_tenant(&self, tenant: &str) {
        self.rate_limited.with_label_values(&[tenant]);
    }

    /// Counts one error reply sent to a request refused by `cause`.
    pub fn refusal_replied(&self, cause: crate::answer::Cause) {
        self.refusal_replies
            .with_label_values(&[cause.label()])
            .inc();
    }

    /// Counts one error reply not sent, for `cause` (one of [`crate::answer::DROP_CAUSES`]).
    pub fn refusal_reply_dropped(&self, cause: &'static str) {
        self.refusal_replies_dropped
            .with_label_values(&[cause])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Encoder;

    #[test]
    fn counts_with_bounded_labels() {
        let registry = Registry::new();
        let m = RelayMetrics::register(&registry);
        m.request(
            "t1",
            "sign_event",
            "ok",
            Duration::from_millis(3),
            Duration::from_micros(100),
        );
        m.rejected("rate-limited");
        m.rejected("nonsense");
        m.limit_refused(crate::limits::Limit::IpEvents);
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .expect("encodes");
        let text = String::from_utf8(out).expect("UTF-8");
        for line in [
            r#"bunkerd_requests_total{method="sign_event",outcome="ok",tenant="t1"} 1"#,
            r#"bunkerd_request_duration_seconds_count{method="sign_event",tenant="t1"} 1"#,
            r#"bunkerd_events_rejected_total{reason="rate_limited"} 1"#,
            r#"bunkerd_events_rejected_total{reason="other"} 1"#,
            r#"bunkerd_limit_refusals_total{limit="ip_events"} 1"#,
            r#"bunkerd_limit_refusals_total{limit="queue"} 0"#,
            "bunkerd_pool_queue_wait_seconds_count 1",
            r#"bunkerd_refusal_replies_total{reason="created_at"} 0"#,
            r#"bunkerd_refusal_replies_total{reason="tenant_rate"} 0"#,
            r#"bunkerd_refusal_replies_dropped_total{cause="total_budget"} 0"#,
            r#"bunkerd_refusal_replies_dropped_total{cause="declined"} 0"#,
            r#"bunkerd_connections_closed_total{reason="write_timeout"} 0"#,
            r#"bunkerd_connections_closed_total{reason="no_subscription"} 0"#,
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
