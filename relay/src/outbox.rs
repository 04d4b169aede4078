//! A connection's outbound bytes, bounded: what one client can make bunkerd hold for it, and what
//! all clients together can.
//!
//! The writer queue of a connection (`socket`) is bounded by count (`OUTBOUND_QUEUE`
//! messages), which bounds its small messages (`OK`, `EOSE`, `NOTICE`, `CLOSED`: at most a few
//! hundred bytes each). What can be large is charged here, in bytes, against a per-connection
//! [`Budget`] and a relay-wide [`Total`]:
//!
//! - every `EVENT` message queued to the writer (a response delivered by the fan-out, or a retained
//!   one sent for a new subscription), from when it is queued until the writer has written it (or
//!   the queue is dropped);
//! - every request event submitted to the signer pool, from its submission until its verdict.
//!
//! The fan-out never waits: a delivery that does not fit the connection's budget or the total is
//! dropped and counted (the event stays retained for a later `REQ`). A connection's own reader
//! waits for room in its own budget instead (it stops reading its socket: backpressure on that
//! client only); a request that finds the total exhausted is refused as the signer being busy. A
//! connection whose writer stops making progress is closed after the write timeout (`socket`),
//! which frees everything charged to it.
//!
//! Charges are RAII ([`Charge`]): dropping one gives its bytes back, so nothing leaks when a
//! connection ends with messages still queued.

use crate::fanout::{Outbound, Queued};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

/// A connection's writer queue as the fan-out and the connection's reader use it: the channel and
/// the connection's [`Budget`].
#[derive(Debug, Clone)]
pub struct Outbox {
    /// The writer's queue.
    pub tx: mpsc::Sender<Queued>,
    /// The connection's budget.
    pub budget: Arc<Budget>,
}

impl Outbox {
    /// Queues an `EVENT` message without waiting. `false` (the message is dropped, nothing stays
    /// charged) when the connection's budget, the total or the queue is full, or the connection is
    /// gone.
    pub fn try_deliver(&self, text: String) -> bool {
        let Some(charge) = self.budget.try_charge(text.len()) else {
            return false;
        };
        self.tx
            .try_send(Box::new(Outbound::Event(text, charge)))
            .is_ok()
    }

    /// Queues an `EVENT` message, waiting for room in the connection's budget and queue.
    ///
    /// # Errors
    ///
    /// [`Closed`] when the connection's writer is gone.
    pub async fn deliver(&self, text: String) -> Result<(), Closed> {
        let charge = self.budget.charge(text.len()).await?;
        self.tx
            .send(Box::new(Outbound::Event(text, charge)))
            .await
            .map_err(|_| Closed)
    }
}

/// Bytes charged across every connection of a relay, against a cap.
#[derive(Debug)]
pub struct Total {
    queued: AtomicUsize,
    cap: usize,
}

impl Total {
    /// A total of `cap` bytes (0: unbounded).
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Total {
            queued: AtomicUsize::new(0),
            cap: if cap == 0 { usize::MAX } else { cap },
        })
    }

    /// Bytes charged now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// One connection's outbound bytes, against its cap and the relay's [`Total`].
#[derive(Debug)]
pub struct Budget {
    queued: AtomicUsize,
    cap: usize,
    total: Arc<Total>,
    /// The connection's reader waits here for room ([`Budget::charge`]); at most one waiter.
    freed: Notify,
    /// Set while the reader waits, so releases notify only then.
    waiting: AtomicBool,
    /// The connection is over: waiters give up.
    closed: AtomicBool,
}

