//! Audit log, against the real server: a lifecycle (tenant and admin token,
//! users imported by hex and by ncryptsec, bunker URIs, connect, `sign_event`, `nip44_encrypt`, a
//! refused request, session revocation, user deletion) appears in `GET /v1/tenants/{t}/audit` in
//! order, with the right `action`, `user`, `client`, `kind`, `event_id`, `outcome` and, for admin
//! actions, `actor`; the `user`, `method`, `from`/`to` filters and cursor pagination return exactly
//! the matching records; tenant B's log never shows tenant A's records. Then the whole `audit`
//! column family (read with `store::RocksStore` after the server stops) and every log line the
//! process wrote at trace level are searched for the secrets and plaintexts that passed through:
//! user secret keys (hex, raw bytes, nsec), the ncryptsec and its password, bunker secrets, admin
//! tokens, a note's content and a `nip44_encrypt` plaintext; none may appear.

use crate::admin_policy::{now, signed_event};
use crate::support::admin::Admin;
use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::{create_user, TestServer, User, OPERATOR_TOKEN};
use nostr::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr::{Keys, ToBech32};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use store::Cf;

/// Everything the process logs, at trace level, once [`trace_logs`] has run.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// One writer per log event, appending to the shared buffer.
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per process) a global `tracing` subscriber at `TRACE` writing into a shared
/// buffer, and returns the buffer. Other tests' logs land in it too.
fn trace_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .try_init()
            .expect("this module installs the process's only global tracing subscriber");
        buffer
    })
    .clone()
}

/// The tenant's whole audit log, which must hold at least `count` records. A NIP-46 request's
/// record is queued before its reply is sent, and the audit route flushes the queue before it
/// reads, so a request the client saw answered is always there: no waiting.
async fn audit_when(admin: &Admin, tenant: &str, count: usize) -> Vec<Value> {
    let items = all_pages(admin, &format!("/v1/tenants/{tenant}/audit?limit=1000")).await;
    assert!(
        items.len() >= count,
        "{} records, expected {count}",
        items.len()
    );
    items
}

/// Follows `next_cursor` from `path` (which has a query string) to the end; checks page sizes.
async fn all_pages(admin: &Admin, path: &str) -> Vec<Value> {
    let limit: usize = path
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("limit="))
        .map_or(100, |l| l.parse().unwrap());
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let page = admin.get_ok(&page_path).await;
        let page_items = page["items"].as_array().expect("a page has items");
        assert!(page_items.len() <= limit, "{page_path}: {page}");
        items.extend(page_items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// What one audit record must say; `None` fields must be absent.
#[derive(Debug, Clone, Copy)]
struct Expect<'a> {
    action: &'a str,
    user: Option<&'a str>,
    client: Option<&'a str>,
    actor: Option<&'a str>,
    kind: Option<u16>,
    event_id: Option<&'a str>,
    outcome: &'a str,
}

impl<'a> Expect<'a> {
    fn admin(action: &'a str, actor: &'a str, user: Option<&'a str>) -> Self {
        Expect {
            action,
            user,
            client: None,
            actor: Some(actor),
            kind: None,
            event_id: None,
            outcome: "ok",
        }
    }

    fn nip46(action: &'a str, user: &'a str, client: &'a str, outcome: &'a str) -> Self {
        Expect {
            action,
            user: Some(user),
            client: Some(client),
            actor: None,
            kind: None,
            event_id: None,
            outcome,
        }
    }

    #[track_caller]
    fn check(&self, record: &Value, tenant: &str, i: usize) {
        let ctx = format!("record {i}: {record}, expected {self:?}");
        assert_eq!(record["tenant"], tenant, "{ctx}");
        assert_eq!(record["action"], self.action, "{ctx}");
        assert_eq!(record["outcome"], self.outcome, "{ctx}");
        assert_eq!(record["user"].as_str(), self.user, "{ctx}");
        assert_eq!(record["client"].as_str(), self.client, "{ctx}");
        assert_eq!(record["actor"].as_str(), self.actor, "{ctx}");
        assert_eq!(record["kind"].as_u64(), self.kind.map(u64::from), "{ctx}");
        assert_eq!(record["event_id"].as_str(), self.event_id, "{ctx}");
        assert!(record["time_ms"].as_u64().is_some(), "{ctx}");
    }
}

/// A connected NIP-46 client of one user.
struct Client {
    raw: RawClient,
    user: User,
}

