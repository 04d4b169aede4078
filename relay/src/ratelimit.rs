//! Per-tenant request rate limits: one token bucket (GCRA, the `governor` crate) per
//! tenant, sized from the tenant's `limits.requests_per_sec` and `limits.burst` (set by the operator
//! through the admin API), or else from the server's defaults ([`Limits::tenant_requests_per_sec`],
//! [`Limits::tenant_burst`]). A rate of 0 means unlimited.
//!
//! Checked on the relay hot path right after the event's signature verifies and before it is
//! queued for the signer (`crate::intake`), so a flooding tenant is refused (`OK false
//! "rate-limited: …"`) before any key is unsealed and never takes queue slots or signer time from
//! other tenants, and nobody can spend a tenant's budget with events they cannot sign. Requests
//! from clients without a session take a second bucket per tenant
//! ([`Limits::unpaired_requests_per_sec`]), never the tenant's own. Each tenant has its own bucket, so one
//! tenant's check never waits on another's. A change of a tenant's limits takes effect on its next
//! request (the bucket is rebuilt when the configured pair differs from the one it was built with).
//! A deleted tenant's bucket (a few dozen bytes) stays until restart; its remote signers are no longer
//! hosted, so it is never consulted again.
//!
//! In a cluster of `n` nodes (`RelayState::set_cluster_nodes`) each node admits `ceil(rate / n)` per
//! second with `ceil(burst / n)` burst, so the nodes together admit at most `rate + n - 1` per
//! second and `burst + n - 1` at once; a tenant whose clients all reach one node gets its share
//! there.
//!
//! `ReplyBudget` bounds the NIP-46 error replies bunkerd sends to requests it refused itself
//! (`crate::answer`): a bucket per tenant and one for all, fixed ([`REFUSAL_REPLIES_PER_TENANT`],
//! [`REFUSAL_REPLIES_TOTAL`]), charged before any crypto. Over budget a refusal gets its `OK
//! false` and nothing more.

use crate::dispatch::Route;
use crate::limits::Limits;
use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// The buckets, by tenant id: each tenant's request bucket, and its bucket for requests from
/// clients without a session.
pub(crate) struct TenantBuckets {
    buckets: DashMap<Arc<str>, Bucket>,
    unpaired: DashMap<Arc<str>, Bucket>,
    /// Nodes of the cluster sharing every tenant's rate (1: alone).
    nodes: std::sync::atomic::AtomicU32,
}

impl Default for TenantBuckets {
    fn default() -> Self {
        TenantBuckets {
            buckets: DashMap::new(),
            unpaired: DashMap::new(),
            nodes: std::sync::atomic::AtomicU32::new(1),
        }
    }
}

impl std::fmt::Debug for TenantBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantBuckets")
            .field("tenants", &self.buckets.len())
            .finish()
    }
}

