//! Where the relay meets the signer: [`SignerDispatch`] implements the relay's
//! [`relay::dispatch::Dispatch`] over the signer's [`Bunker`] and worker pool, and [`HubOutbox`]
//! makes the relay's fan-out the pool's outbox.
//!
//! Role: the one place that converts between the two crates' types (a relay [`Request`] becomes a
//! signer [`Job`], a signer [`Processed`] becomes a relay [`Verdict`], a relay [`RefusalReply`] a
//! signer [`RefusalJob`]; both speak `event::Refusal`), so that the relay crate depends on no crate
//! that can hold a secret key. Nothing here blocks, except [`SignerDispatch::nip05`]'s store read,
//! which the relay runs on the blocking pool.

use proto::nostr::Event;
use relay::dispatch::{
    unix_now, ApprovalPage, Dispatch, ForeignSession, Nip05, Overflow, RefusalReply, Rejected,
    Request, Route, Verdict, WriteGuard,
};
use relay::fanout::Hub;
use signer::directory::valid_nip05_name;
use signer::pool::{self, Job, Outbox, RefusalJob, Submitter};
use signer::{Bunker, Processed};
use std::sync::Arc;

/// The signer pool as the relay's [`Dispatch`].
pub(crate) struct SignerDispatch {
    bunker: Arc<Bunker>,
    submitter: Submitter,
    /// The `GET /nip46/info` document, rendered once ([`nip46_info`]).
    info: String,
}

impl SignerDispatch {
    /// Dispatches to `submitter`'s pool, routing with `bunker`'s directory.
    pub(crate) fn new(bunker: Arc<Bunker>, submitter: Submitter) -> Self {
        let info = nip46_info(&bunker.config().relays);
        SignerDispatch {
            bunker,
            submitter,
            info,
        }
    }
}

/// The `GET /nip46/info` document: `{"methods":[…],"nips":[…],"relays":[…],"transports":[…],
/// "encryption":[…]}` — the NIP-46 methods answered ([`proto::nip46::SUPPORTED_METHODS`]), the
/// NIPs served (NIP-01 relay, NIP-04 and NIP-44 transport, NIP-05, NIP-11, NIP-46), the public
/// relay URLs of bunker URIs, the transports (`websocket`, `http`) and the request encryptions
/// accepted (replies use the request's).
fn nip46_info(relays: &[String]) -> String {
    serde_json::json!({
        "methods": proto::nip46::SUPPORTED_METHODS,
        "nips": [1, 4, 5, 11, 44, 46],
        "relays": relays,
        "transports": ["websocket", "http"],
        "encryption": ["nip44", "nip04"],
    })
    .to_string()
}

impl Dispatch for SignerDispatch {
    fn is_hosted(&self, remote_signer: &[u8; 32]) -> bool {
        self.bunker.is_hosted(remote_signer)
    }

    fn has_session(&self, remote_signer: &[u8; 32], client: &[u8; 32]) -> bool {
        self.bunker.sessions().exists(remote_signer, client)
    }

    fn route(&self, remote_signer: &[u8; 32]) -> Option<Route> {
        let directory = self.bunker.directory();
        let route = directory.route(remote_signer)?;
        let own = directory.tenant_limits(&route.tenant);
        Some(Route {
            requests_per_sec: own.as_ref().and_then(|l| l.requests_per_sec),
            burst: own.as_ref().and_then(|l| l.burst),
            tenant: route.tenant,
        })
    }

    fn submit(&self, request: Request) -> Result<(), Rejected> {
        let Request {
            event,
            first_seen,
            done,
            queued_at,
            tenant,
            demoted,
            want_response,
            origin,
        } = request;
        let done = Box::new(move |processed: Processed| {
            // A demoted connection's own `OK` is never waited for, nor an HTTP answer: nothing
            // tracks them.
            let guard = if demoted || want_response {
                None
            } else {
                pool::track_handover().map(WriteGuard::new)
            };
            done(verdict(processed), guard);
        });
        let job = Job {
            event,
            first_seen,
            done,
            queued_at,
            tenant,
            demoted,
            want_response,
            origin,
        };
        self.submitter
            .try_submit(job)
            .map_err(|pool::Rejected { job, reason }| Rejected {
                event: job.event.into_event(),
                tenant: job.tenant,
                reason: overflow(reason),
            })
    }

    fn answer_refusal(&self, reply: RefusalReply) -> Result<(), Overflow> {
        let RefusalReply {
            event,
            refusal,
            done,
        } = reply;
        let job = RefusalJob {
            event,
            refusal,
            done,
        };
        self.submitter.try_submit_refusal(job).map_err(overflow)
    }

    fn nip46_info(&self) -> String {
        self.info.clone()
    }

    fn nip05(&self, domain: &str, name: &str) -> Option<Nip05> {
        if !valid_nip05_name(name) {
            return None;
        }
        let (user_pubkey, _remote_signer) = self
            .bunker
            .directory()
            .nip05_lookup(domain, name)
            .ok()
            .flatten()?;
        Some(Nip05 {
            user_pubkey: user_pubkey.to_hex(),
        })
    }

    fn foreign_generation(&self) -> u64 {
        self.bunker.sessions().foreign_generation()
    }

    fn foreign_sessions(&self) -> (u64, Vec<ForeignSession>) {
        let (generation, sessions) = self.bunker.sessions().foreign();
        let sessions = sessions
            .iter()
            .map(|s| ForeignSession {
                tenant: s.record.tenant.as_str().into(),
                remote_signer: *s.record.remote_signer.as_bytes(),
                client: *s.record.client.as_bytes(),
                relays: s.record.relays.clone(),
            })
            .collect();
        (generation, sessions)
    }

    fn authenticate(
        &self,
        remote_signer: &[u8; 32],
        relay_url: &str,
        challenge: &str,
    ) -> Option<Event> {
        self.bunker
            .authenticate(remote_signer, relay_url, challenge, unix_now())
    }

    fn approval_page(&self, token: &str) -> Option<ApprovalPage> {
        let view = self.bunker.held_view(token).ok().flatten()?;
        Some(ApprovalPage {
            permission: view.permission,
            client_name: view.client_name,
            client_pubkey: view.client_pubkey,
            preview: view.preview,
            created_at: view.created_at,
            expires_at: view.expires_at,
            status: view.status.name(),
        })
    }
}

/// The relay's name for the bound of the signer queue that refused a job.
fn overflow(reason: pool::Overflow) -> Overflow {
    match reason {
        pool::Overflow::TenantQueueFull => Overflow::TenantQueueFull,
        pool::Overflow::QueueFull => Overflow::QueueFull,
        pool::Overflow::Stopped => Overflow::Stopped,
        // `pool::Overflow` is non-exhaustive: an unknown bound refuses as a full queue.
        _ => Overflow::QueueFull,
    }
}

/// The relay's verdict for the signer's outcome.
fn verdict(processed: Processed) -> Verdict {
    Verdict {
        accepted: processed.accepted,
        duplicate: processed.duplicate,
        tenant: processed.tenant,
        method: processed.method,
        outcome: processed.outcome,
        queue_wait: processed.queue_wait,
        response: processed.response,
    }
}

/// The relay's fan-out as the signer pool's outbox.
#[derive(Debug, Clone)]
pub(crate) struct HubOutbox(pub(crate) Arc<Hub>);

impl Outbox for HubOutbox {
    fn deliver(&self, event: Event) {
        self.0.publish(event, unix_now());
    }
}
