//! Concurrent admin writes, against the real server: every acknowledged change survives.
//!
//! Each of [`ROUNDS`] rounds makes a fresh tenant and user, then releases [`WRITERS`] admin
//! writes at once (a barrier, no sleeps) — PATCHes of the tenant's name, limits and NIP-05
//! domain, tenant policy PUTs, NIP-98 admin pubkeys added, PATCHes of the user's name and NIP-05
//! name — together with four writes whose effect must hold whatever else ran: the deletion of an
//! admin pubkey registered before the round, a PUT of the user's own policy, a PATCH disabling the
//! user and a rotation of its remote-signer key. Every write must be acknowledged (2xx); then the
//! last value of each field must be one of the values written (never the value from before the
//! round), every added admin pubkey must be listed, the deleted one must not come back, and the
//! user policy, the disable and the rotation must hold — also in the relay's routing index (the
//! new remote-signer key is hosted, the old one is not). After the last round the server stops and
//! starts again on the same data dir, and every round is checked again from what was persisted.

use crate::support::admin::Admin;
use crate::support::raw::{pk, RawClient, Transport};
use crate::support::TestServer;
use nostr::Keys;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Barrier;

/// Rounds, each on its own tenant and user.
const ROUNDS: usize = 20;

/// Concurrent writes per round besides the four whose effect must hold.
const WRITERS: usize = 64;

/// The sign_event kinds of the user policy PUT in round `r`.
fn user_policy_kind(round: usize) -> u64 {
    30_000 + round as u64
}

/// One admin write: method, path, JSON body (or none), the status it must get.
struct Write {
    method: &'static str,
    path: String,
    body: Option<Value>,
    status: u16,
}

impl Write {
    fn new(method: &'static str, path: String, body: Option<Value>, status: u16) -> Self {
        Write {
            method,
            path,
            body,
            status,
        }
    }
}

/// What one round wrote, to check the server against (now and after the restart).
#[derive(Debug, Default)]
struct Expected {
    round: usize,
    tenant: String,
    user: String,
    tenant_names: Vec<String>,
    max_users: Vec<u64>,
    domains: Vec<String>,
    tenant_kinds: Vec<u64>,
    added_pubkeys: Vec<String>,
    deleted_pubkey: String,
    user_names: Vec<String>,
    nip05_names: Vec<String>,
    old_remote_signer: String,
    new_remote_signer: String,
}

/// The writes of round `round` on `expected.tenant` / `expected.user`, recording the values they
/// write in `expected`. The four that must hold come last.
fn writes(expected: &mut Expected) -> Vec<Write> {
    let (r, t, u) = (expected.round, &expected.tenant, &expected.user);
    let tenant_path = format!("/v1/tenants/{t}");
    let user_path = format!("{tenant_path}/users/{u}");
    let mut writes = Vec::new();
    for i in 0..WRITERS {
        let write = match i % 8 {
            0 => {
                let name = format!("tenant {r}.{i}");
                expected.tenant_names.push(name.clone());
                Write::new(
                    "PATCH",
                    tenant_path.clone(),
                    Some(json!({"name": name})),
                    200,
                )
            }
            1 => {
                let max = 1_000 + i as u64;
                expected.max_users.push(max);
                let limits = json!({"max_users": max, "requests_per_sec": null, "burst": null});
                let body = json!({ "limits": limits });
                Write::new("PATCH", tenant_path.clone(), Some(body), 200)
            }
            2 => {
                let domain = format!("r{r}-w{i}.example.com");
                expected.domains.push(domain.clone());
                let body = json!({ "nip05_domain": domain });
                Write::new("PATCH", tenant_path.clone(), Some(body), 200)
            }
            3 | 7 => {
                let pubkey = Keys::generate().public_key().to_hex();
                expected.added_pubkeys.push(pubkey.clone());
                let body = json!({"pubkey": pubkey, "name": format!("admin {i}")});
                Write::new(
                    "POST",
                    format!("{tenant_path}/admin-pubkeys"),
                    Some(body),
                    201,
                )
            }
            4 => {
                let name = format!("user {r}.{i}");
                expected.user_names.push(name.clone());
                Write::new("PATCH", user_path.clone(), Some(json!({"name": name})), 200)
            }
            5 => {
                let nip05 = format!("n{r}-{i}");
                expected.nip05_names.push(nip05.clone());
                let body = json!({ "nip05_name": nip05 });
                Write::new("PATCH", user_path.clone(), Some(body), 200)
            }
            _ => {
                let kind = i as u64;
                expected.tenant_kinds.push(kind);
                let policy = json!({"methods": ["sign_event"], "sign_kinds": [kind]});
                Write::new("PUT", format!("{tenant_path}/policy"), Some(policy), 200)
            }
        };
        writes.push(write);
    }
    let deleted = format!("{tenant_path}/admin-pubkeys/{}", expected.deleted_pubkey);
    writes.push(Write::new("DELETE", deleted, None, 204));
    let policy = json!({"methods": ["sign_event"], "sign_kinds": [user_policy_kind(r)]});
    writes.push(Write::new(
        "PUT",
        format!("{user_path}/policy"),
        Some(policy),
        200,
    ));
    let disable = json!({"disabled": true});
    writes.push(Write::new("PATCH", user_path.clone(), Some(disable), 200));
    writes.push(Write::new(
        "POST",
        format!("{user_path}/rotate-remote-signer"),
        None,
        200,
    ));
    writes
}

