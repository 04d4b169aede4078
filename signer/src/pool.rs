//! The signer pool: worker threads that run [`Bunker::process`] off the async reactor.
//!
//! The relay submits each admitted kind-24133 event as a [`Job`] with [`Submitter::try_submit`]. Jobs
//! wait in a `fair` queue: one lane per tenant, served round-robin, so a tenant that floods its lane
//! delays only itself. The queue is bounded per tenant and in total: beyond either bound the
//! job comes straight back ([`Rejected`], with its [`Overflow`] reason) and the relay answers
//! `OK false "rate-limited: …"` — a counted refusal, never a silent drop or an unbounded backlog.
//! A worker processes the job, hands the response event to the [`Outbox`] (the relay's fan-out), and
//! only then calls the job's `done` callback with the verdict (the relay's `OK`): a client that sees
//! `OK true` can rely on its response being retained already, even if it reconnects at once. Workers are plain OS
//! threads: the work is CPU-bound crypto plus short blocking store calls.
//!
//! The pool also answers the relay's own refusals ([`RefusalJob`], [`Submitter::try_submit_refusal`]):
//! a request the relay refused before the signer ran it gets a NIP-46 error reply
//! ([`Bunker::answer_refusal`]), from a bounded side lane of the same queue ([`REFUSAL_LANE_CAPACITY`]).
//!
//! Shutdown: the relay stops reading, waits for [`Pool::drained`] (every accepted job processed, its
//! response delivered and its verdict reported), closes its sockets, then [`Pool::shutdown`] closes
//! the queue (later submissions are refused with [`Overflow::Stopped`]), lets the workers finish what
//! is queued, and joins them.

mod fair;

pub use fair::Overflow;

use crate::bunker::{Bunker, Processed, Refusal};
use fair::FairQueue;
use proto::nostr::{Event, Verified};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Where response events go: implemented by the relay's fan-out. Must not block for long.
pub trait Outbox: Send + Sync + 'static {
    /// Delivers a signed response event to every subscription that matches it.
    fn deliver(&self, event: Event);
}

/// Callback receiving the outcome of a job, after its response was delivered. Its
/// [`Processed::response`] is a copy of the response delivered when the job asked for one
/// ([`Job::want_response`]), else `None`.
pub type Done = Box<dyn FnOnce(Processed) + Send>;

/// Callback of a [`RefusalJob`]: `true` once its reply went to the outbox, `false` when it got
/// none (see [`Bunker::answer_refusal`]).
pub type RefusalDone = Box<dyn FnOnce(bool) + Send>;

/// Atomically records an event id and says whether it is new (see [`Bunker::process`]).
pub type FirstSeen = Box<dyn FnOnce(&[u8; 32]) -> bool + Send>;

/// One request event to process.
pub struct Job {
    /// The kind-24133 request event, verified by the relay before it charged the tenant's budget.
    pub event: Verified,
    /// Duplicate check, asked once before the event is processed.
    pub first_seen: FirstSeen,
    /// Called with the outcome (for the `OK` message) after the response went to the outbox.
    pub done: Done,
    /// When the job was submitted (its queue wait is reported in [`Processed::queue_wait`]).
    pub queued_at: Instant,
    /// The tenant whose remote signer the event names: the lane it waits in. Jobs whose tenant is
    /// unknown (the remote signer was just removed) share one lane under any fixed name.
    pub tenant: Arc<str>,
    /// Submitted by a connection refused for its rate (the relay's *demoted* connections). With
    /// [`PoolConfig::handover_wait`] set, a worker about to start such a job first waits (for at most
    /// that long) until the verdicts of its previous hand-over round that were tracked with
    /// [`track_handover`] have been written.
    pub demoted: bool,
    /// The caller wants the response event too (HTTP clients get it in their answer): `done` then
    /// receives a copy of what went to the outbox, one clone of the event. `false` costs nothing.
    pub want_response: bool,
    /// The foreign relay the request came from (a URL its session's client named); `None` for
    /// bunkerd's own listener. A request of a session on foreign relays that arrives here instead
    /// moves the session to bunkerd's own relays ([`Bunker::process_verified`]).
    pub origin: Option<Arc<str>>,
}

