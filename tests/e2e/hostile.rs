//! Hostile peers on the relay port, each against the real server: a client that stops reading is
//! closed after the write timeout and what was queued for it freed; websockets that hold no
//! subscription, or answer no ping, are closed; HTTP keep-alive connections count against the
//! connection limits and are closed when idle; a flood of forged events from many addresses costs
//! the tenant nothing while its real client is served; a reply over the size cap is an error reply.

use crate::metrics::{scrape, value, wait_for_gauge};
use crate::refusal_replies::wait_for;
use crate::support::raw::{pk, request_event, secret_of, RawClient, Transport};
use crate::support::TestServer;
use nostr::{JsonUtil, Keys, PublicKey};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn closed(scrape: &str, reason: &str) -> f64 {
    value(
        scrape,
        "bunkerd_connections_closed_total",
        &[("reason", reason)],
    )
}

/// A websocket opened by hand on a socket from `from` with a receive buffer of `rcvbuf` bytes
/// (the kernel may round it), after the 101.
async fn raw_websocket(addr: SocketAddr, from: IpAddr, rcvbuf: Option<u32>) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A masked client text frame (mask key 0, which leaves the payload as it is).
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Reads (and discards) until the relay ends the connection; returns the opcodes of the frames
/// seen in its last 64 KiB (enough for the control frames at the end). Bounded: 15 s.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                tail.extend_from_slice(&buf[..n]);
                let cut = tail.len().saturating_sub(65536);
                tail.drain(..cut);
            }
            Err(_) => panic!("the relay did not close the connection within 15 s"),
        }
    }
    tail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_after_the_write_timeout_and_its_bytes_freed() {
    let server = TestServer::start_with(|c| c.limits.write_timeout_secs = 2).await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = server.connected(&user).await;
    // The stalled connection watches the client's replies (a `#p` filter names any key) and never
    // reads: every large reply to the client is delivered to it too.
    let mut stalled = raw_websocket(
        server.server.relay_addr,
        "127.0.0.1".parse().unwrap(),
        Some(4096),
    )
    .await;
    let req =
        json!(["REQ", "watch", {"kinds": [24133], "#p": [client.keys.public_key().to_hex()]}]);
    stalled
        .write_all(&text_frame(req.to_string().as_bytes()))
        .await
        .unwrap();
    let before = scrape(&server).await;

    // ~48 KiB replies (NIP-44 encryption of 36 KB), until the stalled socket's buffers are full
    // and the relay gives up on it: each reply also reaches the client, which keeps reading.
    let plaintext = "x".repeat(36_000);
    let started = Instant::now();
    let mut sent = 0;
    while closed(&scrape(&server).await, "write_timeout") == closed(&before, "write_timeout") {
        assert!(
            started.elapsed() < Duration::from_secs(60) && sent < 400,
            "not closed after {sent} replies"
        );
        let reply = client
            .request(
                &remote,
                "nip44_encrypt",
                vec![client.keys.public_key().to_hex(), plaintext.clone()],
                Transport::Nip44,
            )
            .await;
        assert!(reply["result"].as_str().is_some_and(|r| r.len() > 40_000));
        sent += 1;
    }
    // Closed: its socket ends, and nothing stays charged for it.
    read_until_closed(&mut stalled).await;
    wait_for_gauge(&server, "bunkerd_outbound_bytes", 0.0).await;
    let after = scrape(&server).await;
    assert_eq!(
        closed(&after, "write_timeout") - closed(&before, "write_timeout"),
        1.0
    );
    // The reading client was never cut off.
    let reply = client
        .request(&remote, "ping", vec![], Transport::Nip44)
        .await;
    assert_eq!(reply["result"], "pong");
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_without_a_subscription_or_silent_after_a_ping_are_closed() {
    let server = TestServer::start_with(|c| {
        c.limits.idle_without_subscription_secs = 1;
        c.limits.ping_interval_secs = 1;
    })
    .await;
    let addr = server.server.relay_addr;
    let before = scrape(&server).await;

    // No subscription: closed with 1008 after the idle limit, though it answers pings.
    let mut idle = RawClient::connect(addr).await;
    assert_eq!(idle.close_code().await, 1008);
    wait_for(&server, closed(&before, "no_subscription") + 1.0, |s| {
        closed(s, "no_subscription")
    })
    .await;

    // Subscribed and answering pings (the client library pongs them).
    let mut alive = RawClient::connect(addr).await;
    alive.subscribe().await;

    // Subscribed but silent: pinged, then closed.
    let mut silent = raw_websocket(addr, "127.0.0.1".parse().unwrap(), None).await;
    let req = json!(["REQ", "s", {"kinds": [24133], "#p": ["ab".repeat(32)]}]);
    silent
        .write_all(&text_frame(req.to_string().as_bytes()))
        .await
        .unwrap();
    // Meanwhile the subscribed client only answers the relay's pings, never sending a message
    // of its own: it stays open.
    let (tail, ()) = tokio::join!(
        read_until_closed(&mut silent),
        alive.listen_for(Duration::from_millis(3500))
    );
    assert!(tail.windows(2).any(|w| w == [0x89, 0x00]), "pinged first");
    wait_for(&server, closed(&before, "ping_timeout") + 1.0, |s| {
        closed(s, "ping_timeout")
    })
    .await;
    assert_eq!(
        closed(&scrape(&server).await, "ping_timeout"),
        closed(&before, "ping_timeout") + 1.0,
        "the answering client was kept"
    );
    server.server.stop().await;
}

/// One `GET /` on a kept-alive connection; the status.
async fn get_root(stream: &mut TcpStream, addr: SocketAddr) -> u16 {
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    crate::http_nip46::read_answer(stream).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_count_against_the_limits_and_idle_ones_are_closed() {
    let server = TestServer::start_with(|c| {
        c.limits.max_connections_per_ip = 2;
        c.limits.http_idle_timeout_secs = 1;
    })
    .await;
    let addr = server.server.relay_addr;
    let before = scrape(&server).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert_eq!(get_root(&mut first, addr).await, 200);
    assert_eq!(get_root(&mut second, addr).await, 200);
    // Both kept alive: a third from the same address is refused before anything is read.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let mut refusal = String::new();
    third.read_to_string(&mut refusal).await.unwrap();
    assert!(
        refusal.starts_with("HTTP/1.1 429") && refusal.contains("rate-limited:"),
        "{refusal}"
    );
    let refused = |s: &str| {
        value(
            s,
            "bunkerd_limit_refusals_total",
            &[("limit", "ip_connections")],
        )
    };
    assert_eq!(refused(&scrape(&server).await) - refused(&before), 1.0);
    // Another address is not refused.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = socket.connect(addr).await.unwrap();
    assert_eq!(get_root(&mut other, addr).await, 200);
    // Idle past the timeout, the kept-alive connections are closed, and their slots come back.
    read_until_closed(&mut first).await;
    read_until_closed(&mut second).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut again = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let _ = again.write_all(request.as_bytes()).await;
        let mut answer = String::new();
        let _ = again.read_to_string(&mut answer).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "slots not given back: {answer}");
    }
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_flood_from_many_addresses_costs_the_tenant_nothing() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = server.connected(&user).await;
    // The tenant's own rate: 5/s, burst 10. Forged events naming the real client's key must not
    // spend it.
    let limits = json!({"limits": {"requests_per_sec": 5, "burst": 10}});
    server
        .admin()
        .patch_ok(&format!("/v1/tenants/{}", user.tenant), limits)
        .await;
    let before = scrape(&server).await;
    let victim = client.keys.clone();
    let addr = server.server.relay_addr;
    let mut flooders = Vec::new();
    for n in 0..8u8 {
        let victim = victim.clone();
        flooders.push(tokio::spawn(async move {
            forged_flood(
                addr,
                IpAddr::from([127, 0, 2, n + 1]),
                &victim,
                &remote,
                150,
            )
            .await
        }));
    }
    // Meanwhile the real client is served, every request.
    for _ in 0..8 {
        let reply = client
            .request(&remote, "ping", vec![], Transport::Nip44)
            .await;
        assert_eq!(reply["result"], "pong");
    }
    let mut refused = 0;
    for flooder in flooders {
        refused += flooder.await.unwrap();
    }
    assert_eq!(refused, 8 * 150, "every forged event refused");
    let after = scrape(&server).await;
    let tenant = [("tenant", user.tenant.as_str())];
    assert_eq!(
        value(&after, "bunkerd_rate_limited_total", &tenant),
        value(&before, "bunkerd_rate_limited_total", &tenant),
        "no charge to the tenant's budget"
    );
    let invalid = |s: &str| value(s, "bunkerd_events_rejected_total", &[("reason", "invalid")]);
    assert!(invalid(&after) - invalid(&before) >= 1.0);
    server.server.stop().await;
}

