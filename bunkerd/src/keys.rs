//! Key custody while serving: the task that runs the signer's custody jobs (tenant data-key
//! rotations, shreds left by user deletions, master-key rotations) and their metrics.
//!
//! Role: run [`signer::admin::Admin::run_key_custody`] on the blocking pool, one run at a time:
//! once at start (so a rotation interrupted by a crash finishes), whenever a route starts a
//! rotation or deletes a user, and every [`RETRY`] after a run that failed; count what it did.
//! Must not: run two jobs at once, or hold up the server's stop (a job cut short by a stop is
//! resumed by the next start).
//!
//! Main types: [`KeyCustody`], [`CustodyMetrics`].

use prometheus::{IntCounter, IntCounterVec, IntGauge, Registry};
use relay::metrics;
use signer::admin::CustodyEvent;
use signer::Bunker;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long after a failed run (a provider down, a store error) the next one starts.
pub(crate) const RETRY: Duration = Duration::from_secs(30);

/// The custody metrics.
pub(crate) struct CustodyMetrics {
    resealed: IntCounter,
    rewrapped: IntCounter,
    runs: IntCounterVec,
    running: IntGauge,
}

impl CustodyMetrics {
    /// Registers `bunkerd_key_*` in `registry`.
    pub(crate) fn register(registry: &Registry) -> CustodyMetrics {
        let runs = metrics::counter_vec(
            registry,
            "bunkerd_key_custody_runs_total",
            "Key custody runs (rotations, shreds), by result: ok or error (retried after 30 s)",
            &["result"],
        );
        for result in ["ok", "error"] {
            runs.with_label_values(&[result]);
        }
        CustodyMetrics {
            resealed: metrics::counter(
                registry,
                "bunkerd_key_resealed_users_total",
                "Users whose secret keys were re-sealed under their tenant's new data key",
            ),
            rewrapped: metrics::counter(
                registry,
                "bunkerd_key_rewrapped_total",
                "Wrapped data keys rewrapped under a new master key version",
            ),
            runs,
            running: metrics::gauge(
                registry,
                "bunkerd_key_custody_running",
                "1 while a key custody run (rotation, shred) is in progress",
            ),
        }
    }
}

/// What the last run did, for `GET /v1/keys`.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunState {
    /// A run is in progress.
    pub(crate) running: bool,
    /// Unix seconds at which the last run ended.
    pub(crate) last_run_at: Option<u64>,
    /// Why the last run failed (`None`: it succeeded); no secret in it.
    pub(crate) last_error: Option<String>,
}

/// The custody task's handle: wake it, read its state.
pub(crate) struct KeyCustody {
    wake: tokio::sync::Notify,
    state: Mutex<RunState>,
    metrics: Arc<CustodyMetrics>,
}

impl KeyCustody {
    pub(crate) fn new(metrics: Arc<CustodyMetrics>) -> KeyCustody {
        KeyCustody {
            wake: tokio::sync::Notify::new(),
            state: Mutex::new(RunState::default()),
            metrics,
        }
    }

    /// Asks for a run (coalesced with one already asked for).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// The state of the runs.
    pub(crate) fn state(&self) -> RunState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs jobs until `shutdown`: once now, then on each wake, and [`RETRY`] after a failure.
    pub(crate) async fn run(self: Arc<Self>, bunker: Arc<Bunker>, shutdown: CancellationToken) {
        loop {
            let retry = !self.run_once(&bunker).await;
            let wait = async {
                if retry {
                    tokio::time::sleep(RETRY).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = wait => {}
            }
        }
    }

    /// One run on the blocking pool; returns whether it succeeded.
    async fn run_once(self: &Arc<Self>, bunker: &Arc<Bunker>) -> bool {
        self.set(|s| s.running = true);
        self.metrics.running.set(1);
        let (me, bunker) = (Arc::clone(self), Arc::clone(bunker));
        let result = tokio::task::spawn_blocking(move || {
            bunker
                .admin()
                .run_key_custody(&mut |event| me.observe(&event))
        })
        .await;
        self.metrics.running.set(0);
        let error = match result {
            Ok(Ok(report)) => {
                if report.tenants > 0 || report.rewrapped > 0 {
                    tracing::info!(
                        tenants = report.tenants,
                        resealed = report.resealed,
                        rewrapped = report.rewrapped,
                        destroyed_versions = ?report.destroyed_versions,
                        "key custody run finished"
                    );
                }
                None
            }
            Ok(Err(e)) => {
                tracing::error!(
                    code = e.code(),
                    "key custody run failed (retried in 30 s): {e}"
                );
                Some(e.to_string())
            }
            Err(_) => Some("the key custody run panicked".to_owned()),
        };
        let ok = error.is_none();
        self.metrics
            .runs
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
        self.set(|s| {
            s.running = false;
            s.last_run_at = Some(signer::audit::now_ms() / 1000);
            s.last_error = error;
        });
        ok
    }

    fn observe(&self, event: &CustodyEvent) {
        match event {
            CustodyEvent::Resealed { count, .. } => self.metrics.resealed.inc_by(*count),
            CustodyEvent::Rewrapped { count } => self.metrics.rewrapped.inc_by(*count),
            CustodyEvent::TenantDone {
                tenant,
                resealed,
                retired,
            } => tracing::info!(
                tenant,
                resealed,
                retired = retired.len(),
                "tenant data key rotation finished"
            ),
            CustodyEvent::MasterDone { version, destroyed } => {
                tracing::info!(version, ?destroyed, "master key rotation finished")
            }
        }
    }

    fn set(&self, change: impl FnOnce(&mut RunState)) {
        change(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl std::fmt::Debug for KeyCustody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCustody")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}
