//! Server lifecycle: bind both listeners, open the store, load the signer, serve, shut down.
//!
//! Start order: validate config → bind the relay and admin listeners → on the blocking pool, the
//! master key, RocksDB's background threads (SCHED_IDLE under `--io-policy batch`), RocksDB, the
//! signer → start the worker pool → accept. Shutdown order: stop accepting and stop
//! reading frames, and wait until every connection has read its last frame → the signer pool drains
//! (every accepted request gets its response and its OK on the still-open socket) → websockets get
//! close 1001 → wait for connection tasks → join the workers → the store is dropped last. The reading
//! and draining waits share one grace period, the wait for connection tasks has another.

use crate::admin::{self, AdminState, AdminTokens};
use crate::config::Config;
use crate::dispatch::{HubOutbox, SignerDispatch};
use crate::metrics::Metrics;
use crate::sched::IoPolicy;
use crate::Error;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use relay::fanout::Hub;
use relay::state::{Lifecycle, RelayState};
use sha2::{Digest, Sha256};
use signer::pool::{Pool, PoolConfig};
use signer::{Bunker, BunkerConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use store::{RocksStore, Store};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zeroize::Zeroizing;

/// How long a client may take to send an HTTP request head (including the websocket upgrade).
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often retained response events are swept, seconds. Every second, so each sweep frees about
/// one second's worth of responses (a few milliseconds of work at full load) rather than a burst.
const SWEEP_INTERVAL_SECS: u64 = 1;

/// How long an accept loop waits after running out of file descriptors or memory (`EMFILE`,
/// `ENFILE`, `ENOBUFS`, `ENOMEM`) before it accepts again.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether an `accept` error means the process or system ran out of a resource (the connection
/// stays queued: retrying at once would spin) rather than that one connection failed.
fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

/// How often expired sessions and spent bunker-URI records are swept, seconds. Expiry is enforced
/// at each request regardless; this only keeps the store and the admin API's lists current.
const SESSION_SWEEP_INTERVAL_SECS: u64 = 60;

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The bound relay address (websocket + NIP-11).
    pub relay_addr: SocketAddr,
    /// The bound admin API address.
    pub admin_addr: SocketAddr,
    /// The public relay URL used in bunker URIs.
    pub public_url: String,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// Stops the server gracefully and waits until the store is closed.
    pub async fn stop(self) {
        self.shutdown.cancel();
        if self.task.await.is_err() {
            tracing::error!("server task panicked during shutdown");
        }
    }

    /// Runs until `signal` completes, then stops gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("shutdown requested");
        self.stop().await;
    }
}

/// Starts bunkerd: opens the store in `config.data_dir`, binds both listeners, and serves until
/// [`Server::stop`].
///
/// # Errors
///
/// [`Error::Config`] for invalid settings; [`Error::Io`] when a listener cannot bind or the data
/// directory / token file cannot be written; [`Error::Kms`] when RocksDB or the master key cannot be
/// opened (e.g. a key file with loose permissions); [`Error::Signer`] on corrupt records.
pub async fn start(config: Config) -> Result<Server, Error> {
    config.validate()?;
    let relay_listener = bind(config.listen, "relay").await?;
    let admin_listener = bind(config.admin_listen, "admin").await?;
    let relay_addr = local_addr(&relay_listener)?;
    let admin_addr = local_addr(&admin_listener)?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("ws://{relay_addr}"));
    let (store, bunker, token_hash, tokens) = open(&config, public_url.clone()).await?;
    let shutdown = CancellationToken::new();
    let hub = Arc::new(Hub::new(config.limits.outbound_bytes_total));
    let bus = match &config.cluster_bus {
        None => None,
        Some(url) => Some(
            crate::cluster::join(
                url,
                bunker.clone(),
                tokens.clone(),
                hub.clone(),
                2 * config.limits.created_at_window_secs,
                shutdown.clone(),
            )
            .await?,
        ),
    };
    let task = tokio::spawn(serve(
        Listeners {
            relay: relay_listener,
            admin: admin_listener,
        },
        config,
        Opened {
            store,
            bunker,
            token_hash,
            tokens,
            hub,
            bus,
        },
        shutdown.clone(),
    ));
    tracing::info!(%relay_addr, %admin_addr, %public_url, "bunkerd is serving");
    Ok(Server {
        relay_addr,
        admin_addr,
        public_url,
        shutdown,
        task,
    })
}

