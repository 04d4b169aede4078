//! What every connection of the relay shares: the signer pool ([`Dispatch`]), the fan-out hub, the
//! duplicate filter, limits, the NIP-11 document and the shutdown signal.

use crate::dedupe::Dedupe;
use crate::dispatch::Dispatch;
use crate::fanout::{ConnId, Hub};
use crate::limits::Limits;
use crate::metrics::RelayMetrics;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The signals and task tracker a relay shares with the server's shutdown sequence.
pub struct Lifecycle {
    /// Stop accepting and stop reading frames.
    pub shutdown: CancellationToken,
    /// Close websockets with 1001.
    pub close_sockets: CancellationToken,
    /// Tracks websocket tasks.
    pub tracker: TaskTracker,
    /// Tracks websocket connections that may still read frames (`conn::serve`).
    pub readers: TaskTracker,
    /// The demoted-I/O runtime's handle; `None` when demotion is off.
    pub demoted_io: Option<tokio::runtime::Handle>,
}

/// What every connection of one relay listener shares; built once by the server.
pub struct RelayState {
    /// The signer pool.
    pub(crate) dispatch: Arc<dyn Dispatch>,
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
    /// Where demoted connections' I/O runs (`socket::Placement`); `None` when demotion is off.
    pub(crate) demoted_io: Option<tokio::runtime::Handle>,
    pub(crate) nip11: String,
    /// This server's metrics.
    pub(crate) metrics: Arc<RelayMetrics>,
    /// Per-tenant request rate limits.
    pub(crate) buckets: crate::ratelimit::TenantBuckets,
    /// The budget of NIP-46 error replies to refused requests (`crate::answer`).
    pub(crate) reply_budget: crate::ratelimit::ReplyBudget,
    /// Connections and subscriptions per client address.
    pub(crate) addresses: Arc<crate::limits::Addresses>,
    /// The header naming the client's address behind a reverse proxy (`real-ip-header`).
    pub(crate) real_ip_header: Option<hyper::header::HeaderName>,
    /// Permits for `POST /nip46/request` bodies being read at once
    /// ([`crate::http::nip46::MAX_BODY_READS`]), so slow bodies cannot pin unbounded memory.
    pub(crate) body_reads: tokio::sync::Semaphore,
    /// Permits for answering connections refused at accept ([`crate::http::MAX_REFUSALS`]).
    pub(crate) refusals: Arc<tokio::sync::Semaphore>,
    /// Outbound bytes charged over every connection ([`crate::outbox`]), the hub's.
    pub(crate) outbound: Arc<crate::outbox::Total>,
    conn_ids: AtomicU64,
}

impl RelayState {
    /// The shared state of a relay that hands requests to `dispatch` (the signer pool), delivers
    /// responses through `hub`, under `limits`.
    pub fn new(
        dispatch: Arc<dyn Dispatch>,
        hub: Arc<Hub>,
        limits: Limits,
        lifecycle: Lifecycle,
        metrics: Arc<RelayMetrics>,
        real_ip_header: Option<hyper::header::HeaderName>,
    ) -> Self {
        // Ids are remembered for twice the created_at window, so a replay inside the window is caught.
        let dedupe = Arc::new(Dedupe::new(limits.created_at_window_secs * 2, 1 << 20));
        let outbound = hub.outbound().clone();
        RelayState {
            nip11: crate::http::nip11_document(&limits),
            dispatch,
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
            reply_budget: crate::ratelimit::ReplyBudget::default(),
            addresses: Arc::new(crate::limits::Addresses::new(limits)),
            real_ip_header,
            body_reads: tokio::sync::Semaphore::new(crate::http::nip46::MAX_BODY_READS),
            outbound,
            refusals: Arc::new(tokio::sync::Semaphore::new(crate::http::MAX_REFUSALS)),
            conn_ids: AtomicU64::new(1),
        }
    }

    /// Shares every tenant's request rate among `nodes` nodes of a cluster (at least 1; see
    /// `ratelimit`), from each tenant's next request on.
    pub fn set_cluster_nodes(&self, nodes: u32) {
        self.buckets.set_nodes(nodes);
    }

    /// The connection and subscription counts per client address, for the server's sweep.
    pub fn addresses(&self) -> &Arc<crate::limits::Addresses> {
        &self.addresses
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        self.conn_ids.fetch_add(1, Ordering::Relaxed)
    }
}
