//! Prometheus metrics, served as text on the admin listener's `GET /metrics`.
//!
//! One [`Metrics`] per server (its own registry, so servers in one process never mix counts). Hot-path
//! counters are updated where things happen: requests, their latency and queue wait when the signer's
//! verdict comes back (`conn.rs`), refusals by their NIP-01 prefix, connections and subscriptions.
//! Gauges that describe state (users and sessions per tenant, queue depth, store sizes, readiness)
//! and counters kept elsewhere (the audit log's dropped records, the fan-out's dropped deliveries,
//! the signer threads' hand-over waits) are read when scraped, from the sources of truth, so they
//! cannot drift.
//!
//! Labels are bounded: `tenant` (as many as tenants), `method` (the fixed NIP-46 method labels),
//! `outcome`, `reason`, `limit` (the fixed [`crate::limits::Limit`] labels), `cf`, `ended`
//! (`written`, `timeout`). Never a user or client pubkey, never anything secret.
//!
//! Names (units in the name): `bunkerd_requests_total{tenant,method,outcome}`,
//! `bunkerd_request_duration_seconds{tenant,method}`, `bunkerd_events_rejected_total{reason}`,
//! `bunkerd_rate_limited_total{tenant}`, `bunkerd_websocket_connections`,
//! `bunkerd_websocket_connections_opened_total`, `bunkerd_websocket_connections_demoted`,
//! `bunkerd_websocket_connection_demotions_total`, `bunkerd_subscriptions`, `bunkerd_pool_queue_depth`,
//! `bunkerd_pool_queue_wait_seconds`, `bunkerd_pool_tenant_queue_depth{tenant}`,
//! `bunkerd_pool_handover_waits_total{ended}`, `bunkerd_pool_handover_wait_seconds_total`,
//! `bunkerd_limit_refusals_total{limit}`, `bunkerd_users{tenant}`, `bunkerd_sessions{tenant}`,
//! `bunkerd_store_size_bytes{cf}`, `bunkerd_store_errors_total`, `bunkerd_audit_dropped_total`,
//! `bunkerd_deliveries_dropped_total`,
//! `bunkerd_ready`, `bunkerd_build_info{version}`, and the `process_*` metrics.

use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::time::Duration;

/// Latency buckets, seconds: 250 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    events_rejected: IntCounterVec,
    rate_limited: IntCounterVec,
    limit_refusals: IntCounterVec,
    pub(crate) connections: IntGauge,
    pub(crate) connections_opened: IntCounter,
    pub(crate) connections_demoted: IntGauge,
    pub(crate) connection_demotions: IntCounter,
    pub(crate) subscriptions: IntGauge,
    queue_depth: IntGauge,
    queue_wait: Histogram,
    tenant_queue_depth: IntGaugeVec,
    users: IntGaugeVec,
    sessions: IntGaugeVec,
    store_size: IntGaugeVec,
    pub(crate) store_errors: IntCounter,
    audit_dropped: IntCounter,
    deliveries_dropped: IntCounter,
    handover_waits: IntCounterVec,
    handover_wait: Counter,
    ready: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// What a scrape reads from the rest of the server.