struct Listeners {
    relay: TcpListener,
    admin: TcpListener,
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("binding the {what} listener on {addr}"), e))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, Error> {
    listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", e))
}

/// Opens the store, master key and signer, and resolves the operator token, on the blocking pool.
async fn open(
    config: &Config,
    public_url: String,
) -> Result<(Arc<dyn Store>, Arc<Bunker>, [u8; 32], Arc<AdminTokens>), Error> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::io(format!("creating {}", config.data_dir.display()), e))?;
        if config.io_policy == IoPolicy::Batch && config.store.is_none() {
            // Before the first open, so RocksDB's flush and compaction threads are SCHED_IDLE
            // (`sched`).
            RocksStore::start_background_threads(crate::sched::store_thread_start)?;
        }
        let store = crate::storage::open(&config)?;
        tracing::info!(store = %crate::storage::describe(&config), "opened the store");
        // After the store: whether a key may be created depends on what the store holds.
        let master = crate::custody::master_key(&config, store.as_ref())?;
        let bunker_config = BunkerConfig {
            approval_ttl_secs: config.approval_ttl_secs,
            ..BunkerConfig::new(public_url)
        };
        let bunker = Bunker::open(store.clone(), master, bunker_config)
            .map_err(|e| crate::custody::self_test_error(&config, e))?;
        let token = operator_token(&config)?;
        let token_hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let tokens = Arc::new(AdminTokens::load(store.clone())?);
        Ok((store, Arc::new(bunker), token_hash, tokens))
    })
    .await
    .expect("opening the store does not panic")
}

/// The operator token: from config (env), else `<data_dir>/operator.token`, else generated there.
fn operator_token(config: &Config) -> Result<Zeroizing<String>, Error> {
    if let Some(token) = &config.operator_token {
        return Ok(token.clone());
    }
    let path = config.data_dir.join("operator.token");
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(Zeroizing::new(token)),
        Ok(_) => return Err(Error::Config("operator.token file is empty")),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io(format!("reading {}", path.display()), e))
        }
        Err(_) => {}
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).expect("OS random source failed");
    let token = Zeroizing::new(hex::encode(bytes.as_ref()));
    write_secret_file(&path, token.as_bytes())?;
    tracing::warn!(path = %path.display(), "generated an operator token for the admin API and wrote it to this file (mode 0600); set BUNKERD_OPERATOR_TOKEN to choose your own");
    Ok(token)
}

fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Whether `work` completed before `deadline` (it is dropped, unfinished, when not).
async fn finished_by(deadline: tokio::time::Instant, work: impl Future) -> bool {
    tokio::time::timeout_at(deadline, work).await.is_ok()
}

/// What [`start`] opened and joined before serving.
struct Opened {
    store: Arc<dyn Store>,
    bunker: Arc<Bunker>,
    token_hash: [u8; 32],
    tokens: Arc<AdminTokens>,
    hub: Arc<Hub>,
    /// The cluster bus, when this node is one of several.
    bus: Option<Arc<crate::cluster::Bus>>,
}