/// Makes round `round`'s tenant and user (and the admin pubkey it deletes), races its writes and
/// returns what it wrote.
async fn race(admin: &Admin, round: usize) -> Expected {
    let tenant = admin
        .post_ok("/v1/tenants", json!({"name": format!("before {round}")}))
        .await;
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let user = admin
        .post_ok(
            &format!("/v1/tenants/{tenant}/users"),
            json!({"name": "before", "nip05_name": format!("before-{round}")}),
        )
        .await;
    let deleted_pubkey = Keys::generate().public_key().to_hex();
    admin
        .post_ok(
            &format!("/v1/tenants/{tenant}/admin-pubkeys"),
            json!({ "pubkey": deleted_pubkey }),
        )
        .await;
    let mut expected = Expected {
        round,
        tenant,
        user: user["id"].as_str().unwrap().to_owned(),
        deleted_pubkey,
        old_remote_signer: user["remote_signer_pubkey"].as_str().unwrap().to_owned(),
        ..Expected::default()
    };
    let writes = writes(&mut expected);
    let barrier = Arc::new(Barrier::new(writes.len()));
    let tasks: Vec<_> = writes
        .into_iter()
        .map(|write| {
            let (admin, barrier) = (admin.clone(), barrier.clone());
            tokio::spawn(async move {
                let body = write.body.as_ref().map(Value::to_string);
                barrier.wait().await;
                let answer = admin.call(write.method, &write.path, body.as_deref()).await;
                (write, answer)
            })
        })
        .collect();
    for task in tasks {
        let (write, (status, answer)) = task.await.expect("writer task");
        assert_eq!(
            status, write.status,
            "round {round}: {} {} → {answer}",
            write.method, write.path
        );
        if write.path.ends_with("/rotate-remote-signer") {
            let rotated = answer["remote_signer_pubkey"].as_str().unwrap();
            expected.new_remote_signer = rotated.to_owned();
        }
    }
    assert_ne!(expected.new_remote_signer, expected.old_remote_signer);
    expected
}

#[track_caller]
fn assert_one_of<T: PartialEq + std::fmt::Debug>(
    what: &str,
    round: usize,
    value: T,
    written: &[T],
) {
    assert!(
        written.contains(&value),
        "round {round}: {what} is {value:?}, which no acknowledged write of the round wrote"
    );
}

