//! NIP-46 over HTTP on the relay's listener, for clients that cannot hold a websocket (serverless
//! functions, simple scripts, browsers behind strict proxies).
//!
//! - `POST /nip46/request`: the body is one signed kind-24133 request event (JSON, `Content-Type:
//!   application/json`, at most 128 KiB like a websocket message, read within
//!   [`BODY_READ_TIMEOUT`]). It takes exactly the websocket `EVENT`'s path: the same admission
//!   (`connection::admit`: one token from the client address's event bucket, kind, `created_at`
//!   window, `p` tag hosted, not a duplicate), the tenant's rate and `Dispatch::submit` (`intake`),
//!   so verification,
//!   sessions, policy, audit and metrics are the signer's usual ones. The answer is `200` with the
//!   signed kind-24133 response event — the one a websocket client would receive, which also goes
//!   to the fan-out for clients subscribed over websockets — within [`VERDICT_TIMEOUT`].
//! - `GET /nip46/info`: the signer's description (`Dispatch::nip46_info`).
//! - `OPTIONS` on both: CORS preflight; every answer carries `Access-Control-Allow-Origin: *`.
//!
//! Every error is `{"error":"<prefix>: <text>"}` with a NIP-01 prefix (the `OK` message a
//! websocket client would get, when there is one): 400 `invalid:` (not JSON, not an event, bad
//! `created_at`, id or signature, undecryptable), 403 `blocked:` (not kind 24133, not addressed to a
//! remote signer hosted here), 405, 408 (body too slow), 409 `duplicate:`, 413, 415, 429
//! `rate-limited:` with `Retry-After` (the address's connections or events, the tenant's rate),
//! 500 `error:`, 503 (the relay is full, too many bodies are being read, the signer queue is full,
//! or the relay is stopping), 504 (the signer did not answer within [`VERDICT_TIMEOUT`]; the
//! request may still run, so retry with a new request event, not the same one). A duplicate is
//! 409, not 200: it is not processed again, and its response went to the first submission.
//!
//! Bounded before any body byte is read: each request holds one of its address's connection slots
//! (the websocket limits) while it is read and answered, and one of [`MAX_BODY_READS`] permits
//! while its body is read. A refused request needs no NIP-46 error reply here
//! ([`crate::answer`]): the HTTP answer is the reply.

use crate::connection::{admit, Admission, Limit, Refused};
use crate::dispatch::{unix_now, Verdict};
use crate::http::bytes_body::Body;
use crate::intake::{NotSubmitted, Submission, Why};
use crate::socket::MAX_MESSAGE_BYTES;
use crate::state::RelayState;
use event::{Event, Refusal};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The path of `POST` requests.
pub(crate) const REQUEST_PATH: &str = "/nip46/request";

/// The path of the signer's description.
pub(crate) const INFO_PATH: &str = "/nip46/info";

/// Longest time a client may take to send a request's body, once its head is read.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest time a request waits for the signer's verdict before it is answered 504. The signer
/// takes milliseconds; only a queue full of other requests waits longer.
pub const VERDICT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most request bodies read at once, across all clients: 256 × 128 KiB bounds what slow bodies can
/// hold to 32 MiB. A request over it is answered 503 at once, without reading its body.
pub const MAX_BODY_READS: usize = 256;

/// Serves `/nip46/request` and `/nip46/info` (the caller routes only these paths here); `peer` is
/// the TCP peer's address.
pub(crate) async fn service(
    req: Request<Incoming>,
    state: &Arc<RelayState>,
    peer: IpAddr,
) -> Response<Body> {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::OPTIONS, _) => cors(Response::builder().status(StatusCode::NO_CONTENT))
            .header("Access-Control-Max-Age", "86400")
            .body(Body::default())
            .expect("static response"),
        (&Method::POST, REQUEST_PATH) => request(req, state, peer).await,
        (&Method::GET | &Method::HEAD, INFO_PATH) => {
            json(StatusCode::OK, state.dispatch.nip46_info())
        }
        _ => {
            let allowed = if path == REQUEST_PATH {
                "POST, OPTIONS"
            } else {
                "GET, HEAD, OPTIONS"
            };
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid: method not allowed",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
            response
        }
    }
}

/// `POST /nip46/request`: see the module docs.
async fn request(req: Request<Incoming>, state: &Arc<RelayState>, peer: IpAddr) -> Response<Body> {
    let ip = crate::limits::client_ip(peer, state.real_ip_header.as_ref(), req.headers());
    // A request's TCP connection holds one of its address's connection slots from accept
    // (`http::admit_connection`). Behind a reverse proxy that slot is the proxy's, so the request
    // also takes one of its forwarded client address's while it is read and answered. Its body
    // takes one of `MAX_BODY_READS`.
    let proxied = state
        .real_ip_header
        .is_some()
        .then(|| state.addresses.open(ip));
    let _permit = match proxied.transpose() {
        Ok(permit) => permit,
        Err(limit) => {
            state.metrics.limit_refused(limit);
            let status = match limit {
                Limit::Connections => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::TOO_MANY_REQUESTS,
            };
            return retry_later(error(status, limit.message()));
        }
    };
    let event = {
        let Ok(_reading) = state.body_reads.try_acquire() else {
            return retry_later(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "rate-limited: too many requests being read; retry",
            ));
        };
        match read_event(req).await {
            Ok(event) => event,
            Err(response) => return response,
        }
    };
    // Held until the request is submitted, as a websocket connection holds one until it has read
    // its last frame: the server's shutdown waits for it before it waits for the signer pool to
    // drain. Taken before the check, so a request that passes it is waited for.
    let reading = state.readers.token();
    if state.shutdown.is_cancelled() {
        return retry_later(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "error: the relay is shutting down",
        ));
    }
    let gate = Gate { state, ip };
    if let Err(refused) = admit(
        &event,
        unix_now(),
        state.limits.created_at_window_secs,
        &gate,
    ) {
        state
            .metrics
            .rejected(crate::connection::prefix(refused.message));
        return refusal(&refused);
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<Verdict>();
    let reply = Box::new(move |verdict: Verdict, _| {
        let _ = tx.send(verdict);
    });
    let how = Submission {
        demoted: false,
        want_response: true,
        origin: None,
    };
    let submitted = crate::intake::submit(state, event, how, reply);
    drop(reading);
    match submitted {
        Ok(()) => {}
        Err(NotSubmitted {
            why: Why::Unverified,
            ..
        }) => {
            state.metrics.rejected("invalid");
            return error(StatusCode::BAD_REQUEST, Why::Unverified.message());
        }
        Err(NotSubmitted {
            why: Why::Limit(limit),
            ..
        }) => {
            let status = match limit {
                Limit::Queue => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::TOO_MANY_REQUESTS,
            };
            return retry_later(error(status, limit.message()));
        }
    }
    // The request stays queued and may still run: a retry of the same event would be a duplicate
    // (409) whose response this endpoint cannot return, so no `Retry-After` here; a client retries
    // with a new request event (a new id).
    match tokio::time::timeout(VERDICT_TIMEOUT, rx).await {
        Ok(Ok(verdict)) => answer(verdict),
        Ok(Err(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "error: the signer did not answer",
        ),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "error: the signer did not answer in time; send a new request",
        ),
    }
}

