//! Signing policy, over HTTP and real NIP-46 sessions against the real
//! server: a session held to `sign_event:1` (pre-approved by the admin on the bunker URI, or
//! requested by its client under `grant: "requested"`) signs kind 1 and gets an error reply naming
//! `sign_event:7` for kind 7; every kind closed by default (`proto::policy::DEFAULT_DENY_KINDS`) is
//! refused and signs once an admin opens it, per tenant or per user; a user policy replaces the
//! tenant's and `GET …/policy` says whether it is `inherited`; tightening a policy reaches an
//! existing session on its next request; invalid policies are refused with 400 `invalid_policy`
//! and change nothing; a disabled user's sessions get error replies.

use crate::support::admin::Admin;
use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::{TestServer, User};
use nostr_connect::prelude::{Event, JsonUtil, Keys, PublicKey};
use proto::policy::DEFAULT_DENY_KINDS;
use serde_json::{json, Value};

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `sign_event` params: one event template of `kind` dated `created_at` (Unix seconds).
fn template_at(kind: u16, content: &str, created_at: u64) -> Vec<String> {
    vec![
        json!({"kind": kind, "content": content, "tags": [], "created_at": created_at}).to_string(),
    ]
}

fn template(kind: u16) -> Vec<String> {
    template_at(kind, "policy test", now())
}

/// One client's NIP-46 session with one user's remote signer.
pub(crate) struct Session {
    pub(crate) client: RawClient,
    remote: PublicKey,
    user: User,
}

impl Session {
    /// Connects a fresh client with `uri`'s secret, sending `perms` as `connect` param 2 if given.
    pub(crate) async fn open(
        server: &TestServer,
        user: &User,
        uri: &str,
        perms: Option<&str>,
    ) -> Session {
        let mut client = RawClient::connect(server.server.relay_addr).await;
        let remote = pk(&user.remote_signer_pubkey);
        let mut params = vec![user.remote_signer_pubkey.clone(), secret_of(uri)];
        if let Some(perms) = perms {
            params.push(perms.to_owned());
        }
        let ack = client
            .request(&remote, "connect", params, Transport::Nip44)
            .await;
        assert_eq!(ack["result"], "ack", "connect: {ack}");
        Session {
            client,
            remote,
            user: user.clone(),
        }
    }

    pub(crate) async fn call(&mut self, method: &str, params: Vec<String>) -> Value {
        self.client
            .request(&self.remote, method, params, Transport::Nip44)
            .await
    }

    pub(crate) async fn sign(&mut self, kind: u16) -> Value {
        self.call("sign_event", template(kind)).await
    }

    /// Signs `kind` and asserts it is signed by this session's user key.
    pub(crate) async fn assert_signs(&mut self, kind: u16) {
        let reply = self.sign(kind).await;
        let event = signed_event(&reply, &self.user);
        assert_eq!(event.kind.as_u16(), kind);
    }

    /// Asks to sign `kind` and asserts an error reply that names `sign_event:<kind>` and `why`.
    pub(crate) async fn assert_refused(&mut self, kind: u16, why: &str) {
        let reply = self.sign(kind).await;
        assert_error_reply(&reply, &format!("sign_event:{kind}"));
        assert_error_reply(&reply, why);
    }

    pub(crate) async fn nip44_encrypt(&mut self) -> Value {
        let third = Keys::generate().public_key().to_hex();
        self.call("nip44_encrypt", vec![third, "hello".to_owned()])
            .await
    }
}

