//! The per-connection state machine: one NIP-01 message plus `now` in, a list of [`Action`]s out.
//!
//! Pure (no I/O): it holds the connection's subscriptions and applies the admission rules for
//! `EVENT` — kind 24133 only, `created_at` within a window of now, `p` tag naming a
//! hosted remote signer, not a duplicate — and the limits for `REQ`. Expensive checks (id, signature,
//! decryption) happen later on the signer pool. Every `EVENT` gets exactly one `OK`, every `REQ` an
//! `EOSE` or a `CLOSED` (docs/protocol-notes.md §11.12), here or, for submitted events, from the pool.
//!
//! The `EVENT` admission itself is `admit`, which `POST /nip46/request` applies too.

use crate::answer::{Answerable, Cause};
use crate::filter::Filter;
use crate::message::{self, ClientMessage, ParseError};
use event::KIND_NOSTR_CONNECT;
use event::{hex32, Event, LiftCache};
use std::sync::Arc;

/// Most distinct `#p` recipients one subscription may name. A NIP-46 client names one (its own
/// client key); the bound keeps one connection from filling the fan-out index.
pub const MAX_RECIPIENTS_PER_SUBSCRIPTION: usize = 64;

pub use crate::limits::{Limit, Limits};

/// What the connection must do.
#[derive(Debug)]
pub enum Action {
    /// Send this text frame.
    Send(String),
    /// Send this `OK` (false, or true for a duplicate) for an EVENT that is not processed; `reason`
    /// is the message's NIP-01 prefix (`invalid`, `blocked`, `duplicate`, …), for metrics.
    Refuse {
        /// The `OK` message.
        text: String,
        /// Its machine-readable prefix.
        reason: &'static str,
        /// The limit that refused the event, when one did (already counted through
        /// [`Admission::refused`]).
        limit: Option<Limit>,
        /// The event, when the refusal is one bunkerd may also answer with a NIP-46 error reply
        /// (a rate limit or the `created_at` window: [`crate::answer`]).
        answer: Option<Answerable>,
    },
    /// Hand this admitted kind-24133 event to the signer pool; the pool's verdict becomes the `OK`.
    Submit(Box<Event>),
    /// Register the subscription with the fan-out, send its stored events, then `EOSE`.
    Subscribe {
        /// Subscription id.
        sub_id: String,
        /// Its addressed filters (non-empty).
        filters: Arc<[Filter]>,
    },
    /// Remove a subscription from the fan-out.
    Unsubscribe {
        /// Subscription id.
        sub_id: String,
        /// Its filters (where it is indexed).
        filters: Arc<[Filter]>,
    },
}

/// What the state machine asks of the rest of the relay: whether a pubkey is hosted, whether an id was
/// seen, and whether the connection and its address are within their limits.
pub trait Admission {
    /// Whether `pk` (32 raw bytes) is a remote-signer pubkey hosted here.
    fn is_hosted(&self, pk: &[u8; 32]) -> bool;
    /// Whether an event with this id was accepted recently.
    fn seen(&self, id: &[u8; 32]) -> bool;
    /// Takes one token for an `EVENT` from the connection's and the address's buckets.
    ///
    /// # Errors
    ///
    /// The [`Limit`] whose bucket is empty. Default: admits.
    fn admit_event(&self) -> Result<(), Limit> {
        Ok(())
    }
    /// Counts one more open subscription against the connection's address.
    ///
    /// # Errors
    ///
    /// [`Limit::IpSubscriptions`] when the address holds its maximum. Default: admits.
    fn open_subscription(&self) -> Result<(), Limit> {
        Ok(())
    }
    /// Gives back a subscription counted by [`Admission::open_subscription`]. Default: nothing.
    fn close_subscription(&self) {}
    /// Told of every refusal by a limit (for metrics), whichever side checked it. Default: nothing.
    fn refused(&self, _limit: Limit) {}
}