impl Client {
    async fn connect(server: &TestServer, user: &User) -> Client {
        let mut raw = RawClient::connect(server.server.relay_addr).await;
        let params = vec![
            user.remote_signer_pubkey.clone(),
            secret_of(&user.bunker_uri),
        ];
        let ack = raw
            .request(
                &pk(&user.remote_signer_pubkey),
                "connect",
                params,
                Transport::Nip44,
            )
            .await;
        assert_eq!(ack["result"], "ack", "{ack}");
        Client {
            raw,
            user: user.clone(),
        }
    }

    fn pubkey(&self) -> String {
        self.raw.keys.public_key().to_hex()
    }

    async fn call(&mut self, method: &str, params: Vec<String>) -> Value {
        let remote = pk(&self.user.remote_signer_pubkey);
        self.raw
            .request(&remote, method, params, Transport::Nip44)
            .await
    }

    async fn sign(&mut self, kind: u16, content: &str) -> Value {
        let template = json!({"kind": kind, "content": content, "tags": [], "created_at": now()});
        self.call("sign_event", vec![template.to_string()]).await
    }
}

/// A value unique to this run, so a hit in shared logs can only come from this test.
fn unique(label: &str) -> String {
    format!("{label}-{}", Keys::generate().public_key().to_hex())
}

/// What the scenario did: ids, the clients' pubkeys, signed event ids, and every secret or
/// plaintext that went through the server.
struct Scenario {
    a: String,
    b: String,
    alice: User,
    bob: User,
    carol: User,
    alice_keys: Keys,
    bob_keys: Keys,
    token_actor: String,
    token_secret: String,
    ncryptsec: String,
    password: String,
    wrong_password: String,
    bad_token: String,
    note: String,
    plaintext: String,
    ciphertext: String,
    event_id: String,
    bob_event_id: String,
    carol_event_id: String,
    ca: String,
    cb: String,
    cc: String,
}

/// Tenants A and B; in A a tenant admin token, failed attempts (a bad bearer token, a wrong
/// ncryptsec password: not audited, nothing happened), alice imported by hex and bob by ncryptsec,
/// their clients' requests (alice: connect, sign, nip44_encrypt, a refused kind 23194; bob: connect,
/// sign), then the operator ends alice's session and her admin deletes her. In B, carol signs.
async fn run_scenario(server: &TestServer) -> Scenario {
    let operator = server.admin();
    let a = operator.post_ok("/v1/tenants", json!({"name": "a"})).await;
    let a = a["id"].as_str().unwrap().to_owned();
    let b = operator.post_ok("/v1/tenants", json!({"name": "b"})).await;
    let b = b["id"].as_str().unwrap().to_owned();
    let token = operator
        .post_ok(&format!("/v1/tenants/{a}/admin-tokens"), json!({}))
        .await;
    let token_secret = token["token"].as_str().unwrap().to_owned();
    let tenant_admin = Admin::new(server.server.admin_addr, Some(&token_secret));

    let (alice_keys, bob_keys) = (Keys::generate(), Keys::generate());
    let password = unique("password");
    let wrong_password = unique("wrong-password");
    let bad_token = unique("bad-bearer-token");
    let ncryptsec =
        EncryptedSecretKey::new(bob_keys.secret_key(), &password, 8, KeySecurity::Unknown)
            .unwrap()
            .to_bech32()
            .unwrap();
    let users_a = format!("/v1/tenants/{a}/users");
    let refused = Admin::new(server.server.admin_addr, Some(&bad_token))
        .call("GET", &users_a, None)
        .await;
    assert_eq!(refused.0, 401);
    let wrong = json!({"ncryptsec": ncryptsec, "password": wrong_password}).to_string();
    let refused = tenant_admin.call("POST", &users_a, Some(&wrong)).await;
    assert_eq!(refused.0, 400);
    let alice_body =
        json!({"name": "alice", "secret_key": alice_keys.secret_key().to_secret_hex()});
    let alice = create_user(&tenant_admin, &a, alice_body).await;
    let bob_body = json!({"name": "bob", "ncryptsec": ncryptsec, "password": password});
    let bob = create_user(&tenant_admin, &a, bob_body).await;
    assert_eq!(alice.user_pubkey, alice_keys.public_key().to_hex());
    assert_eq!(bob.user_pubkey, bob_keys.public_key().to_hex());

    let note = unique("audit-note-content");
    let plaintext = unique("audit-nip44-plaintext");
    let mut ca = Client::connect(server, &alice).await;
    let event_id = signed_event(&ca.sign(1, &note).await, &alice).id.to_hex();
    let third = Keys::generate().public_key().to_hex();
    let reply = ca
        .call("nip44_encrypt", vec![third, plaintext.clone()])
        .await;
    let ciphertext = reply["result"].as_str().unwrap().to_owned();
    let refusal = ca.sign(23194, &note).await;
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("sign_event:23194"),
        "{refusal}"
    );
    let mut cb = Client::connect(server, &bob).await;
    let bob_event_id = signed_event(&cb.sign(1, "bob's note").await, &bob)
        .id
        .to_hex();
    let alice_path = format!("{users_a}/{}", alice.id);
    let revoke = format!("{alice_path}/sessions/{}", ca.pubkey());
    assert_eq!(operator.call("DELETE", &revoke, None).await.0, 204);
    tenant_admin.delete_ok(&alice_path).await;

    let carol = create_user(&operator, &b, json!({"name": "carol"})).await;
    let mut cc = Client::connect(server, &carol).await;
    let carol_event_id = signed_event(&cc.sign(1, "carol's note").await, &carol)
        .id
        .to_hex();
    Scenario {
        a,
        b,
        alice,
        bob,
        carol,
        alice_keys,
        bob_keys,
        token_actor: format!("token:{}", token["id"].as_str().unwrap()),
        token_secret,
        ncryptsec,
        password,
        wrong_password,
        bad_token,
        note,
        plaintext,
        ciphertext,
        event_id,
        bob_event_id,
        carol_event_id,
        ca: ca.pubkey(),
        cb: cb.pubkey(),
        cc: cc.pubkey(),
    }
}