/// A request the relay refused before the signer ran it (a rate limit, the `created_at` window),
/// to answer with a NIP-46 error reply ([`Bunker::answer_refusal`]) delivered to the outbox.
pub struct RefusalJob {
    /// The refused kind-24133 request event (parsed, not verified).
    pub event: Event,
    /// The relay's refusal: the text of its `OK false`.
    pub refusal: Refusal,
    /// Called after the reply was delivered, or when there is none.
    pub done: RefusalDone,
}

impl std::fmt::Debug for RefusalJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalJob")
            .field("refusal", &self.refusal)
            .finish_non_exhaustive()
    }
}

/// Most error replies to the relay's refusals ([`RefusalJob`]) waiting at once.
///
/// They wait in a side lane of their own, not in the tenant's: one of the refusals they answer is
/// the tenant's lane being full, which would refuse the reply too. The side lane is one more lane of
/// the round-robin, so with `n` tenants waiting it gets at most one job in `n + 1`; its inflow is
/// bounded before it by the relay's reply budget (at most a few hundred a second, each about one
/// request's work), so it cannot starve real requests. It holds at most this many jobs and never
/// more than a tenant's lane (`tenant_queue_capacity`), counts in the queue's total, and a reply
/// that does not fit is dropped, never waited for: the client still has its `OK false`.
pub const REFUSAL_LANE_CAPACITY: usize = 64;

/// The side lane's key in the queue: not a tenant id (those are hex), nor the relay's lane for
/// unrouted requests (empty).
static REFUSAL_LANE: std::sync::LazyLock<Arc<str>> =
    std::sync::LazyLock::new(|| Arc::from("refusal-replies"));

/// What waits in the queue.
enum Task {
    Request(Job),
    Refusal(RefusalJob),
}

impl Task {
    /// The job of a request task (what a request's push hands back).
    fn into_job(self) -> Job {
        match self {
            Task::Request(job) => job,
            Task::Refusal(_) => unreachable!("a request's push hands back a request"),
        }
    }
}

/// A job the queue did not take, and why.
pub struct Rejected {
    /// The job, unprocessed (its `done` was not called).
    pub job: Job,
    /// Which bound refused it.
    pub reason: Overflow,
}

impl std::fmt::Debug for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("tenant", &self.job.tenant)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// Pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Worker threads. Default: the number of available cores.
    pub workers: usize,
    /// Jobs that may wait in the queue, all tenants together, before submissions are refused.
    /// Default: 4,096 — about a third of a second of work at one core's throughput, so a refused
    /// client retries soon rather than waiting behind a long backlog.
    pub queue_capacity: usize,
    /// Jobs one tenant may have waiting before its submissions are refused (other tenants are still
    /// admitted). Default: 1,024, a quarter of the queue, so no single tenant can fill it.
    pub tenant_queue_capacity: usize,
    /// Run first on every worker thread (for example to set its scheduling policy). Default: none.
    pub on_worker_start: Option<fn()>,
    /// When a submission wakes an idle worker and arrives more than 0.5 ms after the previous one
    /// (light load: nothing for a batch to gather), the submitting thread yields its core
    /// (`sched_yield(2)`), so the worker runs now rather than when the submitter's time slice ends.
    /// For submitters that do not preempt on wake-up and may share a core with the workers —
    /// bunkerd's I/O threads under SCHED_BATCH (`relay::sched`): without it, on a core kept busy by
    /// other connections' traffic, ≈ 4 % of requests waited more than 0.25 ms in the queue of an
    /// idle worker; with it, 1.4–1.7 % (fairness runs in benches/README.md). Submissions closer
    /// together never yield, so under load the submitter keeps reading and the worker gets whole
    /// batches (yielding on every wake there cost ≈ 20 % more CPU per request). Default: false.
    pub yield_on_wake: bool,
    /// Longest a worker waits, before it starts a demoted connection's job ([`Job::demoted`]),
    /// for the verdicts of its previous hand-over round to be written ([`track_handover`]); zero
    /// turns the wait off. Why: on a core shared with the relay's reactor, a worker that hands a
    /// response over and then starts a rate-limited tenant's job keeps that response unwritten for
    /// the whole job; a trace of the fairness runs (benches/README.md) found one of the flooding
    /// tenant's jobs inside most of the other tenant's slowest hand-over → write gaps. Only the
    /// worker's own latest round is awaited, so a client that stops reading can delay at most the
    /// one demoted job that follows its own verdict, by at most this long. Default: zero.
    pub handover_wait: Duration,
}