/// The limits a connection checks itself (a copy of three fields of [`Limits`], kept small: every idle
/// connection holds one).
#[derive(Debug, Clone, Copy)]
struct OwnLimits {
    max_subscriptions: u32,
    max_filters: u32,
    created_at_window_secs: u64,
}

/// One connection's state.
#[derive(Debug)]
pub struct Connection {
    limits: OwnLimits,
    /// Open subscriptions by id: a short list (at most `max_subscriptions`, usually one), kept in
    /// a vector that holds exactly what it needs, since every idle connection holds one.
    subs: Vec<(String, Arc<[Filter]>)>,
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new(&Limits::default())
    }
}

impl Connection {
    /// A connection's state under these limits, with no subscription.
    pub fn new(limits: &Limits) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Connection {
            limits: OwnLimits {
                max_subscriptions: clamp(limits.max_subscriptions),
                max_filters: clamp(limits.max_filters),
                created_at_window_secs: limits.created_at_window_secs,
            },
            subs: Vec::new(),
        }
    }

    /// Handles one text frame; `now` is unix seconds; `keys` lifts an `EVENT`'s author key.
    pub fn on_text(
        &mut self,
        text: &str,
        now: u64,
        admission: &dyn Admission,
        keys: &mut LiftCache,
    ) -> Vec<Action> {
        match message::parse_cached(text, keys) {
            Ok(ClientMessage::Event(event)) => vec![self.on_event(event, now, admission)],
            Ok(ClientMessage::Req { sub_id, filters }) => self.on_req(sub_id, filters, admission),
            Ok(ClientMessage::Close(sub_id)) => {
                self.on_close(sub_id, admission).into_iter().collect()
            }
            Ok(ClientMessage::Auth(id)) => vec![Action::Send(match id {
                Some(id) => message::ok(&id, false, "error: NIP-42 AUTH is not used by this relay"),
                None => message::notice("error: NIP-42 AUTH is not used by this relay"),
            })],
            Err(ParseError::Notice(text)) => vec![Action::Send(message::notice(text))],
            Err(ParseError::BadEvent { id, reason }) => vec![Action::Refuse {
                text: message::ok(&id, false, reason),
                reason: prefix(reason),
                limit: None,
                answer: None,
            }],
            Err(ParseError::BadReq { sub_id, reason }) => {
                let mut actions: Vec<Action> = self
                    .on_close(sub_id.clone(), admission)
                    .into_iter()
                    .collect();
                actions.push(Action::Send(message::closed(&sub_id, reason)));
                actions
            }
        }
    }

    fn on_event(&self, event: Box<Event>, now: u64, admission: &dyn Admission) -> Action {
        match admit(&event, now, self.limits.created_at_window_secs, admission) {
            Ok(()) => Action::Submit(event),
            Err(refused) => Action::Refuse {
                text: message::ok(&event.id_hex(), refused.duplicate, refused.message),
                reason: prefix(refused.message),
                limit: refused.limit,
                answer: refused.answerable.map(|cause| Answerable { event, cause }),
            },
        }
    }

    fn on_req(
        &mut self,
        sub_id: String,
        filters: Vec<Filter>,
        admission: &dyn Admission,
    ) -> Vec<Action> {
        let mut actions: Vec<Action> = self
            .on_close(sub_id.clone(), admission)
            .into_iter()
            .collect();
        if filters.len() > self.limits.max_filters as usize {
            admission.refused(Limit::FiltersPerReq);
            actions.push(Action::Send(message::closed(
                &sub_id,
                Limit::FiltersPerReq.message(),
            )));
            return actions;
        }
        let addressed: Arc<[Filter]> = filters.into_iter().filter(Filter::is_addressed).collect();
        if addressed.is_empty() {
            // Nothing here matches a filter that names neither #p nor authors: end of stored events,
            // and no live events will follow. Costs nothing, so no subscription slot is used
            // (liveness probes such as nostr-tools' `limit: 0` REQ always get their EOSE).
            actions.push(Action::Send(message::eose(&sub_id)));
            return actions;
        }
        if crate::fanout::keys_of(&addressed).len() > MAX_RECIPIENTS_PER_SUBSCRIPTION {
            actions.push(Action::Send(message::closed(
                &sub_id,
                "invalid: too many #p values in one subscription (max 64)",
            )));
            return actions;
        }
        let reserved = if self.subs.len() >= self.limits.max_subscriptions as usize {
            Err(Limit::ConnectionSubscriptions)
        } else {
            admission.open_subscription()
        };
        if let Err(limit) = reserved {
            admission.refused(limit);
            actions.push(Action::Send(message::closed(&sub_id, limit.message())));
            return actions;
        }
        self.subs.reserve_exact(1);
        self.subs.push((sub_id.clone(), addressed.clone()));
        actions.push(Action::Subscribe {
            sub_id,
            filters: addressed,
        });
        actions
    }

    fn on_close(&mut self, sub_id: String, admission: &dyn Admission) -> Option<Action> {
        let at = self.subs.iter().position(|(id, _)| *id == sub_id)?;
        let (_, filters) = self.subs.swap_remove(at);
        admission.close_subscription();
        Some(Action::Unsubscribe { sub_id, filters })
    }

    /// Open subscriptions.
    pub fn subscriptions(&self) -> usize {
        self.subs.len()
    }

    /// Removes every subscription (the connection is closing) and returns them for the fan-out.
    /// Their address counts are given back by the connection's permit when it is dropped.
    pub fn close_all(&mut self) -> Vec<(String, Arc<[Filter]>)> {
        std::mem::take(&mut self.subs)
    }
}

