//! The path of an admitted `EVENT` to the signer pool, shared by websocket connections (`socket`)
//! and `POST /nip46/request` (`http::nip46`), so both take the same checks, the same queue and the
//! same metrics. In order, each step costlier than the one before and none charging a tenant for
//! what its sender could forge:
//!
//! 1. (before this module) the connection's and the address's event buckets, and admission's cheap
//!    checks: kind, `p` tag naming a hosted remote signer, `created_at` window, a known id;
//! 2. the event's id and BIP-340 signature ([`event::Event::into_verified`]): a forged event is
//!    refused `invalid:` here, having cost only its sender's connection and address buckets;
//! 3. the tenant's budget, now that the author is proven: a client holding a session with the
//!    remote signer is charged to the tenant's request rate ([`crate::ratelimit`]); any other
//!    author (a pairing `connect`, a stranger) to the tenant's separate unpaired bucket
//!    ([`crate::limits::Limits::unpaired_requests_per_sec`]), so that no flood from keys anyone can
//!    make spends what the tenant's paired clients use;
//! 4. [`Dispatch::submit`](crate::dispatch::Dispatch::submit), which no longer verifies.
//!
//! The caller's [`Reply`] receives the verdict after the metrics of the answered request are
//! counted.

use crate::dispatch::{unix_now, Overflow, Rejected, Request, Verdict, WriteGuard};
use crate::limits::Limit;
use crate::state::RelayState;
use event::Event;
use std::sync::Arc;
use std::time::Instant;

/// Receives a submitted request's verdict on a signer thread (see [`crate::dispatch::Done`]).
pub(crate) type Reply = Box<dyn FnOnce(Verdict, Option<WriteGuard>) + Send>;

/// How a request is submitted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Submission {
    /// From a demoted connection ([`Request::demoted`]).
    pub(crate) demoted: bool,
    /// The verdict should carry the response event ([`Request::want_response`]).
    pub(crate) want_response: bool,
    /// The foreign relay it came from ([`Request::origin`]).
    pub(crate) origin: Option<Arc<str>>,
}

/// Why a request was not submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// Its id or signature does not verify.
    Unverified,
    /// A limit: its tenant's rate or unpaired bucket, its tenant's lane or the whole signer queue
    /// (or the pool stopping, reported as [`Limit::Queue`]). Already counted.
    Limit(Limit),
}

/// The `OK false` message of an event whose id or signature does not verify.
pub(crate) const UNVERIFIED: &str = "invalid: event id or signature does not verify";

impl Why {
    /// The refusal's NIP-01 message.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Why::Unverified => UNVERIFIED,
            Why::Limit(limit) => limit.message(),
        }
    }
}

/// A request that was not submitted.
#[derive(Debug)]
pub(crate) struct NotSubmitted {
    /// The refused event, unprocessed.
    pub(crate) event: Event,
    /// Why.
    pub(crate) why: Why,
    /// The pool is stopping: nothing more will be processed.
    pub(crate) stopping: bool,
}

/// Verifies `event`, charges its tenant's budget and queues it in its tenant's lane (see the
/// module docs); `reply` is called with the verdict once the signer has processed it (after the
/// response went to the fan-out). Never blocks.
///
/// # Errors
///
/// [`NotSubmitted`] when the event does not verify or a limit refused it: `reply` is then dropped
/// without being called.
// The refused event comes back by value, as in `Dispatch::submit`: boxing it would cost every
// refusal an allocation.
#[allow(clippy::result_large_err)]
pub(crate) fn submit(
    state: &RelayState,
    event: Event,
    how: Submission,
    reply: Reply,
) -> Result<(), NotSubmitted> {
    let event = match event.into_verified() {
        Ok(event) => event,
        Err((event, _)) => {
            return Err(NotSubmitted {
                event,
                why: Why::Unverified,
                stopping: false,
            })
        }
    };
    // The state machine already checked that the `p` tag names a hosted remote signer, so the
    // route lookup is one map read.
    let remote_signer = event.first_tag_value("p").and_then(event::hex32);
    let route = remote_signer.and_then(|pk| Some((pk, state.dispatch.route(&pk)?)));
    if let Some((remote_signer, route)) = &route {
        let paired = state
            .dispatch
            .has_session(remote_signer, event.pubkey.as_bytes());
        let refused = if paired {
            (!state.buckets.admit(route, &state.limits)).then_some(Limit::TenantRate)
        } else {
            (!state.buckets.admit_unpaired(&route.tenant, &state.limits))
                .then_some(Limit::UnpairedRate)
        };
        if let Some(limit) = refused {
            count_refusal(state, limit, Some(&route.tenant));
            return Err(NotSubmitted {
                event: event.into_event(),
                why: Why::Limit(limit),
                stopping: false,
            });
        }
    }
    let dedupe = state.dedupe.clone();
    let first_seen = Box::new(move |id: &[u8; 32]| dedupe.insert(*id, unix_now()));
    let metrics = state.metrics.clone();
    let submitted = Instant::now();
    let done = Box::new(move |v: Verdict, guard: Option<WriteGuard>| {
        match &v.accepted {
            Ok(()) if v.duplicate => metrics.rejected("duplicate"),
            Ok(()) => {}
            Err(refusal) => {
                metrics.rejected(refusal.prefix());
                if matches!(refusal, event::Refusal::Error(_)) {
                    metrics.store_errors.inc();
                }
            }
        }
        if let (Some(tenant), Some(method), Some(outcome)) = (&v.tenant, v.method, v.outcome) {
            metrics.request(tenant, method, outcome, submitted.elapsed(), v.queue_wait);
        }
        reply(v, guard);
    });
    let tenant = route.map_or_else(|| UNROUTED_LANE.clone(), |(_, route)| route.tenant);
    let request = Request {
        event,
        first_seen,
        done,
        queued_at: Instant::now(),
        tenant,
        demoted: how.demoted,
        want_response: how.want_response,
        origin: how.origin,
    };
    state.dispatch.submit(request).map_err(
        |Rejected {
             event,
             tenant,
             reason,
         }| {
            let limit = match reason {
                Overflow::TenantQueueFull => Limit::TenantQueue,
                Overflow::QueueFull | Overflow::Stopped => Limit::Queue,
            };
            let tenant = (!tenant.is_empty()).then_some(tenant);
            count_refusal(state, limit, tenant.as_ref());
            NotSubmitted {
                event,
                why: Why::Limit(limit),
                stopping: reason == Overflow::Stopped,
            }
        },
    )
}

/// The signer-queue lane of events whose remote signer vanished between admission and submission
/// (removed by the admin API meanwhile); they are refused by the signer as not hosted.
static UNROUTED_LANE: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));

/// Counts a refusal by `limit` (in the tenant's `bunkerd_rate_limited_total` when it is the
/// tenant's own budget: not for [`Limit::UnpairedRate`], which strangers can exhaust).
fn count_refusal(state: &RelayState, limit: Limit, tenant: Option<&Arc<str>>) {
    state
        .metrics
        .rejected(crate::connection::prefix(limit.message()));
    state.metrics.limit_refused(limit);
    if let Some(tenant) = tenant.filter(|_| limit != Limit::UnpairedRate) {
        state.metrics.rate_limited(tenant);
    }
}