/// Sends `count` events from `from` that claim to be `victim`'s requests to `remote` but carry
/// a broken signature; returns how many were refused (`invalid:` or `rate-limited:` by the
/// connection's or address's own buckets).
async fn forged_flood(
    addr: SocketAddr,
    from: IpAddr,
    victim: &Keys,
    remote: &PublicKey,
    count: usize,
) -> usize {
    let mut stream = raw_websocket(addr, from, None).await;
    let mut ids = std::collections::HashSet::new();
    for n in 0..count {
        let request = json!({"id": format!("forged-{n}"), "method": "ping", "params": []});
        let event = request_event(victim, remote, &request.to_string(), Transport::Nip44);
        let mut forged: Value = serde_json::from_str(&event.as_json()).unwrap();
        let sig = forged["sig"].as_str().unwrap().to_owned();
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        forged["sig"] = format!("{flipped}{}", &sig[1..]).into();
        ids.insert(forged["id"].as_str().unwrap().to_owned());
        let message = json!(["EVENT", forged]).to_string();
        stream
            .write_all(&text_frame(message.as_bytes()))
            .await
            .unwrap();
    }
    // Read OKs (unmasked server frames of under 64 KiB) until every event has one.
    let mut refused = 0;
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(30);
    while refused < ids.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut buf))
            .await
            .expect("OKs within 30 s")
            .unwrap();
        assert!(n > 0, "closed");
        pending.extend_from_slice(&buf[..n]);
        while let Some((payload, used)) = server_frame(&pending) {
            let message: Value = serde_json::from_slice(payload).unwrap();
            pending.drain(..used);
            if message[0] == "OK" {
                assert_eq!(message[2], false, "{message}");
                let why = message[3].as_str().unwrap();
                assert!(
                    why.starts_with("invalid: event id or signature")
                        || why.starts_with("rate-limited: too many events"),
                    "{why}"
                );
                refused += 1;
            }
        }
    }
    refused
}

