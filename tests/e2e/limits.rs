//! Limits and fairness on the wire: every connection and address limit refuses with its
//! NIP-01 prefix (`rate-limited:` for rates and connection counts, so a client can tell a limit
//! from an outage; `blocked:`/`invalid:` for subscription and filter counts), and each refusal
//! moves `bunkerd_limit_refusals_total{limit}` by exactly one; behind a proxy (`real-ip-header`)
//! each forwarded client address is counted on its own; a tenant that floods the signer queue is
//! refused alone while another tenant is served without a single refusal.

use crate::metrics::{scrape, value, wait_for_gauge};
use crate::support::raw::{is_refusal_reply, pk, secret_of, RawClient, Transport};
use crate::support::{TestServer, User};
use nostr::PublicKey;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn limit_refusals(scrape: &str, limit: &str) -> f64 {
    value(scrape, "bunkerd_limit_refusals_total", &[("limit", limit)])
}

/// Sends a websocket upgrade request and returns the HTTP status and body of a refusal (or the
/// status alone for an accepted upgrade).
async fn upgrade_status(addr: SocketAddr) -> (u16, String) {
    let (status, body, _stream) = upgrade(addr, "").await;
    (status, body)
}

/// Sends a websocket upgrade request with `extra` header lines (each ending in CRLF); returns the
/// status, the body of a refusal, and the open stream (an accepted connection stays counted while
/// it is held).
async fn upgrade(addr: SocketAddr, extra: &str) -> (u16, String, tokio::net::TcpStream) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    // Read the head, and the body of a refusal (the server sends it whole, then keeps the
    // connection open), until the response is complete.
    let complete = |r: &[u8]| {
        let text = String::from_utf8_lossy(r);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")?
                    .parse()
                    .ok()
            })
            .unwrap_or(0usize);
        body.len() >= length
    };
    while !complete(&response) {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an HTTP response")
            .unwrap();
        assert!(n > 0, "connection closed before a whole response");
        response.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(response).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_and_address_limits_refuse_with_their_prefix_and_are_counted() {
    let server = TestServer::start_with(|c| {
        c.limits.events_per_sec = 1;
        c.limits.events_burst = 3;
        c.limits.ip_events_per_sec = 0;
        c.limits.max_connections_per_ip = 2;
        c.limits.max_subscriptions_per_ip = 3;
        c.limits.max_filters = 2;
        c.limits.tenant_requests_per_sec = 0;
    })
    .await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let relay = server.server.relay_addr;
    let before = scrape(&server).await;

    // Events: a burst of pipelined pings on one connection; the connection's bucket (burst 3,
    // 1/s) admits the first ones and refuses the rest with `rate-limited:`.
    let opened = Instant::now();
    let mut a = RawClient::connect(relay).await;
    let params = vec![String::new(), secret_of(&user.bunker_uri)];
    let ack = a
        .request(&remote, "connect", params, Transport::Nip44)
        .await;
    assert_eq!(ack["result"], "ack");
    let mut ids = Vec::new();
    for n in 0..10 {
        let request = json!({"id": format!("p{n}"), "method": "ping", "params": []});
        let event = a.request_event(&remote, &request.to_string(), Transport::Nip44);
        ids.push(event.id.to_hex());
        a.send_text(&json!(["EVENT", event]).to_string()).await;
    }
    let mut verdicts: HashMap<String, (bool, String)> = HashMap::new();
    while verdicts.len() < ids.len() {
        let message = a.next().await;
        if message[0] == "OK" {
            let id = message[1].as_str().unwrap().to_owned();
            let ok = message[2].as_bool().unwrap();
            verdicts.insert(id, (ok, message[3].as_str().unwrap().to_owned()));
        }
    }
    let refused_events = verdicts
        .values()
        .filter(|(ok, message)| {
            !ok && message == "rate-limited: too many events on this connection; slow down"
        })
        .count();
    let accepted = verdicts.values().filter(|(ok, _)| *ok).count();
    assert_eq!(refused_events + accepted, 10, "{verdicts:?}");
    // The bucket admits at most its burst (3, of which `connect` took one) plus one event per
    // started second since the connection opened: bounded by the time that really passed, since
    // once refused the connection is served by the SCHED_IDLE thread, which a machine busy with
    // other tests may leave waiting for seconds.
    let refills = opened.elapsed().as_secs_f64().ceil() as usize;
    assert!(
        refused_events >= 1 && accepted <= 2 + refills,
        "a burst of 3 plus {refills} refills: {verdicts:?}"
    );

    // Subscriptions: 3 per address over both connections (`a` holds one already, for its replies),
    // then `blocked:`; filters: 2 per REQ.
    let filter = json!({"kinds": [24133], "#p": [a.keys.public_key().to_hex()]});
    let mut b = RawClient::connect(relay).await;
    let mut closed = Vec::new();
    for (on_a, sub, filters) in [
        (true, "s1", 1),
        (false, "s3", 2),
        (false, "s4", 1),
        (false, "s5", 3),
    ] {
        let client = if on_a { &mut a } else { &mut b };
        let mut req = vec![json!("REQ"), json!(sub)];
        req.extend(std::iter::repeat_n(filter.clone(), filters));
        client.send_text(&Value::Array(req).to_string()).await;
        let answer = client
            .next_matching(|v| (v[0] == "EOSE" || v[0] == "CLOSED") && v[1] == sub)
            .await;
        if answer[0] == "CLOSED" {
            closed.push((sub, answer[2].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(
        closed,
        vec![
            (
                "s4",
                "blocked: too many open subscriptions from your address".to_owned()
            ),
            ("s5", "invalid: too many filters in one REQ".to_owned()),
        ]
    );

    // Connections: 2 per address; the third upgrade is refused with 429 and `rate-limited:`.
    let (status, body) = upgrade_status(relay).await;
    assert_eq!(
        (status, body.as_str()),
        (
            429,
            "rate-limited: too many open connections from your address"
        )
    );

    let after = scrape(&server).await;
    let delta = |limit: &str| limit_refusals(&after, limit) - limit_refusals(&before, limit);
    assert_eq!(delta("connection_events"), refused_events as f64);
    assert_eq!(delta("ip_subscriptions"), 1.0);
    assert_eq!(delta("filters_per_req"), 1.0);
    assert_eq!(delta("ip_connections"), 1.0);
    for untouched in [
        "connections",
        "ip_events",
        "tenant_rate",
        "tenant_queue",
        "queue",
    ] {
        assert_eq!(delta(untouched), 0.0, "{untouched}");
    }
    let rejected = |s: &str| {
        value(
            s,
            "bunkerd_events_rejected_total",
            &[("reason", "rate_limited")],
        )
    };
    assert_eq!(rejected(&after) - rejected(&before), refused_events as f64);
    // `a`'s `rate-limited:` refusals demoted it (once: its 10-s hold outlasts the test); `b`'s
    // `blocked:` and `invalid:` CLOSEDs did not demote it.
    let demotions = |s: &str| value(s, "bunkerd_websocket_connection_demotions_total", &[]);
    assert_eq!(demotions(&after) - demotions(&before), 1.0);
    server.server.stop().await;
}

/// Two users in two tenants, each with a client connected (NIP-46 `connect` acknowledged): user,
/// client, remote-signer pubkey.
async fn two_tenants(server: &TestServer) -> [(User, RawClient, PublicKey); 2] {
    let user_a = server.provision(None).await;
    let user_b = server.provision(None).await;
    assert_ne!(user_a.tenant, user_b.tenant);
    let connect = async |user: User| {
        let client = server.connected(&user).await;
        let remote = pk(&user.remote_signer_pubkey);
        (user, client, remote)
    };
    [connect(user_a).await, connect(user_b).await]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_flooding_the_signer_queue_is_refused_alone() {
    // One worker, tiny per-tenant lanes: tenant A pipelines far more than its lane holds; tenant B
    // never has more than its lane's worth waiting, and the whole queue has room for both lanes.
    let server = TestServer::start_with(|c| {
        c.workers = 1;
        c.queue_capacity = 8;
        c.tenant_queue_capacity = 2;
        c.limits.events_per_sec = 0;
        c.limits.ip_events_per_sec = 0;
        c.limits.tenant_requests_per_sec = 0;
    })
    .await;
    let [(user_a, mut a, remote_a), (user_b, mut b, remote_b)] = two_tenants(&server).await;
    let before = scrape(&server).await;

    // A: 200 pipelined sign_event requests.
    let template = json!({"kind": 1, "content": "flood", "tags": []}).to_string();
    let flood: Vec<String> = (0..200)
        .map(|n| {
            let request =
                json!({"id": format!("a{n}"), "method": "sign_event", "params": [template]});
            let event = a.request_event(&remote_a, &request.to_string(), Transport::Nip44);
            json!(["EVENT", event]).to_string()
        })
        .collect();
    let flooding = tokio::spawn(async move {
        for text in &flood {
            a.send_text(text).await;
        }
        let mut ok = 0;
        let mut refused = Vec::new();
        while ok + refused.len() < flood.len() {
            let message = a.next().await;
            if message[0] == "OK" {
                if message[2] == true {
                    ok += 1;
                } else {
                    refused.push(message[3].as_str().unwrap().to_owned());
                }
            }
        }
        (ok, refused)
    });
    // B, meanwhile: 20 requests, one at a time; every one is answered.
    for n in 0..20 {
        let template = json!({"kind": 1, "content": format!("b{n}"), "tags": []}).to_string();
        let reply = b
            .request(&remote_b, "sign_event", vec![template], Transport::Nip44)
            .await;
        assert!(reply["result"].is_string(), "B's request {n}: {reply}");
    }
    let (a_ok, a_refused) = flooding.await.unwrap();
    assert!(
        !a_refused.is_empty(),
        "200 pipelined requests overflow a lane of 2 (A got {a_ok} OK true)"
    );
    assert!(
        a_refused
            .iter()
            .all(|m| m
                == "rate-limited: this organization has too many requests waiting; retry shortly"),
        "{a_refused:?}"
    );

    let after = scrape(&server).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let refused = a_refused.len() as f64;
    assert_eq!(
        delta("bunkerd_limit_refusals_total", &[("limit", "tenant_queue")]),
        refused
    );
    // A full tenant lane demotes the flooding connection (once: the hold is 10 s), never B's.
    assert_eq!(
        delta("bunkerd_websocket_connection_demotions_total", &[]),
        1.0
    );
    assert_eq!(
        delta("bunkerd_limit_refusals_total", &[("limit", "queue")]),
        0.0
    );
    assert_eq!(
        delta("bunkerd_rate_limited_total", &[("tenant", &user_a.tenant)]),
        refused
    );
    assert_eq!(
        delta("bunkerd_rate_limited_total", &[("tenant", &user_b.tenant)]),
        0.0,
        "B is never refused"
    );
    assert_eq!(
        delta(
            "bunkerd_requests_total",
            &[
                ("tenant", &user_b.tenant),
                ("method", "sign_event"),
                ("outcome", "ok")
            ]
        ),
        20.0
    );
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_each_forwarded_address_is_counted_on_its_own() {
    let server = TestServer::start_with(|c| {
        c.real_ip_header = Some("x-forwarded-for".to_owned());
        c.limits.max_connections_per_ip = 1;
    })
    .await;
    let relay = server.server.relay_addr;
    let before = scrape(&server).await;
    // All three come from 127.0.0.1; the proxy's header names the client (its last entry).
    let first = upgrade(relay, "X-Forwarded-For: 203.0.113.1\r\n").await;
    assert_eq!(first.0, 101, "{}", first.1);
    let same = upgrade(relay, "X-Forwarded-For: 198.51.100.9, 203.0.113.1\r\n").await;
    assert_eq!(
        (same.0, same.1.as_str()),
        (
            429,
            "rate-limited: too many open connections from your address"
        )
    );
    let other = upgrade(relay, "X-Forwarded-For: 203.0.113.1, 203.0.113.2\r\n").await;
    assert_eq!(
        other.0, 101,
        "another client behind the same proxy: {}",
        other.1
    );
    let after = scrape(&server).await;
    assert_eq!(
        limit_refusals(&after, "ip_connections") - limit_refusals(&before, "ip_connections"),
        1.0
    );
    drop((first, other));
    server.server.stop().await;
}

/// Sends `count` pipelined sign_event requests from `client` and reads until each has its one OK
/// and each admitted one its response (a refused one's error reply, if any, may come later);
/// returns the OKs by event id (accepted, message).
async fn flood(
    client: &mut RawClient,
    remote: &PublicKey,
    count: usize,
) -> HashMap<String, (bool, String)> {
    let template = json!({"kind": 1, "content": "flood", "tags": []}).to_string();
    let mut sent = Vec::new();
    for n in 0..count {
        let request = json!({"id": format!("f{n}"), "method": "sign_event", "params": [template]});
        let event = client.request_event(remote, &request.to_string(), Transport::Nip44);
        sent.push(event.id.to_hex());
        client.send_text(&json!(["EVENT", event]).to_string()).await;
    }
    let mut oks: HashMap<String, (bool, String)> = HashMap::new();
    let mut responses = 0;
    while oks.len() < sent.len() || responses < oks.values().filter(|(ok, _)| *ok).count() {
        let message = client.next().await;
        if message[0] == "OK" {
            let id = message[1].as_str().unwrap().to_owned();
            let verdict = (message[2] == true, message[3].as_str().unwrap().to_owned());
            assert!(oks.insert(id, verdict).is_none(), "one OK per event");
        } else if message[0] == "EVENT" && message[1] == "replies" {
            // Refused requests may get an error reply too; only the admitted ones' count here.
            let reply = client.open_reply(remote, &message, Transport::Nip44);
            if !is_refusal_reply(&reply) {
                responses += 1;
            }
        }
    }
    let mut ids: Vec<_> = oks.keys().cloned().collect();
    ids.sort();
    sent.sort();
    assert_eq!(ids, sent, "every event answered once");
    oks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_connection_is_demoted_still_served_and_moved_back() {
    // Every tenant: 2 requests/s, burst 4; a connection stays demoted 1 s after its last
    // rate-limited refusal. A long grace: at the end the demoted connection must be moved back for
    // its close, and its SCHED_IDLE thread only runs when the cores are free of other tests.
    let server = TestServer::start_with(|c| {
        c.limits.tenant_requests_per_sec = 2;
        c.limits.tenant_burst = 4;
        c.limits.rate_limited_demotion_secs = 1;
        c.shutdown_grace = Duration::from_secs(30);
    })
    .await;
    let before = scrape(&server).await;
    let delta = |after: &str, name: &str, labels: &[(&str, &str)]| {
        value(after, name, labels) - value(&before, name, labels)
    };
    let [(user_a, mut a, remote_a), (user_b, mut b, remote_b)] = two_tenants(&server).await;

    // A pipelines 20 sign_event requests: its bucket (3 tokens left after connect) admits a few,
    // the rest are refused, and the first refusal moves A's socket to the demoted-I/O thread while
    // the rest of A's frames are still unread. Every request still gets exactly one OK, and every
    // admitted one its response (checked by `flood`).
    let oks = flood(&mut a, &remote_a, 20).await;
    let refused: Vec<_> = oks.values().filter(|(ok, _)| !ok).collect();
    assert!(!refused.is_empty(), "{oks:?}");
    assert!(
        refused.iter().all(|(_, m)| m.starts_with("rate-limited: ")),
        "{refused:?}"
    );
    let scraped = scrape(&server).await;
    let demotions = delta(
        &scraped,
        "bunkerd_websocket_connection_demotions_total",
        &[],
    );
    assert!(demotions >= 1.0, "A was demoted: {demotions}");

    // B, another tenant, is served meanwhile, and never refused (so never demoted).
    let template = json!({"kind": 1, "content": "b", "tags": []}).to_string();
    let reply = b
        .request(&remote_b, "sign_event", vec![template], Transport::Nip44)
        .await;
    assert!(reply["result"].is_string(), "{reply}");

    // A, sending nothing more, moves back when its hold ends, and is served there.
    wait_for_gauge(&server, "bunkerd_websocket_connections_demoted", 0.0).await;
    // The check below spends two of A's tokens, which the hold alone does not guarantee (on a busy
    // machine the SCHED_IDLE thread may read A's frames so slowly that a refill admits one after
    // the last refusal). A's burst raised by one through the admin API instead: a changed quota
    // rebuilds the tenant's bucket, full, at its next request (`ratelimit.rs`).
    let fresh_bucket = json!({"limits": {"requests_per_sec": 2, "burst": 5}});
    server
        .admin()
        .patch_ok(&format!("/v1/tenants/{}", user_a.tenant), fresh_bucket)
        .await;
    crate::support::assert_still_served(&mut a, &user_a, "after the demotion hold").await;
    let scraped = scrape(&server).await;
    assert_eq!(
        value(&scraped, "bunkerd_websocket_connections_demoted", &[]),
        0.0
    );
    assert_eq!(
        delta(
            &scraped,
            "bunkerd_rate_limited_total",
            &[("tenant", &user_a.tenant)]
        ),
        refused.len() as f64
    );
    assert_eq!(
        delta(
            &scraped,
            "bunkerd_rate_limited_total",
            &[("tenant", &user_b.tenant)]
        ),
        0.0
    );

    // Demoted again by a second flood (its bucket holds at most 5 of 10), A is still closed cleanly
    // (1001) when the relay stops: a demoted connection is moved back for its last writes.
    let oks = flood(&mut a, &remote_a, 10).await;
    assert!(oks.values().any(|(ok, _)| !ok), "{oks:?}");
    let scraped = scrape(&server).await;
    assert!(
        delta(
            &scraped,
            "bunkerd_websocket_connection_demotions_total",
            &[]
        ) > demotions,
        "demoted again"
    );
    let stopping = tokio::spawn(server.server.stop());
    assert_eq!(a.close_code().await, 1001, "the demoted connection");
    assert_eq!(b.close_code().await, 1001, "the other connection");
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_delays_another_tenants_demoted_request_only_briefly() {
    // One signer thread and no per-connection or per-address limits. A signer about to start a
    // demoted connection's job first waits, at most 0.3 ms, for the `OK`s it last handed to other
    // connections to be written (`pool.rs`); here those `OK`s never are.
    let server = TestServer::start_with(|c| {
        c.workers = 1;
        c.limits.events_per_sec = 0;
        c.limits.ip_events_per_sec = 0;
        c.limits.tenant_requests_per_sec = 0;
        c.limits.rate_limited_demotion_secs = 3600;
    })
    .await;
    let [(user_a, mut a, remote_a), (user_b, mut b, remote_b)] = two_tenants(&server).await;

    // A floods past a burst of 1 and is demoted for the rest of the test (every request still gets
    // its one OK); then its burst goes up so that each of its later requests is admitted (a changed
    // quota rebuilds the bucket full).
    let tenant_a = format!("/v1/tenants/{}", user_a.tenant);
    let quota = json!({"limits": {"requests_per_sec": 1, "burst": 1}});
    server.admin().patch_ok(&tenant_a, quota).await;
    let oks = flood(&mut a, &remote_a, 10).await;
    assert!(oks.values().any(|(ok, _)| !ok), "{oks:?}");
    let quota = json!({"limits": {"requests_per_sec": 100, "burst": 100}});
    server.admin().patch_ok(&tenant_a, quota).await;

    // B stops reading. A second connection with B's client key (the same session) signs large notes
    // and reads its replies; each reply also goes to B's subscription, until B's socket buffers are
    // full and its writer is stuck. Enough replies for that: the kernel's largest send buffer plus
    // twice the default receive buffer (B's, never read, does not grow), and 50 more.
    let mut d = RawClient::with_keys(server.server.relay_addr, b.keys.clone()).await;
    let note = "d".repeat(30_000);
    let template = json!({"kind": 1, "content": note, "tags": []}).to_string();
    let sysctl = |name: &str, field: usize| -> usize {
        let text = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap();
        text.split_whitespace().nth(field).unwrap().parse().unwrap()
    };
    let buffers = sysctl("tcp_wmem", 2) + 2 * sysctl("tcp_rmem", 1);
    // A reply is its signed 30,000-byte note, encrypted: more than 40,000 bytes on the wire.
    for _ in 0..buffers / 40_000 + 50 {
        let params = vec![template.clone()];
        let reply = d
            .request(&remote_b, "sign_event", params, Transport::Nip44)
            .await;
        assert!(reply["result"].is_string(), "{reply}");
    }

    // B pipelines 10 pings and reads nothing: they are signed and their `OK`s queued behind the
    // stuck writer, unwritten.
    let pings = |s: &str| {
        let labels = [
            ("tenant", user_b.tenant.as_str()),
            ("method", "ping"),
            ("outcome", "ok"),
        ];
        value(s, "bunkerd_requests_total", &labels)
    };
    let before = scrape(&server).await;
    for n in 0..10 {
        let request = json!({"id": format!("b{n}"), "method": "ping", "params": []});
        let event = b.request_event(&remote_b, &request.to_string(), Transport::Nip44);
        b.send_text(&json!(["EVENT", event]).to_string()).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while pings(&scrape(&server).await) < pings(&before) + 10.0 {
        assert!(tokio::time::Instant::now() < deadline, "B's pings not done");
        tokio::task::yield_now().await;
    }

    // A's next requests are demoted jobs. The first waits for B's `OK`s, which are never written,
    // until its bound; the others follow A's own (untracked) hand-overs and do not wait. All are
    // answered while B still reads nothing.
    for _ in 0..3 {
        crate::support::assert_still_served(&mut a, &user_a, "while B does not read").await;
    }
    let after = scrape(&server).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let waits = "bunkerd_pool_handover_waits_total";
    assert_eq!(delta(waits, &[("ended", "timeout")]), 1.0);
    assert_eq!(delta(waits, &[("ended", "written")]), 0.0);
    assert!(delta("bunkerd_pool_handover_wait_seconds_total", &[]) >= 0.000_3);
    assert_eq!(
        value(&after, "bunkerd_websocket_connections_demoted", &[]),
        1.0,
        "A is still demoted"
    );
    assert_eq!(
        delta("bunkerd_rate_limited_total", &[("tenant", &user_b.tenant)]),
        0.0
    );
    drop((b, d));
    server.server.stop().await;
}
