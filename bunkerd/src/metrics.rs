//! The server's Prometheus registry, served as text on the admin listener's `GET /metrics`.
//!
//! One [`Metrics`] per server (its own registry, so servers in one process never mix counts). The
//! relay's hot-path counters ([`relay::metrics::RelayMetrics`]) are registered in it and updated
//! where things happen. Gauges that describe state (users and sessions per tenant, queue depth,
//! store sizes, readiness) and counters kept elsewhere (the audit log's dropped records, the
//! fan-out's dropped deliveries, the signer threads' hand-over waits) are read when scraped, from
//! the sources of truth ([`Snapshot`]), so they cannot drift.
//!
//! Labels are bounded: `tenant`, `cf`, `ended` (`written`, `timeout`), `version`, plus the relay's.
//! Never a user or client pubkey, never anything secret.
//!
//! Names (units in the name), besides the relay's: `bunkerd_pool_queue_depth`,
//! `bunkerd_pool_tenant_queue_depth{tenant}`, `bunkerd_pool_handover_waits_total{ended}`,
//! `bunkerd_pool_handover_wait_seconds_total`, `bunkerd_users{tenant}`, `bunkerd_sessions{tenant}`,
//! `bunkerd_store_size_bytes{cf}`, `bunkerd_audit_dropped_total`,
//! `bunkerd_deliveries_dropped_total`, `bunkerd_ready`, `bunkerd_build_info{version}`,
//! `bunkerd_admin_auth_failures_total{scheme}`, `bunkerd_accept_errors_total{listener,error}`,
//! `bunkerd_outbound_bytes`, `bunkerd_retained_bytes`, `bunkerd_cluster_nodes`,
//! `bunkerd_cluster_bus_dropped_total`, `bunkerd_cluster_reloads_total`, and the `process_*`
//! metrics.

use prometheus::{
    Counter, Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry, TextEncoder,
};
use relay::metrics::{self, RelayMetrics};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Every metric of one server.
pub(crate) struct Metrics {
    registry: Registry,
    /// The relay's counters, registered here.
    pub(crate) relay: Arc<RelayMetrics>,
    /// The foreign-relay links' metrics, registered here.
    pub(crate) foreign: relay::foreign::ForeignMetrics,
    /// The key custody task's metrics, registered here.
    pub(crate) custody: Arc<crate::keys::CustodyMetrics>,
    queue_depth: IntGauge,
    tenant_queue_depth: IntGaugeVec,
    users: IntGaugeVec,
    sessions: IntGaugeVec,
    store_size: IntGaugeVec,
    audit_dropped: IntCounter,
    deliveries_dropped: IntCounter,
    outbound_bytes: IntGauge,
    retained_bytes: IntGauge,
    handover_waits: IntCounterVec,
    handover_wait: Counter,
    ready: IntGauge,
    cluster_nodes: IntGauge,
    bus_dropped: IntCounter,
    cluster_reloads: IntCounter,
    admin_auth_failures: IntCounterVec,
    accept_errors: IntCounterVec,
}

