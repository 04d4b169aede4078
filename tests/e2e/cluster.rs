//! Several nodes on one PostgreSQL database and one NATS server (`--store`, `--cluster-bus`):
//! any node serves any user and session; a secret connects once whichever nodes its `connect`s
//! reach; a revocation on one node reaches the others within the documented bound; a request
//! that reaches every node is answered and audited once; a reply crosses nodes to the client's
//! subscription.

use crate::support::nats::Nats;
use crate::support::raw::{self, RawClient, Transport};
use crate::support::{admin::Admin, create_user, User, OPERATOR_TOKEN};
use bunkerd::{Config, Server};
use nostr::Keys;
use serde_json::json;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The documented bound within which a change made on one node takes effect on the others
/// (README "Running several nodes").
const CHANGE_BOUND: Duration = Duration::from_secs(1);

/// Nodes of one cluster, in-process, each with its own data directory and ports.
struct Cluster {
    nodes: Vec<Server>,
    /// The database's URL.
    database: String,
    _dirs: Vec<TempDir>,
    bus: Nats,
}

impl Cluster {
    async fn start(count: usize) -> Cluster {
        let bus = Nats::start();
        let database = store::testing::Postgres::shared().database();
        let mut nodes = Vec::new();
        let mut dirs: Vec<TempDir> = Vec::new();
        for i in 0..count {
            let dir = tempfile::tempdir().unwrap();
            let mut config = Config::for_data_dir(dir.path());
            config.listen = "127.0.0.1:0".parse().unwrap();
            config.admin_listen = "127.0.0.1:0".parse().unwrap();
            config.operator_token = Some(zeroize::Zeroizing::new(OPERATOR_TOKEN.to_owned()));
            config.workers = 2;
            config.shutdown_grace = Duration::from_secs(5);
            config.store = Some(database.parse().unwrap());
            config.cluster_bus = Some(bus.url.parse().unwrap());
            if i > 0 {
                // Every node opens the data keys with the same master key: the first one's.
                config.master_key_file = Some(dirs[0].path().join("master.key"));
            }
            nodes.push(bunkerd::start(config).await.expect("a node starts"));
            dirs.push(dir);
        }
        Cluster {
            nodes,
            database,
            _dirs: dirs,
            bus,
        }
    }

    fn admin(&self, node: usize) -> Admin {
        Admin::new(self.nodes[node].admin_addr, Some(OPERATOR_TOKEN))
    }

