//! The path of an admitted `EVENT` to the signer pool, shared by websocket connections (`socket`)
//! and `POST /nip46/request` (`http::nip46`), so both take the same tenant rate, the same queue
//! and the same metrics: the tenant's request rate ([`crate::ratelimit`], before any crypto), then
//! [`Dispatch::submit`](crate::dispatch::Dispatch::submit). The caller's [`Reply`] receives the
//! verdict after the metrics of the answered request are counted.

use crate::dispatch::{unix_now, Overflow, Rejected, Request, Verdict, WriteGuard};
use crate::limits::Limit;
use crate::state::RelayState;
use event::Event;
use std::sync::Arc;
use std::time::Instant;

/// Receives a submitted request's verdict on a signer thread (see [`crate::dispatch::Done`]).
pub(crate) type Reply = Box<dyn FnOnce(Verdict, Option<WriteGuard>) + Send>;

/// How a request is submitted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Submission {
    /// From a demoted connection ([`Request::demoted`]).
    pub(crate) demoted: bool,
    /// The verdict should carry the response event ([`Request::want_response`]).
    pub(crate) want_response: bool,
}

/// A request refused by a limit after admission: its tenant's rate, its tenant's lane or the whole
/// signer queue (or the pool stopping, reported as [`Limit::Queue`]). Already counted.
#[derive(Debug)]
pub(crate) struct OverLimit {
    /// The refused event, unprocessed.
    pub(crate) event: Event,
    /// The limit; [`Limit::message`] is the refusal.
    pub(crate) limit: Limit,
    /// The pool is stopping: nothing more will be processed.
    pub(crate) stopping: bool,
}

/// Checks `event`'s tenant rate and queues it in its tenant's lane; `reply` is called with the
/// verdict once the signer has processed it (after the response went to the fan-out). Never blocks.
///
/// # Errors
///
/// [`OverLimit`] when a limit refused it: `reply` is then dropped without being called.
// The refused event comes back by value, as in `Dispatch::submit`: boxing it would cost every
// refusal an allocation.
#[allow(clippy::result_large_err)]
pub(crate) fn submit(
    state: &RelayState,
    event: Event,
    how: Submission,
    reply: Reply,
) -> Result<(), OverLimit> {
    // The state machine already checked that the `p` tag names a hosted remote signer, so the
    // route lookup is one map read.
    let route = event
        .first_tag_value("p")
        .and_then(event::hex32)
        .and_then(|pk| state.dispatch.route(&pk));
    if let Some(route) = &route {
        if !state.buckets.admit(route, &state.limits) {
            count_refusal(state, Limit::TenantRate, Some(&route.tenant));
            return Err(OverLimit {
                event,
                limit: Limit::TenantRate,
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
    let tenant = route.map_or_else(|| UNROUTED_LANE.clone(), |route| route.tenant);
    let request = Request {
        event,
        first_seen,
        done,
        queued_at: Instant::now(),
        tenant,
        demoted: how.demoted,
        want_response: how.want_response,
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
            OverLimit {
                event,
                limit,
                stopping: reason == Overflow::Stopped,
            }
        },
    )
}

/// The signer-queue lane of events whose remote signer vanished between admission and submission
/// (removed by the admin API meanwhile); they are refused by the signer as not hosted.
static UNROUTED_LANE: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));

/// Counts a refusal by `limit` (for `tenant` when it is the tenant's).
fn count_refusal(state: &RelayState, limit: Limit, tenant: Option<&Arc<str>>) {
    state
        .metrics
        .rejected(crate::connection::prefix(limit.message()));
    state.metrics.limit_refused(limit);
    if let Some(tenant) = tenant {
        state.metrics.rate_limited(tenant);
    }
}