/// Why the relay itself refused an `EVENT` ([`admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The NIP-01 message, `"<prefix>: <text>"`.
    pub(crate) message: &'static str,
    /// A duplicate: `OK true` with this message, not `OK false`.
    pub(crate) duplicate: bool,
    /// The limit that refused it, when one did (already counted through [`Admission::refused`]).
    pub(crate) limit: Option<Limit>,
    /// What refused it, when bunkerd may also answer with a NIP-46 error reply
    /// ([`crate::answer`]).
    pub(crate) answerable: Option<Cause>,
}

/// The admission of one `EVENT` at `now` (unix seconds), before any signature is verified: one
/// token from the sender's event buckets ([`Admission::admit_event`]: the connection's and the
/// address's, whatever follows), kind 24133, `created_at` within `window_secs` of now, a `p` tag
/// naming a hosted remote signer, and an id not accepted recently.
///
/// # Errors
///
/// The first rule broken, as a [`Refused`].
pub(crate) fn admit(
    event: &Event,
    now: u64,
    window_secs: u64,
    admission: &dyn Admission,
) -> Result<(), Refused> {
    let refuse = |message: &'static str| Refused {
        message,
        duplicate: false,
        limit: None,
        answerable: None,
    };
    if let Err(limit) = admission.admit_event() {
        admission.refused(limit);
        return Err(Refused {
            limit: Some(limit),
            answerable: Some(Cause::Limit(limit)),
            ..refuse(limit.message())
        });
    }
    if event.kind != KIND_NOSTR_CONNECT {
        return Err(refuse(
            "blocked: this relay only accepts kind 24133 (NIP-46) events",
        ));
    }
    if event.created_at.abs_diff(now) > window_secs {
        return Err(Refused {
            answerable: Some(Cause::CreatedAt),
            ..refuse(Cause::CreatedAt.message())
        });
    }
    let hosted = event
        .first_tag_value("p")
        .and_then(hex32)
        .is_some_and(|pk| admission.is_hosted(&pk));
    if !hosted {
        return Err(refuse(
            "blocked: not addressed to a remote signer hosted here",
        ));
    }
    if admission.seen(&event.id) {
        return Err(Refused {
            duplicate: true,
            ..refuse("duplicate: already have this event")
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// The NIP-01 machine-readable prefix of an `OK`/`CLOSED` message (`"invalid: …"` → `"invalid"`).
pub(crate) fn prefix(message: &'static str) -> &'static str {
    message.split_once(':').map_or(message, |(p, _)| p)
}
