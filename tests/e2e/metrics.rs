//! Metrics: known traffic moves the `/metrics` counters and histograms by exactly the
//! expected amounts (requests by tenant, method and outcome; latency histogram counts; refusals by
//! reason; connections, subscriptions, users and sessions), `/readyz` reports readiness, and refused
//! admin credentials are counted by scheme.

use crate::support::admin::Admin;
use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::TestServer;
use nostr_connect::prelude::{EventBuilder, Kind, PublicKey, Tag, Timestamp};
use serde_json::json;

/// The value of the series `name{labels}` (exact label set) in a Prometheus text scrape; 0 if absent.
pub fn value(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let mut have: Vec<String> = rest
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            have.sort();
            (have == wanted).then(|| number.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// One of each relay-level refusal from `client`: a kind-1 event (`blocked`), a request an hour old
/// (`invalid`), and a ping published twice (accepted, then `duplicate`).
pub async fn relay_refusals(client: &mut RawClient, remote: &PublicKey) {
    let note = EventBuilder::text_note("hi")
        .sign_with_keys(&client.keys)
        .unwrap();
    assert!(!client.publish(&note).await.0);
    let stale = EventBuilder::new(Kind::NostrConnect, "x")
        .tag(Tag::public_key(*remote))
        .custom_created_at(Timestamp::from(Timestamp::now().as_secs() - 3600))
        .sign_with_keys(&client.keys)
        .unwrap();
    assert!(!client.publish(&stale).await.0);
    let ping = client.request_event(
        remote,
        r#"{"id":"twice","method":"ping","params":[]}"#,
        Transport::Nip44,
    );
    assert!(client.publish(&ping).await.0);
    let again = client.publish(&ping).await;
    assert!(again.0 && again.1.starts_with("duplicate:"), "{again:?}");
}

pub async fn scrape(server: &TestServer) -> String {
    let res = crate::support::http_get(server.server.admin_addr, "/metrics").await;
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    String::from_utf8(res.into_body().to_vec()).unwrap()
}

/// Polls `/metrics` until `name` (no labels) reads `want`, for at most 10 s.
pub async fn wait_for_gauge(server: &TestServer, name: &str, want: f64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = value(&scrape(server).await, name, &[]);
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} still {got}, waiting for {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_traffic_moves_each_metric_by_exactly_its_amount() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let tenant = user.tenant.as_str();
    let remote = pk(&user.remote_signer_pubkey);
    let before = scrape(&server).await;
    let requests = |s: &str, method: &str, outcome: &str| {
        value(
            s,
            "bunkerd_requests_total",
            &[("tenant", tenant), ("method", method), ("outcome", outcome)],
        )
    };

    let mut client = RawClient::connect(server.server.relay_addr).await;
    let ack = client
        .request(
            &remote,
            "connect",
            vec![
                user.remote_signer_pubkey.clone(),
                secret_of(&user.bunker_uri),
            ],
            Transport::Nip44,
        )
        .await;
    assert_eq!(ack["result"], "ack");
    let now = Timestamp::now().as_secs();
    // Kind 23194 (a NIP-47 wallet request) is closed by the default policy.
    for kind in [1, 1, 1, 23194] {
        let template = json!({"kind": kind, "content": "m", "tags": [], "created_at": now});
        client
            .request(
                &remote,
                "sign_event",
                vec![template.to_string()],
                Transport::Nip44,
            )
            .await;
    }
    relay_refusals(&mut client, &remote).await;

    let after = scrape(&server).await;
    let delta = |f: &dyn Fn(&str) -> f64| f(&after) - f(&before);
    assert_eq!(delta(&|s| requests(s, "connect", "ok")), 1.0);
    assert_eq!(delta(&|s| requests(s, "sign_event", "ok")), 3.0);
    assert_eq!(
        delta(&|s| requests(s, "sign_event", "refused")),
        1.0,
        "kind 23194 is refused by the default policy"
    );
    assert_eq!(
        delta(&|s| requests(s, "ping", "ok")),
        1.0,
        "the duplicate is not processed"
    );
    assert_eq!(
        delta(&|s| value(
            s,
            "bunkerd_request_duration_seconds_count",
            &[("tenant", tenant), ("method", "sign_event")]
        )),
        4.0
    );
    assert_eq!(
        delta(&|s| value(s, "bunkerd_pool_queue_wait_seconds_count", &[])),
        6.0,
        "every processed job: connect, 4 sign_event, 1 ping"
    );
    for (reason, n) in [
        ("blocked", 1.0),
        ("invalid", 1.0),
        ("duplicate", 1.0),
        ("rate_limited", 0.0),
    ] {
        assert_eq!(
            delta(&|s| value(s, "bunkerd_events_rejected_total", &[("reason", reason)])),
            n,
            "{reason}"
        );
    }
    assert_eq!(value(&after, "bunkerd_websocket_connections", &[]), 1.0);
    assert_eq!(value(&after, "bunkerd_subscriptions", &[]), 1.0);
    assert_eq!(value(&after, "bunkerd_users", &[("tenant", tenant)]), 1.0);
    assert_eq!(
        value(&after, "bunkerd_sessions", &[("tenant", tenant)]),
        1.0
    );
    assert_eq!(value(&after, "bunkerd_ready", &[]), 1.0);
    assert!(value(&after, "bunkerd_store_size_bytes", &[("cf", "users")]) >= 0.0);
    assert!(after.contains("process_resident_memory_bytes"));
    assert!(!after.contains(&user.user_pubkey) && !after.contains(&user.remote_signer_pubkey));

    // Closing the socket releases its connection and subscription (the server notices the close
    // asynchronously: scrape until it has, for at most 10 s).
    drop(client);
    wait_for_gauge(&server, "bunkerd_websocket_connections", 0.0).await;
    let closed = scrape(&server).await;
    assert_eq!(value(&closed, "bunkerd_websocket_connections", &[]), 0.0);
    assert_eq!(value(&closed, "bunkerd_subscriptions", &[]), 0.0);

    let (status, ready) = Admin::new(server.server.admin_addr, None)
        .call("GET", "/readyz", None)
        .await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
    server.server.stop().await;
}

/// Refused admin credentials are counted by scheme (the series exist at 0 from the start), and
/// neither the metric nor anything else names the credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_admin_authentications_are_counted_by_scheme() {
    let server = TestServer::start().await;
    let before = scrape(&server).await;
    let failures = |s: &str, scheme| {
        value(
            s,
            "bunkerd_admin_auth_failures_total",
            &[("scheme", scheme)],
        )
    };
    for scheme in ["missing", "bearer", "nip98", "other"] {
        assert!(
            before.contains(&format!(
                "bunkerd_admin_auth_failures_total{{scheme=\"{scheme}\"}} 0"
            )),
            "{scheme} present from the start"
        );
    }
    let wrong = "wrong-token-never-in-metrics";
    for token in [Some(wrong), Some(wrong), None] {
        let (status, _) = Admin::new(server.server.admin_addr, token)
            .call("GET", "/v1/tenants", None)
            .await;
        assert_eq!(status, 401);
    }
    let after = scrape(&server).await;
    assert_eq!(
        failures(&after, "bearer") - failures(&before, "bearer"),
        2.0
    );
    assert_eq!(
        failures(&after, "missing") - failures(&before, "missing"),
        1.0
    );
    assert_eq!(failures(&after, "nip98"), 0.0);
    assert!(!after.contains(wrong));
    server.server.stop().await;
}