pub struct Snapshot {
    /// Requests waiting in the signer queue, all tenants.
    pub queue_depth: usize,
    /// Requests waiting per tenant id (tenants with none waiting may be absent).
    pub queue_by_tenant: Vec<(std::sync::Arc<str>, usize)>,
    /// Users per tenant id; every tenant with users is present.
    pub users_by_tenant: HashMap<String, usize>,
    /// Client sessions per tenant id.
    pub sessions_by_tenant: HashMap<String, usize>,
    /// Approximate bytes per column family name.
    pub store_sizes: Vec<(&'static str, u64)>,
    /// Audit records dropped since start because the writer's queue was full.
    pub audit_dropped: u64,
    /// Response events a subscription missed because its connection's queue was full.
    pub deliveries_dropped: u64,
    /// The signer threads' hand-over waits that ended with every awaited `OK` written.
    pub handover_written: u64,
    /// The signer threads' hand-over waits that ended at their bound.
    pub handover_timeouts: u64,
    /// Time the signer threads spent in hand-over waits, both kinds together.
    pub handover_waited: Duration,
    /// Whether the store answers and the server is not stopping.
    pub ready: bool,
}

impl Metrics {
    /// Creates and registers every metric.
    ///
    /// # Panics
    ///
    /// Never in practice: names and labels are static and valid.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique");
            c
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique");
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique");
            g
        };
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "bunkerd_request_duration_seconds",
                "NIP-46 request latency in bunkerd: accepted by the relay to response delivered",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["tenant", "method"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(request_duration.clone()))
            .expect("unique");
        let queue_wait = Histogram::with_opts(
            HistogramOpts::new(
                "bunkerd_pool_queue_wait_seconds",
                "Time a request waited in the signer queue before a worker took it",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        registry
            .register(Box::new(queue_wait.clone()))
            .expect("unique");
        let handover_wait = Counter::new(
            "bunkerd_pool_handover_wait_seconds_total",
            "Time signer threads waited for responses they handed over to be written before \
             starting a demoted connection's request",
        )
        .expect("valid metric");
        registry
            .register(Box::new(handover_wait.clone()))
            .expect("unique");
        let build = gauge_vec(
            "bunkerd_build_info",
            "Always 1; the version label says which bunkerd this is",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let limit_refusals = counter_vec(
            "bunkerd_limit_refusals_total",
            "Refusals by a configured limit (connections, events, subscriptions, filters, tenant rate, queues), by limit",
            &["limit"],
        );
        // Every limit is present from the start (at 0), so rates and alerts see it before it bites.
        for limit in crate::limits::Limit::ALL {
            limit_refusals.with_label_values(&[limit.label()]);
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique");
        Metrics {
            requests: counter_vec(
                "bunkerd_requests_total",
                "NIP-46 requests answered, by tenant, method and outcome (ok, error, refused)",
                &["tenant", "method", "outcome"],
            ),
            request_duration,
            events_rejected: counter_vec(
                "bunkerd_events_rejected_total",
                "EVENTs answered OK false (or OK true duplicate), by NIP-01 reason prefix",
                &["reason"],
            ),
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
            queue_depth: gauge(
                "bunkerd_pool_queue_depth",
                "Requests waiting in the signer queue",
            ),
            queue_wait,
            tenant_queue_depth: gauge_vec(
                "bunkerd_pool_tenant_queue_depth",
                "Requests waiting in the signer queue, by tenant",
                &["tenant"],
            ),
            users: gauge_vec("bunkerd_users", "Provisioned users, by tenant", &["tenant"]),
            sessions: gauge_vec(
                "bunkerd_sessions",
                "Connected client sessions, by tenant",
                &["tenant"],
            ),
            store_size: gauge_vec(
                "bunkerd_store_size_bytes",
                "Approximate on-disk size of each column family",
                &["cf"],
            ),
            store_errors: counter(
                "bunkerd_store_errors_total",
                "Requests or admin calls that failed on the key store",
            ),
            audit_dropped: counter(
                "bunkerd_audit_dropped_total",
                "Audit records dropped because the audit queue was full",
            ),
            deliveries_dropped: counter(
                "bunkerd_deliveries_dropped_total",
                "Events not queued to a matching subscription because its connection's outbound \
                 queue was full (a client not reading); still retained for a later REQ",
            ),
            handover_waits: counter_vec(
                "bunkerd_pool_handover_waits_total",
                "Waits of signer threads for handed-over responses to be written, by how they \
                 ended: written, or timeout (the wait limit passed first: a client not reading)",
                &["ended"],
            ),
            handover_wait,
            ready: gauge(
                "bunkerd_ready",
                "1 when the store answers and the listeners are up",
            ),
            registry,
        }
    }

    /// Counts one answered request and its latency (seconds) and queue wait.
    pub(crate) fn request(
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
    pub(crate) fn rejected(&self, reason: &str) {
        let reason = match reason {
            "rate-limited" => "rate_limited",
            "invalid" | "blocked" | "duplicate" | "error" | "restricted" => reason,
            _ => "other",
        };
        self.events_rejected.with_label_values(&[reason]).inc();
    }

    /// Counts one refusal by `limit`.
    pub(crate) fn limit_refused(&self, limit: crate::limits::Limit) {
        self.limit_refusals
            .with_label_values(&[limit.label()])
            .inc();
    }

    /// Counts one rate-limited request of `tenant`.
    pub(crate) fn rate_limited(&self, tenant: &str) {
        self.rate_limited.with_label_values(&[tenant]).inc();
    }

    /// Sets the state gauges from `snapshot` and renders every metric in the Prometheus text format
    /// (version 0.0.4).
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.queue_depth
            .set(i64::try_from(snapshot.queue_depth).unwrap_or(i64::MAX));
        self.tenant_queue_depth.reset();
        // Every tenant with users is present (at 0 when nothing waits), so its series is continuous.
        for tenant in snapshot.users_by_tenant.keys() {
            self.tenant_queue_depth.with_label_values(&[tenant]).set(0);
        }
        for (tenant, n) in &snapshot.queue_by_tenant {
            self.tenant_queue_depth
                .with_label_values(&[tenant])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.users.reset();
        for (tenant, n) in &snapshot.users_by_tenant {
            self.users
                .with_label_values(&[tenant])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.sessions.reset();
        for (tenant, n) in &snapshot.sessions_by_tenant {
            self.sessions
                .with_label_values(&[tenant])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        for (cf, bytes) in &snapshot.store_sizes {
            self.store_size
                .with_label_values(&[cf])
                .set(i64::try_from(*bytes).unwrap_or(i64::MAX));
        }
        for (counter, total) in [
            (&self.audit_dropped, snapshot.audit_dropped),
            (&self.deliveries_dropped, snapshot.deliveries_dropped),
        ] {
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
        for (ended, total) in [
            ("written", snapshot.handover_written),
            ("timeout", snapshot.handover_timeouts),
        ] {
            let counter = self.handover_waits.with_label_values(&[ended]);
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
        let (waited, seen) = (
            snapshot.handover_waited.as_secs_f64(),
            self.handover_wait.get(),
        );
        if waited > seen {
            self.handover_wait.inc_by(waited - seen);
        }
        self.ready.set(i64::from(snapshot.ready));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Snapshot {
        Snapshot {
            queue_depth: 3,
            queue_by_tenant: vec![("t1".into(), 3)],
            users_by_tenant: HashMap::from([("t1".to_owned(), 2)]),
            sessions_by_tenant: HashMap::new(),
            store_sizes: vec![("users", 4096)],
            audit_dropped: 5,
            deliveries_dropped: 4,
            handover_written: 7,
            handover_timeouts: 2,
            handover_waited: Duration::from_micros(1500),
            ready: true,
        }
    }

    #[test]
    fn renders_every_family_with_bounded_labels() {
        let m = Metrics::new();
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
        let text = m.render(&empty());
        for line in [
            r#"bunkerd_requests_total{method="sign_event",outcome="ok",tenant="t1"} 1"#,
            r#"bunkerd_request_duration_seconds_count{method="sign_event",tenant="t1"} 1"#,
            r#"bunkerd_events_rejected_total{reason="rate_limited"} 1"#,
            r#"bunkerd_events_rejected_total{reason="other"} 1"#,
            "bunkerd_pool_queue_depth 3",
            r#"bunkerd_pool_tenant_queue_depth{tenant="t1"} 3"#,
            r#"bunkerd_limit_refusals_total{limit="ip_events"} 1"#,
            r#"bunkerd_limit_refusals_total{limit="queue"} 0"#,
            r#"bunkerd_users{tenant="t1"} 2"#,
            r#"bunkerd_store_size_bytes{cf="users"} 4096"#,
            "bunkerd_audit_dropped_total 5",
            "bunkerd_deliveries_dropped_total 4",
            r#"bunkerd_pool_handover_waits_total{ended="written"} 7"#,
            r#"bunkerd_pool_handover_waits_total{ended="timeout"} 2"#,
            "bunkerd_pool_handover_wait_seconds_total 0.0015",
            "bunkerd_ready 1",
            "bunkerd_pool_queue_wait_seconds_count 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // Counters from other sources only move forward.
        let again = m.render(&Snapshot {
            audit_dropped: 5,
            ..empty()
        });
        assert!(again.contains("bunkerd_audit_dropped_total 5"));
        assert!(again.contains(r#"bunkerd_pool_handover_waits_total{ended="timeout"} 2"#));
    }
}