struct Bucket {
    /// (requests per second, burst) the limiter was built with.
    quota: (u32, u32),
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl TenantBuckets {
    /// Takes one token from the bucket of `route`'s tenant; `false` when the tenant is over its
    /// rate.
    ///
    /// The quota: the tenant's own `requests_per_sec` with its own `burst`, or the rate when
    /// it set none; else the server's default rate with the tenant's `burst` or the default burst.
    /// A rate of 0 admits everything; a burst below the rate is raised to the rate (a steady client
    /// at exactly its rate is never refused).
    pub(crate) fn admit(&self, route: &Route, defaults: &Limits) -> bool {
        let tenant = &route.tenant;
        let own_burst = route.burst;
        let (rate, burst) = match route.requests_per_sec {
            Some(rate) => (rate, own_burst.unwrap_or(rate)),
            None => (
                defaults.tenant_requests_per_sec,
                own_burst.unwrap_or(defaults.tenant_burst),
            ),
        };
        let Some(rate) = NonZeroU32::new(rate) else {
            return true;
        };
        let burst = NonZeroU32::new(burst).map_or(rate, |b| b.max(rate));
        let (rate, burst) = self.share(rate, burst);
        take(&self.buckets, tenant, rate, burst)
    }

    /// Shares every tenant's rate among `nodes` nodes (at least 1) from the next request on.
    pub(crate) fn set_nodes(&self, nodes: u32) {
        self.nodes
            .store(nodes.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// This node's share of (`rate`, `burst`): each divided by the node count, rounded up.
    fn share(&self, rate: NonZeroU32, burst: NonZeroU32) -> (NonZeroU32, NonZeroU32) {
        let nodes = NonZeroU32::new(self.nodes.load(std::sync::atomic::Ordering::Relaxed))
            .unwrap_or(NonZeroU32::MIN);
        let part = |n: NonZeroU32| n.get().div_ceil(nodes.get());
        let rate = NonZeroU32::new(part(rate)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(part(burst)).unwrap_or(rate).max(rate);
        (rate, burst)
    }

    /// Takes one token from the unpaired bucket of `tenant` ([`Limits::unpaired_requests_per_sec`],
    /// burst twice the rate); `false` when it is empty. A rate of 0 admits everything.
    pub(crate) fn admit_unpaired(&self, tenant: &Arc<str>, defaults: &Limits) -> bool {
        let Some(rate) = NonZeroU32::new(defaults.unpaired_requests_per_sec) else {
            return true;
        };
        let burst = NonZeroU32::new(rate.get().saturating_mul(2)).unwrap_or(rate);
        let (rate, burst) = self.share(rate, burst);
        take(&self.unpaired, tenant, rate, burst)
    }
}

/// Takes one token from `tenant`'s bucket in `buckets`, (re)built for (`rate`, `burst`).
fn take(
    buckets: &DashMap<Arc<str>, Bucket>,
    tenant: &Arc<str>,
    rate: NonZeroU32,
    burst: NonZeroU32,
) -> bool {
    let quota = (rate.get(), burst.get());
    // The map guard is dropped before any insert (holding it across one would deadlock the shard).
    let current = buckets
        .get(tenant)
        .filter(|bucket| bucket.quota == quota)
        .map(|bucket| bucket.limiter.clone());
    let limiter = match current {
        Some(limiter) => limiter,
        None => {
            let limiter = Arc::new(RateLimiter::direct(
                Quota::per_second(rate).allow_burst(burst),
            ));
            buckets.insert(
                tenant.clone(),
                Bucket {
                    quota,
                    limiter: limiter.clone(),
                },
            );
            limiter
        }
    };
    limiter.check().is_ok()
}

/// Error replies to refused requests one tenant may get, per second and burst: 5/s, burst 10. A
/// person's client refused for a rate sends a few requests a minute, so this covers several of a
/// tenant's clients refused at once, while a tenant flooding with thousands of refused requests a
/// second costs the signer at most 5 replies a second.
pub const REFUSAL_REPLIES_PER_TENANT: (u32, u32) = (5, 10);

/// Error replies to refused requests for all tenants together, per second and burst: 200/s,
/// burst 200. A reply costs about one request's signer work (verify, decrypt, encrypt, sign:
/// 0.1–0.2 ms), so at most a few percent of one core however many tenants are refused.
pub const REFUSAL_REPLIES_TOTAL: (u32, u32) = (200, 200);

/// Signature checks of refused events the relay makes for error replies, per second and burst, for
/// all tenants together: 1,000/s, burst 1,000 (≈ 3 % of one core). An event refused by its
/// connection's or address's rate was not verified; before its reply is charged to a tenant's
/// budget it must be, and this bounds what a forged flood makes the relay verify for that.
pub const REFUSAL_VERIFICATIONS: (u32, u32) = (1_000, 1_000);

/// Which budget refused an error reply ([`ReplyBudget::take`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverBudget {
    /// The tenant's own ([`REFUSAL_REPLIES_PER_TENANT`]).
    Tenant,
    /// The one for all tenants ([`REFUSAL_REPLIES_TOTAL`]).
    Total,
}

impl OverBudget {
    /// The metric label: `tenant_budget`, `total_budget`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            OverBudget::Tenant => "tenant_budget",
            OverBudget::Total => "total_budget",
        }
    }
}

/// The budget of error replies to refused requests: a GCRA bucket per tenant and one in total.
pub(crate) struct ReplyBudget {
    per_tenant: Quota,
    total: DefaultDirectRateLimiter,
    verifications: DefaultDirectRateLimiter,
    tenants: DashMap<Arc<str>, DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for ReplyBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyBudget")
            .field("tenants", &self.tenants.len())
            .finish_non_exhaustive()
    }
}