/// The `scheme` label values of `bunkerd_admin_auth_failures_total`: no `Authorization` header, a
/// bearer token that matches none, a NIP-98 event that does not verify or names no admin of the
/// tenant, any other scheme.
pub(crate) const AUTH_FAILURE_SCHEMES: [&str; 4] = ["missing", "bearer", "nip98", "other"];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// What a scrape reads from the rest of the server.
pub(crate) struct Snapshot {
    /// Requests waiting in the signer queue, all tenants.
    pub(crate) queue_depth: usize,
    /// Requests waiting per tenant id (tenants with none waiting may be absent).
    pub(crate) queue_by_tenant: Vec<(std::sync::Arc<str>, usize)>,
    /// Users per tenant id; every tenant with users is present.
    pub(crate) users_by_tenant: HashMap<String, usize>,
    /// Client sessions per tenant id.
    pub(crate) sessions_by_tenant: HashMap<String, usize>,
    /// Approximate bytes per column family name.
    pub(crate) store_sizes: Vec<(&'static str, u64)>,
    /// Audit records dropped since start because the writer's queue was full.
    pub(crate) audit_dropped: u64,
    /// Response events a subscription missed because its connection's queue was full.
    pub(crate) deliveries_dropped: u64,
    /// Bytes charged to connections' outbound budgets (events queued, requests in flight).
    pub(crate) outbound_bytes: usize,
    /// Bytes of response events retained for late subscribers.
    pub(crate) retained_bytes: usize,
    /// The signer threads' hand-over waits that ended with every awaited `OK` written.
    pub(crate) handover_written: u64,
    /// The signer threads' hand-over waits that ended at their bound.
    pub(crate) handover_timeouts: u64,
    /// Time the signer threads spent in hand-over waits, both kinds together.
    pub(crate) handover_waited: Duration,
    /// Whether the store answers and the server is not stopping.
    pub(crate) ready: bool,
    /// Nodes of the cluster alive, this one included (1 alone).
    pub(crate) cluster_nodes: u32,
    /// Messages dropped because the queue to the cluster bus was full.
    pub(crate) bus_dropped: u64,
    /// Reloads from the store after the node may have missed a change.
    pub(crate) cluster_reloads: u64,
}

impl Metrics {
    /// Creates the registry and registers every metric, the relay's included.
    ///
    /// # Panics
    ///
    /// Never in practice: names and labels are static and valid.
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let relay = Arc::new(RelayMetrics::register(&registry));
        let foreign = relay::foreign::ForeignMetrics::register(&registry);
        let custody = Arc::new(crate::keys::CustodyMetrics::register(&registry));
        let counter_vec = |name, help, labels| metrics::counter_vec(&registry, name, help, labels);
        let gauge_vec = |name, help, labels| metrics::gauge_vec(&registry, name, help, labels);
        let counter = |name, help| metrics::counter(&registry, name, help);
        let gauge = |name, help| metrics::gauge(&registry, name, help);
        let handover_wait = metrics::registered(
            &registry,
            Counter::new(
                "bunkerd_pool_handover_wait_seconds_total",
                "Time signer threads waited for responses they handed over to be written before \
                 starting a demoted connection's request",
            ),
        );
        let build = gauge_vec(
            "bunkerd_build_info",
            "Always 1; the version label says which bunkerd this is",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let admin_auth_failures = counter_vec(
            "bunkerd_admin_auth_failures_total",
            "Admin API requests refused 401, by the credential's scheme (missing, bearer, nip98, other)",
            &["scheme"],
        );
        for scheme in AUTH_FAILURE_SCHEMES {
            admin_auth_failures.with_label_values(&[scheme]);
        }
        let accept_errors = counter_vec(
            "bunkerd_accept_errors_total",
            "Failed accepts, by listener (relay, admin) and error: resources (out of file descriptors or memory; the listener backs off) or other",
            &["listener", "error"],
        );
        for listener in ["relay", "admin"] {
            for error in ["resources", "other"] {
                accept_errors.with_label_values(&[listener, error]);
            }
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique");
        Metrics {
            admin_auth_failures,
            accept_errors,
            relay,
            foreign,
            custody,
            queue_depth: gauge(
                "bunkerd_pool_queue_depth",
                "Requests waiting in the signer queue",
            ),
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
            audit_dropped: counter(
                "bunkerd_audit_dropped_total",
                "Audit records dropped because the audit queue was full",
            ),
            deliveries_dropped: counter(
                "bunkerd_deliveries_dropped_total",
                "Events not queued to a matching subscription because its connection's outbound \
                 queue was full (a client not reading); still retained for a later REQ",
            ),
            outbound_bytes: gauge(
                "bunkerd_outbound_bytes",
                "Bytes of events queued to websocket clients plus their requests in flight at the                  signer, over all connections (bounded by outbound_bytes_total)",
            ),
            retained_bytes: gauge(
                "bunkerd_retained_bytes",
                "Bytes of response events retained for clients that subscribe late (at most 64 MiB)",
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
            cluster_nodes: gauge(
                "bunkerd_cluster_nodes",
                "Nodes of the cluster heard within 3 s, this one included (1 alone); each admits \
                 this share of every tenant's rate",
            ),
            bus_dropped: counter(
                "bunkerd_cluster_bus_dropped_total",
                "Messages for the cluster bus dropped because its queue was full, and messages \
                 from it dropped because this node took them too slowly",
            ),
            cluster_reloads: counter(
                "bunkerd_cluster_reloads_total",
                "Reloads of tenants, routes, sessions and tokens from the store after this node \
                 may have missed a change (bus lost, messages dropped, a change number skipped)",
            ),
            registry,
        }
    }

    /// Counts one failed accept on `listener` (`relay`, `admin`); `error` is `resources` or `other`.
    pub(crate) fn accept_failed(&self, listener: &'static str, error: &'static str) {
        self.accept_errors
            .with_label_values(&[listener, error])
            .inc();
    }

    /// Counts one admin request refused 401; `scheme` is one of [`AUTH_FAILURE_SCHEMES`].
    pub(crate) fn admin_auth_failed(&self, scheme: &'static str) {
        self.admin_auth_failures.with_label_values(&[scheme]).inc();
    }

    /// Sets the state gauges from `snapshot` and renders every metric in the Prometheus text format
    /// (version 0.0.4).
    pub(crate) fn render(&self, snapshot: &Snapshot) -> String {
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
        // Every tenant with users is present in `bunkerd_sessions` (0 without sessions) and in
        // `bunkerd_rate_limited_total` (0 until its first refusal), so panels and alerts see it.
        for tenant in snapshot.users_by_tenant.keys() {
            self.sessions.with_label_values(&[tenant]).set(0);
            self.relay.touch_tenant(tenant);
        }
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
        self.outbound_bytes
            .set(i64::try_from(snapshot.outbound_bytes).unwrap_or(i64::MAX));
        self.retained_bytes
            .set(i64::try_from(snapshot.retained_bytes).unwrap_or(i64::MAX));
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
        self.cluster_nodes.set(i64::from(snapshot.cluster_nodes));
        self.bus_dropped
            .inc_by(snapshot.bus_dropped.saturating_sub(self.bus_dropped.get()));
        self.cluster_reloads.inc_by(
            snapshot
                .cluster_reloads
                .saturating_sub(self.cluster_reloads.get()),
        );
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
            outbound_bytes: 5,
            retained_bytes: 6,
            handover_written: 7,
            handover_timeouts: 2,
            handover_waited: Duration::from_micros(1500),
            ready: true,
            cluster_nodes: 1,
            bus_dropped: 0,
            cluster_reloads: 0,
        }
    }

    #[test]
    fn renders_every_family_with_bounded_labels() {
        let m = Metrics::new();
        m.relay.request(
            "t1",
            "sign_event",
            "ok",
            Duration::from_millis(3),
            Duration::from_micros(100),
        );
        m.relay.rejected("rate-limited");
        m.relay.rejected("nonsense");
        m.relay.limit_refused(relay::limits::Limit::IpEvents);
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
            // Present from the start: a tenant's sessions and rate-limited series, every reason.
            r#"bunkerd_sessions{tenant="t1"} 0"#,
            r#"bunkerd_rate_limited_total{tenant="t1"} 0"#,
            r#"bunkerd_events_rejected_total{reason="blocked"} 0"#,
            r#"bunkerd_store_size_bytes{cf="users"} 4096"#,
            "bunkerd_audit_dropped_total 5",
            "bunkerd_deliveries_dropped_total 4",
            "bunkerd_outbound_bytes 5",
            "bunkerd_retained_bytes 6",
            r#"bunkerd_pool_handover_waits_total{ended="written"} 7"#,
            r#"bunkerd_pool_handover_waits_total{ended="timeout"} 2"#,
            "bunkerd_pool_handover_wait_seconds_total 0.0015",
            "bunkerd_ready 1",
            "bunkerd_cluster_nodes 1",
            "bunkerd_cluster_bus_dropped_total 0",
            "bunkerd_cluster_reloads_total 0",
            "bunkerd_pool_queue_wait_seconds_count 1",
            // Present from start, at zero.
            r#"bunkerd_refusal_replies_total{reason="connection_events"} 0"#,
            r#"bunkerd_refusal_replies_dropped_total{cause="tenant_budget"} 0"#,
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