    /// A tenant and a user with a bunker URI, made through node 0's admin API, once every node
    /// serves the user (the change reaches them within the bound; a client handed the URI
    /// sooner could meet a node that does not know it yet).
    async fn provision(&self) -> User {
        let admin = self.admin(0);
        let tenant = admin.post_ok("/v1/tenants", json!({"name": "acme"})).await;
        let tenant = tenant["id"].as_str().unwrap();
        let user = create_user(&admin, tenant, json!({"name": "alice"})).await;
        for node in &self.nodes {
            let deadline = Instant::now() + CHANGE_BOUND;
            loop {
                let metrics = crate::support::http_get(node.admin_addr, "/metrics").await;
                let text = String::from_utf8(metrics.into_body().to_vec()).unwrap();
                if crate::metrics::value(&text, "bunkerd_users", &[("tenant", tenant)]) == 1.0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "every node serves a new user within 1 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        user
    }

    async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bunker_secret_connects_one_client_whichever_nodes_its_connects_reach() {
    const CONNECTS: usize = 64;
    let cluster = Cluster::start(3).await;
    let user = cluster.provision().await;
    let remote = raw::pk(&user.remote_signer_pubkey);
    let secret = raw::secret_of(&user.bunker_uri);
    // Every client connected and subscribed first, then all `connect`s at once.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(CONNECTS));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CONNECTS {
        let (addr, start) = (cluster.nodes[i % 3].relay_addr, start.clone());
        let (remote, secret) = (remote, secret.clone());
        tasks.spawn(async move {
            let mut client = RawClient::connect(addr).await;
            client.subscribe().await;
            start.wait().await;
            let params = vec![String::new(), secret];
            client
                .request(&remote, "connect", params, Transport::Nip44)
                .await
        });
    }
    let replies: Vec<_> = tasks.join_all().await;
    let acks = replies.iter().filter(|r| r["result"] == "ack").count();
    assert_eq!(acks, 1, "one connect wins of {CONNECTS} over 3 nodes");
    assert!(
        replies
            .iter()
            .filter(|r| r["result"] != "ack")
            .all(|r| r["error"].as_str().is_some_and(|e| !e.is_empty())),
        "every other connect gets an error reply"
    );
    cluster.stop().await;
}

/// A change an admin makes on node A that must refuse the client's next request on node C.
#[derive(Clone, Copy, Debug)]
enum Change {
    RevokeSession,
    DisableUser,
    DenyNotes,
    RotateRemoteSigner,
}

/// Whether `client`'s next `sign_event` is answered with a signature (`false`: refused by the
/// relay, `blocked:` for a remote signer no longer hosted, or answered with an error reply).
async fn served(client: &mut RawClient, user: &User) -> bool {
    let remote = raw::pk(&user.remote_signer_pubkey);
    let template = json!({"kind": 1, "content": "after", "tags": [], "created_at": crate::admin_policy::now()});
    let request = json!({"id": "s", "method": "sign_event", "params": [template.to_string()]});
    let event = client.request_event(&remote, &request.to_string(), Transport::Nip44);
    let (accepted, message) = client.publish(&event).await;
    if !accepted {
        assert!(message.starts_with("blocked:"), "{message}");
        return false;
    }
    let reply = client
        .next_matching(|v| v[0] == "EVENT" && v[1] == "replies")
        .await;
    let reply = client.open_reply(&remote, &reply, Transport::Nip44);
    !reply["error"].is_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_refuses_the_client_on_another_within_the_bound() {
    let cluster = Cluster::start(3).await;
    for change in [
        Change::RevokeSession,
        Change::DisableUser,
        Change::DenyNotes,
        Change::RotateRemoteSigner,
    ] {
        let user = cluster.provision().await;
        // The session is made on node 2 (C) and used there; node 0 (A) makes the change.
        let mut client = crate::support::connected_at(cluster.nodes[2].relay_addr, &user).await;
        crate::support::assert_still_served(&mut client, &user, "before the change").await;
        let admin = cluster.admin(0);
        let user_path = crate::admin_policy::user_path(&user);
        match change {
            Change::RevokeSession => {
                let client = client.keys.public_key().to_hex();
                let path = format!("{user_path}/sessions/{client}");
                assert_eq!(admin.call("DELETE", &path, None).await.0, 204);
            }
            Change::DisableUser => {
                admin.patch_ok(&user_path, json!({"disabled": true})).await;
            }
            Change::DenyNotes => {
                let path = crate::admin_policy::user_policy(&user);
                admin.put_ok(&path, json!({"deny_kinds": [1]})).await;
            }
            Change::RotateRemoteSigner => {
                let path = format!("{user_path}/rotate-remote-signer");
                admin.post_ok(&path, json!({})).await;
            }
        }
        let changed = Instant::now();
        let refused = loop {
            if !served(&mut client, &user).await {
                break changed.elapsed();
            }
            assert!(
                changed.elapsed() < CHANGE_BOUND,
                "{change:?}: still served on C {:?} after the change on A",
                changed.elapsed()
            );
        };
        eprintln!("{change:?} on node A: refused on node C {refused:?} later");
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_lost_on_the_bus_is_seen_within_a_heartbeat_and_reloaded() {
    let cluster = Cluster::start(2).await;
    let user = cluster.provision().await;
    let mut client = crate::support::connected_at(cluster.nodes[1].relay_addr, &user).await;
    assert!(served(&mut client, &user).await);
    // The session ends in the database, and the change that says so never reaches the nodes:
    // node 1 still serves the client from memory.
    let session = [
        raw::pk(&user.remote_signer_pubkey).to_bytes(),
        client.keys.public_key().to_bytes(),
    ]
    .concat();
    let database = cluster.database.clone();
    tokio::task::spawn_blocking(move || {
        let store = store::PgStore::connect(&database, &store::PgOptions::default()).unwrap();
        let mut batch = store::Batch::new();
        batch.delete(store::Cf::Sessions, session);
        store::Store::write(&store, batch, store::Durability::Sync).unwrap();
    })
    .await
    .unwrap();
    assert!(served(&mut client, &user).await, "memory still has it");
    assert_eq!(reloads(&cluster, 1).await, 0.0);

    // Another node's change 1 arrives, then its beat: its last change is 2, which never came.
    let bus = async_nats::connect(cluster.bus.url.as_str()).await.unwrap();
    let numbered = |sequence: u64| {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Bunkerd-Node", "ab".repeat(16));
        headers.insert("Bunkerd-Seq", sequence.to_string());
        headers
    };
    let change = json!({"record": "tenant", "id": user.tenant}).to_string();
    bus.publish_with_headers("bunkerd.changes", numbered(1), change.into())
        .await
        .unwrap();
    bus.publish_with_headers("bunkerd.changes", numbered(2), "".into())
        .await
        .unwrap();
    bus.flush().await.unwrap();
    // Both nodes see the loss within a heartbeat and reload (refusing requests meanwhile, with
    // `error:`); a reload that failed would leave them refusing everything.
    for node in [1, 0] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while reloads(&cluster, node).await < 1.0 {
            assert!(
                Instant::now() < deadline,
                "node {node} reloads what it missed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(
        !served(&mut client, &user).await,
        "the ended session is gone"
    );
    let other = cluster.provision().await;
    let mut fresh = crate::support::connected_at(cluster.nodes[1].relay_addr, &other).await;
    assert!(served(&mut fresh, &other).await, "back in step");
    cluster.stop().await;
}

/// `bunkerd_cluster_reloads_total` of `node`.
async fn reloads(cluster: &Cluster, node: usize) -> f64 {
    let metrics = crate::support::http_get(cluster.nodes[node].admin_addr, "/metrics").await;
    let text = String::from_utf8(metrics.into_body().to_vec()).unwrap();
    crate::metrics::value(&text, "bunkerd_cluster_reloads_total", &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_published_to_every_node_is_answered_and_audited_once() {
    let cluster = Cluster::start(3).await;
    let user = cluster.provision().await;
    let remote = raw::pk(&user.remote_signer_pubkey);
    let keys = Keys::generate();
    let mut links = Vec::new();
    for node in &cluster.nodes {
        let mut link = RawClient::with_keys(node.relay_addr, keys.clone()).await;
        link.subscribe().await;
        links.push(link);
    }
    let params = vec![String::new(), raw::secret_of(&user.bunker_uri)];
    let ack = links[0]
        .request(&remote, "connect", params, Transport::Nip44)
        .await;
    assert_eq!(ack["result"], "ack");

    let template =
        json!({"kind": 1, "content": "once", "tags": [], "created_at": crate::admin_policy::now()});
    let request =
        json!({"id": "everywhere", "method": "sign_event", "params": [template.to_string()]});
    let event = links[0].request_event(&remote, &request.to_string(), Transport::Nip44);
    let mut oks = Vec::new();
    for link in &mut links {
        oks.push(link.publish(&event).await);
    }
    assert!(oks.iter().all(|(accepted, _)| *accepted), "{oks:?}");
    let duplicates = oks
        .iter()
        .filter(|(_, m)| m.starts_with("duplicate:"))
        .count();
    assert_eq!(duplicates, 2, "two nodes saw a claimed request: {oks:?}");
    // Every node delivers the one response (from the bus or its own signer): one event id.
    let mut ids = std::collections::HashSet::new();
    for link in &mut links {
        // The `connect`'s response reached every link too; it is skipped.
        loop {
            let message = link
                .next_matching(|v| v[0] == "EVENT" && v[1] == "replies")
                .await;
            let reply = link.open_reply(&remote, &message, Transport::Nip44);
            if reply["id"] == "everywhere" {
                ids.insert(message[2]["id"].as_str().unwrap().to_owned());
                break;
            }
            assert_eq!(
                reply["result"], "ack",
                "only the connect's reply before: {reply}"
            );
        }
    }
    assert_eq!(ids.len(), 1, "one response event: {ids:?}");
    // A new client's `connect` through each node after it: once each node's is in the audit
    // log, whatever it recorded before is too (a node writes its audit records in order).
    for node in &cluster.nodes {
        let path = format!("/v1/tenants/{}/users/{}/bunker-uris", user.tenant, user.id);
        let uri = cluster.admin(0).post_ok(&path, json!({})).await;
        let fresh = User {
            bunker_uri: uri["bunker_uri"].as_str().unwrap().to_owned(),
            ..user.clone()
        };
        crate::support::connected_at(node.relay_addr, &fresh).await;
    }
    let audit = |method: &'static str| {
        let (admin, tenant) = (cluster.admin(1), user.tenant.clone());
        async move {
            let page = admin
                .get_ok(&format!(
                    "/v1/tenants/{tenant}/audit?method={method}&limit=1000"
                ))
                .await;
            page["items"].as_array().unwrap().len()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while audit("connect").await < 4 {
        assert!(
            Instant::now() < deadline,
            "audit records of the later connects"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        audit("sign_event").await,
        1,
        "one audit record of the request"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_crosses_nodes_to_the_clients_subscription() {
    let cluster = Cluster::start(3).await;
    let user = cluster.provision().await;
    let remote = raw::pk(&user.remote_signer_pubkey);
    let keys = Keys::generate();
    // Subscribed on node 2 only; publishes through node 0 only.
    let mut listener = RawClient::with_keys(cluster.nodes[2].relay_addr, keys.clone()).await;
    listener.subscribe().await;
    let mut sender = RawClient::with_keys(cluster.nodes[0].relay_addr, keys).await;
    let connect =
        json!({"id": "c1", "method": "connect", "params": ["", raw::secret_of(&user.bunker_uri)]});
    let event = sender.request_event(&remote, &connect.to_string(), Transport::Nip44);
    let (accepted, message) = sender.publish(&event).await;
    assert!(accepted, "{message}");
    let reply = listener
        .next_matching(|v| v[0] == "EVENT" && v[1] == "replies")
        .await;
    let reply = listener.open_reply(&remote, &reply, Transport::Nip44);
    assert_eq!(
        (reply["id"].as_str(), reply["result"].as_str()),
        (Some("c1"), Some("ack"))
    );
    // A client that subscribes late, on yet another node, gets the retained response.
    let mut late = RawClient::with_keys(cluster.nodes[1].relay_addr, listener.keys.clone()).await;
    late.send_text(
        &json!(["REQ", "late", {"kinds": [24133], "#p": [listener.keys.public_key().to_hex()]}])
            .to_string(),
    )
    .await;
    let retained = late
        .next_matching(|v| v[0] == "EVENT" && v[1] == "late")
        .await;
    let retained = late.open_reply(&remote, &retained, Transport::Nip44);
    assert_eq!(
        retained["id"], "c1",
        "retained on a node that did not sign it"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_admits_its_share_of_a_tenants_rate() {
    const REQUESTS: usize = 30;
    let cluster = Cluster::start(3).await;
    // Every node has heard the two others.
    for node in &cluster.nodes {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let metrics = crate::support::http_get(node.admin_addr, "/metrics").await;
            let text = String::from_utf8(metrics.into_body().to_vec()).unwrap();
            if crate::metrics::value(&text, "bunkerd_cluster_nodes", &[]) == 3.0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a node counts 3 nodes within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let user = cluster.provision().await;
    // Burst 30 at 1/s for the tenant: 10 (and 1/s) per node.
    let limits = json!({"limits": {"requests_per_sec": 1, "burst": REQUESTS}});
    cluster
        .admin(0)
        .patch_ok(&format!("/v1/tenants/{}", user.tenant), limits)
        .await;
    // Node 1 holds the new limits (within the bound) before the burst.
    let deadline = Instant::now() + CHANGE_BOUND;
    loop {
        let tenant = cluster
            .admin(1)
            .get_ok(&format!("/v1/tenants/{}", user.tenant))
            .await;
        if tenant["limits"]["requests_per_sec"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 has the limits: {tenant}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut client = crate::support::connected_at(cluster.nodes[1].relay_addr, &user).await;
    let remote = raw::pk(&user.remote_signer_pubkey);
    let started = Instant::now();
    let mut accepted = 0;
    for i in 0..REQUESTS {
        let request = json!({"id": format!("p{i}"), "method": "ping", "params": []});
        let event = client.request_event(&remote, &request.to_string(), Transport::Nip44);
        let (ok, message) = client.publish(&event).await;
        if ok {
            accepted += 1;
        } else {
            assert!(message.starts_with("rate-limited:"), "{message}");
        }
    }
    let refills = started.elapsed().as_secs() as usize + 1;
    assert!(
        (10..=10 + refills).contains(&accepted),
        "{accepted} of {REQUESTS} admitted by one of 3 nodes"
    );
    cluster.stop().await;
}
