//! The signer pool's queue: one bounded lane of jobs per tenant, served round-robin.
//!
//! Role: decide which queued request a free worker takes next, so that a tenant that floods its lane
//! only delays itself. Tenants with queued jobs form a ring; a worker takes the first job of the
//! first tenant in the ring and, if that tenant still has jobs, moves it to the back. This is deficit
//! round-robin (Shreedhar & Varghese, 1995) with a quantum of one job: NIP-46 requests cost about the
//! same (one signature or one ECDH, plus a NIP-44 round), so counting jobs is counting work. With `n`
//! tenants waiting, a job waits behind at most `n − 1` jobs of other tenants per job of its own
//! tenant ahead of it — never behind another tenant's whole backlog.
//!
//! Bounds: a lane holds at most `tenant_capacity` jobs and the queue at most `capacity` in total;
//! beyond either, [`FairQueue::push`] hands the job back with the [`Overflow`] reason, for a counted
//! refusal. After [`FairQueue::close`], pushes are refused and pops drain what is queued, then end.
//!
//! Must not: block a submitter beyond one short mutex hold, run jobs, or hold more than its bounds.
//! Lanes of tenants seen once stay in the map (a few dozen bytes each; tenants are few); a lane's
//! buffer is shrunk when it empties after a burst.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// The whole queue holds its capacity of jobs (every tenant together).
    QueueFull,
    /// This tenant's lane holds its capacity of jobs; other tenants are still admitted.
    TenantQueueFull,
    /// The pool is shutting down.
    Stopped,
}

impl Overflow {
    /// A stable snake_case name, for metrics labels and logs.
    pub fn code(self) -> &'static str {
        match self {
            Overflow::QueueFull => "queue_full",
            Overflow::TenantQueueFull => "tenant_queue_full",
            Overflow::Stopped => "stopped",
        }
    }
}

/// A lane's buffer is shrunk back to this many slots when it empties (after a burst it may have grown
/// to `tenant_capacity`).
const IDLE_LANE_SLOTS: usize = 16;

/// Per-tenant lanes served round-robin; see the module docs.
pub(crate) struct FairQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    capacity: usize,
    tenant_capacity: usize,
}

struct State<T> {
    lanes: HashMap<Arc<str>, VecDeque<T>>,
    /// Tenants whose lane is non-empty, in service order; each appears once.
    ring: VecDeque<Arc<str>>,
    len: usize,
    /// Workers blocked in `pop` (a push only signals when one is waiting).
    waiting: usize,
    closed: bool,
    /// When the latest accepted push happened (its caller's instant).
    last_push: Option<Instant>,
}

/// What an accepted [`FairQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// It woke a worker blocked in [`FairQueue::pop`].
    pub(crate) woke: bool,
    /// Time since the previous accepted push: `None` for the first; zero when this push's instant
    /// is earlier than the previous one's (callers on several threads read their clocks before
    /// taking the lock, so pushes close together can arrive out of order).
    pub(crate) since_previous: Option<Duration>,
}

