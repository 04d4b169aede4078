//! Lifecycle and tenant isolation, driven over HTTP against the real server:
//! create user → URI → a client connects and signs → the session is listed → revoke → the client's
//! next request gets an error reply; delete user → its URIs and sessions fail and its sealed keys
//! are gone from the store; delete tenant → the same for all its users and its data key is gone.
//! Isolation: every route of the API, called with tenant A's credentials on tenant B's resources,
//! answers 404 or 403 and changes nothing.

use crate::support::admin::Admin;
use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::{TestServer, User};
use nostr_connect::prelude::Keys;
use serde_json::{json, Value};
use store::Cf;

fn connect(user: &User, uri: &str) -> Vec<String> {
    vec![user.remote_signer_pubkey.clone(), secret_of(uri)]
}

fn note() -> Vec<String> {
    vec![json!({"kind": 1, "content": "hello", "tags": [], "created_at": now()}).to_string()]
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[track_caller]
fn assert_error_reply(reply: &Value, needle: &str) {
    let error = reply["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(needle) && reply.get("result").is_none(),
        "expected an error reply mentioning {needle:?}, got {reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_lifecycle_connect_sign_list_revoke_delete() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let base = format!("/v1/tenants/{}/users/{}", user.tenant, user.id);

    // A client connects (with metadata) and signs.
    let client_keys = Keys::generate();
    let mut client = RawClient::with_keys(server.server.relay_addr, client_keys.clone()).await;
    let mut params = connect(&user, &user.bunker_uri);
    params.push(String::new());
    params.push(json!({"name": "Test Client", "url": "https://client.example"}).to_string());
    let ack = client
        .request(&remote, "connect", params, Transport::Nip44)
        .await;
    assert_eq!(ack["result"], "ack");
    let signed = client
        .request(&remote, "sign_event", note(), Transport::Nip44)
        .await;
    assert!(signed["result"].is_string(), "{signed}");

    // The session is listed with its client, metadata and request count.
    let (status, sessions) = admin.call("GET", &format!("{base}/sessions"), None).await;
    assert_eq!(status, 200, "{sessions}");
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{sessions}");
    assert_eq!(
        items[0]["client_pubkey"],
        client_keys.public_key().to_hex().as_str()
    );
    assert_eq!(items[0]["metadata"]["name"], "Test Client");
    assert_eq!(items[0]["requests"], 2, "connect and sign_event counted");
    assert!(items[0]["last_used_at"].as_u64().is_some());

    // The URI is listed as consumed by that client; a pending-only list is empty.
    let (_, uris) = admin
        .call("GET", &format!("{base}/bunker-uris"), None)
        .await;
    assert_eq!(
        uris["items"][0]["consumed_by"],
        client_keys.public_key().to_hex().as_str()
    );
    let (_, pending) = admin
        .call("GET", &format!("{base}/bunker-uris?pending=true"), None)
        .await;
    assert_eq!(pending["items"], json!([]));

    // Revoke: the very next request is refused with an error reply.
    let client_hex = client_keys.public_key().to_hex();
    let (status, _) = admin
        .call("DELETE", &format!("{base}/sessions/{client_hex}"), None)
        .await;
    assert_eq!(status, 204);
    let refused = client
        .request(&remote, "sign_event", note(), Transport::Nip44)
        .await;
    assert_error_reply(&refused, "no session");
    let (status, again) = admin
        .call("DELETE", &format!("{base}/sessions/{client_hex}"), None)
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // A second URI, revoked before use, does not connect.
    let second = admin
        .post_ok(&format!("{base}/bunker-uris"), json!({"ttl_secs": 600}))
        .await;
    let (status, _) = admin
        .call(
            "DELETE",
            &format!("{base}/bunker-uris/{}", second["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let revoked = client
        .request(
            &remote,
            "connect",
            connect(&user, second["bunker_uri"].as_str().unwrap()),
            Transport::Nip44,
        )
        .await;
    assert_error_reply(&revoked, "invalid secret");

    // Reconnect with a third URI, then delete the user: the remote signer is no longer hosted.
    let third = admin
        .post_ok(&format!("{base}/bunker-uris"), json!({}))
        .await;
    let third = third["bunker_uri"].as_str().unwrap().to_owned();
    let ack = client
        .request(&remote, "connect", connect(&user, &third), Transport::Nip44)
        .await;
    assert_eq!(ack["result"], "ack");
    let spare = admin
        .post_ok(&format!("{base}/bunker-uris"), json!({}))
        .await;
    let (status, deleted) = admin.call("DELETE", &base, None).await;
    assert_eq!((status, deleted["deleted"].as_bool()), (200, Some(true)));
    let event = client.request_event(
        &remote,
        r#"{"id":"after-delete","method":"sign_event","params":[]}"#,
        Transport::Nip44,
    );
    let (accepted, message) = client.publish(&event).await;
    assert!(
        !accepted && message.starts_with("blocked:"),
        "a deleted user's remote signer is not hosted: {message}"
    );
    let (status, gone) = admin.call("GET", &base, None).await;
    assert_eq!(
        (status, gone["error"]["code"].as_str()),
        (404, Some("user_not_found"))
    );
    let (status, _) = admin.call("GET", &format!("{base}/sessions"), None).await;
    assert_eq!(status, 404);

    // A fresh client with the unused spare URI cannot connect either.
    let mut fresh = RawClient::connect(server.server.relay_addr).await;
    let event = fresh.request_event(
        &remote,
        &json!({"id": "x", "method": "connect",
                "params": connect(&user, spare["bunker_uri"].as_str().unwrap())})
        .to_string(),
        Transport::Nip44,
    );
    let (accepted, _) = fresh.publish(&event).await;
    assert!(!accepted);

    let user_row = format!("{}/{}", user.tenant, user.id);
    let spare_hash = hex::decode(spare["id"].as_str().unwrap()).unwrap();
    let (dir, tmp, _) = server.stop().await;
    let store = crate::support::open_store(&dir);
    assert!(
        store.get(Cf::Users, user_row.as_bytes()).unwrap().is_none(),
        "sealed keys gone"
    );
    assert!(store
        .get(Cf::SignerIndex, remote.as_bytes())
        .unwrap()
        .is_none());
    assert!(
        store.get(Cf::BunkerSecrets, &spare_hash).unwrap().is_none(),
        "URIs gone"
    );
    let mut sessions = 0;
    store
        .scan_prefix(Cf::Sessions, remote.as_bytes(), &mut |_, _| {
            sessions += 1;
            true
        })
        .unwrap();
    assert_eq!(sessions, 0, "sessions gone");
    drop(store);
    drop(tmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tenant_shreds_its_data_key_and_every_user() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.provision(None).await;
    let bob = server.provision_in(&alice.tenant, None).await;
    let other = server.provision(None).await;
    let token = admin
        .post_ok(
            &format!("/v1/tenants/{}/admin-tokens", alice.tenant),
            json!({"name": "ops"}),
        )
        .await;

    let mut client = RawClient::connect(server.server.relay_addr).await;
    let ack = client
        .request(
            &pk(&alice.remote_signer_pubkey),
            "connect",
            connect(&alice, &alice.bunker_uri),
            Transport::Nip44,
        )
        .await;
    assert_eq!(ack["result"], "ack");

    // A tenant admin cannot delete its own tenant: operator only.
    let tenant_admin = Admin::new(server.server.admin_addr, token["token"].as_str());
    let (status, body) = tenant_admin
        .call("DELETE", &format!("/v1/tenants/{}", alice.tenant), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    let (status, deleted) = admin
        .call("DELETE", &format!("/v1/tenants/{}", alice.tenant), None)
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["users_deleted"], 2);

    for user in [&alice, &bob] {
        let event = client.request_event(
            &pk(&user.remote_signer_pubkey),
            r#"{"id":"x","method":"ping","params":[]}"#,
            Transport::Nip44,
        );
        let (accepted, message) = client.publish(&event).await;
        assert!(!accepted && message.starts_with("blocked:"), "{message}");
    }
    let (status, _) = admin
        .call("GET", &format!("/v1/tenants/{}", alice.tenant), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = tenant_admin
        .call("GET", &format!("/v1/tenants/{}/users", alice.tenant), None)
        .await;
    assert_eq!(status, 401, "the tenant's admin tokens are revoked with it");

    // The other tenant is untouched.
    let mut other_client = RawClient::connect(server.server.relay_addr).await;
    let ack = other_client
        .request(
            &pk(&other.remote_signer_pubkey),
            "connect",
            connect(&other, &other.bunker_uri),
            Transport::Nip44,
        )
        .await;
    assert_eq!(ack["result"], "ack");

    let (dir, tmp, _) = server.stop().await;
    let store = crate::support::open_store(&dir);
    assert!(
        store
            .get(Cf::Deks, alice.tenant.as_bytes())
            .unwrap()
            .is_none(),
        "the tenant's data key is destroyed"
    );
    assert!(store
        .get(Cf::Deks, other.tenant.as_bytes())
        .unwrap()
        .is_some());
    for cf in [Cf::Users, Cf::Tenants] {
        let mut rows = 0;
        store
            .scan_prefix(cf, alice.tenant.as_bytes(), &mut |_, _| {
                rows += 1;
                true
            })
            .unwrap();
        assert_eq!(rows, 0, "{cf:?} rows of the deleted tenant remain");
    }
    drop(store);
    drop(tmp);
}

/// Fills a route template with tenant B's ids (and A's user where a user is needed, to also try
/// mixing), giving the concrete path to attack.
fn concrete(template: &str, b: &User, client: &str, uri_id: &str, token_id: &str) -> String {
    template
        .replace("{tenant}", &b.tenant)
        .replace("{user}", &b.id)
        .replace("{client}", client)
        .replace("{uri_id}", uri_id)
        .replace("{token_id}", token_id)
        .replace("{pubkey}", client)
}

/// Everything observable about tenant B, to compare before and after the attack.
async fn snapshot(admin: &Admin, b: &User) -> Value {
    let t = &b.tenant;
    let u = &b.id;
    let mut out = serde_json::Map::new();
    for path in [
        format!("/v1/tenants/{t}"),
        format!("/v1/tenants/{t}/users"),
        format!("/v1/tenants/{t}/users/{u}"),
        format!("/v1/tenants/{t}/users/{u}/bunker-uris"),
        format!("/v1/tenants/{t}/users/{u}/sessions"),
        format!("/v1/tenants/{t}/admin-tokens"),
        format!("/v1/tenants/{t}/admin-pubkeys"),
    ] {
        let (status, mut body) = admin.call("GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        // Usage counters move with the signing check below; they are not state an attacker changes.
        if let Some(items) = body["items"].as_array_mut() {
            for item in items {
                if let Some(obj) = item.as_object_mut() {
                    obj.remove("requests");
                    obj.remove("last_used_at");
                }
            }
        }
        out.insert(path, body);
    }
    Value::Object(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_admins_cannot_reach_another_tenant() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let a = server.provision(None).await;
    let b = server.provision(None).await;
    let a_token = admin
        .post_ok(&format!("/v1/tenants/{}/admin-tokens", a.tenant), json!({}))
        .await;
    let b_token = admin
        .post_ok(&format!("/v1/tenants/{}/admin-tokens", b.tenant), json!({}))
        .await;
    // B has a session, a pending URI and an admin pubkey, so every kind of resource exists.
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let ack = client
        .request(
            &pk(&b.remote_signer_pubkey),
            "connect",
            connect(&b, &b.bunker_uri),
            Transport::Nip44,
        )
        .await;
    assert_eq!(ack["result"], "ack");
    let b_client = client_pubkey(&admin, &b).await;
    let pending = admin
        .post_ok(
            &format!("/v1/tenants/{}/users/{}/bunker-uris", b.tenant, b.id),
            json!({}),
        )
        .await;
    let b_admin_key = Keys::generate();
    admin
        .post_ok(
            &format!("/v1/tenants/{}/admin-pubkeys", b.tenant),
            json!({"pubkey": b_admin_key.public_key().to_hex()}),
        )
        .await;
    let before = snapshot(&admin, &b).await;

    let (_, doc) = Admin::new(server.server.admin_addr, None)
        .call("GET", "/v1/openapi.json", None)
        .await;
    let paths = doc["paths"]
        .as_object()
        .expect("the OpenAPI document lists paths");
    let attacker = Admin::new(server.server.admin_addr, a_token["token"].as_str());
    let bodies = [
        json!({}),
        json!({"name": "pwned"}),
        json!({"disabled": true}),
        json!({"pubkey": Keys::generate().public_key().to_hex()}),
        json!({"ttl_secs": 60}),
    ];
    let mut attempts = 0;
    for (template, ops) in paths {
        if !template.contains("{tenant}") {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            let path = concrete(
                template,
                &b,
                &b_client,
                pending["id"].as_str().unwrap(),
                b_token["id"].as_str().unwrap(),
            );
            for body in &bodies {
                let method = method.to_ascii_uppercase();
                let (status, reply) = attacker.call(&method, &path, Some(&body.to_string())).await;
                attempts += 1;
                assert!(
                    status == 404 || status == 403,
                    "{method} {path} with tenant A's token → {status} {reply}"
                );
                assert!(
                    !reply.to_string().contains(&b.user_pubkey),
                    "{method} {path} leaked B's data: {reply}"
                );
            }
        }
    }
    assert!(
        attempts >= 5 * 20,
        "every tenant route was tried ({attempts})"
    );
    assert_eq!(snapshot(&admin, &b).await, before, "tenant B is unchanged");

    // B's own admin still works, and B's session still signs with B's key.
    let b_admin = Admin::new(server.server.admin_addr, b_token["token"].as_str());
    let (status, _) = b_admin
        .call(
            "GET",
            &format!("/v1/tenants/{}/users/{}", b.tenant, b.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let signed = client
        .request(
            &pk(&b.remote_signer_pubkey),
            "get_public_key",
            vec![],
            Transport::Nip44,
        )
        .await;
    assert_eq!(signed["result"], b.user_pubkey.as_str());
    let _ = a;
    server.server.stop().await;
}

async fn client_pubkey(admin: &Admin, user: &User) -> String {
    let (_, sessions) = admin
        .call(
            "GET",
            &format!("/v1/tenants/{}/users/{}/sessions", user.tenant, user.id),
            None,
        )
        .await;
    sessions["items"][0]["client_pubkey"]
        .as_str()
        .expect("one session")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_limits_are_the_operators_and_max_users_is_enforced() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let tenant_path = format!("/v1/tenants/{}", user.tenant);
    let token = admin
        .post_ok(&format!("{tenant_path}/admin-tokens"), json!({}))
        .await;
    let tenant_admin = Admin::new(server.server.admin_addr, token["token"].as_str());
    let limits = json!({"limits": {"max_users": 1}}).to_string();
    let (status, body) = tenant_admin
        .call("PATCH", &tenant_path, Some(&limits))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = admin.call("PATCH", &tenant_path, Some(&limits)).await;
    assert_eq!(
        (status, body["limits"]["max_users"].as_u64()),
        (200, Some(1))
    );
    let (status, body) = tenant_admin
        .call("POST", &format!("{tenant_path}/users"), Some("{}"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("limit_reached"))
    );
    // The tenant admin may still rename its tenant.
    let (status, body) = tenant_admin
        .call("PATCH", &tenant_path, Some(r#"{"name":"renamed"}"#))
        .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("renamed")));
    server.server.stop().await;
}

/// The isolation property test: random (route, tenant in the path, user in the path, credential,
/// body) combinations where the credential is not entitled to the tenant in the path never succeed
/// (401, 403 or 404) and never change either tenant. Routes come from the served OpenAPI document, so a
/// new route is covered without touching this test. The failed-authentication throttle is off: this
/// test makes hundreds of refused calls from one address on purpose (`admin_api` tests the
/// throttle).
#[test]
fn random_unentitled_calls_fail_and_change_nothing() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, a, b, a_token, b_token) = rt.block_on(async {
        let server = TestServer::start_with(|c| c.admin_auth_failures_per_min = 0).await;
        let admin = server.admin();
        let a = server.provision(None).await;
        let b = server.provision(None).await;
        let a_token = admin
            .post_ok(&format!("/v1/tenants/{}/admin-tokens", a.tenant), json!({}))
            .await;
        let b_token = admin
            .post_ok(&format!("/v1/tenants/{}/admin-tokens", b.tenant), json!({}))
            .await;
        (server, a, b, a_token, b_token)
    });
    let admin = server.admin();
    let addr = server.server.admin_addr;
    let routes: Vec<(String, String)> = rt.block_on(async {
        let (_, doc) = Admin::new(addr, None)
            .call("GET", "/v1/openapi.json", None)
            .await;
        let mut routes = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            if path.contains("{tenant}") {
                for method in ops.as_object().unwrap().keys() {
                    routes.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
        routes
    });
    assert!(routes.len() >= 20, "{routes:?}");
    let before = rt.block_on(async { (snapshot(&admin, &a).await, snapshot(&admin, &b).await) });

    let missing_tenant = "0123456789abcdef0123456789abcdef".to_owned();
    let tenants = [b.tenant.clone(), missing_tenant];
    let users = [
        b.id.clone(),
        a.id.clone(),
        "fedcba9876543210fedcba9876543210".to_owned(),
    ];
    let a_token = a_token["token"].as_str().unwrap().to_owned();
    let b_token = b_token["token"].as_str().unwrap().to_owned();
    let bodies = [
        json!({}),
        json!({"name": "pwned"}),
        json!({"disabled": true, "limits": {"max_users": 0}}),
        json!({"pubkey": Keys::generate().public_key().to_hex(), "ttl_secs": 5}),
        json!({"deny_kinds": [0], "sign_kinds": "any"}),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    let strategy = (
        0..routes.len(),
        0..4usize,
        0..2usize,
        0..users.len(),
        0..bodies.len(),
    );
    runner
        .run(&strategy, |(route, credential, tenant, user, body)| {
            let (method, template) = &routes[route];
            let path = template
                .replace("{tenant}", &tenants[tenant])
                .replace("{user}", &users[user])
                .replace("{client}", &a.user_pubkey)
                .replace("{pubkey}", &a.user_pubkey)
                .replace("{uri_id}", &"ab".repeat(32))
                .replace("{token_id}", "0123");
            // Credentials never entitled to the path's tenant: A's token (for B or a missing
            // tenant), B's token on a missing tenant, garbage, none.
            let (token, entitled_elsewhere) = match credential {
                0 => (Some(a_token.as_str()), true),
                1 if tenant == 1 => (Some(b_token.as_str()), true),
                1 => (Some(a_token.as_str()), true),
                2 => (Some("not-a-token-not-a-token-not-a-token"), false),
                _ => (None, false),
            };
            let client = Admin::new(addr, token);
            let body = bodies[body].to_string();
            let (status, reply) = rt.block_on(client.call(method, &path, Some(&body)));
            let expected: &[u16] = if entitled_elsewhere {
                &[403, 404]
            } else {
                &[401]
            };
            if !expected.contains(&status) {
                return Err(TestCaseError::fail(format!(
                    "{method} {path} (credential {credential}) → {status} {reply}"
                )));
            }
            if reply.to_string().contains(&b.user_pubkey) {
                return Err(TestCaseError::fail(format!(
                    "{method} {path} leaked: {reply}"
                )));
            }
            Ok(())
        })
        .unwrap();
    let after = rt.block_on(async { (snapshot(&admin, &a).await, snapshot(&admin, &b).await) });
    assert_eq!(after, before, "no tenant changed");
    rt.block_on(server.server.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_remote_signer_key_ends_old_uris_and_sessions_and_keeps_the_identity() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let base = format!("/v1/tenants/{}/users/{}", user.tenant, user.id);
    let old = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let ack = client
        .request(
            &old,
            "connect",
            connect(&user, &user.bunker_uri),
            Transport::Nip44,
        )
        .await;
    assert_eq!(ack["result"], "ack");
    let unused = admin
        .post_ok(&format!("{base}/bunker-uris"), json!({}))
        .await;

    let rotated = admin
        .post_ok(&format!("{base}/rotate-remote-signer"), json!({}))
        .await;
    assert_eq!(
        rotated["user_pubkey"],
        user.user_pubkey.as_str(),
        "identity unchanged"
    );
    assert_ne!(
        rotated["remote_signer_pubkey"],
        user.remote_signer_pubkey.as_str()
    );

    // The old key is no longer hosted: the session's next request and the unused URI both fail.
    let event = client.request_event(
        &old,
        r#"{"id":"after-rotation","method":"ping","params":[]}"#,
        Transport::Nip44,
    );
    let (accepted, message) = client.publish(&event).await;
    assert!(!accepted && message.starts_with("blocked:"), "{message}");
    let (_, uris) = admin
        .call("GET", &format!("{base}/bunker-uris"), None)
        .await;
    assert_eq!(uris["items"], json!([]), "old URIs are gone: {unused}");
    let (_, sessions) = admin.call("GET", &format!("{base}/sessions"), None).await;
    assert_eq!(sessions["items"], json!([]));

    // A new URI names the new key, and signs as the same user.
    let fresh = admin
        .post_ok(&format!("{base}/bunker-uris"), json!({}))
        .await;
    let fresh = fresh["bunker_uri"].as_str().unwrap().to_owned();
    let new_key = rotated["remote_signer_pubkey"].as_str().unwrap();
    assert!(
        fresh.starts_with(&format!("bunker://{new_key}?")),
        "{fresh}"
    );
    let rotated_user = User {
        remote_signer_pubkey: new_key.to_owned(),
        ..user.clone()
    };
    let mut again = RawClient::connect(server.server.relay_addr).await;
    let ack = again
        .request(
            &pk(new_key),
            "connect",
            connect(&rotated_user, &fresh),
            Transport::Nip44,
        )
        .await;
    assert_eq!(ack["result"], "ack");
    let me = again
        .request(&pk(new_key), "get_public_key", vec![], Transport::Nip44)
        .await;
    assert_eq!(me["result"], user.user_pubkey.as_str());
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nip05_names_a_tenants_users_on_its_domain() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    admin
        .send_ok(
            "PATCH",
            &format!("/v1/tenants/{}", user.tenant),
            Some(json!({"nip05_domain": "bunker.example"})),
        )
        .await;
    admin
        .send_ok(
            "PATCH",
            &format!("/v1/tenants/{}/users/{}", user.tenant, user.id),
            Some(json!({"nip05_name": "alice"})),
        )
        .await;
    let relay = Admin::new(server.server.relay_addr, None);
    let get = |name: &'static str, host: &'static str| {
        let relay = relay.clone();
        async move {
            relay
                .call_with_headers(
                    "GET",
                    &format!("/.well-known/nostr.json?name={name}"),
                    None,
                    &[("host", host)],
                )
                .await
        }
    };
    let (status, doc) = get("alice", "bunker.example:443").await;
    assert_eq!(status, 200);
    let pubkey = user.user_pubkey.as_str();
    // The identity only: clients read `nip46[<pubkey>]` as where to send NIP-46 requests *to the
    // user pubkey*, which bunkerd does not answer for (docs/protocol-notes.md §11.9).
    assert_eq!(doc, json!({"names": {"alice": pubkey}}));
    for (name, host) in [("bob", "bunker.example"), ("alice", "other.example")] {
        let (status, doc) = get(name, host).await;
        assert_eq!(
            (status, &doc),
            (200, &json!({"names": {}})),
            "{name}@{host}"
        );
    }
    // A taken name is refused for another user of the tenant: 409, as the request is well formed.
    let bob = server.provision_in(&user.tenant, None).await;
    let (status, body) = admin
        .call(
            "PATCH",
            &format!("/v1/tenants/{}/users/{}", bob.tenant, bob.id),
            Some(r#"{"nip05_name":"alice"}"#),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    server.server.stop().await;
}

/// A NIP-05 domain belongs to one tenant: another tenant's claim is refused 409 `conflict`, also
/// when two tenants claim it at the same moment, and the first tenant keeps answering for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nip05_domain_belongs_to_one_tenant() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let claim = |tenant: String, domain: String| {
        let admin = admin.clone();
        async move {
            let body = json!({ "nip05_domain": domain }).to_string();
            admin
                .call("PATCH", &format!("/v1/tenants/{tenant}"), Some(&body))
                .await
        }
    };
    let a = server.provision(None).await.tenant;
    let b = server.provision(None).await.tenant;
    let org = || "org.example".to_owned();
    assert_eq!(claim(a.clone(), org()).await.0, 200);
    let (status, body) = claim(b.clone(), org()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    assert_eq!(claim(a.clone(), org()).await.0, 200, "its own domain again");
    // Racing claims of a fresh domain: exactly one wins, in every round.
    for round in 0..10 {
        let domain = format!("race{round}.example");
        let (x, y) = tokio::join!(claim(a.clone(), domain.clone()), claim(b.clone(), domain));
        let mut statuses = [x.0, y.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {x:?} {y:?}");
    }
    server.server.stop().await;
}