/// Checks everything round `e` acknowledged against the server (`when` names the moment).
async fn check(admin: &Admin, client: &mut RawClient, e: &Expected, when: &str) {
    let r = e.round;
    let tenant_path = format!("/v1/tenants/{}", e.tenant);
    let user_path = format!("{tenant_path}/users/{}", e.user);
    let tenant = admin.get_ok(&tenant_path).await;
    let name = tenant["name"].as_str().unwrap().to_owned();
    assert_one_of(&format!("tenant name {when}"), r, name, &e.tenant_names);
    let max = tenant["limits"]["max_users"].as_u64().unwrap_or(0);
    assert_one_of(&format!("max_users {when}"), r, max, &e.max_users);
    let domain = tenant["nip05_domain"].as_str().unwrap_or("").to_owned();
    assert_one_of(&format!("nip05_domain {when}"), r, domain, &e.domains);
    let policy = admin.get_ok(&format!("{tenant_path}/policy")).await;
    let kinds: Vec<u64> = serde_json::from_value(policy["sign_kinds"].clone()).unwrap();
    assert_eq!(kinds.len(), 1, "round {r}: tenant policy {when}: {policy}");
    assert_one_of(
        &format!("tenant policy {when}"),
        r,
        kinds[0],
        &e.tenant_kinds,
    );

    let listed = admin.get_ok(&format!("{tenant_path}/admin-pubkeys")).await;
    let mut listed: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["pubkey"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !listed.contains(&e.deleted_pubkey),
        "round {r}: the deleted admin pubkey is back {when}"
    );
    listed.sort();
    let mut added = e.added_pubkeys.clone();
    added.sort();
    assert_eq!(listed, added, "round {r}: admin pubkeys {when}");

    let user = admin.get_ok(&user_path).await;
    let name = user["name"].as_str().unwrap().to_owned();
    assert_one_of(&format!("user name {when}"), r, name, &e.user_names);
    let nip05 = user["nip05_name"].as_str().unwrap().to_owned();
    assert_one_of(&format!("nip05_name {when}"), r, nip05, &e.nip05_names);
    assert_eq!(user["disabled"], true, "round {r}: the disable {when}");
    assert_eq!(
        user["remote_signer_pubkey"], e.new_remote_signer,
        "round {r}: the rotation {when}"
    );
    let policy = admin.get_ok(&format!("{user_path}/policy")).await;
    assert_eq!(policy["inherited"], false, "round {r}: user policy {when}");
    assert_eq!(
        policy["policy"]["sign_kinds"],
        json!([user_policy_kind(r)]),
        "round {r}: user policy {when}"
    );

    // The routing index agrees with the record: the new key is hosted, the old one is not.
    let ping = r#"{"id":"race","method":"ping","params":[]}"#;
    let event = client.request_event(&pk(&e.new_remote_signer), ping, Transport::Nip44);
    let (accepted, message) = client.publish(&event).await;
    assert!(accepted, "round {r}: new remote signer {when}: {message}");
    let event = client.request_event(&pk(&e.old_remote_signer), ping, Transport::Nip44);
    let (accepted, message) = client.publish(&event).await;
    assert!(
        !accepted && message.starts_with("blocked:"),
        "round {r}: old remote signer {when}: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admin_writes_all_hold_and_survive_a_restart() {
    let started = std::time::Instant::now();
    let server = TestServer::start().await;
    let admin = server.admin();
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let expected = race(&admin, round).await;
        check(&admin, &mut client, &expected, "after the round").await;
        rounds.push(expected);
    }

    drop(client);
    let (dir, _tmp, _) = server.stop().await;
    let server = TestServer::start_in(&dir, "127.0.0.1:0".parse().unwrap()).await;
    let admin = server.admin();
    let mut client = RawClient::connect(server.server.relay_addr).await;
    for expected in &rounds {
        check(&admin, &mut client, expected, "after a restart").await;
    }
    server.server.stop().await;
    eprintln!(
        "{ROUNDS} rounds of {} concurrent writes, checked twice, in {:?}",
        WRITERS + 4,
        started.elapsed()
    );
}
