//! NIP-46 over HTTP on the relay's port: `POST /nip46/request` takes one signed request event and
//! answers the signed response event, through the same admission, limits, sessions and metrics as
//! a websocket `EVENT`; a session made over one transport serves the other; bad input gets its
//! status and `{"error":"<prefix>: …"}`; `GET /nip46/info` describes the signer.

use crate::admin_policy::signed_event;
use crate::metrics::{scrape, value};
use crate::support::raw::{pk, request_event, secret_of, RawClient, Transport};
use crate::support::{TestServer, User};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use nostr::{Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, Tag, Timestamp};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP answer.
struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, checking the content type.
    #[track_caller]
    fn json(&self) -> Value {
        assert_eq!(
            self.headers["content-type"], "application/json",
            "{}",
            self.status
        );
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Asserts an error answer: `status` and `{"error": <starts with prefix>}`.
    #[track_caller]
    fn assert_error(&self, status: u16, prefix: &str) {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(prefix),
            "{error:?} should start {prefix:?}"
        );
        assert_eq!(body.as_object().unwrap().len(), 1, "one shape: {body}");
    }
}

/// Sends one request to the relay's port on a fresh connection.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let res = tokio::time::timeout(Duration::from_secs(15), sender.send_request(req))
        .await
        .expect("an answer within 15 s")
        .unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// `POST /nip46/request` with `event` as its JSON body.
async fn post(addr: SocketAddr, event: &Event) -> Answer {
    let body = event.as_json();
    http(
        addr,
        "POST",
        "/nip46/request",
        Some("application/json"),
        &body,
    )
    .await
}

/// A client over HTTP: its keys and the remote signer it talks to.
struct HttpClient {
    addr: SocketAddr,
    keys: Keys,
    remote: PublicKey,
    next_id: u64,
}

impl HttpClient {
    fn new(server: &TestServer, user: &User, keys: Keys) -> Self {
        HttpClient {
            addr: server.server.relay_addr,
            keys,
            remote: pk(&user.remote_signer_pubkey),
            next_id: 0,
        }
    }

    /// A request event for `method` with `params` and a fresh id.
    fn event(&mut self, method: &str, params: Vec<String>) -> (String, Event) {
        self.next_id += 1;
        let id = format!("http-{}", self.next_id);
        let request = json!({"id": id, "method": method, "params": params}).to_string();
        let event = request_event(&self.keys, &self.remote, &request, Transport::Nip44);
        (id, event)
    }

    /// Sends a request over HTTP; checks the answer is 200 with a response event that verifies,
    /// comes from the remote signer, p-tags this client and answers this request's id; returns
    /// the response event and the decrypted reply.
    async fn request(&mut self, method: &str, params: Vec<String>) -> (Event, Value) {
        let (id, event) = self.event(method, params);
        let answer = post(self.addr, &event).await;
        assert_eq!(
            answer.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.headers["access-control-allow-origin"], "*");
        let response = Event::from_json(answer.json().to_string()).expect("an event");
        response.verify().expect("the response verifies");
        assert_eq!(response.pubkey, self.remote);
        assert_eq!(response.kind, Kind::NostrConnect);
        let me = self.keys.public_key();
        assert!(response.tags.public_keys().any(|p| *p == me));
        let plain =
            nostr::nips::nip44::decrypt(self.keys.secret_key(), &self.remote, &response.content)
                .expect("the response decrypts");
        let reply: Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(reply["id"], id.as_str());
        (response, reply)
    }
}