/// The event a `sign_event` reply carries, checked: it verifies and its pubkey is `user`'s.
#[track_caller]
pub(crate) fn signed_event(reply: &Value, user: &User) -> Event {
    let text = reply["result"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a signed event, got {reply}"));
    let event = Event::from_json(text).expect("the result is an event");
    event.verify().expect("the signed event verifies");
    assert_eq!(
        event.pubkey.to_hex(),
        user.user_pubkey,
        "signed with the user's key"
    );
    event
}

#[track_caller]
pub(crate) fn assert_error_reply(reply: &Value, needle: &str) {
    let error = reply["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(needle) && reply.get("result").is_none(),
        "expected an error reply mentioning {needle:?}, got {reply}"
    );
}

#[track_caller]
fn assert_error(result: &(u16, Value), status: u16, code: &str) {
    assert_eq!(result.0, status, "{result:?}");
    assert_eq!(result.1["error"]["code"], code, "{result:?}");
}

pub(crate) fn tenant_policy(user: &User) -> String {
    format!("/v1/tenants/{}/policy", user.tenant)
}

pub(crate) fn user_path(user: &User) -> String {
    format!("/v1/tenants/{}/users/{}", user.tenant, user.id)
}

pub(crate) fn user_policy(user: &User) -> String {
    format!("{}/policy", user_path(user))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_granted_sign_event_1_signs_kind_1_only() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;

    // The admin pre-approves `sign_event:1` on the URI: a client that asks for nothing gets it, and
    // one that asks for more does not get more.
    let mut approved = Vec::new();
    for asked in [None, Some("sign_event:0,sign_event:7,nip44_encrypt")] {
        let uri = admin
            .post_ok(
                &format!("{}/bunker-uris", user_path(&user)),
                json!({"perms": "sign_event:1"}),
            )
            .await;
        let uri = uri["bunker_uri"].as_str().unwrap();
        approved.push(Session::open(&server, &user, uri, asked).await);
    }
    for session in approved.iter_mut() {
        session.assert_signs(1).await;
        session.assert_refused(7, "not granted").await;
        assert_error_reply(&session.nip44_encrypt().await, "nip44_encrypt");
    }
    // The client asks for `sign_event:1` in connect param 2, on a tenant that holds sessions to
    // what their clients requested. (Pre-approved perms would cap those sessions in this mode too,
    // but requested ones then narrow them further.)
    admin
        .put_ok(&tenant_policy(&user), json!({"grant": "requested"}))
        .await;
    let mut requested = Session::open(&server, &user, &user.bunker_uri, Some("sign_event:1")).await;

    requested.assert_signs(1).await;
    requested.assert_refused(7, "not granted").await;
    assert_error_reply(&requested.nip44_encrypt().await, "nip44_encrypt");
    // Always allowed: the handshake methods.
    for session in std::iter::once(&mut requested).chain(approved.iter_mut()) {
        let reply = session.call("get_public_key", vec![]).await;
        assert_eq!(reply["result"], user.user_pubkey.as_str());
    }
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_kinds_are_refused_until_an_admin_opens_them() {
    // What moves money or hands over control is closed by default.
    for kind in [
        13194, 23194, 23195, 23196, 23197, 7375, 17375, 9321, 10019, 24133, 62,
    ] {
        assert!(DEFAULT_DENY_KINDS.contains(&kind), "kind {kind} is closed");
    }
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.provision(None).await;
    let bob = server.provision_in(&alice.tenant, None).await;
    let mut a = Session::open(&server, &alice, &alice.bunker_uri, None).await;
    let mut b = Session::open(&server, &bob, &bob.bunker_uri, None).await;

    for kind in DEFAULT_DENY_KINDS {
        a.assert_refused(kind, "kind closed").await;
    }
    for kind in [0, 1, 3, 5, 7, 10002, 22242, 27235, 30023] {
        a.assert_signs(kind).await;
    }

    // The tenant opens every kind: the same sessions now sign them.
    let opened = admin
        .put_ok(&tenant_policy(&alice), json!({"deny_kinds": []}))
        .await;
    assert_eq!(opened["deny_kinds"], json!([]));
    for kind in DEFAULT_DENY_KINDS {
        a.assert_signs(kind).await;
        b.assert_signs(kind).await;
    }

    // Back to the default, then one user closes kind 0 too: the other users still sign it.
    admin.put_ok(&tenant_policy(&alice), json!({})).await;
    let own = admin
        .put_ok(&user_policy(&alice), json!({"deny_kinds": [0, 23194]}))
        .await;
    assert_eq!(own["inherited"], false);
    assert_eq!(own["policy"]["deny_kinds"], json!([0, 23194]));
    a.assert_refused(0, "kind closed").await;
    a.assert_signs(13194).await;
    b.assert_signs(0).await;
    b.assert_refused(13194, "kind closed").await;
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_policy_replaces_the_tenant_default_and_get_shows_inherited() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.provision(None).await;
    let bob = server.provision_in(&alice.tenant, None).await;

    let (status, default) = admin.call("GET", &tenant_policy(&alice), None).await;
    assert_eq!(status, 200, "{default}");
    assert_eq!(default["sign_kinds"], "any");
    assert_eq!(default["deny_kinds"], json!(DEFAULT_DENY_KINDS));

    let tenant = admin
        .put_ok(&tenant_policy(&alice), json!({"sign_kinds": [1]}))
        .await;
    assert_eq!(admin.get_ok(&tenant_policy(&alice)).await, tenant);
    let mine = admin
        .put_ok(&user_policy(&alice), json!({"sign_kinds": [7]}))
        .await;
    assert_eq!(mine["inherited"], false);
    assert_eq!(mine["policy"]["sign_kinds"], json!([7]));
    let bobs = admin.get_ok(&user_policy(&bob)).await;
    assert_eq!(bobs, json!({"policy": tenant, "inherited": true}));
    assert_eq!(admin.get_ok(&user_policy(&alice)).await, mine);

    // Sessions opened now are granted what each effective policy allows.
    let mut a = Session::open(&server, &alice, &alice.bunker_uri, None).await;
    let mut b = Session::open(&server, &bob, &bob.bunker_uri, None).await;
    a.assert_signs(7).await;
    a.assert_refused(1, "permission denied").await;
    b.assert_signs(1).await;
    b.assert_refused(7, "permission denied").await;

    // `null` removes alice's own policy: she inherits the tenant's again, and kind 7 (which the
    // tenant does not allow) is refused on her existing session's next request.
    let back = admin.put_ok(&user_policy(&alice), Value::Null).await;
    assert_eq!(back, json!({"policy": tenant, "inherited": true}));
    assert_eq!(admin.get_ok(&user_policy(&alice)).await, back);
    a.assert_refused(7, "policy").await;
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tightening_a_policy_reaches_an_existing_session_on_its_next_request() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let mut s = Session::open(&server, &user, &user.bunker_uri, None).await;
    s.assert_signs(1).await;
    s.assert_signs(7).await;
    assert!(s.nip44_encrypt().await["result"].is_string());

    // User level: kinds.
    admin
        .put_ok(&user_policy(&user), json!({"sign_kinds": [7]}))
        .await;
    s.assert_refused(1, "not allowed by this user's policy")
        .await;
    s.assert_signs(7).await;

    // User level: methods (get_public_key stays: always allowed).
    admin
        .put_ok(&user_policy(&user), json!({"methods": ["sign_event"]}))
        .await;
    assert_error_reply(&s.nip44_encrypt().await, "permission denied: nip44_encrypt");
    s.assert_signs(1).await;
    let reply = s.call("get_public_key", vec![]).await;
    assert_eq!(reply["result"], user.user_pubkey.as_str());

    // Tenant level, for a user who inherits: methods and the created_at bound.
    admin.put_ok(&user_policy(&user), Value::Null).await;
    assert!(s.nip44_encrypt().await["result"].is_string());
    admin
        .put_ok(
            &tenant_policy(&user),
            json!({"methods": ["sign_event"], "max_created_at_skew_secs": 60}),
        )
        .await;
    assert_error_reply(&s.nip44_encrypt().await, "permission denied: nip44_encrypt");
    let old = s
        .call("sign_event", template_at(1, "late", now() - 3600))
        .await;
    assert_error_reply(&old, "sign_event:1");
    assert_error_reply(&old, "created_at");
    s.assert_signs(1).await;
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policies_are_refused_with_400_and_change_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let tenant_before = admin.get_ok(&tenant_policy(&user)).await;
    let user_before = admin.get_ok(&user_policy(&user)).await;
    let too_many: Vec<u16> = (1000..2025).collect();

    let invalid = [
        json!({"session_ttl_secs": 0}),
        json!({"deny_kinds": too_many}),
        json!({"max_created_at_skew_secs": 365 * 86_400 + 1}),
        json!({"sign_kinds": too_many}),
    ];
    for policy in &invalid {
        for path in [tenant_policy(&user), user_policy(&user)] {
            let result = admin.call("PUT", &path, Some(&policy.to_string())).await;
            assert_error(&result, 400, "invalid_policy");
        }
    }
    // Bodies that are not a policy at all are refused as JSON errors (the API's contract for
    // bodies that do not deserialize: unknown fields, unknown method names, kinds out of range).
    let malformed = [
        r#"{"methods": ["sign_everything"]}"#,
        r#"{"sign_kinds": "some"}"#,
        r#"{"sign_kinds": [70000]}"#,
        r#"{"allow_all": true}"#,
        r#"{"methods": "sign_event"}"#,
    ];
    for body in malformed {
        for path in [tenant_policy(&user), user_policy(&user)] {
            let result = admin.call("PUT", &path, Some(body)).await;
            assert_error(&result, 400, "invalid_json");
        }
    }
    assert_eq!(admin.get_ok(&tenant_policy(&user)).await, tenant_before);
    assert_eq!(admin.get_ok(&user_policy(&user)).await, user_before);

    // Unknown tenant or user: 404, whatever the body.
    let ok = json!({}).to_string();
    assert_error(
        &admin
            .call("PUT", "/v1/tenants/0000/policy", Some(&ok))
            .await,
        404,
        "tenant_not_found",
    );
    let missing = format!(
        "/v1/tenants/{}/users/{}/policy",
        user.tenant,
        "0".repeat(32)
    );
    assert_error(
        &admin.call("PUT", &missing, Some(&ok)).await,
        404,
        "user_not_found",
    );
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_gets_error_replies_until_enabled_again() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let user = server.provision(None).await;
    let spare = server.bunker_uri(&user).await;
    let mut s = Session::open(&server, &user, &user.bunker_uri, None).await;
    s.assert_signs(1).await;

    let disabled = admin
        .patch_ok(&user_path(&user), json!({"disabled": true}))
        .await;
    assert_eq!(disabled["disabled"], true);
    assert_eq!(admin.get_ok(&user_path(&user)).await["disabled"], true);
    assert_error_reply(&s.sign(1).await, "not available");
    assert_error_reply(&s.nip44_encrypt().await, "not available");
    assert_error_reply(&s.call("get_public_key", vec![]).await, "not available");
    // A new client cannot connect to a disabled user either, even with a valid secret.
    let mut fresh = RawClient::connect(server.server.relay_addr).await;
    let reply = fresh
        .request(
            &s.remote,
            "connect",
            vec![user.remote_signer_pubkey.clone(), secret_of(&spare)],
            Transport::Nip44,
        )
        .await;
    assert_error_reply(&reply, "not available");

    // Enabled again: the kept session signs, and the spare secret was not consumed.
    admin
        .patch_ok(&user_path(&user), json!({"disabled": false}))
        .await;
    s.assert_signs(1).await;
    let mut again = Session::open(&server, &user, &spare, None).await;
    again.assert_signs(1).await;
    server.server.stop().await;
}

/// The admin of another tenant cannot read or change this tenant's policies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_per_tenant() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let a = server.provision(None).await;
    let b = server.provision(None).await;
    let b_token = admin
        .post_ok(&format!("/v1/tenants/{}/admin-tokens", b.tenant), json!({}))
        .await;
    let b_admin = Admin::new(server.server.admin_addr, b_token["token"].as_str());
    let open = json!({"deny_kinds": []}).to_string();
    for path in [tenant_policy(&a), user_policy(&a)] {
        assert_eq!(b_admin.call("GET", &path, None).await.0, 404, "{path}");
        assert_eq!(
            b_admin.call("PUT", &path, Some(&open)).await.0,
            404,
            "{path}"
        );
    }
    // B's admin opens kind 23194 for B: A's users are still refused.
    b_admin
        .put_ok(&tenant_policy(&b), json!({"deny_kinds": []}))
        .await;
    let mut sa = Session::open(&server, &a, &a.bunker_uri, None).await;
    let mut sb = Session::open(&server, &b, &b.bunker_uri, None).await;
    sa.assert_refused(23194, "kind closed").await;
    sb.assert_signs(23194).await;
    server.server.stop().await;
}
