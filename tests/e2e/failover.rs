//! Failover: three `bunkerd serve` processes on one PostgreSQL and one NATS behind HAProxy, under
//! load from clients that reconnect as real ones do (through the balancer, subscribing again).
//! A node killed with SIGKILL leaves no request that got `OK true` unanswered and loses no
//! acknowledged write; a node started again joins without a restart of the others; a rolling
//! restart of every node fails no request.

use crate::support::admin::Admin;
use crate::support::cluster::Cluster;
use crate::support::raw::{self, Transport};
use crate::support::{create_user, User, OPERATOR_TOKEN};
use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload};
use nostr::nips::nip44;
use nostr::{Event, JsonUtil, Keys, PublicKey};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clients of the load, one user each.
const CLIENTS: usize = 9;
/// How long a request may wait for its reply, reconnections included.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);
/// How long a client waits for a request no node acknowledged to it before it gives up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(5);
/// Between a reply and a client's next request.
const PAUSE: Duration = Duration::from_millis(5);
/// How long a client keeps trying to reach the balancer before it gives up.
const RECONNECT_WITHIN: Duration = Duration::from_secs(20);

type Ws = FragmentCollector<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

/// What one client saw, shared with the test while it runs.
#[derive(Default)]
struct Tally {
    /// Requests answered with a verified reply.
    answered: AtomicUsize,
    /// Requests that got `OK true` (not a duplicate) on the connection they were sent on.
    acknowledged: AtomicUsize,
    /// Times the client had to dial the balancer again.
    reconnects: AtomicUsize,
    /// Sends answered `OK false "rate-limited: …"` (a stopping node), sent again.
    retried: AtomicUsize,
    /// Requests given up after [`GIVE_UP_AFTER`] without an `OK true` of their own.
    lost: AtomicUsize,
}

/// Why a client stopped early: a request that got `OK true` and never its reply, an error
/// reply, or no way back in.
type Failure = String;

