//! The audit log's background writer: the messages of its queue ([`Msg`]), the counters shared
//! with [`AuditLog`](super::AuditLog) and their rate-limited warnings ([`Counters`]), and the thread
//! that drains the queue in batched buffered writes ([`write_loop`]).

use super::{encode, AuditRecord};
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use store::{Batch, Cf, Durability, Store};

/// Most records the writer puts in one [`Store::write`].
const BATCH_MAX_RECORDS: usize = 256;

/// How long the writer sleeps after the first record of a batch before writing what has been queued
/// by then: bounds both the delay before a record is written and the writer's wake-ups (about two
/// per window, however many records arrive). 10 ms at 10,000 requests/s is 100 records, far below
/// [`AuditConfig::queue_capacity`]'s default of 8,192.
///
/// [`AuditConfig::queue_capacity`]: super::AuditConfig::queue_capacity
const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// Least time between two warnings of the same kind (dropped, rejected, failed writes).
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Messages to the writer thread, in queue order.
pub(super) enum Msg {
    /// A validated record with its `seq`, to write in the next batch.
    Record(Box<AuditRecord>),
    /// Write everything queued before this marker, then answer with the first store failure
    /// since the previous flush.
    Flush(Sender<Option<store::Error>>),
    /// Write everything queued, then exit.
    Stop,
}

/// Counters shared with the writer thread, and warning rate limits.
#[derive(Debug)]
pub(super) struct Counters {
    pub(super) dropped: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) failed: AtomicU64,
    epoch: Instant,
    /// Earliest next warning of each kind, in milliseconds since `epoch`, indexed by
    /// `WARN_DROPPED`, `WARN_REJECTED`, `WARN_FAILED`.
    next_warn_ms: [AtomicU64; 3],
}

/// Warning kinds of [`Counters::may_warn`].
pub(super) const WARN_DROPPED: usize = 0;
pub(super) const WARN_REJECTED: usize = 1;
const WARN_FAILED: usize = 2;

impl Counters {
    pub(super) fn new() -> Counters {
        Counters {
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            epoch: Instant::now(),
            next_warn_ms: Default::default(),
        }
    }

    /// Whether warning `which` may be logged now; at most once per [`WARN_INTERVAL`] each.
    pub(super) fn may_warn(&self, which: usize) -> bool {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = &self.next_warn_ms[which];
        let due = next.load(Ordering::Relaxed);
        let interval = u64::try_from(WARN_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        now >= due
            && next
                .compare_exchange(due, now + interval, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// The writer thread. It blocks until a message arrives, then, if that message is a record, sleeps
/// for [`BATCH_WINDOW`] and takes everything queued meanwhile, writing records in buffered writes of
/// at most [`BATCH_MAX_RECORDS`]; a flush marker is answered once what preceded it is written, and
/// the stop marker ends the thread after the same. It exits as well when the log is gone.
///
/// Why it sleeps instead of waiting for more records with a deadline: a receiver blocked with a
/// deadline is woken by every send, and the signer sends one record per request, so the writer woke
/// once or more per request — each a context switch on the signer's core, measured at ≈ 5 % of that
/// core at 600 requests/s (see benches/README.md). A sleeping receiver is not registered with
/// the channel, so sends during the window cost no wake-up: the writer wakes about twice per window
/// however busy the signer is.
pub(super) fn write_loop(store: &dyn Store, rx: &Receiver<Msg>, counters: &Counters) {
    let mut pending: Vec<AuditRecord> = Vec::with_capacity(BATCH_MAX_RECORDS);
    let mut first_error: Option<store::Error> = None;
    while let Ok(first) = rx.recv() {
        if matches!(first, Msg::Record(_)) {
            std::thread::sleep(BATCH_WINDOW);
        }
        // What was queued by now, in order; later records wait for the next round, so a steady
        // stream of records cannot keep the writer from answering a flush.
        let queued = rx.len();
        for msg in std::iter::once(first).chain(rx.try_iter().take(queued)) {
            match msg {
                Msg::Record(rec) => {
                    pending.push(*rec);
                    if pending.len() == BATCH_MAX_RECORDS {
                        write_pending(store, &mut pending, counters, &mut first_error);
                    }
                }
                Msg::Flush(reply) => {
                    write_pending(store, &mut pending, counters, &mut first_error);
                    drop(reply.send(first_error.take()));
                }
                Msg::Stop => {
                    write_pending(store, &mut pending, counters, &mut first_error);
                    return;
                }
            }
        }
        write_pending(store, &mut pending, counters, &mut first_error);
    }
}

/// [`write_batch`], counting and logging (rate-limited) a failure and keeping the first error for
/// the next flush.
fn write_pending(
    store: &dyn Store,
    pending: &mut Vec<AuditRecord>,
    counters: &Counters,
    first_error: &mut Option<store::Error>,
) {
    if let Err(error) = write_batch(store, pending) {
        counters.failed.fetch_add(error.1, Ordering::Relaxed);
        if counters.may_warn(WARN_FAILED) {
            tracing::warn!(
                code = "store",
                error = %error.0,
                failed_total = counters.failed.load(Ordering::Relaxed),
                "audit write failed: audit records lost"
            );
        }
        first_error.get_or_insert(error.0);
    }
}

/// Writes and empties `pending` in one buffered write; on failure, the error and the number of
/// records lost.
fn write_batch(
    store: &dyn Store,
    pending: &mut Vec<AuditRecord>,
) -> Result<(), (store::Error, u64)> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::new();
    let count = pending.len() as u64;
    for rec in pending.drain(..) {
        batch.put(Cf::Audit, rec.key().to_vec(), encode(&rec));
    }
    store
        .write(batch, Durability::Buffered)
        .map_err(|e| (e, count))
}
