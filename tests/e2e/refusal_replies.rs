//! NIP-46 error replies to the relay's own refusals: a request refused before the signer ran it
//! (its tenant's rate, the `created_at` window) gets, besides its `OK false`, an error reply
//! carrying its id — when its author holds a session and the event is genuine. A client without a
//! session, or a forged event, gets the `OK false` alone. Every reply and every declined one is
//! counted in `/metrics`.

use crate::metrics::{scrape, value};
use crate::support::raw::{pk, RawClient, Transport};
use crate::support::{TestServer, User};
use nostr::{EventBuilder, JsonUtil, Kind, PublicKey, Tag, Timestamp};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const TENANT_RATE: &str = "rate-limited: this organization's request rate is exceeded; slow down";
const CREATED_AT: &str = "invalid: created_at is too far from the current time";

fn replies(scrape: &str, reason: &str) -> f64 {
    value(
        scrape,
        "bunkerd_refusal_replies_total",
        &[("reason", reason)],
    )
}

fn dropped(scrape: &str, cause: &str) -> f64 {
    value(
        scrape,
        "bunkerd_refusal_replies_dropped_total",
        &[("cause", cause)],
    )
}

/// Polls `/metrics` until `read` of it is `want`, for at most 10 s.
pub(crate) async fn wait_for(server: &TestServer, want: f64, read: impl Fn(&str) -> f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = read(&scrape(server).await);
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {got}, waiting for {want}"
        );
        tokio::task::yield_now().await;
    }
}

/// Sets the tenant's own request rate: 1/s with `burst`.
async fn limit_tenant(server: &TestServer, user: &User, burst: u32) {
    let limits = json!({"limits": {"requests_per_sec": 1, "burst": burst}});
    server
        .admin()
        .patch_ok(&format!("/v1/tenants/{}", user.tenant), limits)
        .await;
}

/// Decrypts a reply `EVENT` message to `client` from `remote` (NIP-44), after checking that it
/// verifies, is authored by `remote` and p-tags the client.
fn open_reply(client: &RawClient, remote: &PublicKey, message: &Value) -> (nostr::Event, Value) {
    let event = nostr::Event::from_json(message[2].to_string()).expect("reply parses");
    event.verify().expect("reply verifies");
    assert_eq!(&event.pubkey, remote, "from the remote-signer key");
    assert_eq!(event.kind, Kind::NostrConnect);
    let me = client.keys.public_key();
    assert!(
        event.tags.public_keys().any(|p| *p == me),
        "p-tags the client"
    );
    let plain = nostr::nips::nip44::decrypt(client.keys.secret_key(), remote, &event.content)
        .expect("reply decrypts");
    (event, serde_json::from_str(&plain).expect("reply is JSON"))
}

/// Sends `count` pipelined requests of `method` (ids `<prefix><n>`); returns each event id's
/// request id and the `OK` of each request id: (accepted, message).
async fn pipeline(
    client: &mut RawClient,
    remote: &PublicKey,
    method: &str,
    prefix: &str,
    count: usize,
) -> HashMap<String, (bool, String)> {
    let mut ids = HashMap::new();
    for n in 0..count {
        let id = format!("{prefix}{n}");
        let request = json!({"id": id, "method": method, "params": []}).to_string();
        let event = client.request_event(remote, &request, Transport::Nip44);
        ids.insert(event.id.to_hex(), id);
        client.send_text(&json!(["EVENT", event]).to_string()).await;
    }
    let mut oks = HashMap::new();
    while oks.len() < count {
        let ok = client.next_matching(|v| v[0] == "OK").await;
        let id = &ids[ok[1].as_str().unwrap()];
        let verdict = (ok[2].as_bool().unwrap(), ok[3].as_str().unwrap().to_owned());
        assert!(oks.insert(id.clone(), verdict).is_none(), "one OK each");
    }
    oks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_client_refused_for_its_tenants_rate_gets_an_error_reply_with_the_request_id() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    limit_tenant(&server, &user, 3).await;
    let mut client = server.connected(&user).await;
    let before = scrape(&server).await;

    let started = Instant::now();
    let oks = pipeline(&mut client, &remote, "ping", "p", 8).await;
    let refused: HashSet<&String> = oks
        .iter()
        .filter(|(_, (ok, _))| !ok)
        .map(|(id, _)| id)
        .collect();
    for (ok, message) in oks.values() {
        assert!(*ok || message == TENANT_RATE, "{oks:?}");
    }
    // The bucket (burst 3, of which `connect` took one, 1/s) admits at most 2 plus one per started
    // second: bounded by the time that really passed.
    let refills = started.elapsed().as_secs_f64().ceil() as usize;
    assert!(
        !refused.is_empty() && oks.len() - refused.len() <= 2 + refills,
        "{oks:?}"
    );

    // Every request gets exactly one reply: `pong` when admitted, the refusal's text when not.
    let mut answered: HashMap<String, Value> = HashMap::new();
    while answered.len() < oks.len() {
        let message = client.next_matching(|v| v[0] == "EVENT").await;
        let (_, reply) = open_reply(&client, &remote, &message);
        let id = reply["id"].as_str().unwrap().to_owned();
        assert!(answered.insert(id, reply).is_none(), "one reply each");
    }
    for (id, reply) in &answered {
        if refused.contains(id) {
            assert_eq!(reply, &json!({"id": id, "error": TENANT_RATE}));
        } else {
            assert_eq!(reply, &json!({"id": id, "result": "pong"}));
        }
    }
    let count = refused.len() as f64;
    wait_for(&server, replies(&before, "tenant_rate") + count, |s| {
        replies(s, "tenant_rate")
    })
    .await;
    let after = scrape(&server).await;
    for cause in [
        "tenant_budget",
        "total_budget",
        "queue",
        "declined",
        "verify_budget",
        "forged",
    ] {
        assert_eq!(dropped(&after, cause), dropped(&before, cause), "{cause}");
    }
    server.server.stop().await;
}

