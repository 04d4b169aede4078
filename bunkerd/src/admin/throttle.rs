//! Slowing down credential guessing: failed admin authentications are counted per client address
//! (IPv4, or IPv6 /64) in a token bucket (GCRA); an address whose bucket is empty has its requests
//! to authenticated routes answered `429 too_many_failures` with `Retry-After`, without their
//! credentials being looked at, until the bucket refills.
//!
//! Not the `governor` crate the relay uses: the server must tell whether an address is held back
//! *before* authenticating (without spending a cell) and spend a cell only when authentication
//! fails, and governor's keyed limiters only spend. Memory is bounded: at most [`MAX_ADDRESSES`]
//! addresses are remembered; a full map first drops the addresses whose bucket is full again, then
//! the one nearest to full.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses remembered at once (about 32 bytes each).
pub(crate) const MAX_ADDRESSES: usize = 65_536;

/// The failed-authentication buckets of every address.
#[derive(Debug)]
pub(crate) struct AuthThrottle {
    /// Time one failure takes to be forgiven; `None`: the throttle is off.
    interval: Option<Duration>,
    /// Failures an address may make at once.
    burst: u32,
    /// Per address: the theoretical arrival time of its next failure (GCRA), as a time since
    /// `epoch`. An address is held back while it is more than `burst - 1` intervals ahead of now.
    addresses: Mutex<HashMap<IpAddr, Duration>>,
    epoch: Instant,
}

impl AuthThrottle {
    /// `burst` failures at once, then `per_min` a minute; `per_min` 0 turns the throttle off.
    pub(crate) fn new(per_min: u32, burst: u32) -> Self {
        AuthThrottle {
            interval: (per_min > 0).then(|| Duration::from_secs(60) / per_min),
            burst: burst.max(1),
            addresses: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    /// How long `ip` must wait before its credentials are looked at again, or `None` when it may
    /// try now.
    pub(crate) fn held_back(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let interval = self.interval?;
        let now = now.saturating_duration_since(self.epoch);
        let tat = *self.lock().get(&key(ip))?;
        let allowed_from = tat.saturating_sub(interval * (self.burst - 1));
        (allowed_from > now).then(|| allowed_from - now)
    }

    /// Records a failed authentication from `ip`. Returns `true` when this failure spent the
    /// address's last cell (it is held back from now on), for a single log line per episode.
    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(interval) = self.interval else {
            return false;
        };
        let now = now.saturating_duration_since(self.epoch);
        let key = key(ip);
        let mut addresses = self.lock();
        if addresses.len() >= MAX_ADDRESSES && !addresses.contains_key(&key) {
            addresses.retain(|_, tat| *tat > now);
            if addresses.len() >= MAX_ADDRESSES {
                let nearest = addresses
                    .iter()
                    .min_by_key(|(_, tat)| **tat)
                    .map(|(ip, _)| *ip);
                if let Some(nearest) = nearest {
                    addresses.remove(&nearest);
                }
            }
        }
        let tat = addresses.entry(key).or_insert(now);
        *tat = (*tat).max(now) + interval;
        let held_after = *tat > now + interval * (self.burst - 1);
        let held_before = *tat > now + interval * self.burst;
        held_after && !held_before
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Duration>> {
        self.addresses.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The key an address is counted under: IPv4 (also when IPv4-mapped), or the IPv6 /64 prefix,
/// since one host is routinely given a whole /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_then_one_failure_per_interval() {
        // 60 a minute: one a second, burst 3.
        let throttle = AuthThrottle::new(60, 3);
        let t0 = throttle.epoch;
        let a = ip("127.0.0.2");
        assert_eq!(throttle.held_back(a, t0), None);
        assert!(!throttle.failed(a, t0));
        assert!(!throttle.failed(a, t0));
        assert_eq!(throttle.held_back(a, t0), None, "two of three spent");
        assert!(throttle.failed(a, t0), "the third spends the last cell");
        let wait = throttle.held_back(a, t0).expect("held back");
        assert_eq!(wait, Duration::from_secs(1));
        // Another address is not affected.
        assert_eq!(throttle.held_back(ip("127.0.0.1"), t0), None);
        // A second later one cell is back: one more failure, then held back again.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(throttle.held_back(a, t1), None);
        assert!(throttle.failed(a, t1));
        assert!(throttle.held_back(a, t1).is_some());
        // Long idle: the whole burst is back.
        let later = t1 + Duration::from_secs(10);
        for _ in 0..2 {
            assert!(!throttle.failed(a, later));
        }
        assert_eq!(throttle.held_back(a, later), None);
    }

    #[test]
    fn off_when_the_rate_is_zero() {
        let throttle = AuthThrottle::new(0, 1);
        let now = Instant::now();
        for _ in 0..100 {
            assert!(!throttle.failed(ip("10.0.0.1"), now));
        }
        assert_eq!(throttle.held_back(ip("10.0.0.1"), now), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_memory_is_bounded() {
        let throttle = AuthThrottle::new(1, 1);
        let now = throttle.epoch;
        throttle.failed(ip("2001:db8:1:2::1"), now);
        assert!(throttle.held_back(ip("2001:db8:1:2::ffff"), now).is_some());
        assert!(throttle.held_back(ip("2001:db8:1:3::1"), now).is_none());
        assert!(throttle.held_back(ip("::ffff:10.1.2.3"), now).is_none());
        throttle.failed(ip("::ffff:10.1.2.3"), now);
        assert!(throttle.held_back(ip("10.1.2.3"), now).is_some());
        for i in 0..MAX_ADDRESSES as u32 + 10 {
            throttle.failed(IpAddr::V4(i.into()), now);
        }
        assert!(throttle.lock().len() <= MAX_ADDRESSES);
    }
}