/// Tenant A's log, record by record, oldest first.
fn expected_a(s: &Scenario) -> Vec<Expect<'_>> {
    let (alice, bob, token) = (
        s.alice.id.as_str(),
        s.bob.id.as_str(),
        s.token_actor.as_str(),
    );
    vec![
        Expect::admin("tenant.create", "operator", None),
        Expect::admin("admin_token.create", "operator", None),
        Expect::admin("user.create", token, Some(alice)),
        Expect::admin("bunker_uri.create", token, Some(alice)),
        Expect::admin("user.create", token, Some(bob)),
        Expect::admin("bunker_uri.create", token, Some(bob)),
        Expect::nip46("connect", alice, &s.ca, "ok"),
        Expect {
            kind: Some(1),
            event_id: Some(&s.event_id),
            ..Expect::nip46("sign_event", alice, &s.ca, "ok")
        },
        Expect::nip46("nip44_encrypt", alice, &s.ca, "ok"),
        Expect {
            kind: Some(23194),
            ..Expect::nip46("sign_event", alice, &s.ca, "refused")
        },
        Expect::nip46("connect", bob, &s.cb, "ok"),
        Expect {
            kind: Some(1),
            event_id: Some(&s.bob_event_id),
            ..Expect::nip46("sign_event", bob, &s.cb, "ok")
        },
        Expect::admin("session.revoke", "operator", Some(alice)),
        Expect::admin("user.delete", token, Some(alice)),
        // The deletion shreds: the custody task re-seals the tenant's other users (bob) under
        // a new data key and destroys the old one.
        Expect::admin("keys.resealed", "system", None),
    ]
}

/// Index of the refused `sign_event` in [`expected_a`].
const REFUSED: usize = 9;

/// Tenant B's log.
fn expected_b(s: &Scenario) -> Vec<Expect<'_>> {
    let carol = s.carol.id.as_str();
    vec![
        Expect::admin("tenant.create", "operator", None),
        Expect::admin("user.create", "operator", Some(carol)),
        Expect::admin("bunker_uri.create", "operator", Some(carol)),
        Expect::nip46("connect", carol, &s.cc, "ok"),
        Expect {
            kind: Some(1),
            event_id: Some(&s.carol_event_id),
            ..Expect::nip46("sign_event", carol, &s.cc, "ok")
        },
    ]
}

