//! NIP-46 error replies to the relay's own refusals.
//!
//! Why: when the relay refuses a request before the signer runs it — the connection's or address's
//! event rate, the `created_at` window, the tenant's request rate, a full signer queue — the client
//! gets `OK false "rate-limited: …"` (or `"invalid: …"`). NDK, go-nostr and rust-nostr ignore a
//! failed publish of an ephemeral event and wait for a reply until their own timeout. So bunkerd
//! also sends a NIP-46 response whose plaintext is `{"id":<request id>,"error":<the OK's text>}`,
//! through the fan-out like any response, when the refused event is kind 24133, its `p` tag names a
//! hosted remote signer, and its author holds a session with that remote signer.
//!
//! Order, cheapest first, nothing here blocking: the kind, not an id already accepted (a re-publish
//! or a copy of an answered request gets no contradicting error), the route and a session between
//! the author and the remote signer (map reads); then the event's signature, within a relay-wide
//! budget of checks ([`crate::ratelimit::REFUSAL_VERIFICATIONS`]), so that only events their author
//! signed reach a tenant's reply budget (`ratelimit::ReplyBudget`: per tenant and in total; over
//! it, nothing more is done); then [`crate::dispatch::Dispatch::answer_refusal`], which queues the
//! work in the signer queue's bounded reply lane (full: dropped). The signer checks again and
//! reads the request; an unreadable one gets no reply. Requests over HTTP do not get one: their
//! HTTP error answer is the reply.
//!
//! Counted in `bunkerd_refusal_replies_total{reason}` (replies sent, by [`Cause::label`]) and
//! `bunkerd_refusal_replies_dropped_total{cause}` (by [`DROP_CAUSES`]).

use crate::dispatch::RefusalReply;
use crate::limits::Limit;
use crate::state::RelayState;
use event::{Event, Refusal, KIND_NOSTR_CONNECT};

/// The `OK` message of an `EVENT` whose `created_at` is outside the window.
pub(crate) const CREATED_AT_REFUSAL: &str = "invalid: created_at is too far from the current time";

/// Why an error reply was not sent: `tenant_budget` and `total_budget` (the reply budgets),
/// `queue` (the signer queue's reply lane, or the whole queue, was full), `declined` (no session
/// between the author and the remote signer, or the signer found an unreadable request),
/// `verify_budget` (the relay-wide budget of signature checks was spent), `forged` (the signature
/// does not verify). The `cause` label of `bunkerd_refusal_replies_dropped_total`.
pub const DROP_CAUSES: [&str; 6] = [
    "tenant_budget",
    "total_budget",
    "queue",
    "declined",
    "verify_budget",
    "forged",
];

/// What refused a request that bunkerd may also answer with an error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A relay limit: the connection's or address's event rate, the tenant's request rate, its
    /// signer-queue lane or the whole queue.
    Limit(Limit),
    /// `created_at` outside the window ([`crate::limits::Limits::created_at_window_secs`]).
    CreatedAt,
}

impl Cause {
    /// Every cause that can refuse a request before the signer runs it.
    pub const ALL: [Cause; 6] = [
        Cause::Limit(Limit::ConnectionEvents),
        Cause::Limit(Limit::IpEvents),
        Cause::CreatedAt,
        Cause::Limit(Limit::TenantRate),
        Cause::Limit(Limit::TenantQueue),
        Cause::Limit(Limit::Queue),
    ];

    /// The metric label: the limit's ([`Limit::label`]) or `created_at`.
    pub fn label(self) -> &'static str {
        match self {
            Cause::Limit(limit) => limit.label(),
            Cause::CreatedAt => "created_at",
        }
    }

    /// The refusal's NIP-01 message (`"<prefix>: <text>"`), as in the `OK false`.
    pub fn message(self) -> &'static str {
        match self {
            Cause::Limit(limit) => limit.message(),
            Cause::CreatedAt => CREATED_AT_REFUSAL,
        }
    }

    /// The refusal, whose [`Refusal::message`] is [`Cause::message`].
    pub fn refusal(self) -> Refusal {
        let message = self.message();
        let (prefix, text) = message.split_once(": ").unwrap_or(("error", message));
        match prefix {
            "invalid" => Refusal::Invalid(text),
            "blocked" => Refusal::Blocked(text),
            "rate-limited" => Refusal::RateLimited(text),
            _ => Refusal::Error(text),
        }
    }
}

/// A refused `EVENT` that may get an error reply, and what refused it.
#[derive(Debug)]
pub struct Answerable {
    /// The refused event.
    pub event: Box<Event>,
    /// What refused it.
    pub cause: Cause,
}

/// Offers an error reply to `event`, refused by `cause` on a websocket connection (its `OK false`
/// is sent by the caller): see the module docs for the checks and bounds. Never blocks; each way it
/// ends is counted, except an event that is not a request to a hosted remote signer.
pub(crate) fn offer(state: &RelayState, event: Event, cause: Cause) {
    if event.kind != KIND_NOSTR_CONNECT || state.shutdown.is_cancelled() {
        return;
    }
    // An id already accepted (it verified, and its request ran or is running) is a re-publish or
    // someone else's copy: an error reply would contradict the real response for that id.
    if state.dedupe.contains(&event.id) {
        return;
    }
    let route = event
        .first_tag_value("p")
        .and_then(event::hex32)
        .and_then(|pk| Some((pk, state.dispatch.route(&pk)?)));
    let Some((remote_signer, route)) = route else {
        return;
    };
    if !state
        .dispatch
        .has_session(&remote_signer, event.pubkey.as_bytes())
    {
        state.metrics.refusal_reply_dropped("declined");
        return;
    }
    if !state.reply_budget.take_verification() {
        state.metrics.refusal_reply_dropped("verify_budget");
        return;
    }
    if event.verify().is_err() {
        state.metrics.refusal_reply_dropped("forged");
        return;
    }
    if let Err(over) = state.reply_budget.take(&route.tenant) {
        state.metrics.refusal_reply_dropped(over.label());
        return;
    }
    let metrics = state.metrics.clone();
    let done = Box::new(move |sent: bool| {
        if sent {
            metrics.refusal_replied(cause);
        } else {
            metrics.refusal_reply_dropped("declined");
        }
    });
    let reply = RefusalReply {
        event,
        refusal: cause.refusal(),
        done,
    };
    if state.dispatch.answer_refusal(reply).is_err() {
        state.metrics.refusal_reply_dropped("queue");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_refuses_with_its_ok_message_and_a_distinct_label() {
        for cause in Cause::ALL {
            assert_eq!(cause.refusal().message(), cause.message(), "{cause:?}");
        }
        let labels: std::collections::HashSet<_> = Cause::ALL.iter().map(|c| c.label()).collect();
        assert_eq!(labels.len(), Cause::ALL.len());
        assert_eq!(
            Cause::CreatedAt.refusal(),
            Refusal::Invalid("created_at is too far from the current time")
        );
        assert!(matches!(
            Cause::Limit(Limit::TenantRate).refusal(),
            Refusal::RateLimited(_)
        ));
    }
}
