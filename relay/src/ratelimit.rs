//! Per-tenant request rate limits: one token bucket (GCRA, the `governor` crate) per
//! tenant, sized from the tenant's `limits.requests_per_sec` and `limits.burst` (set by the operator
//! through the admin API), or else from the server's defaults ([`Limits::tenant_requests_per_sec`],
//! [`Limits::tenant_burst`]). A rate of 0 means unlimited.
//!
//! Checked on the relay hot path before the event is queued for the signer, so a flooding tenant is
//! refused (`OK false "rate-limited: …"`) before any signature is verified or any key unsealed, and
//! never takes queue slots or signer time from other tenants. Each tenant has its own bucket, so one
//! tenant's check never waits on another's. A change of a tenant's limits takes effect on its next
//! request (the bucket is rebuilt when the configured pair differs from the one it was built with).
//! A deleted tenant's bucket (a few dozen bytes) stays until restart; its remote signers are no longer
//! hosted, so it is never consulted again.

use crate::dispatch::Route;
use crate::limits::Limits;
use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// The buckets, by tenant id.
#[derive(Default)]
pub(crate) struct TenantBuckets {
    buckets: DashMap<Arc<str>, Bucket>,
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
        let quota = (rate.get(), burst.get());
        // The map guard is dropped before any insert (holding it across one would deadlock the shard).
        let current = self
            .buckets
            .get(tenant)
            .filter(|bucket| bucket.quota == quota)
            .map(|bucket| bucket.limiter.clone());
        let limiter = match current {
            Some(limiter) => limiter,
            None => {
                let limiter = Arc::new(RateLimiter::direct(
                    Quota::per_second(rate).allow_burst(burst),
                ));
                self.buckets.insert(
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
