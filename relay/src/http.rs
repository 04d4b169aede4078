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

use crate::dispatch::Nip05;
use crate::limits::Limits;
use crate::socket::MAX_MESSAGE_BYTES;
use crate::state::RelayState;
use bytes_body::Body;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;

pub mod nip46;

/// The response body type of both listeners.
pub mod bytes_body {
    /// A complete in-memory body.
    pub type Body = http_body_util::Full<hyper::body::Bytes>;
}

/// Handles one HTTP request on the relay port; `peer` is the TCP peer's address.
pub async fn relay_service(
    mut req: Request<Incoming>,
    state: Arc<RelayState>,
    peer: std::net::IpAddr,
) -> Result<Response<Body>, std::convert::Infallible> {
    match req.uri().path() {
        "/.well-known/nostr.json" => return Ok(nip05(&req, &state).await),
        nip46::REQUEST_PATH | nip46::INFO_PATH => {
            return Ok(nip46::service(req, &state, peer).await);
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
        return Ok(upgrade(&mut req, state, peer));
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
/// Unknown names and domains answer `{"names":{}}`; never a redirect; CORS `*`.
async fn nip05(req: &Request<Incoming>, state: &Arc<RelayState>) -> Response<Body> {
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

/// Admits the connection under the connection limits ([`crate::limits`]; refused with 503 when the
/// relay is full, 429 when the client's address is, the body naming the limit with its
/// `rate-limited:` prefix and a `Retry-After`), then upgrades it.
fn upgrade(
    req: &mut Request<Incoming>,
    state: Arc<RelayState>,
    peer: std::net::IpAddr,
) -> Response<Body> {
    let ip = crate::limits::client_ip(peer, state.real_ip_header.as_ref(), req.headers());
    let permit = match state.addresses.open(ip) {
        Ok(permit) => permit,
        Err(limit) => {
            state.metrics.limit_refused(limit);
            let status = match limit {
                crate::limits::Limit::Connections => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::TOO_MANY_REQUESTS,
            };
            let mut response = text(status, limit.message());
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("10"));
            return response;
        }
    };
    let (response, fut) = match fastwebsockets::upgrade::upgrade(req) {
        Ok(pair) => pair,
        Err(_) => return text(StatusCode::BAD_REQUEST, "bad websocket upgrade request\n"),
    };
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
                crate::socket::serve(parts.io.into_inner(), leftover, state, permit).await;
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