impl Default for ReplyBudget {
    fn default() -> Self {
        ReplyBudget::new(REFUSAL_REPLIES_PER_TENANT, REFUSAL_REPLIES_TOTAL)
    }
}

/// A quota of `rate` per second with `burst`, both at least 1 (a burst below the rate is raised).
fn quota((rate, burst): (u32, u32)) -> Quota {
    let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).map_or(rate, |b| b.max(rate));
    Quota::per_second(rate).allow_burst(burst)
}

impl ReplyBudget {
    /// Buckets of `per_tenant` and `total` (rate per second, burst).
    pub(crate) fn new(per_tenant: (u32, u32), total: (u32, u32)) -> Self {
        ReplyBudget {
            per_tenant: quota(per_tenant),
            total: RateLimiter::direct(quota(total)),
            verifications: RateLimiter::direct(quota(REFUSAL_VERIFICATIONS)),
            tenants: DashMap::new(),
        }
    }

    /// Takes one signature check of a refused event ([`REFUSAL_VERIFICATIONS`]); `false` when
    /// the bucket is empty.
    pub(crate) fn take_verification(&self) -> bool {
        self.verifications.check().is_ok()
    }

    /// Takes one reply from `tenant`'s bucket, then from the total. Atomics and one map shard
    /// lock; never blocks.
    ///
    /// # Errors
    ///
    /// The [`OverBudget`] that is empty. When the total refuses, the tenant's token is spent (a
    /// tenant that keeps trying while everyone is over budget gets no more than its share later).
    pub(crate) fn take(&self, tenant: &Arc<str>) -> Result<(), OverBudget> {
        // The map guard is dropped before any insert (holding it across one would deadlock the shard).
        let known = self
            .tenants
            .get(tenant)
            .map(|bucket| bucket.check().is_ok());
        let admitted = known.unwrap_or_else(|| {
            self.tenants
                .entry(tenant.clone())
                .or_insert_with(|| RateLimiter::direct(self.per_tenant))
                .check()
                .is_ok()
        });
        if !admitted {
            return Err(OverBudget::Tenant);
        }
        self.total.check().map_err(|_| OverBudget::Total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_bounded_per_tenant_and_in_total() {
        let budget = ReplyBudget::new((1, 3), (1, 5));
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        let taken = |tenant: &Arc<str>, n| (0..n).map(|_| budget.take(tenant)).collect::<Vec<_>>();
        assert_eq!(
            taken(&a, 4),
            [Ok(()), Ok(()), Ok(()), Err(OverBudget::Tenant)],
            "a tenant's burst, then its own bucket refuses"
        );
        assert_eq!(
            taken(&b, 3),
            [Ok(()), Ok(()), Err(OverBudget::Total)],
            "another tenant has its own bucket, but the total (burst 5) is spent"
        );
        assert_eq!(budget.take(&c), Err(OverBudget::Total));
        assert_eq!(budget.take(&a), Err(OverBudget::Tenant));
    }

    #[test]
    fn the_default_budget_is_the_documented_one() {
        let started = std::time::Instant::now();
        // At most this many tokens refilled at `rate` per second since the start.
        let refills =
            |rate: u32| (started.elapsed().as_secs_f64() * f64::from(rate)).ceil() as usize;
        let budget = ReplyBudget::default();
        let a: Arc<str> = "a".into();
        let admitted = (0..100).filter(|_| budget.take(&a).is_ok()).count();
        let (rate, burst) = REFUSAL_REPLIES_PER_TENANT;
        assert!((burst as usize..=burst as usize + refills(rate)).contains(&admitted));
        let total = (0..1000)
            .filter(|n| budget.take(&Arc::from(format!("t{n}"))).is_ok())
            .count();
        let (rate, burst) = REFUSAL_REPLIES_TOTAL;
        let left = burst as usize - admitted;
        assert!((left..=left + refills(rate)).contains(&total), "{total}");
    }

    fn route(tenant: &Arc<str>, rps: Option<u32>, burst: Option<u32>) -> Route {
        Route {
            tenant: tenant.clone(),
            requests_per_sec: rps,
            burst,
        }
    }

    fn unlimited() -> Limits {
        Limits {
            tenant_requests_per_sec: 0,
            ..Limits::default()
        }
    }

    #[test]
    fn in_a_cluster_each_node_admits_its_share_rounded_up() {
        let started = std::time::Instant::now();
        let tenant: Arc<str> = "t".into();
        let admitted = |buckets: &TenantBuckets, rps, burst| {
            let route = route(&tenant, Some(rps), Some(burst));
            (0..100)
                .filter(|_| buckets.admit(&route, &unlimited()))
                .count()
        };
        let alone = TenantBuckets::default();
        let three = TenantBuckets::default();
        three.set_nodes(3);
        // Burst 30 of rate 1/s (refills are negligible over this loop, bounded below).
        let refills = || started.elapsed().as_secs() as usize + 1;
        let got = admitted(&alone, 1, 30);
        assert!((30..30 + refills()).contains(&got), "{got}");
        let got = admitted(&three, 1, 30);
        assert!((10..10 + refills()).contains(&got), "{got}");
        // Rounded up: a share is never 0.
        let seven = TenantBuckets::default();
        seven.set_nodes(7);
        let got = admitted(&seven, 1, 3);
        assert!((1..1 + refills()).contains(&got), "{got}");
    }

    #[test]
    fn a_burst_is_admitted_then_refused_and_tenants_are_independent() {
        let buckets = TenantBuckets::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let admitted = (0..10)
            .filter(|_| buckets.admit(&route(&a, Some(1), Some(3)), &unlimited()))
            .count();
        assert_eq!(
            admitted, 3,
            "the burst, then refusals within the same second"
        );
        assert!(
            buckets.admit(&route(&b, Some(1), Some(3)), &unlimited()),
            "another tenant has its own bucket"
        );
        assert!(
            (0..100).all(|_| buckets.admit(&route(&a, None, None), &unlimited())),
            "no limit of its own and no default"
        );
        assert!(
            (0..100).all(|_| buckets.admit(&route(&a, Some(0), None), &Limits::default())),
            "a tenant's own 0 is unlimited, whatever the default"
        );
        // New limits rebuild the bucket at once.
        assert!(buckets.admit(&route(&a, Some(1000), Some(1000)), &unlimited()));
    }

    #[test]
    fn the_server_default_applies_to_tenants_without_their_own_rate() {
        let buckets = TenantBuckets::default();
        let c: Arc<str> = "c".into();
        let defaults = Limits {
            tenant_requests_per_sec: 1,
            tenant_burst: 2,
            ..Limits::default()
        };
        let admitted = (0..10)
            .filter(|_| buckets.admit(&route(&c, None, None), &defaults))
            .count();
        assert_eq!(admitted, 2, "the default burst");
        let d: Arc<str> = "d".into();
        let admitted = (0..10)
            .filter(|_| buckets.admit(&route(&d, None, Some(4)), &defaults))
            .count();
        assert_eq!(admitted, 4, "the default rate with the tenant's own burst");
    }
}