async fn serve(listeners: Listeners, config: Config, opened: Opened, shutdown: CancellationToken) {
    let Opened {
        store,
        bunker,
        token_hash,
        tokens,
        hub,
        bus,
    } = opened;
    let pool_config = PoolConfig {
        workers: if config.workers == 0 {
            PoolConfig::default().workers
        } else {
            config.workers
        },
        queue_capacity: config.queue_capacity,
        tenant_queue_capacity: config.tenant_queue_capacity,
        on_worker_start: match config.io_policy {
            IoPolicy::Batch => Some(crate::sched::signer_thread_start),
            IoPolicy::Normal => None,
        },
        // A signer woken by a busy reactor was measured waiting for the reactor's slice (`sched`).
        yield_on_wake: config.io_policy == IoPolicy::Batch,
        // The reactor does not preempt a signer (`sched`), so a signer that starts a rate-limited
        // tenant's job right after a hand-over keeps the other tenant's response unwritten for the
        // whole job (docs/perf-notes.md).
        handover_wait: if config.io_policy == IoPolicy::Batch {
            HANDOVER_WAIT
        } else {
            std::time::Duration::ZERO
        },
    };
    let pool = Pool::start(
        bunker.clone(),
        Arc::new(HubOutbox(hub.clone())),
        pool_config,
    );
    let tracker = TaskTracker::new();
    let readers = TaskTracker::new();
    let close_sockets = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    let demoted_io = (config.limits.rate_limited_demotion_secs > 0)
        .then(DemotedIo::start)
        .flatten();
    let relay_state = Arc::new(RelayState::new(
        Arc::new(SignerDispatch::new(bunker.clone(), pool.submitter())),
        hub.clone(),
        config.limits,
        Lifecycle {
            shutdown: shutdown.clone(),
            close_sockets: close_sockets.clone(),
            tracker: tracker.clone(),
            readers: readers.clone(),
            demoted_io: demoted_io.as_ref().map(DemotedIo::handle),
        },
        metrics.relay.clone(),
        // Validated before start (`Config::validate`).
        config
            .real_ip_header
            .as_deref()
            .and_then(|h| hyper::header::HeaderName::from_bytes(h.as_bytes()).ok()),
    ));
    let foreign = relay::foreign::ForeignRelays::new(
        relay_state.clone(),
        config.foreign.clone(),
        &bunker.config().relays,
        metrics.foreign.clone(),
    )
    .unwrap_or_else(|e| {
        // The CA file was readable when the configuration was checked; it is not any more.
        tracing::error!("{e}; foreign relays trust the system's CA roots only");
        let settings = relay::foreign::ForeignSettings {
            ca_file: None,
            ..config.foreign.clone()
        };
        relay::foreign::ForeignRelays::new(
            relay_state.clone(),
            settings,
            &bunker.config().relays,
            metrics.foreign.clone(),
        )
        .expect("no CA file to read")
    });
    tracker.spawn(foreign.clone().run());
    if let Some(bus) = &bus {
        tracker.spawn(share_rates(
            bus.nodes(),
            relay_state.clone(),
            shutdown.clone(),
        ));
    }
    let accept_metrics = metrics.clone();
    // Resumes at once whatever rotation or shred a stop or crash interrupted.
    let custody = Arc::new(crate::keys::KeyCustody::new(metrics.custody.clone()));
    tracker.spawn(custody.clone().run(bunker.clone(), shutdown.clone()));
    let admin_state = Arc::new(AdminState {
        bunker: bunker.clone(),
        operator_token_hash: token_hash,
        tokens,
        public_url: config
            .admin_public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned()),
        imports: tokio::sync::Semaphore::new(1),
        limits: admin::AdminLimits::new(&config),
        metrics,
        nip98_replays: Default::default(),
        submitter: pool.submitter(),
        hub: hub.clone(),
        store: store.clone(),
        foreign,
        shutdown: shutdown.clone(),
        provider_health: Default::default(),
        backup_dir: config.data_dir.join("backups"),
        backups: tokio::sync::Semaphore::new(1),
        custody,
        bus: bus.clone(),
    });
    tracker.spawn(sweep(
        hub,
        relay_state.addresses().clone(),
        shutdown.clone(),
    ));
    tracker.spawn(sweep_sessions(bunker, shutdown.clone()));
    tracker.spawn(expire_approvals(admin_state.clone(), shutdown.clone()));
    let relay_header_timeout =
        std::time::Duration::from_secs(config.limits.http_idle_timeout_secs.max(1));
    let relay = tracker.spawn(accept_loop(
        listeners.relay,
        ("relay", accept_metrics.clone(), relay_header_timeout),
        shutdown.clone(),
        tracker.clone(),
        {
            let state = relay_state.clone();
            move |stream: tokio::net::TcpStream, peer: SocketAddr| {
                let (stream, slot) = relay::http::admit_connection(&state, stream, peer.ip())?;
                let state = state.clone();
                let handler = move |req| {
                    relay::http::relay_service(req, state.clone(), peer.ip(), slot.clone())
                };
                Some((stream, handler))
            }
        },
    ));
    let admin = tracker.spawn(accept_loop(
        listeners.admin,
        ("admin", accept_metrics, HEADER_READ_TIMEOUT),
        shutdown.clone(),
        tracker.clone(),
        move |stream: tokio::net::TcpStream, peer: SocketAddr| {
            let admin_state = admin_state.clone();
            Some((stream, move |req| {
                admin::service(req, admin_state.clone(), peer.ip())
            }))
        },
    ));
    shutdown.cancelled().await;
    let drain_by = tokio::time::Instant::now() + config.shutdown_grace;
    // 1. Stop accepting (the accept loops end) and stop reading frames (connections see the token):
    //    wait until every connection has read its last frame, so that every request accepted is
    //    already submitted when the pool is seen drained (a connection that raced the token may
    //    read a frame or two after it; a demoted one moves back first).
    let _ = tokio::join!(relay, admin);
    readers.close();
    if !finished_by(drain_by, readers.wait()).await {
        let connections = readers.len();
        tracing::warn!(
            connections,
            "connections still reading at the end of the grace period"
        );
    }
    // 2. Let every accepted request finish: its response and its OK reach the still-open sockets.
    if !finished_by(drain_by, pool.drained()).await {
        let in_flight = pool.in_flight();
        tracing::warn!(
            in_flight,
            "signer pool did not drain within the grace period"
        );
    }
    // 3. Close websockets with 1001 and wait for the connection tasks.
    close_sockets.cancel();
    drop(relay_state);
    tracker.close();
    let close_by = tokio::time::Instant::now() + config.shutdown_grace;
    if !finished_by(close_by, tracker.wait()).await {
        tracing::warn!(grace = ?config.shutdown_grace, "connections still open after the grace period");
    }
    // Every connection task has ended (or the grace period is over: what is left on the demoted-I/O
    // thread is dropped with it).
    drop(demoted_io);
    // What the draining pool and the last admin calls changed reaches the other nodes.
    if let Some(bus) = &bus {
        bus.close().await;
    }
    // 4. Join the workers (the queue is empty), then drop the store last.
    let joined = tokio::task::spawn_blocking(move || pool.shutdown());
    if tokio::time::timeout(config.shutdown_grace, joined)
        .await
        .is_err()
    {
        tracing::warn!("signer threads did not stop within the grace period");
    }
    drop(store);
    tracing::info!("bunkerd stopped");
}

