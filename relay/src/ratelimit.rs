//! Per-tenant request rate limits (issue 5): one token bucket (GCRA, the `governor` crate) per
//! tenant, sized from the tenant's `limits.requests_per_sec` and `limits.burst` (set by the operator
//! through the admin API; no limit when unset).
//!
//! Checked on the relay hot path before the event is queued for the signer, so a flooding tenant is
//! refused (`OK false "rate-limited: …"`) before any signature is verified or any key unsealed, and
//! never takes queue slots or signer time from other tenants. Each tenant has its own bucket, so one
//! tenant's check never waits on another's. A change of a tenant's limits takes effect on its next
//! request (the bucket is rebuilt when the configured pair differs from the one it was built with).
//! A deleted tenant's bucket (a few dozen bytes) stays until restart; its remote signers are no longer
//! hosted, so it is never consulted again.

use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use signer::directory::TenantLimits;
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
    /// Takes one token from `tenant`'s bucket under `limits`; `false` when the tenant is over its
    /// rate. Always `true` for a tenant without `requests_per_sec`.
    pub(crate) fn admit(&self, tenant: &Arc<str>, limits: &TenantLimits) -> bool {
        let Some(rate) = limits.requests_per_sec.and_then(NonZeroU32::new) else {
            return true;
        };
        // A burst below the rate would refuse a steady client at exactly its rate: at least `rate`.
        let burst = limits
            .burst
            .and_then(NonZeroU32::new)
            .map_or(rate, |b| b.max(rate));
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

    fn limits(rps: Option<u32>, burst: Option<u32>) -> TenantLimits {
        TenantLimits {
            requests_per_sec: rps,
            burst,
            ..TenantLimits::default()
        }
    }

    #[test]
    fn a_burst_is_admitted_then_refused_and_tenants_are_independent() {
        let buckets = TenantBuckets::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let tight = limits(Some(1), Some(3));
        let admitted = (0..10).filter(|_| buckets.admit(&a, &tight)).count();
        assert_eq!(
            admitted, 3,
            "the burst, then refusals within the same second"
        );
        assert!(
            buckets.admit(&b, &tight),
            "another tenant has its own bucket"
        );
        assert!(
            (0..100).all(|_| buckets.admit(&a, &limits(None, None))),
            "no limit"
        );
        // New limits rebuild the bucket at once.
        assert!(buckets.admit(&a, &limits(Some(1000), Some(1000))));
    }
}
