//! When the relay gives up on a websocket client on its own: a client that has sent nothing for
//! [`crate::limits::Limits::ping_interval_secs`] is pinged, and disconnected when nothing (not
//! even the pong) comes back within as long again; a connection without any subscription for
//! [`crate::limits::Limits::idle_without_subscription_secs`] is closed. Idle connections cost
//! memory and a slot of the connection limits, and a NIP-46 client always holds a subscription for
//! its replies, so a connection with none is not waiting for anything.
//!
//! Pure (the connection's reader owns one and its timer): the reader notes each frame
//! ([`Liveness::heard`], one clock read) and each change of its subscription count, and asks what
//! to do when its timer fires ([`Liveness::tick`]). The timer is re-armed only when it fires, never
//! per frame.

use std::time::{Duration, Instant};

/// What the reader must do when its timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Nothing yet; re-arm the timer for [`Liveness::deadline`].
    Wait,
    /// Send a ping.
    Ping,
    /// Close the connection for this reason (a `bunkerd_connections_closed_total` label).
    Close(&'static str),
}

/// One connection's liveness state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Liveness {
    ping_interval: Option<Duration>,
    idle_limit: Option<Duration>,
    last_heard: Instant,
    pinged_at: Option<Instant>,
    no_subscription_since: Option<Instant>,
}

impl Liveness {
    /// A connection opened at `now`, without subscriptions; an interval of 0 seconds turns its
    /// check off.
    pub(crate) fn new(
        ping_interval_secs: u64,
        idle_without_subscription_secs: u64,
        now: Instant,
    ) -> Self {
        let secs = |n: u64| (n > 0).then(|| Duration::from_secs(n));
        Liveness {
            ping_interval: secs(ping_interval_secs),
            idle_limit: secs(idle_without_subscription_secs),
            last_heard: now,
            pinged_at: None,
            no_subscription_since: Some(now),
        }
    }

    /// A frame arrived at `now` (any frame: a message, a pong, a ping).
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.pinged_at = None;
    }

    /// The connection now holds `count` subscriptions.
    pub(crate) fn subscriptions(&mut self, count: usize, now: Instant) {
        match (count, self.no_subscription_since) {
            (0, None) => self.no_subscription_since = Some(now),
            (1.., Some(_)) => self.no_subscription_since = None,
            _ => {}
        }
    }

    /// When the timer must fire next; `None` when both checks are off.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let ping = self.ping_interval.map(|interval| match self.pinged_at {
            Some(at) => at + interval,
            None => self.last_heard + interval,
        });
        let idle = self
            .idle_limit
            .zip(self.no_subscription_since)
            .map(|(limit, since)| since + limit);
        match (ping, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The timer fired at `now`: what to do (a ping is recorded as sent).
    pub(crate) fn tick(&mut self, now: Instant) -> Tick {
        if let (Some(limit), Some(since)) = (self.idle_limit, self.no_subscription_since) {
            if now >= since + limit {
                return Tick::Close("no_subscription");
            }
        }
        let Some(interval) = self.ping_interval else {
            return Tick::Wait;
        };
        match self.pinged_at {
            Some(at) if now >= at + interval => Tick::Close("ping_timeout"),
            None if now >= self.last_heard + interval => {
                self.pinged_at = Some(now);
                Tick::Ping
            }
            _ => Tick::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_silent_client_is_pinged_then_closed_and_any_frame_counts_as_an_answer() {
        let t0 = Instant::now();
        let mut l = Liveness::new(30, 0, t0);
        assert_eq!(l.deadline(), Some(t0 + 30 * S));
        assert_eq!(l.tick(t0 + 29 * S), Tick::Wait, "early wake-up");
        assert_eq!(l.tick(t0 + 30 * S), Tick::Ping);
        assert_eq!(l.deadline(), Some(t0 + 60 * S));
        l.heard(t0 + 31 * S);
        assert_eq!(l.tick(t0 + 60 * S), Tick::Wait, "answered");
        assert_eq!(l.tick(t0 + 61 * S), Tick::Ping);
        assert_eq!(l.tick(t0 + 91 * S), Tick::Close("ping_timeout"));
    }

    #[test]
    fn a_connection_without_subscription_is_closed_after_the_idle_limit() {
        let t0 = Instant::now();
        let mut l = Liveness::new(0, 60, t0);
        l.subscriptions(1, t0 + 10 * S);
        assert_eq!(
            l.deadline(),
            None,
            "a subscription and no pings: nothing to time"
        );
        l.subscriptions(0, t0 + 20 * S);
        assert_eq!(l.deadline(), Some(t0 + 80 * S));
        l.heard(t0 + 70 * S);
        assert_eq!(
            l.tick(t0 + 80 * S),
            Tick::Close("no_subscription"),
            "talking without subscribing does not keep it open"
        );
    }

    #[test]
    fn both_off_never_fires() {
        let mut l = Liveness::new(0, 0, Instant::now());
        assert_eq!(l.deadline(), None);
        assert_eq!(l.tick(Instant::now() + 1000 * S), Tick::Wait);
    }
}
