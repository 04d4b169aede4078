//! The crash harness's clients: the admin API with the operator token, and NIP-46 over
//! `POST /nip46/request` (NIP-44, rust-nostr), each request on its own connection, every answer
//! sorted into [`Answer`]: acknowledged, refused for load, unexpected, or cut (no answer).
//!
//! Must not: treat an answer it did not verify as acknowledged: a NIP-46 response must be signed by
//! the remote signer, decrypt with the client key and carry the request's id, and a signed event
//! must verify under the user's pubkey.

use super::Rng;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Method;
use hyper_util::rt::TokioIo;
use nostr::nips::nip44;
use nostr::{Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, SecretKey, Tag};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// How long one request may take, connection to last body byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What became of one request.
#[derive(Debug)]
pub(super) enum Answer<T> {
    /// Answered and verified: an acknowledged write (or a successful read).
    Ok(T),
    /// Refused for load (`429`, `503`, a NIP-46 `rate-limited:` reply): not processed.
    Refused(String),
    /// Any other answer.
    Unexpected(String),
    /// Sent, and no answer: the connection reset or closed, or the time bound.
    Cut(String),
    /// Not sent: the connection was refused (the server is gone).
    Down(String),
}

impl<T> Answer<T> {
    /// `Ok` as is, anything else as its text.
    pub(super) fn into_result(self) -> Result<T, String> {
        match self {
            Answer::Ok(value) => Ok(value),
            Answer::Refused(e) | Answer::Unexpected(e) | Answer::Cut(e) | Answer::Down(e) => Err(e),
        }
    }

    /// The same outcome for another value type; `Ok` must have been handled.
    fn other<U>(self) -> Answer<U> {
        match self {
            Answer::Ok(_) => Answer::Unexpected("an answer taken for another".into()),
            Answer::Refused(e) => Answer::Refused(e),
            Answer::Unexpected(e) => Answer::Unexpected(e),
            Answer::Cut(e) => Answer::Cut(e),
            Answer::Down(e) => Answer::Down(e),
        }
    }
}

/// Why a request got no answer.
enum Failure {
    /// The connection was refused: nothing was sent.
    Down(String),
    /// Sent (or being sent), then the connection ended or the time bound passed.
    Cut(String),
}

impl Failure {
    fn answer<T>(self, what: &str) -> Answer<T> {
        match self {
            Failure::Down(e) => Answer::Down(format!("{what}: {e}")),
            Failure::Cut(e) => Answer::Cut(format!("{what}: {e}")),
        }
    }
}

/// Sends one request on a fresh connection; `Err` when no complete answer came back.
async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<(u16, Bytes), Failure> {
    let connect = tokio::time::timeout(REQUEST_TIMEOUT, tokio::net::TcpStream::connect(addr));
    let stream = match connect.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(Failure::Down(format!("connect {addr}: {e}"))),
        Err(_) => return Err(Failure::Down(format!("connect {addr}: timed out"))),
    };
    let exchange = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(body.map_or_else(Bytes::new, Bytes::from)))
            .map_err(|e| e.to_string())?;
        let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, bytes))
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(Failure::Cut(e)),
        Err(_) => Err(Failure::Cut(format!(
            "no answer within {REQUEST_TIMEOUT:?}"
        ))),
    }
}

/// Whether a status means "not processed, try later".
fn is_load_refusal(status: u16) -> bool {
    status == 429 || status == 503
}

/// The admin API, with the operator token.
#[derive(Clone)]
pub(super) struct Admin {
    addr: SocketAddr,
    authorization: String,
}

impl Admin {
    pub(super) fn new(addr: SocketAddr, token: &str) -> Self {
        Admin {
            addr,
            authorization: format!("Bearer {token}"),
        }
    }