const UNPAIRED_RATE: &str = "rate-limited: too many requests from clients without a session with this organization; retry shortly";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_session_takes_the_unpaired_bucket_and_gets_only_the_ok_when_refused() {
    let server = TestServer::start_with(|c| c.limits.unpaired_requests_per_sec = 1).await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    // Paired first: its `connect` takes a token of the unpaired bucket.
    let mut client = server.connected(&user).await;
    limit_tenant(&server, &user, 1).await;
    let mut stranger = RawClient::connect(server.server.relay_addr).await;
    stranger.subscribe().await;
    let before = scrape(&server).await;

    // A stranger's requests never touch the tenant's own rate (1/s here): its unpaired bucket
    // (1/s, burst 2) refuses them instead.
    let started = Instant::now();
    let oks = pipeline(&mut stranger, &remote, "get_public_key", "s", 8).await;
    let refused: HashSet<&String> = oks
        .iter()
        .filter(|(_, (ok, _))| !ok)
        .map(|(id, _)| id)
        .collect();
    let refills = started.elapsed().as_secs_f64().ceil() as usize;
    assert!(
        !refused.is_empty() && oks.len() - refused.len() <= 2 + refills,
        "{oks:?}"
    );
    for (id, (_, message)) in &oks {
        if refused.contains(id) {
            assert_eq!(message, UNPAIRED_RATE);
        }
    }
    // No session: each refused one gets no reply, counted as declined.
    let declined = dropped(&before, "declined") + refused.len() as f64;
    wait_for(&server, declined, |s| dropped(s, "declined")).await;
    let received = stranger.received_until_pong().await;
    let mut answered = HashSet::new();
    for message in received.iter().filter(|m| m[0] == "EVENT") {
        let (_, reply) = open_reply(&stranger, &remote, message);
        let id = reply["id"].as_str().unwrap().to_owned();
        assert!(
            !refused.contains(&id),
            "a refused request was answered: {reply}"
        );
        assert!(
            reply["error"].as_str().unwrap().contains("no session"),
            "{reply}"
        );
        answered.insert(id);
    }
    let after = scrape(&server).await;
    assert_eq!(
        replies(&after, "tenant_rate"),
        replies(&before, "tenant_rate")
    );
    let tenant = [("tenant", user.tenant.as_str())];
    assert_eq!(
        value(&after, "bunkerd_rate_limited_total", &tenant),
        value(&before, "bunkerd_rate_limited_total", &tenant),
        "nothing charged to the tenant's own rate"
    );
    assert!(
        answered.len() <= oks.len() - refused.len(),
        "only admitted requests are answered"
    );
    // The tenant's own token is still there for its paired client.
    let oks = pipeline(&mut client, &remote, "ping", "p", 1).await;
    assert!(oks.values().all(|(ok, _)| *ok), "{oks:?}");
    server.server.stop().await;
}

/// A signed kind-24133 ping request to `remote` at `created_at`, NIP-44.
fn ping_at(client: &RawClient, remote: &PublicKey, id: &str, created_at: u64) -> nostr::Event {
    let request = json!({"id": id, "method": "ping", "params": []}).to_string();
    let content = nostr::nips::nip44::encrypt(
        client.keys.secret_key(),
        remote,
        &request,
        Default::default(),
    )
    .unwrap();
    EventBuilder::new(Kind::NostrConnect, content)
        .tag(Tag::public_key(*remote))
        .custom_created_at(Timestamp::from(created_at))
        .sign_with_keys(&client.keys)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outside_the_created_at_window_gets_a_reply_no_older_than_itself_unless_forged() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = server.connected(&user).await;
    let before = scrape(&server).await;
    // The client's clock runs 15 minutes ahead: outside the 10-minute window.
    let ahead = Timestamp::now().as_secs() + 900;

    // Forged: the session's client key and a content that decrypts, but a signature that does not
    // verify. Refused by the window like the genuine one, it gets no reply.
    let genuine = ping_at(&client, &remote, "forged", ahead);
    let mut forged: Value = serde_json::from_str(&genuine.as_json()).unwrap();
    let sig = forged["sig"].as_str().unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    forged["sig"] = format!("{flipped}{}", &sig[1..]).into();
    client
        .send_text(&json!(["EVENT", forged]).to_string())
        .await;
    let ok = client.next_matching(|v| v[0] == "OK").await;
    assert_eq!((&ok[2], &ok[3]), (&json!(false), &json!(CREATED_AT)));
    wait_for(&server, dropped(&before, "forged") + 1.0, |s| {
        dropped(s, "forged")
    })
    .await;
    let received = client.received_until_pong().await;
    assert!(
        received.iter().all(|m| m[0] != "EVENT"),
        "a forged event got a reply: {received:?}"
    );

    // Genuine: the reply carries the request id and the refusal, dated no earlier than the request
    // (a client whose clock runs ahead subscribes with `since` = its own now).
    let early = ping_at(&client, &remote, "early", ahead);
    let (ok, message) = client.publish(&early).await;
    assert_eq!((ok, message.as_str()), (false, CREATED_AT));
    let message = client.next_matching(|v| v[0] == "EVENT").await;
    let (reply_event, reply) = open_reply(&client, &remote, &message);
    assert_eq!(reply, json!({"id": "early", "error": CREATED_AT}));
    assert!(reply_event.created_at >= early.created_at);

    wait_for(&server, replies(&before, "created_at") + 1.0, |s| {
        replies(s, "created_at")
    })
    .await;
    server.server.stop().await;
}