/// Accepts connections until shutdown; each is admitted by `admit` (which gives it back with its
/// request handler, or takes it: refused) and served by hyper (HTTP/1.1 with upgrades) on its own
/// task, with `header_timeout` to send each request head (the first, and each next one on a
/// keep-alive connection). `TCP_NODELAY` is set: responses are small, and Nagle's algorithm would
/// hold each ~40 ms.
async fn accept_loop<A, F, Fut>(
    listener: TcpListener,
    (name, metrics, header_timeout): (&'static str, Arc<Metrics>, std::time::Duration),
    shutdown: CancellationToken,
    tracker: TaskTracker,
    admit: A,
) where
    A: Fn(tokio::net::TcpStream, SocketAddr) -> Option<(tokio::net::TcpStream, F)>,
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<
            Output = Result<
                hyper::Response<relay::http::bytes_body::Body>,
                std::convert::Infallible,
            >,
        > + Send
        + 'static,
{
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    let exhausted = is_resource_exhaustion(&e);
                    metrics.accept_failed(name, if exhausted { "resources" } else { "other" });
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    if exhausted {
                        // Out of file descriptors or memory: the pending connection stays queued,
                        // so retrying at once would spin a core. Wait for connections to close.
                        tokio::select! {
                            () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                            () = shutdown.cancelled() => return,
                        }
                    }
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let Some((stream, handler)) = admit(stream, peer) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            // hyper's header-read timeout only works with a timer; without one a client could hold
            // a connection open forever by never finishing its request head. It also runs while a
            // keep-alive connection waits for its next request.
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service_fn(handler))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

/// `PoolConfig::handover_wait` under `--io-policy batch`: a few times the usual time from a hand-over
/// to its write (p90 44–67 µs in A's pauses, 132–173 µs while A floods, in a per-request trace:
/// docs/perf-notes.md), short enough that a connection which does not read stalls a signer little.
const HANDOVER_WAIT: std::time::Duration = std::time::Duration::from_micros(300);

/// The demoted-I/O runtime (`conn::Placement`): one reactor thread under SCHED_IDLE
/// ([`crate::sched::demoted_thread_start`]) that serves the sockets of connections refused for a
/// rate limit. Dropping it stops the thread without waiting (tasks still on it are dropped), so it
/// can be dropped inside the server's own runtime.
struct DemotedIo(Option<tokio::runtime::Runtime>);

impl DemotedIo {
    /// `None` (logged) if the thread cannot be started; connections are then never demoted.
    fn start() -> Option<DemotedIo> {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .thread_name("bunkerd-demoted-io")
            .on_thread_start(crate::sched::demoted_thread_start)
            .build()
        {
            Ok(runtime) => Some(DemotedIo(Some(runtime))),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the demoted-I/O thread; rate-limited connections stay where they are");
                None
            }
        }
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("a DemotedIo holds its runtime until dropped")
            .handle()
            .clone()
    }
}