fn note(content: &str) -> Vec<String> {
    let template = json!({"kind": 1, "content": content, "tags": [], "created_at": crate::admin_policy::now()});
    vec![template.to_string()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connects_and_signs_a_note_over_http() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let mut client = HttpClient::new(&server, &user, Keys::generate());
    let before = scrape(&server).await;

    let secret = secret_of(&user.bunker_uri);
    let (_, ack) = client
        .request("connect", vec![user.remote_signer_pubkey.clone(), secret])
        .await;
    assert_eq!(ack["result"], "ack");
    let (_, key) = client.request("get_public_key", vec![]).await;
    assert_eq!(key["result"], user.user_pubkey.as_str());
    let (_, signed) = client.request("sign_event", note("hello over http")).await;
    let event = signed_event(&signed, &user);
    assert_eq!(event.content, "hello over http");

    // Counted like any request.
    let after = scrape(&server).await;
    let signed = |s: &str| {
        let labels = [
            ("tenant", user.tenant.as_str()),
            ("method", "sign_event"),
            ("outcome", "ok"),
        ];
        value(s, "bunkerd_requests_total", &labels)
    };
    assert_eq!(signed(&after) - signed(&before), 1.0);
    // The session is the same one the admin API lists.
    let sessions = server
        .admin()
        .get_ok(&format!(
            "/v1/tenants/{}/users/{}/sessions",
            user.tenant, user.id
        ))
        .await;
    assert_eq!(
        sessions["items"][0]["client_pubkey"],
        client.keys.public_key().to_hex()
    );
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_over_websockets_serves_http_and_back() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut ws = RawClient::connect(server.server.relay_addr).await;
    let params = vec![String::new(), secret_of(&user.bunker_uri)];
    let ack = ws
        .request(&remote, "connect", params, Transport::Nip44)
        .await;
    assert_eq!(ack["result"], "ack");

    // Over HTTP with the same client key: no new connect.
    let mut http_client = HttpClient::new(&server, &user, ws.keys.clone());
    let (response, reply) = http_client.request("sign_event", note("from http")).await;
    assert_eq!(signed_event(&reply, &user).content, "from http");
    // The response also went to the fan-out: the websocket subscription got the same event.
    let copy = ws
        .next_matching(|v| v[0] == "EVENT" && v[1] == "replies")
        .await;
    assert_eq!(copy[2]["id"], response.id.to_hex());

    // And back over the websocket.
    crate::support::assert_still_served(&mut ws, &user, "after HTTP").await;
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_posted_twice_is_a_duplicate() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let mut client = HttpClient::new(&server, &user, Keys::generate());
    // `ping` is answered without a session.
    let (_, event) = client.event("ping", vec![]);
    let first = post(client.addr, &event).await;
    assert_eq!(first.status, 200);
    let again = post(client.addr, &event).await;
    again.assert_error(409, "duplicate: ");
    // The websocket path knows it too: one id, one processing.
    let mut ws = RawClient::connect(server.server.relay_addr).await;
    let (accepted, message) = ws.publish(&event).await;
    assert!(accepted && message.starts_with("duplicate:"), "{message}");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_status_and_a_json_error() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let addr = server.server.relay_addr;
    let mut client = HttpClient::new(&server, &user, Keys::generate());
    let (_, ping) = client.event("ping", vec![]);
    let path = "/nip46/request";

    let wrong_type = http(addr, "POST", path, Some("text/plain"), &ping.as_json()).await;
    wrong_type.assert_error(415, "invalid: ");
    let none = http(addr, "POST", path, None, &ping.as_json()).await;
    none.assert_error(415, "invalid: ");
    let with_charset = Some("application/json; charset=utf-8");
    let (_, fine) = client.event("ping", vec![]);
    assert_eq!(
        http(addr, "POST", path, with_charset, &fine.as_json())
            .await
            .status,
        200
    );

    let json = Some("application/json");
    http(addr, "POST", path, json, "{not json")
        .await
        .assert_error(400, "invalid: ");
    http(addr, "POST", path, json, r#"{"kind":24133}"#)
        .await
        .assert_error(400, "invalid: ");

    // Refused by the relay's admission, as the websocket `OK` would say.
    let wrong_kind = EventBuilder::new(Kind::TextNote, "hi")
        .tag(Tag::public_key(client.remote))
        .sign_with_keys(&client.keys)
        .unwrap();
    post(addr, &wrong_kind).await.assert_error(403, "blocked: ");
    let stranger = Keys::generate().public_key();
    let elsewhere = request_event(&client.keys, &stranger, "{}", Transport::Nip44);
    post(addr, &elsewhere).await.assert_error(403, "blocked: ");
    let late = EventBuilder::new(Kind::NostrConnect, "x")
        .tag(Tag::public_key(client.remote))
        .custom_created_at(Timestamp::from(Timestamp::now().as_secs() - 3600))
        .sign_with_keys(&client.keys)
        .unwrap();
    post(addr, &late)
        .await
        .assert_error(400, "invalid: created_at");

    // Refused by the signer: a signature that does not verify.
    let (_, genuine) = client.event("ping", vec![]);
    let mut forged: Value = serde_json::from_str(&genuine.as_json()).unwrap();
    let sig = forged["sig"].as_str().unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    forged["sig"] = format!("{flipped}{}", &sig[1..]).into();
    let answer = http(addr, "POST", path, json, &forged.to_string()).await;
    answer.assert_error(400, "invalid: event id or signature");

    // Methods, and the CORS preflight of browser clients.
    let get = http(addr, "GET", path, None, "").await;
    get.assert_error(405, "invalid: ");
    assert_eq!(get.headers["allow"], "POST, OPTIONS");
    let preflight = http(addr, "OPTIONS", path, None, "").await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.headers["access-control-allow-origin"], "*");
    let methods = preflight.headers["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(
        methods.contains("POST") && methods.contains("OPTIONS"),
        "{methods}"
    );
    let headers = preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(
        headers.to_ascii_lowercase().contains("content-type"),
        "{headers}"
    );

    // Too large: declared, or sent without a length.
    let (status, body) = raw_post(addr, "Content-Length: 200000\r\n", b"").await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains(r#""error":"invalid: request body over"#),
        "{body}"
    );
    let chunk = vec![b' '; 128 * 1024 + 1];
    let mut chunked = format!("{:x}\r\n", chunk.len()).into_bytes();
    chunked.extend_from_slice(&chunk);
    let (status, body) = raw_post(addr, "Transfer-Encoding: chunked\r\n", &chunked).await;
    assert_eq!(status, 413, "{body}");
    server.server.stop().await;
}

/// Writes a `POST /nip46/request` head with `extra` header lines and then `body` on a raw socket,
/// and reads the answer's status and body (which the relay sends whole).
async fn raw_post(addr: SocketAddr, extra: &str, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /nip46/request HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}\r\n"
    );
    // A connection refused at accept is answered and closed: its writes may fail.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    read_answer(&mut stream).await
}

