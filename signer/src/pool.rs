//! The signer pool: worker threads that run [`Bunker::process`] off the async reactor.
//!
//! The relay submits each admitted kind-24133 event as a [`Job`] with [`Submitter::try_submit`]. The queue
//! is bounded: when it is full the job comes straight back and the relay answers
//! `OK false "rate-limited: …"` — a counted refusal, never a silent drop or an unbounded backlog.
//! A worker processes the job, hands the response event to the [`Outbox`] (the relay's fan-out), and
//! only then calls the job's `done` callback with the verdict (the relay's `OK`): a client that sees
//! `OK true` can rely on its response being retained already, even if it reconnects at once. Workers are plain OS
//! threads: the work is CPU-bound crypto plus short blocking store calls.
//!
//! Shutdown: the relay stops reading, waits for [`Pool::drained`] (every accepted job processed, its
//! response delivered and its verdict reported), closes its sockets, then [`Pool::shutdown`] closes
//! the queue and joins the workers.

use crate::bunker::{Bunker, Processed, Refusal};
use crate::nostr::Event;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Where response events go: implemented by the relay's fan-out. Must not block for long.
pub trait Outbox: Send + Sync + 'static {
    /// Delivers a signed response event to every subscription that matches it.
    fn deliver(&self, event: Event);
}

/// Callback receiving the outcome of a job, after its response was delivered.
pub type Done = Box<dyn FnOnce(&Processed) + Send>;

/// Atomically records an event id and says whether it is new (see [`Bunker::process`]).
pub type FirstSeen = Box<dyn FnOnce(&[u8; 32]) -> bool + Send>;

/// One request event to process.
pub struct Job {
    /// The kind-24133 request event (parsed, not yet verified).
    pub event: Event,
    /// Duplicate check, asked once after the event verifies.
    pub first_seen: FirstSeen,
    /// Called with the outcome (for the `OK` message) after the response went to the outbox.
    pub done: Done,
    /// When the job was submitted (its queue wait is reported in [`Processed::queue_wait`]).
    pub queued_at: Instant,
}

/// Pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Worker threads. Default: the number of available cores.
    pub workers: usize,
    /// Jobs that may wait in the queue before submissions are refused. Default: 4,096 — about a
    /// quarter second of work at one core's throughput, so a refused client retries soon rather
    /// than waiting behind a long backlog.
    pub queue_capacity: usize,
    /// Run first on every worker thread (for example to set its scheduling policy). Default: none.
    pub on_worker_start: Option<fn()>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_capacity: 4096,
            on_worker_start: None,
        }
    }
}

/// The running pool.
pub struct Pool {
    tx: Sender<Job>,
    workers: Vec<JoinHandle<()>>,
    in_flight: Arc<InFlight>,
}

/// A cloneable handle that queues jobs. Workers exit once the [`Pool`] is shut down *and* every
/// submitter is dropped, so the queue always drains.
#[derive(Debug, Clone)]
pub struct Submitter {
    tx: Sender<Job>,
    in_flight: Arc<InFlight>,
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
    /// Queues a job without blocking.
    ///
    /// # Errors
    ///
    /// Gives the job back when the queue is full.
    #[allow(clippy::result_large_err)]
    pub fn try_submit(&self, job: Job) -> Result<(), Job> {
        // Counted before it is queued, so a worker can never finish it before it is counted.
        self.in_flight.count.fetch_add(1, Ordering::AcqRel);
        self.tx.try_send(job).map_err(|e| {
            self.in_flight.finished();
            match e {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
            }
        })
    }

    /// Jobs waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.len()
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
        let (tx, rx) = bounded::<Job>(config.queue_capacity.max(1));
        let in_flight = Arc::new(InFlight::default());
        let workers = (0..config.workers.max(1))
            .map(|n| {
                let (bunker, outbox, rx) = (bunker.clone(), outbox.clone(), rx.clone());
                let in_flight = in_flight.clone();
                let on_start = config.on_worker_start;
                std::thread::Builder::new()
                    .name(format!("bunkerd-signer-{n}"))
                    .spawn(move || {
                        if let Some(on_start) = on_start {
                            on_start();
                        }
                        work(&bunker, outbox.as_ref(), &rx, &in_flight);
                    })
                    .expect("spawning a signer thread")
            })
            .collect();
        Pool {
            tx,
            workers,
            in_flight,
        }
    }

    /// A handle for submitting jobs.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            tx: self.tx.clone(),
            in_flight: self.in_flight.clone(),
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

    /// Jobs waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Closes the pool's own handle, lets the workers finish every queued job once all submitters
    /// are dropped, and joins them. Blocking.
    pub fn shutdown(self) {
        let Pool { tx, workers, .. } = self;
        drop(tx);
        for worker in workers {
            if worker.join().is_err() {
                tracing::error!("a signer thread panicked");
            }
        }
    }
}

/// Most jobs a worker processes before it hands their results over.
const MAX_BATCH: usize = 16;

/// Longest a worker keeps finished results before handing them over: bounds the latency batching
/// adds to the first job of a batch.
const BATCH_BUDGET: Duration = Duration::from_micros(500);

/// A processed job waiting to be handed over.
struct Finished {
    processed: Processed,
    done: Done,
}

/// The worker loop. Jobs are taken in batches: after a blocking receive, a worker keeps taking jobs
/// that are already queued (at most [`MAX_BATCH`], for at most [`BATCH_BUDGET`]) before delivering
/// their responses and verdicts together. Each hand-over wakes the relay's reactor, and on a loaded
/// core every wake-up is a context switch; batching turns one switch per request into one per batch,
/// while an idle queue still ends a batch of one at once.
fn work(bunker: &Bunker, outbox: &dyn Outbox, rx: &Receiver<Job>, in_flight: &InFlight) {
    let mut batch: Vec<Finished> = Vec::with_capacity(MAX_BATCH);
    while let Ok(job) = rx.recv() {
        let started = Instant::now();
        batch.push(run(bunker, job));
        while batch.len() < MAX_BATCH && started.elapsed() < BATCH_BUDGET {
            match rx.try_recv() {
                Ok(job) => batch.push(run(bunker, job)),
                Err(_) => break,
            }
        }
        for Finished {
            mut processed,
            done,
        } in batch.drain(..)
        {
            if let Some(response) = processed.response.take() {
                outbox.deliver(response);
            }
            done(&processed);
            in_flight.finished();
        }
    }
}

fn run(bunker: &Bunker, job: Job) -> Finished {
    let Job {
        event,
        first_seen,
        done,
        queued_at,
    } = job;
    let queue_wait = queued_at.elapsed();
    // A panic must cost one request (answered with an error), not a worker thread.
    let processed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bunker.process(&event, unix_now(), first_seen)
    }))
    .unwrap_or_else(|_| {
        tracing::error!("a signer thread recovered from a panic while processing a request");
        Processed::refused(Refusal::Error("internal error"))
    });
    let processed = Processed {
        queue_wait,
        ..processed
    };
    Finished { processed, done }
}

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