/// The verdicts of one hand-over round (what a worker delivers together) not yet written.
#[derive(Default)]
struct Round {
    unwritten: AtomicUsize,
    lock: Mutex<()>,
    written: Condvar,
}

/// How a worker's wait for a hand-over round ended ([`Round::wait`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// Nothing of the round was unwritten: no wait at all.
    No,
    /// Every tracked verdict was written, after this long.
    Written(Duration),
    /// The bound passed first (some client is not reading, or the reactor is slow).
    TimedOut(Duration),
}

impl Round {
    /// Blocks while any tracked verdict of this round is unwritten, for at most `max`.
    fn wait(&self, max: Duration) -> Waited {
        if self.unwritten.load(Ordering::Acquire) == 0 {
            return Waited::No;
        }
        let start = Instant::now();
        let deadline = start + max;
        let mut held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while self.unwritten.load(Ordering::Acquire) > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Waited::TimedOut(start.elapsed());
            };
            held = self
                .written
                .wait_timeout(held, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Waited::Written(start.elapsed())
    }
}

/// Totals of the waits for hand-over rounds ([`PoolConfig::handover_wait`]) since the pool started,
/// all workers together (for the metrics `bunkerd_pool_handover_waits_total{ended}` and
/// `bunkerd_pool_handover_wait_seconds_total`). Waits that found nothing unwritten are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandoverWaits {
    /// Waits that ended because every tracked verdict was written.
    pub written: u64,
    /// Waits that ended at the bound, some verdict still unwritten.
    pub timed_out: u64,
    /// Time spent waiting, both kinds together.
    pub waited: Duration,
}

/// The shared counters behind [`HandoverWaits`].
#[derive(Debug, Default)]
struct WaitTotals {
    written: AtomicU64,
    timed_out: AtomicU64,
    waited_ns: AtomicU64,
}

impl WaitTotals {
    fn record(&self, waited: Waited) {
        let (counter, time) = match waited {
            Waited::No => return,
            Waited::Written(time) => (&self.written, time),
            Waited::TimedOut(time) => (&self.timed_out, time),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        self.waited_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn get(&self) -> HandoverWaits {
        HandoverWaits {
            written: self.written.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed)),
        }
    }
}

/// One verdict of a hand-over round, counted as unwritten until this guard is dropped: the relay's
/// connection writer drops it once the verdict is written (or the connection is gone). Each guard
/// holds its round, so a worker reuses a round only when no guard of it is left.
pub struct Written(Arc<Round>);

impl std::fmt::Debug for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Written")
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        if self.0.unwritten.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Taken so that a worker between its check and its wait cannot miss this notification.
            let _held = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.0.written.notify_all();
        }
    }
}

thread_local! {
    /// The hand-over round a worker is delivering now, while [`PoolConfig::handover_wait`] is set.
    static ROUND: RefCell<Option<Arc<Round>>> = const { RefCell::new(None) };
}