/// Reads one whole HTTP answer (by its `Content-Length`) from `stream`: its status and body. Fails
/// the test if the connection closes first or nothing comes for 15 s.
pub(crate) async fn read_answer(stream: &mut tokio::net::TcpStream) -> (u16, String) {
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")?
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            if rest.len() >= length {
                return (text[9..12].parse().unwrap(), rest.to_owned());
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf))
            .await
            .expect("an answer within 15 s")
            .unwrap();
        assert!(n > 0, "closed before a whole answer: {text}");
        response.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_take_the_address_and_tenant_buckets() {
    let server = TestServer::start_with(|c| {
        c.limits.ip_events_per_sec = 1;
        c.limits.ip_events_burst = 2;
    })
    .await;
    let user = server.provision(None).await;
    let before = scrape(&server).await;
    let mut client = HttpClient::new(&server, &user, Keys::generate());

    // The address's bucket (burst 2, 1/s): requests close behind each other are refused once it
    // is empty, `rate-limited:` as over a websocket.
    let started = Instant::now();
    let mut admitted = 0;
    let mut refused = None;
    for _ in 0..20 {
        let (_, event) = client.event("ping", vec![]);
        let answer = post(client.addr, &event).await;
        if answer.status == 429 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status, 200);
        admitted += 1;
    }
    let refused = refused.expect("20 requests in a row exceed a burst of 2 at 1/s");
    refused.assert_error(429, "rate-limited: too many events from your address");
    assert_eq!(refused.headers["retry-after"], "1");
    let refills = started.elapsed().as_secs_f64().ceil() as usize;
    assert!(admitted >= 2 && admitted <= 2 + refills, "{admitted}");
    let after = scrape(&server).await;
    let ip_events = |s: &str| value(s, "bunkerd_limit_refusals_total", &[("limit", "ip_events")]);
    assert_eq!(ip_events(&after) - ip_events(&before), 1.0);

    // The tenant's own rate (1/s, burst 1) on a server without address limits, for a client with
    // a session (a stranger's requests take the tenant's unpaired bucket instead).
    let server2 = TestServer::start().await;
    let user2 = server2.provision(None).await;
    let mut client2 = HttpClient::new(&server2, &user2, Keys::generate());
    let secret = secret_of(&user2.bunker_uri);
    client2
        .request("connect", vec![user2.remote_signer_pubkey.clone(), secret])
        .await;
    let limits = json!({"limits": {"requests_per_sec": 1, "burst": 1}});
    server2
        .admin()
        .patch_ok(&format!("/v1/tenants/{}", user2.tenant), limits)
        .await;
    let mut limited = None;
    for _ in 0..20 {
        let (_, event) = client2.event("ping", vec![]);
        let answer = post(client2.addr, &event).await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
        assert_eq!(answer.status, 200);
    }
    let limited = limited.expect("20 requests in a row exceed 1/s");
    limited.assert_error(429, "rate-limited: this organization's request rate");
    assert_eq!(limited.headers["retry-after"], "1");
    server.server.stop().await;
    server2.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_describes_the_signer() {
    let server = TestServer::start().await;
    let answer = http(server.server.relay_addr, "GET", "/nip46/info", None, "").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    let info = answer.json();
    let methods: Vec<&str> = info["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    // Exactly what the NIP-46 handler answers (`describe` gives the same list).
    assert_eq!(methods, proto::nip46::SUPPORTED_METHODS, "{info}");
    for nip in [1, 4, 11, 44, 46] {
        assert!(
            info["nips"].as_array().unwrap().contains(&json!(nip)),
            "{info}"
        );
    }
    assert_eq!(info["relays"], json!([server.relay_url()]));
    assert_eq!(info["transports"], json!(["websocket", "http"]));
    let post_info = http(server.server.relay_addr, "POST", "/nip46/info", None, "").await;
    post_info.assert_error(405, "invalid: ");
    server.server.stop().await;
}

/// A request whose body is still arriving holds one of its address's connection slots: with one
/// slot per address, a second request from the address is refused 429 before its body is read,
/// and once the slow one is gone the address is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_holds_its_addresss_connection_slot() {
    let server = TestServer::start_with(|c| c.limits.max_connections_per_ip = 1).await;
    let addr = server.server.relay_addr;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /nip46/request HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"id\":"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    // The slot is taken once the server has read the head; poll (bounded) until a second request
    // is refused for it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (status, body) = loop {
        let answer = raw_post(addr, "Content-Length: 2\r\n", b"{}").await;
        if answer.0 == 429 || Instant::now() > deadline {
            break answer;
        }
    };
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate-limited:"), "{body}");
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(15);
    let (status, body) = loop {
        let answer = raw_post(addr, "Content-Length: 2\r\n", b"{}").await;
        if answer.0 != 429 || Instant::now() > deadline {
            break answer;
        }
    };
    assert_eq!(
        status, 400,
        "served again once the slow request is gone: {body}"
    );
    server.server.stop().await;
}