/// Bytes charged to a [`Budget`], given back on drop.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// The connection is over (its writer stopped): no more room will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Budget {
    /// A budget of `cap` bytes (0: unbounded) within `total`.
    pub fn new(cap: usize, total: Arc<Total>) -> Arc<Self> {
        Arc::new(Budget {
            queued: AtomicUsize::new(0),
            cap: if cap == 0 { usize::MAX } else { cap },
            total,
            freed: Notify::new(),
            waiting: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    /// What `bytes` costs: a message larger than the whole budget is charged the whole budget, so
    /// it still goes once the connection has nothing else queued.
    fn cost(&self, bytes: usize) -> usize {
        bytes.min(self.cap)
    }

    /// Charges `bytes` if both this connection's budget and the total have room; never waits.
    /// `None` when either is full (nothing charged).
    pub fn try_charge(self: &Arc<Self>, bytes: usize) -> Option<Charge> {
        let bytes = self.cost(bytes);
        if self.total.queued.load(Ordering::Relaxed) + bytes > self.total.cap {
            return None;
        }
        self.try_charge_own(bytes)?;
        self.total.queued.fetch_add(bytes, Ordering::Relaxed);
        Some(Charge {
            budget: self.clone(),
            bytes,
        })
    }

    /// Takes `bytes` from this connection's own budget only.
    fn try_charge_own(&self, bytes: usize) -> Option<()> {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q + bytes <= self.cap).then_some(q + bytes)
            })
            .ok()
            .map(drop)
    }

    /// Charges `bytes` to this connection, waiting until its own budget has room (the total is
    /// counted, not waited for: see the module docs).
    ///
    /// # Errors
    ///
    /// [`Closed`] once the connection is over ([`Budget::close`]).
    pub async fn charge(self: &Arc<Self>, bytes: usize) -> Result<Charge, Closed> {
        let bytes = self.cost(bytes);
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Closed);
            }
            if self.try_charge_own(bytes).is_some() {
                break;
            }
            self.waiting.store(true, Ordering::SeqCst);
            // A release between the failed attempt and this one stored its notification (or this
            // attempt sees its bytes): no wake-up is lost.
            if self.try_charge_own(bytes).is_some() {
                break;
            }
            self.freed.notified().await;
        }
        self.waiting.store(false, Ordering::Relaxed);
        self.total.queued.fetch_add(bytes, Ordering::Relaxed);
        Ok(Charge {
            budget: self.clone(),
            bytes,
        })
    }

    /// Whether the total has room for `bytes` more (a request is refused when it has not).
    pub fn total_has_room(&self, bytes: usize) -> bool {
        self.total.queued.load(Ordering::Relaxed) + self.cost(bytes) <= self.total.cap
    }

    /// Ends the connection's budget: a waiting [`Budget::charge`] returns [`Closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.freed.notify_one();
    }

    /// Bytes charged to this connection now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    fn release(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
        self.total.queued.fetch_sub(bytes, Ordering::Relaxed);
        if self.waiting.load(Ordering::SeqCst) {
            self.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_fit_the_connection_and_the_total_and_come_back_on_drop() {
        let total = Total::new(100);
        let a = Budget::new(60, total.clone());
        let b = Budget::new(60, total.clone());
        let a1 = a.try_charge(50).unwrap();
        assert!(a.try_charge(20).is_none(), "a's own budget");
        let b1 = b.try_charge(40).unwrap();
        assert!(b.try_charge(20).is_none(), "the total: 90 + 20 > 100");
        assert_eq!(total.queued(), 90);
        drop(a1);
        assert_eq!((a.queued(), total.queued()), (0, 40));
        let big = a.try_charge(1_000).unwrap();
        assert_eq!(
            a.queued(),
            60,
            "a message larger than the budget costs the budget"
        );
        drop((big, b1));
        assert_eq!(total.queued(), 0);
    }

    #[tokio::test]
    async fn a_waiting_charge_resumes_when_bytes_are_written_and_ends_when_the_connection_does() {
        let budget = Budget::new(10, Total::new(0));
        let held = budget.try_charge(8).unwrap();
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.charge(5).await.map(|c| c.bytes) }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "no room yet");
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(5));

        let _full = budget.try_charge(10).unwrap();
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.charge(1).await.map(drop) }
        });
        tokio::task::yield_now().await;
        budget.close();
        assert_eq!(waiter.await.unwrap(), Err(Closed));
    }
}
