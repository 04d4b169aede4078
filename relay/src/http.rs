//! The relay port's HTTP side: the websocket upgrade and the NIP-11 relay information document, on
//! one endpoint, `/` (NIP-01: extra path segments are refused rather than silently accepted), plus
//! NIP-05 and NIP-46 over HTTP.
//!
//! - `GET /` with `Upgrade: websocket` → the NIP-01 relay (`socket`).
//! - `GET /` with `Accept: application/nostr+json` → NIP-11 document, with CORS headers (NIP-11
//!   requires `Access-Control-Allow-Origin`, `-Headers`, `-Methods`).
//! - `OPTIONS /` → CORS preflight.
//! - `GET /` otherwise → a short plain-text description.
//! - `GET /.well-known/nostr.json?name=…` → NIP-05.
//! - `POST /nip46/request`, `GET /nip46/info` → NIP-46 over HTTP ([`nip46`]).
//! - `GET /approvals/<token>` → the page of a request held for approval ([`approval`]).

use crate::dispatch::Nip05;
use crate::limits::{ConnectionPermit, Limit, Limits};
use crate::socket::MAX_MESSAGE_BYTES;
use crate::state::RelayState;
use bytes_body::Body;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;

pub mod approval;
pub mod nip46;

/// The response body type of both listeners.
pub mod bytes_body {
    /// A complete in-memory body.
    pub type Body = http_body_util::Full<hyper::body::Bytes>;
}

/// One admitted TCP connection of the relay listener: its place in the connection limits, held
/// for the connection's whole life (HTTP keep-alive included) and handed to its websocket if it
/// upgrades. Cloned into each request of the connection.
#[derive(Clone, Debug)]
pub struct ConnectionSlot(Arc<std::sync::Mutex<Option<ConnectionPermit>>>);

impl ConnectionSlot {
    /// The permit, for the websocket the connection becomes (once).
    fn take(&self) -> Option<ConnectionPermit> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Gives back a permit taken for an upgrade that was refused.
    fn put_back(&self, permit: ConnectionPermit) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(permit);
    }
}

/// Admits a TCP connection just accepted on the relay listener, before anything is read from it:
/// per client address (the TCP peer's; behind a reverse proxy, `real-ip-header` configured, only
/// the total counts here and the address is counted at the websocket upgrade, from the header) and
/// in total ([`crate::limits::Limits::max_connections`], `max_connections_per_ip`). `Some` gives
/// the stream back with its slot. Refused (`None`, counted in `bunkerd_limit_refusals_total`),
/// the connection is answered `HTTP/1.1 503` (the relay is full) or `429` (its address is) with
/// the limit's message and closed, by one of at most 64 short tasks (each bounded to 2 s); past that
/// many, it is dropped unanswered.
pub fn admit_connection(
    state: &Arc<RelayState>,
    stream: tokio::net::TcpStream,
    peer: std::net::IpAddr,
) -> Option<(tokio::net::TcpStream, ConnectionSlot)> {
    let opened = match state.real_ip_header {
        Some(_) => state.addresses.open_proxied(peer),
        None => state.addresses.open(peer),
    };
    let limit = match opened {
        Ok(permit) => {
            let slot = ConnectionSlot(Arc::new(std::sync::Mutex::new(Some(permit))));
            return Some((stream, slot));
        }
        Err(limit) => limit,
    };
    state.metrics.limit_refused(limit);
    let Ok(refusing) = state.refusals.clone().try_acquire_owned() else {
        return None;
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_TIME, refuse(stream, limit)).await;
        drop(refusing);
    });
    None
}

/// Refused connections answered at once, at most ([`admit_connection`]).
pub(crate) const MAX_REFUSALS: usize = 64;

/// How long answering a refused connection may take.
const REFUSAL_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Writes the refusal of `limit`, then reads (and discards, at most 64 KiB) until the client
/// closes: closing with its request unread would reset the connection and could lose the answer.
async fn refuse(mut stream: tokio::net::TcpStream, limit: Limit) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let status = match limit {
        Limit::Connections => "503 Service Unavailable",
        _ => "429 Too Many Requests",
    };
    let body = limit.message();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 10\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while read < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