impl<T> FairQueue<T> {
    /// A queue of at most `capacity` jobs, at most `tenant_capacity` of them per tenant (both at
    /// least 1).
    pub(crate) fn new(capacity: usize, tenant_capacity: usize) -> Self {
        FairQueue {
            state: Mutex::new(State {
                lanes: HashMap::new(),
                ring: VecDeque::new(),
                len: 0,
                waiting: 0,
                closed: false,
                last_push: None,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            tenant_capacity: tenant_capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock leaves the state consistent (every update is a single
        // step), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` at the back of `tenant`'s lane at instant `at` (the caller's clock read) and
    /// wakes one worker blocked in [`FairQueue::pop`], if any; says whether it did and how long
    /// after the previous accepted push this one came (the caller may then yield its core to the
    /// worker: `PoolConfig::yield_on_wake`).
    ///
    /// # Errors
    ///
    /// Hands `item` back with [`Overflow::Stopped`] after [`FairQueue::close`],
    /// [`Overflow::QueueFull`] when `capacity` jobs are queued, [`Overflow::TenantQueueFull`] when
    /// `tenant` has `tenant_capacity` jobs queued.
    pub(crate) fn push(
        &self,
        tenant: &Arc<str>,
        item: T,
        at: Instant,
    ) -> Result<Pushed, (T, Overflow)> {
        self.push_capped(tenant, item, at, self.tenant_capacity)
    }

    /// [`FairQueue::push`] into a lane bounded at `lane_capacity` jobs, or at `tenant_capacity` if
    /// that is smaller (a side lane never holds more than a tenant's); still bounded by `capacity`
    /// in total.
    ///
    /// # Errors
    ///
    /// As [`FairQueue::push`]; [`Overflow::TenantQueueFull`] when this lane is full.
    pub(crate) fn push_capped(
        &self,
        tenant: &Arc<str>,
        item: T,
        at: Instant,
        lane_capacity: usize,
    ) -> Result<Pushed, (T, Overflow)> {
        let lane_capacity = lane_capacity.clamp(1, self.tenant_capacity);
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.closed {
            return Err((item, Overflow::Stopped));
        }
        if state.len >= self.capacity {
            return Err((item, Overflow::QueueFull));
        }
        let lane = match state.lanes.get_mut(tenant) {
            Some(lane) => lane,
            None => state.lanes.entry(tenant.clone()).or_default(),
        };
        if lane.len() >= lane_capacity {
            return Err((item, Overflow::TenantQueueFull));
        }
        if lane.is_empty() {
            state.ring.push_back(tenant.clone());
        }
        lane.push_back(item);
        state.len += 1;
        let since_previous = state
            .last_push
            .map(|previous| at.saturating_duration_since(previous));
        state.last_push = Some(state.last_push.map_or(at, |previous| previous.max(at)));
        let woke = state.waiting > 0;
        drop(guard);
        if woke {
            self.ready.notify_one();
        }
        Ok(Pushed {
            woke,
            since_previous,
        })
    }

    /// Takes the next job in round-robin order, blocking while the queue is empty. `None` once the
    /// queue is closed and empty.
    pub(crate) fn pop(&self) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(item) = take(&mut state) {
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state.waiting += 1;
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting -= 1;
        }
    }

    /// Takes the next job in round-robin order if one is queued; never blocks (beyond the lock).
    pub(crate) fn try_pop(&self) -> Option<T> {
        take(&mut self.lock())
    }

    /// Refuses further pushes and wakes every blocked `pop`, which drains what is queued and then
    /// returns `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Workers blocked in [`FairQueue::pop`].
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting
    }

    /// Jobs queued, all tenants together.
    pub(crate) fn len(&self) -> usize {
        self.lock().len
    }

    /// Jobs queued per tenant, for tenants with at least one queued job (in service order).
    pub(crate) fn depths(&self) -> Vec<(Arc<str>, usize)> {
        let state = self.lock();
        state
            .ring
            .iter()
            .map(|tenant| {
                (
                    tenant.clone(),
                    state.lanes.get(tenant).map_or(0, VecDeque::len),
                )
            })
            .collect()
    }
}

/// The round-robin step: the first job of the first tenant in the ring; the tenant goes to the back
/// if it has more.
fn take<T>(state: &mut State<T>) -> Option<T> {
    let tenant = state.ring.pop_front()?;
    let lane = state.lanes.get_mut(&tenant)?;
    let item = lane.pop_front()?;
    if lane.is_empty() {
        if lane.capacity() > IDLE_LANE_SLOTS {
            lane.shrink_to(IDLE_LANE_SLOTS);
        }
    } else {
        state.ring.push_back(tenant);
    }
    state.len -= 1;
    Some(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn a_flooding_tenant_waits_behind_others_one_job_at_a_time() {
        let q = FairQueue::new(100, 50);
        let (a, b, c) = (t("a"), t("b"), t("c"));
        for n in 0..10 {
            q.push(&a, ("a", n), Instant::now()).unwrap();
        }
        q.push(&b, ("b", 0), Instant::now()).unwrap();
        q.push(&b, ("b", 1), Instant::now()).unwrap();
        q.push(&c, ("c", 0), Instant::now()).unwrap();
        let order: Vec<_> = std::iter::from_fn(|| q.try_pop()).collect();
        assert_eq!(
            &order[..7],
            &[
                ("a", 0),
                ("b", 0),
                ("c", 0),
                ("a", 1),
                ("b", 1),
                ("a", 2),
                ("a", 3)
            ],
            "b and c are served between a's jobs, not after a's backlog"
        );
        assert_eq!(order.len(), 13);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn lanes_and_the_whole_queue_are_bounded() {
        let q = FairQueue::new(5, 3);
        let (a, b) = (t("a"), t("b"));
        for n in 0..3 {
            q.push(&a, n, Instant::now()).unwrap();
        }
        assert_eq!(
            q.push(&a, 3, Instant::now()),
            Err((3, Overflow::TenantQueueFull))
        );
        q.push(&b, 10, Instant::now()).unwrap();
        q.push(&b, 11, Instant::now()).unwrap();
        assert_eq!(
            q.push(&b, 12, Instant::now()),
            Err((12, Overflow::QueueFull))
        );
        assert_eq!(q.depths(), vec![(a.clone(), 3), (b.clone(), 2)]);
        assert_eq!(q.try_pop(), Some(0));
        q.push(&a, 3, Instant::now()).unwrap();
        q.close();
        assert_eq!(q.push(&b, 13, Instant::now()), Err((13, Overflow::Stopped)));
        let drained: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            drained,
            vec![10, 1, 11, 2, 3],
            "close drains, then pop ends"
        );
    }

    #[test]
    fn a_capped_lane_holds_at_most_its_cap_and_never_more_than_a_tenants() {
        let q = FairQueue::new(10, 3);
        let side = t("side");
        assert!(q.push_capped(&side, 1, Instant::now(), 2).is_ok());
        assert!(q.push_capped(&side, 2, Instant::now(), 2).is_ok());
        assert_eq!(
            q.push_capped(&side, 3, Instant::now(), 2),
            Err((3, Overflow::TenantQueueFull))
        );
        let wide = t("wide");
        let admitted = (0..10)
            .filter(|n| q.push_capped(&wide, *n, Instant::now(), 64).is_ok())
            .count();
        assert_eq!(
            admitted, 3,
            "a cap above the tenant capacity is lowered to it"
        );
        assert_eq!(q.len(), 5, "capped lanes count in the total");
    }

    #[test]
    fn a_blocked_pop_is_woken_by_a_push_and_by_close() {
        let q = Arc::new(FairQueue::new(4, 4));
        let popper = {
            let q = q.clone();
            std::thread::spawn(move || (q.pop(), q.pop()))
        };
        q.push(&t("a"), 7, Instant::now()).unwrap();
        q.close();
        assert_eq!(popper.join().unwrap(), (Some(7), None));
    }

    #[test]
    fn a_push_reports_whether_it_woke_a_blocked_pop_and_the_gap_since_the_previous() {
        let q = Arc::new(FairQueue::new(4, 4));
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let pushed = |woke, since_previous| {
            Ok(Pushed {
                woke,
                since_previous,
            })
        };
        assert_eq!(
            q.push(&t("a"), 1, t0),
            pushed(false, None),
            "nobody waits; first push"
        );
        assert_eq!(q.pop(), Some(1));
        let popper = {
            let q = q.clone();
            std::thread::spawn(move || q.pop())
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while q.waiting() == 0 {
            assert!(Instant::now() < deadline, "the pop never blocked");
            std::thread::yield_now();
        }
        assert_eq!(
            q.push(&t("b"), 2, t0 + ms(3)),
            pushed(true, Some(ms(3))),
            "a blocked pop was woken, 3 ms after the previous push"
        );
        assert_eq!(popper.join().unwrap(), Some(2));
        assert_eq!(
            q.push(&t("a"), 3, t0 + ms(2)),
            pushed(false, Some(Duration::ZERO)),
            "nobody waits; an instant earlier than the previous push's is no gap"
        );
        assert_eq!(
            q.push(&t("a"), 4, t0 + ms(5)),
            pushed(false, Some(ms(2))),
            "measured from the latest instant seen (3 ms), not the out-of-order one"
        );
    }

    proptest! {
        /// Whatever the pushes, every admitted job comes out exactly once, each tenant's jobs in
        /// their order, and no tenant with queued work waits more than one round: between two pops
        /// of the same tenant, no other tenant is served twice.
        #[test]
        fn every_job_comes_out_once_in_round_robin_order(
            pushes in proptest::collection::vec((0usize..4, any::<u16>()), 0..200),
            capacity in 1usize..64,
            tenant_capacity in 1usize..32,
        ) {
            let names = [t("a"), t("b"), t("c"), t("d")];
            let q = FairQueue::new(capacity, tenant_capacity);
            let mut admitted: Vec<Vec<u16>> = vec![Vec::new(); 4];
            for (tenant, value) in pushes {
                if q.push(&names[tenant], (tenant, value), Instant::now()).is_ok() {
                    admitted[tenant].push(value);
                }
            }
            let popped: Vec<(usize, u16)> = std::iter::from_fn(|| q.try_pop()).collect();
            for (tenant, values) in admitted.iter().enumerate() {
                let out: Vec<u16> =
                    popped.iter().filter(|(t, _)| *t == tenant).map(|(_, v)| *v).collect();
                prop_assert_eq!(&out, values);
                prop_assert!(values.len() <= tenant_capacity);
            }
            prop_assert!(popped.len() <= capacity);
            for (i, (tenant, _)) in popped.iter().enumerate() {
                let next_same = popped[i + 1..].iter().position(|(t, _)| t == tenant);
                if let Some(gap) = next_same {
                    let between = &popped[i + 1..i + 1 + gap];
                    for other in 0..4 {
                        prop_assert!(between.iter().filter(|(t, _)| *t == other).count() <= 1);
                    }
                }
            }
        }
    }
}