/// One client's load: `sign_event` after `sign_event` through the balancer until `stop`.
async fn load(
    balancer: std::net::SocketAddr,
    keys: Keys,
    user: User,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) -> Result<(), Failure> {
    let remote = raw::pk(&user.remote_signer_pubkey);
    let mut ws = dial(balancer, &keys, &tally).await?;
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let id = format!("r{n}");
        let template = json!({"kind": 1, "content": format!("note {n}"), "tags": [], "created_at": crate::admin_policy::now()});
        let request = json!({"id": id, "method": "sign_event", "params": [template.to_string()]});
        let event = raw::request_event(&keys, &remote, &request.to_string(), Transport::Nip44);
        let started = Instant::now();
        // The reply comes before the `OK` (bunkerd acknowledges a request once its response is
        // delivered and retained); a request is done when both came, or its reply came and
        // the connection was cut before the `OK`.
        let (mut acknowledged, mut taken, mut replied, mut send) = (false, false, false, true);
        while !(replied && (acknowledged || taken)) {
            if acknowledged && started.elapsed() > ANSWER_WITHIN {
                return Err(format!("{id} got OK true and no reply in 20 s"));
            }
            if !acknowledged && started.elapsed() > GIVE_UP_AFTER {
                // Never acknowledged to this client: taken by the node that was killed while it
                // ran it (a copy sent again is a duplicate), or never taken. A client's timeout:
                // a new request.
                tally.lost.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if send {
                let text = json!(["EVENT", event]).to_string();
                if ws
                    .write_frame(Frame::text(Payload::Owned(text.into_bytes())))
                    .await
                    .is_err()
                {
                    ws = dial(balancer, &keys, &tally).await?;
                    continue;
                }
                send = false;
            }
            let frame = tokio::time::timeout(Duration::from_secs(1), ws.read_frame()).await;
            let text = match frame {
                Err(_) => continue,
                Ok(Ok(frame)) if frame.opcode == OpCode::Text => frame.payload.to_vec(),
                Ok(Ok(frame)) if frame.opcode != OpCode::Close => continue,
                Ok(_) => {
                    // Closed or cut: back in through the balancer. An acknowledged request's
                    // reply is retained on every node; one never acknowledged is sent again.
                    ws = dial(balancer, &keys, &tally).await?;
                    if replied {
                        break;
                    }
                    send = !acknowledged;
                    continue;
                }
            };
            let message: Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
            if message[0] == "OK" && message[1] == event.id.to_hex().as_str() {
                let text = message[3].as_str().unwrap_or_default();
                match message[2].as_bool() {
                    Some(true) if text.starts_with("duplicate:") => taken = true,
                    Some(true) => {
                        if !acknowledged {
                            tally.acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        acknowledged = true;
                    }
                    _ if text.starts_with("rate-limited:") && !replied => {
                        tally.retried.fetch_add(1, Ordering::Relaxed);
                        ws = dial(balancer, &keys, &tally).await?;
                        send = true;
                    }
                    _ => return Err(format!("{id} refused: {message}")),
                }
            } else if message[0] == "EVENT" && !replied {
                let Some(reply) = open(&keys, &remote, &message[2]) else {
                    continue;
                };
                if reply["id"] != id.as_str() {
                    continue;
                }
                if !reply["result"].is_string() {
                    return Err(format!("{id} answered with an error: {reply}"));
                }
                crate::admin_policy::signed_event(&reply, &user);
                tally.answered.fetch_add(1, Ordering::Relaxed);
                replied = true;
            }
        }
        // A person's pace, roughly: load, not a flood on 2 cores.
        tokio::time::sleep(PAUSE).await;
    }
    Ok(())
}

/// A response event's decrypted reply, when it is one to `keys` from `remote`.
fn open(keys: &Keys, remote: &PublicKey, event: &Value) -> Option<Value> {
    let event = Event::from_json(event.to_string()).ok()?;
    event.verify().ok()?;
    if event.pubkey != *remote {
        return None;
    }
    let plaintext = nip44::decrypt(keys.secret_key(), remote, &event.content).ok()?;
    serde_json::from_str(&plaintext).ok()
}

/// A websocket through the balancer, subscribed to this client's replies (retained ones
/// included), retried for [`RECONNECT_WITHIN`].
async fn dial(balancer: std::net::SocketAddr, keys: &Keys, tally: &Tally) -> Result<Ws, Failure> {
    tally.reconnects.fetch_add(1, Ordering::Relaxed);
    let deadline = Instant::now() + RECONNECT_WITHIN;
    loop {
        if let Ok(ws) = try_dial(balancer, keys).await {
            return Ok(ws);
        }
        if Instant::now() > deadline {
            return Err("cannot reach a node through the balancer in 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn try_dial(balancer: std::net::SocketAddr, keys: &Keys) -> Result<Ws, String> {
    let ws = tokio::time::timeout(
        Duration::from_secs(2),
        benches::loadgen::handshake(balancer),
    )
    .await
    .map_err(|_| "handshake timed out".to_owned())??;
    let mut ws = FragmentCollector::new(ws);
    let me = keys.public_key().to_hex();
    let req = json!(["REQ", "replies", {"kinds": [24133], "#p": [me]}]).to_string();
    ws.write_frame(Frame::text(Payload::Owned(req.into_bytes())))
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let frame = tokio::time::timeout_at(deadline.into(), ws.read_frame())
            .await
            .map_err(|_| "no EOSE".to_owned())?
            .map_err(|e| e.to_string())?;
        if frame.opcode == OpCode::Close {
            return Err("closed".into());
        }
        let message: Value = serde_json::from_slice(&frame.payload).unwrap_or_default();
        if message[0] == "EOSE" {
            return Ok(ws);
        }
    }
}

/// A cluster of three, `CLIENTS` users provisioned through node 0, each client connected
/// through the balancer, and their load running.
struct Run {
    cluster: Cluster,
    users: Vec<User>,
    keys: Vec<Keys>,
    tallies: Vec<Arc<Tally>>,
    stop: Arc<AtomicBool>,
    tasks: tokio::task::JoinSet<Result<(), Failure>>,
}

impl Run {
    async fn start() -> Run {
        let cluster = Cluster::start(3).await;
        let admin = Admin::new(cluster.nodes[0].admin, Some(OPERATOR_TOKEN));
        let tenant = admin.post_ok("/v1/tenants", json!({"name": "acme"})).await;
        let tenant = tenant["id"].as_str().unwrap().to_owned();
        let mut users = Vec::new();
        for i in 0..CLIENTS {
            users.push(create_user(&admin, &tenant, json!({"name": format!("u{i}")})).await);
        }
        // Clients get their bunker URIs once every node serves the users (within the bound).
        for node in &cluster.nodes {
            let deadline = Instant::now() + Duration::from_secs(10);
            let labels = [("tenant", tenant.as_str())];
            loop {
                let metrics = crate::support::http_get(node.admin, "/metrics").await;
                let text = String::from_utf8(metrics.into_body().to_vec()).unwrap();
                if crate::metrics::value(&text, "bunkerd_users", &labels) == CLIENTS as f64 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "every node serves the users in 10 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut keys = Vec::new();
        for user in &users {
            let client = crate::support::connected_at(cluster.balancer, user).await;
            keys.push(client.keys.clone());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        let mut tallies = Vec::new();
        for (user, keys) in users.iter().zip(&keys) {
            let tally = Arc::new(Tally::default());
            tasks.spawn(load(
                cluster.balancer,
                keys.clone(),
                user.clone(),
                tally.clone(),
                stop.clone(),
            ));
            tallies.push(tally);
        }
        Run {
            cluster,
            users,
            keys,
            tallies,
            stop,
            tasks,
        }
    }

    fn answered(&self) -> Vec<usize> {
        self.tallies
            .iter()
            .map(|t| t.answered.load(Ordering::Relaxed))
            .collect()
    }

    /// Waits until every client has `more` requests answered beyond `since` (bounded: 90 s),
    /// failing on the first client that fails.
    async fn until_each_answers(&mut self, since: &[usize], more: usize) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(Ok(Err(failure))) = self.tasks.try_join_next() {
                panic!("a client failed: {failure}");
            }
            let now = self.answered();
            if now.iter().zip(since).all(|(n, s)| *n >= s + more) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "answered {now:?}, from {since:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the load; every client must end without a failure.
    async fn finish(mut self) -> (Cluster, Vec<User>, Vec<Keys>, Vec<Arc<Tally>>) {
        self.stop.store(true, Ordering::Relaxed);
        while let Some(ended) = self.tasks.join_next().await {
            ended
                .unwrap()
                .unwrap_or_else(|failure| panic!("a client failed: {failure}"));
        }
        (self.cluster, self.users, self.keys, self.tallies)
    }
}

fn sum(tallies: &[Arc<Tally>], field: impl Fn(&Tally) -> &AtomicUsize) -> usize {
    tallies
        .iter()
        .map(|t| field(t).load(Ordering::Relaxed))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_leaves_no_acknowledged_request_unanswered() {
    let mut run = Run::start().await;
    // Admin writes through the node that will be killed, meanwhile: users created one after the
    // other, each acknowledged (201) or not (cut by the kill).
    let admin = Admin::new(run.cluster.nodes[1].admin, Some(OPERATOR_TOKEN));
    let (tenant, stop) = (run.users[0].tenant.clone(), run.stop.clone());
    let created = Arc::new(AtomicUsize::new(0));
    let counted = created.clone();
    let writer = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for n in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let path = format!("/v1/tenants/{tenant}/users");
            let body = json!({"name": format!("w{n}")}).to_string();
            // A call cut by the kill is not acknowledged, and the last.
            match admin.try_call("POST", &path, Some(&body)).await {
                Ok((201, user)) => {
                    acknowledged.push(user["id"].as_str().unwrap().to_owned());
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                _ => break,
            }
        }
        acknowledged
    });
    let before = vec![0; CLIENTS];
    run.until_each_answers(&before, 3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while created.load(Ordering::Relaxed) < 3 {
        assert!(
            Instant::now() < deadline,
            "users created through node 1 within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.cluster.nodes[1].kill();
    let at_kill = run.answered();
    // Every client goes on, those of the killed node through the others.
    run.until_each_answers(&at_kill, 5).await;
    let (mut cluster, users, keys, tallies) = run.finish().await;
    let written = writer.await.unwrap();
    let reconnects = sum(&tallies, |t| &t.reconnects);
    assert!(
        reconnects > CLIENTS,
        "clients of the killed node reconnected: {reconnects}"
    );
    // At most the request each of the killed node's clients had in flight there.
    let lost = sum(&tallies, |t| &t.lost);
    assert!(
        lost <= reconnects - CLIENTS,
        "{lost} requests lost in flight"
    );
    eprintln!(
        "answered {}, acknowledged {}, reconnects {reconnects}, lost in flight {lost}",
        sum(&tallies, |t| &t.answered),
        sum(&tallies, |t| &t.acknowledged)
    );

    // No acknowledged write is lost: every user and every session, read through another node.
    let admin = Admin::new(cluster.nodes[2].admin, Some(OPERATOR_TOKEN));
    for id in &written {
        let path = format!("/v1/tenants/{}/users/{id}", users[0].tenant);
        assert_eq!(admin.call("GET", &path, None).await.0, 200, "user {id}");
    }
    for (user, keys) in users.iter().zip(&keys) {
        let path = format!("/v1/tenants/{}/users/{}/sessions", user.tenant, user.id);
        let sessions = admin.get_ok(&path).await;
        let clients: Vec<&str> = sessions["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["client_pubkey"].as_str())
            .collect();
        assert!(
            clients.contains(&keys.public_key().to_hex().as_str()),
            "{sessions}"
        );
    }

    // The killed node starts again and serves the sessions made while it was away, without a
    // restart of the others.
    cluster.nodes[1].start().await;
    let mut client = raw::RawClient::with_keys(cluster.nodes[1].relay, keys[0].clone()).await;
    crate::support::assert_still_served(&mut client, &users[0], "on the node started again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_fails_no_request() {
    let mut run = Run::start().await;
    let before = vec![0; CLIENTS];
    run.until_each_answers(&before, 2).await;
    for node in 0..3 {
        run.cluster.nodes[node].stop().await;
        run.cluster.nodes[node].start().await;
        let now = run.answered();
        run.until_each_answers(&now, 2).await;
    }
    let (_cluster, _, _, tallies) = run.finish().await;
    assert_eq!(
        sum(&tallies, |t| &t.lost),
        0,
        "a graceful stop answers what it took"
    );
    eprintln!(
        "answered {}, retried {}, reconnects {}",
        sum(&tallies, |t| &t.answered),
        sum(&tallies, |t| &t.retried),
        sum(&tallies, |t| &t.reconnects)
    );
}