/// Handles one HTTP request on the relay port; `peer` is the TCP peer's address, `slot` its
/// connection's place in the connection limits ([`admit_connection`]).
pub async fn relay_service(
    mut req: Request<Incoming>,
    state: Arc<RelayState>,
    peer: std::net::IpAddr,
    slot: ConnectionSlot,
) -> Result<Response<Body>, std::convert::Infallible> {
    match req.uri().path() {
        "/.well-known/nostr.json" => return Ok(nip05(&req, &state, peer).await),
        nip46::REQUEST_PATH | nip46::INFO_PATH => {
            return Ok(nip46::service(req, &state, peer).await);
        }
        path if path.starts_with(approval::PREFIX) && req.method() == Method::GET => {
            return Ok(approval::page(&req, &state, peer).await);
        }
        _ => {}
    }
    if req.uri().path() != "/" {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "not found: the relay lives at /\n",
        ));
    }
    if fastwebsockets::upgrade::is_upgrade_request(&req) {
        return Ok(upgrade(&mut req, state, peer, &slot));
    }
    let wants_nip11 = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/nostr+json"));
    let response = match *req.method() {
        Method::OPTIONS => cors(Response::builder().status(StatusCode::NO_CONTENT), Body::default()),
        Method::GET | Method::HEAD if wants_nip11 => cors(
            Response::builder().header(CONTENT_TYPE, "application/nostr+json"),
            Body::from(state.nip11.clone()),
        ),
        Method::GET | Method::HEAD => text(
            StatusCode::OK,
            "bunkerd: a NIP-46 remote signer relay. Connect with a websocket and a bunker:// URI.\n",
        ),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    };
    Ok(response)
}

/// NIP-05 (`/.well-known/nostr.json?name=<local part>`) for the tenant whose `nip05_domain` is the
/// request's `Host` (port stripped): `{"names":{name:user_pubkey}}`, the user's identity and nothing
/// else. No `relays` entry (bunkerd's relay carries only kind 24133, not the user's notes) and no
/// `nip46` entry: clients read `nip46[<names' pubkey>]` as where to send NIP-46 requests *to the user
/// pubkey*, which bunkerd does not answer for (requests go to the user's separate remote-signer key,
/// and pairing needs a bunker URI's one-time secret), so `name@domain` login is not advertised.
/// Unknown names and domains answer `{"names":{}}`; never a redirect; CORS `*`. Each lookup takes
/// a token of the client address's event bucket (`ip_events_per_sec`, shared with its events):
/// refused with 429 and `Retry-After` when it is empty.
async fn nip05(
    req: &Request<Incoming>,
    state: &Arc<RelayState>,
    peer: std::net::IpAddr,
) -> Response<Body> {
    if let Some(refused) = refuse_lookup(req, state, peer) {
        return refused;
    }
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let domain = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(d, _)| d)
        .to_ascii_lowercase();
    let name = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("name="))
            .map(str::to_ascii_lowercase)
    });
    let mut body = serde_json::json!({"names": {}});
    if let Some(name) = name {
        let dispatch = state.dispatch.clone();
        let n = name.clone();
        let found = tokio::task::spawn_blocking(move || dispatch.nip05(&domain, &n))
            .await
            .ok()
            .flatten();
        if let Some(Nip05 { user_pubkey: pk }) = found {
            body = serde_json::json!({ "names": { name: pk } });
        }
    }
    cors(
        Response::builder().header(CONTENT_TYPE, "application/json"),
        Body::from(body.to_string()),
    )
}

/// Takes a token of the client address's event bucket for a lookup (NIP-05, an approval page);
/// when it is empty, the `429` answer (with `Retry-After`) to send instead.
fn refuse_lookup(
    req: &Request<Incoming>,
    state: &RelayState,
    peer: std::net::IpAddr,
) -> Option<Response<Body>> {
    let ip = crate::limits::client_ip(peer, state.real_ip_header.as_ref(), req.headers());
    let limit = state.addresses.admit_event(ip).err()?;
    state.metrics.limit_refused(limit);
    let mut response = text(StatusCode::TOO_MANY_REQUESTS, limit.message());
    response
        .headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
    Some(response)
}