/// Reads the body as one event: checks the content type and the size (declared and read), within
/// [`BODY_READ_TIMEOUT`].
async fn read_event(req: Request<Incoming>) -> Result<Event, Response<Body>> {
    let json_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid: Content-Type must be application/json",
        ));
    }
    let too_large = || {
        let message = format!("invalid: request body over {MAX_MESSAGE_BYTES} bytes");
        error(StatusCode::PAYLOAD_TOO_LARGE, &message)
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_MESSAGE_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = match tokio::time::timeout(BODY_READ_TIMEOUT, read_body(req.into_body())).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(BodyError::TooLarge)) => return Err(too_large()),
        Ok(Err(BodyError::Unreadable)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid: request body unreadable",
            ))
        }
        Err(_) => {
            return Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "invalid: request body not received in time",
            ))
        }
    };
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| Event::from_json(text).ok())
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "invalid: the body is not a NIP-01 event",
            )
        })
}

enum BodyError {
    TooLarge,
    Unreadable,
}

/// The body's bytes, copied frame by frame into one buffer of at most [`MAX_MESSAGE_BYTES`]: one
/// growing buffer per request however the client splits its body (collecting the frames would
/// keep one entry per frame, which a body sent a byte at a time would multiply).
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, BodyError> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Unreadable)?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > MAX_MESSAGE_BYTES {
                return Err(BodyError::TooLarge);
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes)
}

/// The answer to a processed request.
fn answer(verdict: Verdict) -> Response<Body> {
    match (verdict.accepted, verdict.response) {
        (Ok(()), _) if verdict.duplicate => error(StatusCode::CONFLICT, DUPLICATE),
        (Ok(()), Some(response)) => json(StatusCode::OK, response.to_json()),
        (Ok(()), None) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error: no response was made",
        ),
        (Err(refusal), _) => {
            let status = match refusal {
                Refusal::Invalid(_) => StatusCode::BAD_REQUEST,
                Refusal::Blocked(_) => StatusCode::FORBIDDEN,
                Refusal::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                Refusal::Error(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let response = error(status, &refusal.message());
            match refusal {
                Refusal::RateLimited(_) => retry_later(response),
                _ => response,
            }
        }
    }
}

/// The refusal of an event the relay refused itself.
fn refusal(refused: &Refused) -> Response<Body> {
    if refused.duplicate {
        return error(StatusCode::CONFLICT, DUPLICATE);
    }
    match crate::connection::prefix(refused.message) {
        "rate-limited" => retry_later(error(StatusCode::TOO_MANY_REQUESTS, refused.message)),
        "blocked" => error(StatusCode::FORBIDDEN, refused.message),
        _ => error(StatusCode::BAD_REQUEST, refused.message),
    }
}

const DUPLICATE: &str = "duplicate: already have this event";

/// The relay's admission, as seen from an HTTP request from `ip`: its address's event bucket, no
/// connection's.
struct Gate<'a> {
    state: &'a RelayState,
    ip: IpAddr,
}

impl Admission for Gate<'_> {
    fn is_hosted(&self, pk: &[u8; 32]) -> bool {
        self.state.dispatch.is_hosted(pk)
    }

    fn seen(&self, id: &[u8; 32]) -> bool {
        self.state.dedupe.contains(id)
    }

    fn admit_event(&self) -> Result<(), Limit> {
        self.state.addresses.admit_event(self.ip)
    }

    fn refused(&self, limit: Limit) {
        self.state.metrics.limit_refused(limit);
    }
}

/// Adds the CORS headers of these endpoints (browser clients).
fn cors(builder: hyper::http::response::Builder) -> hyper::http::response::Builder {
    builder
        .header("Access-Control-Allow-Origin", "*")
        .header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        .header("Access-Control-Allow-Headers", "Content-Type")
        .header("Access-Control-Expose-Headers", "Retry-After")
}

/// A JSON answer.
fn json(status: StatusCode, body: String) -> Response<Body> {
    cors(Response::builder().status(status))
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("static response")
}

/// `{"error": message}`: a NIP-01 message, never client input.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, serde_json::json!({ "error": message }).to_string())
}

/// Adds `Retry-After: 1` (rates are per second; a busy or restarting signer is back soon).
fn retry_later(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