    /// One call; a 2xx answer is `Ok` with its JSON body.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer<Value> {
        let what = format!("{method} {path}");
        let headers = [("authorization", self.authorization.as_str())];
        match send(
            self.addr,
            method,
            path,
            &headers,
            body.map(|b| b.to_string()),
        )
        .await
        {
            Err(failure) => failure.answer(&what),
            Ok((status, bytes)) => {
                let text = String::from_utf8_lossy(&bytes);
                if is_load_refusal(status) {
                    return Answer::Refused(format!("{what}: {status} {text}"));
                }
                if !(200..300).contains(&status) {
                    return Answer::Unexpected(format!("{what}: {status} {text}"));
                }
                match serde_json::from_slice(&bytes) {
                    Ok(value) => Answer::Ok(value),
                    Err(e) => {
                        Answer::Unexpected(format!("{what}: {status} not JSON ({e}): {text}"))
                    }
                }
            }
        }
    }

    /// `POST path` with `body`.
    pub(super) async fn post(&self, path: &str, body: Value) -> Answer<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Every item of a paged list (`?limit=1000`, following `next_cursor`), at most `pages` pages.
    pub(super) async fn list_all(&self, path: &str, pages: usize) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..pages {
            let url = match &cursor {
                None => format!("{path}?limit=1000"),
                Some(c) => format!("{path}?limit=1000&cursor={c}"),
            };
            let page = self.call(Method::GET, &url, None).await.into_result()?;
            let list = page["items"]
                .as_array()
                .ok_or(format!("GET {url}: no items"))?;
            items.extend(list.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
        Err(format!("GET {path}: more than {pages} pages"))
    }

    /// A list answered whole (`{"items": […]}`).
    pub(super) async fn list(&self, path: &str) -> Result<Vec<Value>, String> {
        let page = self.call(Method::GET, path, None).await.into_result()?;
        page["items"]
            .as_array()
            .cloned()
            .ok_or(format!("GET {path}: no items"))
    }
}

/// A client key drawn from `rng`.
pub(super) fn keys(rng: &mut Rng) -> Keys {
    loop {
        if let Ok(secret) = SecretKey::from_slice(&rng.bytes32()) {
            return Keys::new(secret);
        }
    }
}

/// Sends one NIP-46 request from `keys` to `remote` over `POST /nip46/request`; `Ok` carries the
/// decrypted reply's `result` (`Ok`) or `error` (`Err`).
pub(super) async fn nip46(
    relay: SocketAddr,
    keys: &Keys,
    remote: &PublicKey,
    method: &str,
    params: Value,
) -> Answer<Result<String, String>> {
    let id = format!(
        "{method}-{}",
        keys.public_key().to_hex().get(..8).unwrap_or("")
    );
    let request = json!({"id": id, "method": method, "params": params}).to_string();
    let event = match nip44::encrypt(keys.secret_key(), remote, &request, nip44::Version::V2)
        .map_err(|e| e.to_string())
        .and_then(|content| {
            EventBuilder::new(Kind::NostrConnect, content)
                .tag(Tag::public_key(*remote))
                .sign_with_keys(keys)
                .map_err(|e| e.to_string())
        }) {
        Ok(event) => event,
        Err(e) => return Answer::Unexpected(format!("building a {method} request: {e}")),
    };
    let what = format!("{method} to {remote}");
    let answer = send(
        relay,
        Method::POST,
        "/nip46/request",
        &[],
        Some(event.as_json()),
    )
    .await;
    let (status, bytes) = match answer {
        Err(failure) => return failure.answer(&what),
        Ok(answer) => answer,
    };
    let text = String::from_utf8_lossy(&bytes);
    if is_load_refusal(status) {
        return Answer::Refused(format!("{what}: {status} {text}"));
    }
    if status != 200 {
        return Answer::Unexpected(format!("{what}: {status} {text}"));
    }
    match open(keys, remote, &text, &id) {
        Ok(Err(error)) if error.starts_with("rate-limited:") => {
            Answer::Refused(format!("{what}: {error}"))
        }
        Ok(reply) => Answer::Ok(reply),
        Err(e) => Answer::Unexpected(format!("{what}: {e}: {text}")),
    }
}