/// Upgrades the connection to a websocket, which takes over its connection slot — moved to the
/// client's address from `real-ip-header` when one is configured (refused with 429 when that
/// address is full, the body naming the limit with its `rate-limited:` prefix and a `Retry-After`).
fn upgrade(
    req: &mut Request<Incoming>,
    state: Arc<RelayState>,
    peer: std::net::IpAddr,
    slot: &ConnectionSlot,
) -> Response<Body> {
    // Validated before the slot is taken: a bad upgrade request leaves the connection counted.
    let (response, fut) = match fastwebsockets::upgrade::upgrade(&mut *req) {
        Ok(pair) => pair,
        Err(_) => return text(StatusCode::BAD_REQUEST, "bad websocket upgrade request\n"),
    };
    let Some(mut permit) = slot.take() else {
        return text(StatusCode::BAD_REQUEST, "bad websocket upgrade request\n");
    };
    if state.real_ip_header.is_some() {
        let ip = crate::limits::client_ip(peer, state.real_ip_header.as_ref(), req.headers());
        if let Err(limit) = permit.rekey(ip) {
            // The connection stays open (HTTP) and counted.
            slot.put_back(permit);
            state.metrics.limit_refused(limit);
            let mut response = text(StatusCode::TOO_MANY_REQUESTS, limit.message());
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("10"));
            return response;
        }
    }
    let tracker = state.tracker.clone();
    tracker.spawn(async move {
        // fastwebsockets performs the handshake; bunkerd frames the connection itself (`crate::ws`),
        // on the raw TCP stream that hyper hands back with any bytes it read past the request.
        let upgraded = match fut.await {
            Ok(ws) => ws.into_inner().into_inner(),
            Err(e) => return tracing::debug!(error = %e, "websocket upgrade failed"),
        };
        match upgraded.downcast::<hyper_util::rt::TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) => {
                // Copied out so hyper's whole read buffer (8 KiB, which `read_buf` points into) is
                // freed now rather than held for the connection's life.
                let leftover = parts.read_buf.to_vec();
                drop(parts.read_buf);
                // A task of its own, sized for the connection alone: this one ends here.
                let tracker = state.tracker.clone();
                tracker.spawn(crate::socket::serve(
                    parts.io.into_inner(),
                    leftover,
                    state,
                    permit,
                ));
            }
            Err(_) => tracing::error!("websocket upgrade did not yield a TCP stream"),
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Body::default())
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body))
        .expect("static response")
}

fn cors(builder: hyper::http::response::Builder, body: Body) -> Response<Body> {
    builder
        .header("Access-Control-Allow-Origin", HeaderValue::from_static("*"))
        .header(
            "Access-Control-Allow-Headers",
            HeaderValue::from_static("*"),
        )
        .header(
            "Access-Control-Allow-Methods",
            HeaderValue::from_static("GET, OPTIONS"),
        )
        .body(body)
        .expect("static response")
}

/// The NIP-11 relay information document (rendered once at start).
pub(crate) fn nip11_document(limits: &Limits) -> String {
    serde_json::json!({
        "name": "bunkerd",
        "description": "A hosted NIP-46 remote signer (bunker). This relay only accepts kind 24133 events addressed to the remote signers it hosts.",
        "supported_nips": [1, 11, 46],
        "software": "https://github.com/bunkerd/bunkerd",
        "version": env!("CARGO_PKG_VERSION"),
        "limitation": {
            "max_message_length": MAX_MESSAGE_BYTES,
            "max_subscriptions": limits.max_subscriptions,
            "max_filters": limits.max_filters,
            "max_subid_length": crate::message::MAX_SUB_ID_CHARS,
            "max_limit": crate::fanout::RETAINED_PER_KEY,
            "auth_required": false,
            "payment_required": false,
            "restricted_writes": true,
            "created_at_lower_limit": limits.created_at_window_secs,
            "created_at_upper_limit": limits.created_at_window_secs,
        },
    })
    .to_string()
}
