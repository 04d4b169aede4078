//! What every connection of the relay shares: the signer handle, the fan-out hub, the duplicate
//! filter, limits, the NIP-11 document and the shutdown signal.

use crate::dedupe::Dedupe;
use crate::fanout::{ConnId, Hub};
use crate::metrics::Metrics;
use crate::session::Limits;
use signer::pool::Submitter;
use signer::Bunker;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The signals and task tracker a relay shares with the server's shutdown sequence.
pub(crate) struct Lifecycle {
    /// Stop accepting and stop reading frames.
    pub(crate) shutdown: CancellationToken,
    /// Close websockets with 1001.
    pub(crate) close_sockets: CancellationToken,
    /// Tracks websocket tasks.
    pub(crate) tracker: TaskTracker,
    /// Tracks websocket connections that may still read frames (`conn::serve`).
    pub(crate) readers: TaskTracker,
    /// The demoted-I/O runtime's handle; `None` when demotion is off.
    pub(crate) demoted_io: Option<tokio::runtime::Handle>,
}

/// Shared relay state.
pub(crate) struct RelayState {
    pub(crate) bunker: Arc<Bunker>,
    pub(crate) submitter: Submitter,
    pub(crate) hub: Arc<Hub>,
    pub(crate) dedupe: Arc<Dedupe>,
    pub(crate) limits: Limits,
    /// Stop accepting and stop reading frames.
    pub(crate) shutdown: CancellationToken,
    /// Close websockets with 1001; cancelled after the signer pool has drained.
    pub(crate) close_sockets: CancellationToken,
    /// Tracks websocket tasks so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// One token per connection until it has read its last frame: shutdown waits for them before
    /// waiting for the signer pool, so no request is submitted after the pool was seen drained.
    pub(crate) readers: TaskTracker,
    /// Where demoted connections' I/O runs (`conn::Placement`); `None` when demotion is off.
    pub(crate) demoted_io: Option<tokio::runtime::Handle>,
    pub(crate) nip11: String,
    /// This server's metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Per-tenant request rate limits.
    pub(crate) buckets: crate::ratelimit::TenantBuckets,
    /// Connections and subscriptions per client address.
    pub(crate) addresses: Arc<crate::limits::Addresses>,
    /// The header naming the client's address behind a reverse proxy (`real-ip-header`).
    pub(crate) real_ip_header: Option<hyper::header::HeaderName>,
    conn_ids: AtomicU64,
}

impl RelayState {
    pub(crate) fn new(
        bunker: Arc<Bunker>,
        submitter: Submitter,
        hub: Arc<Hub>,
        limits: Limits,
        lifecycle: Lifecycle,
        metrics: Arc<Metrics>,
        real_ip_header: Option<hyper::header::HeaderName>,
    ) -> Self {
        // Ids are remembered for twice the created_at window, so a replay inside the window is caught.
        let dedupe = Arc::new(Dedupe::new(limits.created_at_window_secs * 2, 1 << 20));
        RelayState {
            nip11: crate::http::nip11_document(&limits),
            bunker,
            submitter,
            hub,
            dedupe,
            limits,
            shutdown: lifecycle.shutdown,
            close_sockets: lifecycle.close_sockets,
            tracker: lifecycle.tracker,
            readers: lifecycle.readers,
            demoted_io: lifecycle.demoted_io,
            metrics,
            buckets: crate::ratelimit::TenantBuckets::default(),
            addresses: Arc::new(crate::limits::Addresses::new(limits)),
            real_ip_header,
            conn_ids: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        self.conn_ids.fetch_add(1, Ordering::Relaxed)
    }
}