/// Inside a job's `done` callback on a signer thread whose pool has a [`PoolConfig::handover_wait`]:
/// a guard that counts this verdict as unwritten until it is dropped. `None` anywhere else.
pub fn track_handover() -> Option<Written> {
    ROUND.with(|round| {
        round.borrow().as_ref().map(|round| {
            round.unwritten.fetch_add(1, Ordering::AcqRel);
            Written(round.clone())
        })
    })
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_capacity: 4096,
            tenant_queue_capacity: 1024,
            on_worker_start: None,
            yield_on_wake: false,
            handover_wait: Duration::ZERO,
        }
    }
}

/// The running pool. Dropping it without [`Pool::shutdown`] closes the queue (the workers finish
/// what is queued and exit) without waiting for them.
pub struct Pool {
    queue: Arc<FairQueue<Task>>,
    workers: Vec<JoinHandle<()>>,
    in_flight: Arc<InFlight>,
    waits: Arc<WaitTotals>,
    yield_on_wake: bool,
}

/// A cloneable handle that queues jobs.
#[derive(Clone)]
pub struct Submitter {
    queue: Arc<FairQueue<Task>>,
    in_flight: Arc<InFlight>,
    waits: Arc<WaitTotals>,
    yield_on_wake: bool,
}

impl std::fmt::Debug for Submitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submitter")
            .field("queued", &self.queued())
            .finish()
    }
}

/// Jobs accepted and not yet finished (queued or running), and a wake-up for when that reaches 0.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    fn finished(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

impl Submitter {
    /// Queues a job in its tenant's lane without blocking (one short mutex hold).
    ///
    /// # Errors
    ///
    /// Gives the job back, unprocessed, in [`Rejected`] with [`Overflow::TenantQueueFull`] when its
    /// tenant has `tenant_queue_capacity` jobs waiting, [`Overflow::QueueFull`] when
    /// `queue_capacity` jobs wait in total, [`Overflow::Stopped`] once the pool is shutting down.
    #[allow(clippy::result_large_err)]
    pub fn try_submit(&self, job: Job) -> Result<(), Rejected> {
        // Counted before it is queued, so a worker can never finish it before it is counted.
        self.in_flight.count.fetch_add(1, Ordering::AcqRel);
        let (tenant, at) = (job.tenant.clone(), job.queued_at);
        match self.queue.push(&tenant, Task::Request(job), at) {
            Ok(pushed) => {
                if self.yield_on_wake
                    && pushed.woke
                    && pushed.since_previous.is_none_or(|gap| gap > BATCH_BUDGET)
                {
                    std::thread::yield_now();
                }
                Ok(())
            }
            Err((task, reason)) => {
                self.in_flight.finished();
                Err(Rejected {
                    job: task.into_job(),
                    reason,
                })
            }
        }
    }

    /// Queues an error reply to a request the relay refused, in the side lane (see
    /// [`REFUSAL_LANE_CAPACITY`]), without blocking (one short mutex hold).
    ///
    /// # Errors
    ///
    /// The bound that refused it: [`Overflow::TenantQueueFull`] when the side lane is full,
    /// [`Overflow::QueueFull`], [`Overflow::Stopped`]; the job is dropped, its `done` not called.
    pub fn try_submit_refusal(&self, job: RefusalJob) -> Result<(), Overflow> {
        self.in_flight.count.fetch_add(1, Ordering::AcqRel);
        let pushed = self.queue.push_capped(
            &REFUSAL_LANE,
            Task::Refusal(job),
            Instant::now(),
            REFUSAL_LANE_CAPACITY,
        );
        pushed.map(drop).map_err(|(_, reason)| {
            self.in_flight.finished();
            reason
        })
    }

    /// Jobs waiting in the queue, all tenants together.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Requests waiting per tenant, for tenants with at least one (for the queue-depth metric);
    /// error replies to refusals ([`RefusalJob`]) are not a tenant's.
    pub fn queued_by_tenant(&self) -> Vec<(Arc<str>, usize)> {
        let mut depths = self.queue.depths();
        depths.retain(|(lane, _)| !Arc::ptr_eq(lane, &REFUSAL_LANE));
        depths
    }