/// The payload of the first whole unmasked frame in `bytes` and the bytes it takes.
fn server_frame(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let (len, start) = match *bytes.get(1)? {
        n if n < 126 => (n as usize, 2),
        126 => (
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
            4,
        ),
        _ => return None,
    };
    let payload = bytes.get(start..start + len)?;
    Some((payload, start + len))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_over_the_size_cap_is_an_error_reply_under_nip04_too() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let params = vec![String::new(), secret_of(&user.bunker_uri)];
    let ack = client
        .request(&remote, "connect", params, Transport::Nip04)
        .await;
    assert_eq!(ack["result"], "ack");
    // A NIP-04 ciphertext (from the client's own key to the user) whose plaintext is 70,000
    // bytes: decrypting it would make a reply over 65,535 bytes.
    let user = client
        .request(&remote, "get_public_key", vec![], Transport::Nip04)
        .await;
    let user_pk = pk(user["result"].as_str().unwrap());
    let big = "y".repeat(70_000);
    let ciphertext = nostr::nips::nip04::encrypt(client.keys.secret_key(), &user_pk, &big).unwrap();
    let reply = client
        .request(
            &remote,
            "nip04_decrypt",
            vec![client.keys.public_key().to_hex(), ciphertext],
            Transport::Nip04,
        )
        .await;
    assert_eq!(
        reply["error"], "result too large for a reply (at most 65535 bytes)",
        "{reply}"
    );
    server.server.stop().await;
}
