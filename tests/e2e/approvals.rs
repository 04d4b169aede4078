//! `auth_url` approvals: a tenant policy that asks before kind 0 holds nostr-tools' request, its
//! `onauth` gets the page URL, and the admin API's decision reaches the client with the same id —
//! approved (the signed event), denied and expired (error replies), remembered (the next such
//! request signs without asking), and across a bunkerd restart while pending.

use crate::metrics::{scrape, value};
use crate::nostrconnect::{accept, nostr_tools};
use crate::support::node::Steered;
use crate::support::{TestServer, User};
use serde_json::{json, Value};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(40);

/// Sets `user`'s tenant policy to the default one that also asks before kind 0.
async fn ask_before_kind_0(server: &TestServer, user: &User) {
    server
        .admin()
        .put_ok(
            &format!("/v1/tenants/{}/policy", user.tenant),
            json!({"ask_kinds": [0]}),
        )
        .await;
}

/// A paired nostr-tools client of `user` on bunkerd's own relay, under a tenant policy that asks
/// before kind 0.
async fn paired_client(
    server: &TestServer,
    user: &User,
    env: Vec<(&'static str, String)>,
) -> Steered {
    ask_before_kind_0(server, user).await;
    let (mut client, uri) = nostr_tools(&[&server.relay_url()], env).await;
    accept(server, user, &uri).await;
    client.next_with("paired", STEP).await;
    client
}

/// Asks the client to sign `kind`; returns the `auth_url` it was given (if any) and its last line
/// (`signed` or `error`), waiting for an `auth_url` only.
async fn ask(client: &mut Steered, kind: u16) -> String {
    client.send(&format!("sign {kind}"));
    let (line, _) = client.next_with("auth_url", STEP).await;
    line["auth_url"].as_str().unwrap().to_owned()
}

/// The client's outcome of its pending request: the signed event or the error.
async fn outcome(client: &mut Steered) -> Value {
    loop {
        let line = client.next(STEP).await;
        if line.get("signed").is_some() || line.get("error").is_some() {
            return line;
        }
    }
}

/// The tenant's approvals in `status`.
async fn approvals(server: &TestServer, tenant: &str, status: &str) -> Vec<Value> {
    let page = server
        .admin()
        .get_ok(&format!("/v1/tenants/{tenant}/approvals?status={status}"))
        .await;
    page["items"].as_array().cloned().unwrap_or_default()
}

/// Decides on the tenant's one pending approval: `approve` (with `remember`) or `deny`.
async fn decide(server: &TestServer, tenant: &str, action: &str, body: Option<Value>) -> Value {
    let pending = approvals(server, tenant, "pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let id = pending[0]["id"].as_str().unwrap();
    let path = format!("/v1/tenants/{tenant}/approvals/{id}/{action}");
    let body = body.map(|b| b.to_string());
    let (status, answer) = server.admin().call("POST", &path, body.as_deref()).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// `GET` on the relay port: status and body.
async fn get_page(server: &TestServer, path: &str) -> (u16, String) {
    let res = crate::support::http_get(server.server.relay_addr, path).await;
    let status = res.status().as_u16();
    (status, String::from_utf8_lossy(res.body()).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_deny_and_remember_reach_the_client_with_its_request_id() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let mut client = paired_client(&server, &user, vec![]).await;
    let tenant = user.tenant.clone();

    // Kind 1 is not held.
    client.send("sign 1");
    let signed = outcome(&mut client).await;
    assert_eq!(signed["signed"]["kind"], 1, "{signed}");

    // Kind 0 is held: the page shows it to whoever holds the URL, and nobody else.
    let url = ask(&mut client, 0).await;
    let base = format!("http://{}/approvals/", server.server.relay_addr);
    assert!(url.starts_with(&base), "{url}");
    let path = &url[base.len() - "/approvals/".len()..];
    let (status, page) = get_page(&server, path).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("sign_event:0") && page.contains("nostr-tools e2e"),
        "{page}"
    );
    assert!(
        page.contains("approval e2e"),
        "the page previews the content: {page}"
    );
    assert!(!page.contains("<script"), "{page}");
    let wrong = format!("/approvals/{}", "0".repeat(64));
    assert_eq!(get_page(&server, &wrong).await.0, 404);
    let approved = decide(&server, &tenant, "approve", None).await;
    assert_eq!(approved["status"], "approved");
    let signed = outcome(&mut client).await;
    assert_eq!(signed["signed"]["kind"], 0, "{signed}");
    assert_eq!(signed["user_pubkey"], user.user_pubkey.as_str());
    assert!(get_page(&server, path).await.1.contains("Approved"));

    // Once only: the next kind 0 asks again, and a denial is an error reply.
    ask(&mut client, 0).await;
    let denied = decide(&server, &tenant, "deny", None).await;
    assert_eq!(denied["status"], "denied");
    let refused = outcome(&mut client).await;
    assert!(
        refused["error"].as_str().unwrap().contains("denied"),
        "{refused}"
    );

    // Remembered: approved, and the next kind 0 of this client signs without asking.
    ask(&mut client, 0).await;
    let remembered = decide(&server, &tenant, "approve", Some(json!({"remember": true}))).await;
    assert_eq!(remembered["status"], "remembered");
    assert_eq!(outcome(&mut client).await["signed"]["kind"], 0);
    client.send("sign 0");
    let again = client.next(STEP).await;
    assert_eq!(
        again["signed"]["kind"], 0,
        "signed without an auth_url: {again}"
    );

    // Every decision is audited.
    for action in [
        "approval.approve",
        "approval.deny",
        "approval.approve_remember",
    ] {
        let audit = server
            .admin()
            .get_ok(&format!("/v1/tenants/{tenant}/audit?method={action}"))
            .await;
        assert_eq!(
            audit["items"].as_array().unwrap().len(),
            1,
            "{action}: {audit}"
        );
    }
    // A decided request cannot be decided again.
    let decided = approvals(&server, &tenant, "denied").await;
    let path = format!(
        "/v1/tenants/{tenant}/approvals/{}/approve",
        decided[0]["id"].as_str().unwrap()
    );
    assert_eq!(server.admin().call("POST", &path, None).await.0, 409);
    client.send("quit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_request_expires_with_an_error_reply() {
    let server = TestServer::start_with(|c| c.approval_ttl_secs = 2).await;
    let user = server.provision(None).await;
    let mut client = paired_client(&server, &user, vec![]).await;
    ask(&mut client, 0).await;
    let expired = outcome(&mut client).await;
    assert!(
        expired["error"]
            .as_str()
            .unwrap()
            .contains("nobody approved"),
        "{expired}"
    );
    let listed = approvals(&server, &user.tenant, "expired").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["decided_by"], "expiry");
    client.send("quit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_request_survives_a_restart_and_is_answered_after_approval() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let env = vec![("NOSTRCONNECT_TIMEOUT_MS", "90000".to_owned())];
    let mut client = paired_client(&server, &user, env).await;
    ask(&mut client, 0).await;
    let (dir, _tmp, addr) = server.stop().await;
    let server = TestServer::start_in(&dir, addr).await;
    // The client's relay reconnects (nostr-tools waits 10 s) and subscribes again: approve once
    // the reply can reach it.
    let deadline = tokio::time::Instant::now() + STEP;
    while value(&scrape(&server).await, "bunkerd_subscriptions", &[]) < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    decide(&server, &user.tenant, "approve", None).await;
    let signed = outcome(&mut client).await;
    assert_eq!(signed["signed"]["kind"], 0, "{signed}");
    client.send("quit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_hold_more_than_its_share_of_requests() {
    use crate::support::raw::{pk, Transport};
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    ask_before_kind_0(&server, &user).await;
    let mut client = server.connected(&user).await;
    let remote = pk(&user.remote_signer_pubkey);
    let now = crate::admin_policy::now();
    let template = json!({"kind": 0, "content": "{}", "tags": [], "created_at": now}).to_string();
    let max = signer::approvals::MAX_HELD_PER_CLIENT as usize;
    for i in 0..=max {
        let reply = client
            .request(
                &remote,
                "sign_event",
                vec![template.clone()],
                Transport::Nip44,
            )
            .await;
        if i < max {
            assert_eq!(reply["result"], "auth_url", "request {i}: {reply}");
            assert!(reply["error"].as_str().unwrap().contains("/approvals/"));
        } else {
            let error = reply["error"].as_str().unwrap();
            assert!(error.starts_with("restricted: too many"), "{reply}");
        }
    }
    assert_eq!(approvals(&server, &user.tenant, "pending").await.len(), max);
}