    /// The workers' waits for their hand-over rounds so far ([`PoolConfig::handover_wait`]).
    pub fn handover_waits(&self) -> HandoverWaits {
        self.waits.get()
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers.len())
            .field("queued", &self.queued())
            .finish()
    }
}

impl Pool {
    /// Starts `config.workers` threads (at least one) named `bunkerd-signer-N`.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create a thread at start-up.
    pub fn start(bunker: Arc<Bunker>, outbox: Arc<dyn Outbox>, config: PoolConfig) -> Pool {
        let queue = Arc::new(FairQueue::new(
            config.queue_capacity,
            config.tenant_queue_capacity,
        ));
        let in_flight = Arc::new(InFlight::default());
        let waits = Arc::new(WaitTotals::default());
        let workers = (0..config.workers.max(1))
            .map(|n| {
                let (bunker, outbox, queue) = (bunker.clone(), outbox.clone(), queue.clone());
                let (in_flight, waits) = (in_flight.clone(), waits.clone());
                let on_start = config.on_worker_start;
                let handover_wait = config.handover_wait;
                std::thread::Builder::new()
                    .name(format!("bunkerd-signer-{n}"))
                    .spawn(move || {
                        if let Some(on_start) = on_start {
                            on_start();
                        }
                        let handover = (handover_wait, waits.as_ref());
                        work(&bunker, outbox.as_ref(), &queue, &in_flight, handover);
                    })
                    .expect("spawning a signer thread")
            })
            .collect();
        Pool {
            queue,
            workers,
            in_flight,
            waits,
            yield_on_wake: config.yield_on_wake,
        }
    }