/// Reads the tenant's whole log and checks it against `expected`, record by record.
async fn check_log(admin: &Admin, tenant: &str, expected: &[Expect<'_>]) -> Vec<Value> {
    let log = audit_when(admin, tenant, expected.len()).await;
    assert_eq!(log.len(), expected.len(), "tenant {tenant}'s log: {log:#?}");
    for (i, (record, expect)) in log.iter().zip(expected).enumerate() {
        expect.check(record, tenant, i);
    }
    let times: Vec<u64> = log.iter().map(|r| r["time_ms"].as_u64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    log
}

/// Tenant B's log shows nothing of A; A's admin cannot read it; A's cursor is refused on it.
async fn check_isolation(server: &TestServer, s: &Scenario, log_b: &[Value]) {
    let operator = server.admin();
    let text = serde_json::to_string(log_b).unwrap();
    for foreign in [&s.a, &s.alice.id, &s.bob.id, &s.ca, &s.cb, &s.event_id] {
        assert!(!text.contains(foreign.as_str()), "B's log shows {foreign}");
    }
    let filtered = operator
        .get_ok(&format!("/v1/tenants/{}/audit?user={}", s.b, s.alice.id))
        .await;
    assert_eq!(filtered["items"], json!([]));
    let tenant_admin = Admin::new(server.server.admin_addr, Some(&s.token_secret));
    let (status, _) = tenant_admin
        .call("GET", &format!("/v1/tenants/{}/audit", s.b), None)
        .await;
    assert_eq!(status, 404);
    // A cursor is a position in time (any 32-hex value is one): A's, used on B's log, pages through
    // B's records only.
    let first = operator
        .get_ok(&format!("/v1/tenants/{}/audit?limit=1", s.a))
        .await;
    let a_cursor = first["next_cursor"].as_str().unwrap();
    let path = format!("/v1/tenants/{}/audit?cursor={a_cursor}", s.b);
    let page = operator.get_ok(&path).await;
    let text = page.to_string();
    for record in page["items"].as_array().unwrap() {
        assert_eq!(record["tenant"], s.b.as_str(), "{text}");
    }
    for foreign in [&s.a, &s.alice.id, &s.bob.id, &s.ca, &s.cb, &s.event_id] {
        assert!(
            !text.contains(foreign.as_str()),
            "{foreign} through A's cursor"
        );
    }
}

/// Every secret and plaintext of the scenario, with a name for failure messages.
fn secrets(s: &Scenario) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (who, keys) in [("alice", &s.alice_keys), ("bob", &s.bob_keys)] {
        let sk = keys.secret_key();
        out.push((
            format!("{who}'s secret key (hex)"),
            sk.to_secret_hex().into_bytes(),
        ));
        out.push((
            format!("{who}'s secret key (bytes)"),
            sk.as_secret_bytes().to_vec(),
        ));
        out.push((
            format!("{who}'s nsec"),
            sk.to_bech32().unwrap().into_bytes(),
        ));
    }
    for (who, user) in [("alice", &s.alice), ("bob", &s.bob), ("carol", &s.carol)] {
        let secret = secret_of(&user.bunker_uri).into_bytes();
        out.push((format!("{who}'s bunker secret"), secret));
    }
    for (what, value) in [
        ("ncryptsec", s.ncryptsec.as_str()),
        ("ncryptsec password", s.password.as_str()),
        ("wrong ncryptsec password", s.wrong_password.as_str()),
        ("bad bearer token", s.bad_token.as_str()),
        ("tenant admin token", s.token_secret.as_str()),
        ("operator token", OPERATOR_TOKEN),
        ("note content", s.note.as_str()),
        ("nip44_encrypt plaintext", s.plaintext.as_str()),
    ] {
        out.push((what.to_owned(), value.as_bytes().to_vec()));
    }
    out
}

/// Every row (key and value) of the `audit` column family of a stopped server's store, and the
/// number of rows.
fn scan_audit_cf(data_dir: &Path) -> (usize, Vec<u8>) {
    let store = crate::support::open_store(data_dir);
    let (mut rows, mut bytes) = (0, Vec::new());
    store
        .scan_prefix(Cf::Audit, b"", &mut |key, value| {
            rows += 1;
            bytes.extend_from_slice(key);
            bytes.push(b'\n');
            bytes.extend_from_slice(value);
            bytes.push(b'\n');
            true
        })
        .unwrap();
    (rows, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lifecycle_filters_isolation_and_no_secrets() {
    let logs = trace_logs();
    let server = TestServer::start().await;
    let operator = server.admin();
    let s = run_scenario(&server).await;

    let (expected_a, expected_b) = (expected_a(&s), expected_b(&s));
    let log_a = check_log(&operator, &s.a, &expected_a).await;
    let detail = log_a[REFUSED]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("sign_event:23194"),
        "the refusal says why: {}",
        log_a[REFUSED]
    );
    check_filters(&operator, &s.a, &log_a, &s.alice, &s.bob).await;
    let log_b = check_log(&operator, &s.b, &expected_b).await;
    check_isolation(&server, &s, &log_b).await;

    // Stop the server (its audit writer flushes), then search its audit rows and the logs.
    let admin_addr = server.server.admin_addr.to_string();
    let (dir, tmp, _) = server.stop().await;
    let (rows, audit) = scan_audit_cf(&dir);
    drop(tmp);
    assert_eq!(
        rows,
        expected_a.len() + expected_b.len(),
        "every audit row was read"
    );
    assert!(
        find(&audit, s.event_id.as_bytes()),
        "the scan sees the records' contents"
    );
    let secrets = secrets(&s);
    let ciphertext = (
        "nip44_encrypt ciphertext".to_owned(),
        s.ciphertext.clone().into_bytes(),
    );
    for (what, needle) in secrets.iter().chain([&ciphertext]) {
        assert!(
            !find(&audit, needle),
            "the audit column family holds the {what}"
        );
    }
    let logs = logs.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        find(&logs, admin_addr.as_bytes()),
        "the trace log captured this server's start line"
    );
    for (what, needle) in &secrets {
        assert!(!find(&logs, needle), "the trace-level logs hold the {what}");
    }
}

/// The `user`, `method` and `from`/`to` filters and cursor pagination give exactly the records of
/// the full log that match, in the same order.
async fn check_filters(admin: &Admin, tenant: &str, log: &[Value], alice: &User, bob: &User) {
    let base = format!("/v1/tenants/{tenant}/audit");
    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        log.iter().filter(|r| pred(r)).cloned().collect()
    };

    for limit in [1, 2, 3, 5, 1000] {
        assert_eq!(
            all_pages(admin, &format!("{base}?limit={limit}")).await,
            log,
            "limit {limit}"
        );
    }
    for user in [alice, bob] {
        let want = expect(&|r| r["user"] == user.id.as_str());
        assert!(!want.is_empty());
        for limit in [2, 1000] {
            let got = all_pages(admin, &format!("{base}?user={}&limit={limit}", user.id)).await;
            assert_eq!(got, want, "user filter, limit {limit}");
        }
    }
    for method in ["sign_event", "user.create", "connect", "nip44_encrypt"] {
        let want = expect(&|r| r["action"] == method);
        assert!(!want.is_empty(), "{method}");
        let got = all_pages(admin, &format!("{base}?method={method}&limit=1")).await;
        assert_eq!(got, want, "method filter {method}");
    }
    let want = expect(&|r| r["user"] == alice.id.as_str() && r["action"] == "sign_event");
    assert_eq!(want.len(), 2);
    let got = all_pages(
        admin,
        &format!("{base}?user={}&method=sign_event&limit=1", alice.id),
    )
    .await;
    assert_eq!(got, want, "user and method");

    // [from, to): from inclusive, to exclusive, in Unix milliseconds.
    let t = |i: usize| log[i]["time_ms"].as_u64().unwrap();
    for (from, to) in [
        (t(6), t(12)),
        (t(0), t(log.len() - 1) + 1),
        (t(3), t(3) + 1),
    ] {
        let want = expect(&|r| {
            let time = r["time_ms"].as_u64().unwrap();
            from <= time && time < to
        });
        assert!(!want.is_empty(), "[{from}, {to})");
        let got = all_pages(admin, &format!("{base}?from={from}&to={to}&limit=2")).await;
        assert_eq!(got, want, "[{from}, {to})");
    }
    let empty = admin
        .get_ok(&format!("{base}?from={}&to={}", t(3), t(3)))
        .await;
    assert_eq!(empty["items"], json!([]), "to is exclusive");
    let later = admin
        .get_ok(&format!("{base}?from={}", t(log.len() - 1) + 1))
        .await;
    assert_eq!(later["items"], json!([]));

    for bad in [
        "limit=0",
        "limit=1001",
        "from=yesterday",
        "cursor=not-a-cursor",
    ] {
        let (status, body) = admin.call("GET", &format!("{base}?{bad}"), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{bad}: {body}"
        );
    }
}

/// Whether `needle` occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