/// Checks a response event (signed by `remote`, `p`-tagging the client) and decrypts its reply to
/// request `id`.
fn open(
    keys: &Keys,
    remote: &PublicKey,
    text: &str,
    id: &str,
) -> Result<Result<String, String>, String> {
    let event = Event::from_json(text).map_err(|e| format!("response event: {e}"))?;
    event
        .verify()
        .map_err(|e| format!("response signature: {e}"))?;
    if event.pubkey != *remote {
        return Err("response not signed by the remote signer".into());
    }
    let me = keys.public_key();
    if !event.tags.public_keys().any(|p| *p == me) {
        return Err("response does not p-tag the client".into());
    }
    let plain = nip44::decrypt(keys.secret_key(), remote, &event.content)
        .map_err(|e| format!("NIP-44 decrypt: {e}"))?;
    let reply: Value = serde_json::from_str(&plain).map_err(|e| format!("reply JSON: {e}"))?;
    if reply["id"] != id {
        return Err(format!("reply to another request: {reply}"));
    }
    match (reply["result"].as_str(), reply["error"].as_str()) {
        (_, Some(error)) if !error.is_empty() => Ok(Err(error.to_owned())),
        (Some(result), _) => Ok(Ok(result.to_owned())),
        _ => Err(format!("reply without result: {reply}")),
    }
}

/// `connect` with `secret`; acknowledged when answered `"ack"`.
pub(super) async fn connect(
    relay: SocketAddr,
    keys: &Keys,
    remote: &PublicKey,
    secret: &str,
) -> Answer<()> {
    let params = json!([remote.to_hex(), secret]);
    match nip46(relay, keys, remote, "connect", params).await {
        Answer::Ok(Ok(result)) if result == "ack" => Answer::Ok(()),
        Answer::Ok(other) => Answer::Unexpected(format!("connect answered {other:?}")),
        failed => failed.other(),
    }
}

/// `sign_event` of a kind-1 note with `content`; acknowledged when the signed event verifies, is
/// by `user` and carries `content`.
pub(super) async fn sign(
    relay: SocketAddr,
    keys: &Keys,
    remote: &PublicKey,
    user: &PublicKey,
    content: &str,
) -> Answer<Event> {
    let now = nostr::Timestamp::now().as_secs();
    let template = json!({"kind": 1, "content": content, "tags": [], "created_at": now});
    let params = json!([template.to_string()]);
    let reply = match nip46(relay, keys, remote, "sign_event", params).await {
        Answer::Ok(reply) => reply,
        failed => return failed.other(),
    };
    let signed = match reply {
        Ok(signed) => signed,
        Err(error) => return Answer::Unexpected(format!("sign_event for {user}: {error}")),
    };
    let check = Event::from_json(&signed)
        .map_err(|e| e.to_string())
        .and_then(|event| {
            event.verify().map_err(|e| e.to_string())?;
            if event.pubkey != *user {
                return Err(format!("signed by {} instead", event.pubkey));
            }
            if event.content != content {
                return Err("another content".into());
            }
            Ok(event)
        });
    match check {
        Ok(event) => Answer::Ok(event),
        Err(e) => Answer::Unexpected(format!("sign_event for {user}: {e}: {signed}")),
    }
}

/// The remote-signer pubkey and secret of a `bunker://` URI.
pub(super) fn parse_uri(uri: &str) -> Result<(PublicKey, String), String> {
    let rest = uri.strip_prefix("bunker://").ok_or("not a bunker:// URI")?;
    let (remote, query) = rest.split_once('?').ok_or("bunker URI without a query")?;
    let remote = PublicKey::from_hex(remote).map_err(|e| format!("bunker URI pubkey: {e}"))?;
    let secret = query
        .split('&')
        .find_map(|p| p.strip_prefix("secret="))
        .ok_or("bunker URI without a secret")?;
    Ok((remote, secret.to_owned()))
}
