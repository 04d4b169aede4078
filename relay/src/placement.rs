//! Where a websocket connection's I/O runs: on the relay's I/O threads, or — while it is demoted
//! for its own flooding — on the demoted-I/O thread ([`Placement`]). `socket` moves the connection
//! when this says so.

use std::time::Instant;

/// Where a connection's I/O runs, and when it moves (fairness: a tenant that floods only delays
/// itself). A connection whose `EVENT` is refused for a client's or its tenant's rate limit (the
/// per-connection or per-address event bucket, the tenant's request bucket or its full queue lane —
/// not the whole signer queue being full, which is nobody's own doing: [`crate::limits::Limit::demotes`]) is
/// **demoted**: its socket moves to the demoted-I/O thread, under SCHED_IDLE, so reading its
/// frames, refusing them and writing the `OK`s take only CPU that no other connection wants. The
/// state machine and the submission name the limit of each refusal; the decision is never taken from a
/// message's text. It moves back after
/// [`crate::limits::Limits::rate_limited_demotion_secs`] seconds without such a refusal, at its next
/// message or when the hold ends, whichever comes first; at shutdown it moves back at once. Its
/// admitted requests are signed as before, in its tenant's lane of the fair signer queue; only its
/// socket work is deprioritised. Nothing is dropped or reordered by a move.
///
/// Hazard, accepted: the demoted thread takes short locks that normal-priority threads also take
/// (the signer queue's mutex when it submits, dedupe and fan-out map shards, the allocator's), and
/// a SCHED_IDLE thread is preempted by any waking thread, possibly inside one. A thread that then
/// blocks on that lock frees its core, so the demoted thread finishes the critical section at once
/// — unless every core is kept busy by other normal-priority threads, when it waits for its small
/// share. `rate_limited_demotion_secs = 0` turns demotion off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// `None`: demotion is off.
    hold: Option<std::time::Duration>,
    /// On the demoted-I/O thread.
    demoted: bool,
    /// The last refusal that demotes.
    last_limited: Option<Instant>,
}

impl Placement {
    /// Whether the connection is (to be) on the demoted-I/O thread.
    pub(crate) fn demoted(&self) -> bool {
        self.demoted
    }

    /// Demotion on when `enabled` and `hold_secs > 0`.
    pub(crate) fn new(enabled: bool, hold_secs: u64) -> Self {
        Placement {
            hold: (enabled && hold_secs > 0).then(|| std::time::Duration::from_secs(hold_secs)),
            demoted: false,
            last_limited: None,
        }
    }

    /// When a demoted connection's hold ends (the instant it moves back if no refusal comes
    /// first); `None` when it is not demoted.
    pub(crate) fn promotion_at(&self) -> Option<Instant> {
        let hold = self.hold?;
        self.last_limited
            .filter(|_| self.demoted)
            .map(|at| at + hold)
    }

    /// At shutdown: a demoted connection goes back to the relay's own I/O threads for its last
    /// writes. Whether it must move.
    pub(crate) fn recall(&mut self) -> bool {
        std::mem::replace(&mut self.demoted, false)
    }

    /// After a message whose handling was (`limited`) or was not refused for a rate limit, at
    /// `now`: whether the connection must move now (and the placement it moves to is recorded).
    pub(crate) fn after_message(&mut self, limited: bool, now: Instant) -> bool {
        let Some(hold) = self.hold else {
            return false;
        };
        if limited {
            self.last_limited = Some(now);
        }
        let should_be_demoted = self
            .last_limited
            .is_some_and(|at| now.saturating_duration_since(at) < hold);
        if should_be_demoted == self.demoted {
            return false;
        }
        self.demoted = should_be_demoted;
        true
    }
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