    /// A handle for submitting jobs.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            queue: self.queue.clone(),
            in_flight: self.in_flight.clone(),
            waits: self.waits.clone(),
            yield_on_wake: self.yield_on_wake,
        }
    }

    /// Jobs accepted and not yet finished (queued or being processed).
    pub fn in_flight(&self) -> usize {
        self.in_flight.count.load(Ordering::Acquire)
    }

    /// Completes when no job is in flight: every accepted job has been processed, its response
    /// delivered and its verdict reported. New jobs may still be submitted; callers stop submitting
    /// first (the relay stops reading) so that this converges.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only observes.
    pub async fn drained(&self) {
        loop {
            let idle = self.in_flight.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Jobs waiting in the queue, all tenants together.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Closes the queue (later submissions are refused with [`Overflow::Stopped`]), lets the workers
    /// finish every queued job, and joins them. Blocking.
    pub fn shutdown(mut self) {
        self.queue.close();
        for worker in std::mem::take(&mut self.workers) {
            if worker.join().is_err() {
                tracing::error!("a signer thread panicked");
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// Most jobs a worker processes before it hands their results over.
const MAX_BATCH: usize = 16;

/// Longest a worker keeps finished results before handing them over: bounds the latency batching
/// adds to the first job of a batch. Also the arrival gap above which a submitter yields to the
/// worker it wakes ([`PoolConfig::yield_on_wake`]): jobs further apart than this cannot share a
/// batch anyway.
const BATCH_BUDGET: Duration = Duration::from_micros(500);

/// Fewest jobs that must be waiting for a worker to keep its finished results while it takes one
/// more: below it the worker hands them over first. Holding a response costs it a whole job's time
/// (≈ 50–100 µs) to save the reactor one wake-up (a few µs), which pays only when the queue is deep
/// enough that wake-ups are what limits throughput; at light load it would make one tenant's
/// response wait for another tenant's job (figures in benches/README.md).
const BATCH_MIN_BACKLOG: usize = 4;

/// A processed job waiting to be handed over.
enum Finished {
    Request {
        processed: Processed,
        done: Done,
        want_response: bool,
    },
    Refusal {
        reply: Option<Event>,
        done: RefusalDone,
    },
}

/// The worker loop. Jobs are taken in batches: after a blocking receive, a worker keeps taking jobs
/// that are already queued (at most [`MAX_BATCH`], for at most [`BATCH_BUDGET`], and only while at
/// least [`BATCH_MIN_BACKLOG`] wait) before delivering their responses and verdicts together. Each
/// hand-over wakes the relay's reactor, and on a loaded core every wake-up is a context switch;
/// batching turns one switch per request into one per batch under load, while a short queue still
/// ends a batch at once.
///
/// With a [`PoolConfig::handover_wait`] (`handover.0`), each hand-over is a [`Round`] whose
/// tracked verdicts the worker waits for before it starts a demoted connection's job; `handover.1`
/// counts those waits.
fn work(
    bunker: &Bunker,
    outbox: &dyn Outbox,
    queue: &FairQueue<Task>,
    in_flight: &InFlight,
    handover: (Duration, &WaitTotals),
) {
    let (handover_wait, waits) = handover;
    let mut batch: Vec<Finished> = Vec::with_capacity(MAX_BATCH);
    let mut last_round: Option<Arc<Round>> = None;
    while let Some(task) = queue.pop() {
        if let (Task::Request(Job { demoted: true, .. }), Some(round)) = (&task, last_round.take())
        {
            waits.record(round.wait(handover_wait));
        }
        let started = Instant::now();
        batch.push(run(bunker, task));
        while batch.len() < MAX_BATCH
            && started.elapsed() < BATCH_BUDGET
            && queue.len() >= BATCH_MIN_BACKLOG
        {
            match queue.try_pop() {
                Some(task) => batch.push(run(bunker, task)),
                None => break,
            }
        }
        // A new round only while guards of the last one are still out: the usual case (every verdict
        // written, or no demoted job since) reuses it without an allocation.
        let round = (!handover_wait.is_zero()).then(|| match last_round.take() {
            Some(round) if Arc::strong_count(&round) == 1 => round,
            _ => Arc::default(),
        });
        ROUND.with(|current| current.borrow_mut().clone_from(&round));
        for finished in batch.drain(..) {
            match finished {
                Finished::Request {
                    mut processed,
                    done,
                    want_response,
                } => {
                    if let Some(response) = processed.response.take() {
                        if want_response {
                            processed.response = Some(response.clone());
                        }
                        outbox.deliver(response);
                    }
                    done(processed);
                }
                Finished::Refusal { reply, done } => {
                    let sent = reply.map(|reply| outbox.deliver(reply)).is_some();
                    done(sent);
                }
            }
            in_flight.finished();
        }
        ROUND.with(|current| current.borrow_mut().take());
        last_round = round;
    }
}

fn run(bunker: &Bunker, task: Task) -> Finished {
    let job = match task {
        Task::Request(job) => job,
        Task::Refusal(RefusalJob {
            event,
            refusal,
            done,
        }) => {
            let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                bunker.answer_refusal(&event, &refusal, unix_now())
            }))
            .unwrap_or_else(|_| {
                tracing::error!("a signer thread recovered from a panic while answering a refusal");
                None
            });
            return Finished::Refusal { reply, done };
        }
    };
    let Job {
        event,
        first_seen,
        done,
        queued_at,
        tenant: _,
        demoted: _,
        want_response,
        origin,
    } = job;
    let queue_wait = queued_at.elapsed();
    // A panic must cost one request (answered with an error), not a worker thread.
    let processed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bunker.process_verified(&event, origin.as_deref(), unix_now(), first_seen)
    }))
    .unwrap_or_else(|_| {
        tracing::error!("a signer thread recovered from a panic while processing a request");
        Processed::refused(Refusal::Error("internal error"))
    });
    let processed = Processed {
        queue_wait,
        ..processed
    };
    Finished::Request {
        processed,
        done,
        want_response,
    }
}

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