impl Drop for DemotedIo {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Shares every tenant's rate among the cluster's nodes as their count changes.
async fn share_rates(
    mut nodes: tokio::sync::watch::Receiver<u32>,
    relay_state: Arc<RelayState>,
    shutdown: CancellationToken,
) {
    loop {
        let count = *nodes.borrow_and_update();
        relay_state.set_cluster_nodes(count);
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = nodes.changed() => if changed.is_err() { return },
        }
    }
}

async fn sweep(
    hub: Arc<Hub>,
    addresses: Arc<relay::limits::Addresses>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(SWEEP_INTERVAL_SECS));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // Freeing a second's worth of responses is CPU work that must not stall the reactor.
                let (hub, addresses) = (hub.clone(), addresses.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    hub.sweep(relay::dispatch::unix_now());
                    addresses.sweep();
                })
                .await;
            }
            () = shutdown.cancelled() => return,
        }
    }
}

/// Ends expired sessions and deletes spent bunker-URI records every
/// [`SESSION_SWEEP_INTERVAL_SECS`] ([`signer::admin::Admin::sweep`]), on the blocking pool.
/// Every second: answers the requests held for approval that nobody decided in time.
async fn expire_approvals(state: Arc<AdminState>, shutdown: CancellationToken) {
    let period = std::time::Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let bunker = state.bunker.clone();
                let expired = tokio::task::spawn_blocking(move || {
                    bunker.admin().expire_approvals(relay::dispatch::unix_now())
                })
                .await;
                match expired {
                    Ok(Ok(expired)) => {
                        for decided in &expired {
                            crate::admin::deliver(&state, decided);
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(code = e.code(), "approval expiry failed"),
                    Err(_) => tracing::error!("approval expiry panicked"),
                }
            }
            () = shutdown.cancelled() => return,
        }
    }
}

async fn sweep_sessions(bunker: Arc<Bunker>, shutdown: CancellationToken) {
    let period = std::time::Duration::from_secs(SESSION_SWEEP_INTERVAL_SECS);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let bunker = bunker.clone();
                let swept = tokio::task::spawn_blocking(move || {
                    bunker.admin().sweep(relay::dispatch::unix_now())
                })
                .await;
                match swept {
                    Ok(Ok(swept)) if swept != signer::admin::Swept::default() => tracing::info!(
                        sessions = swept.sessions,
                        bunker_uris = swept.bunker_uris,
                        approvals = swept.approvals,
                        "swept expired sessions and spent bunker URIs"
                    ),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(code = e.code(), "session sweep failed"),
                    Err(_) => tracing::error!("session sweep panicked"),
                }
            }
            () = shutdown.cancelled() => return,
        }
    }
}
