//! NIP-98 admin auth, against the real admin listener: a pubkey registered
//! with `POST /v1/tenants/{t}/admin-pubkeys` authenticates with `Authorization: Nostr <base64
//! kind-27235 event>` built by rust-nostr (the independent oracle), its `u` tag on the configured
//! `admin_public_url`; a wrong URL (the listener's own address included: the `Host` header proves
//! nothing), method or payload hash, a missing payload hash, a stale or future `created_at`, a
//! wrong kind, a bad signature and an unregistered or removed pubkey are each refused with 401
//! `unauthorized`; a registered admin of tenant A is refused on tenant B; NIP-98 is refused on
//! operator-only routes, and everywhere (401 `nip98_not_configured`) by a server without an
//! `admin_public_url`. NIP-98:
//! <https://github.com/nostr-protocol/nips/blob/master/98.md> (§"Nostr event", §"Request Flow").

use crate::support::admin::Admin;
use crate::support::TestServer;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use nostr::hashes::Hash as _;
use nostr::nips::nip98::{HttpData, HttpMethod};
use nostr::{EventBuilder, JsonUtil, Keys, Kind, Tag, Timestamp, Url};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What goes into one NIP-98 event; [`Auth::header`] signs it.
struct Auth<'a> {
    keys: &'a Keys,
    kind: Kind,
    url: String,
    method: &'a str,
    /// The `payload` tag's value, if any.
    payload: Option<String>,
    created_at: Timestamp,
}

impl<'a> Auth<'a> {
    /// A correct event for `method url` with `body` (payload tag only when there is a body).
    fn new(keys: &'a Keys, method: &'a str, url: String, body: Option<&str>) -> Self {
        Auth {
            keys,
            kind: Kind::HttpAuth,
            url,
            method,
            payload: body.map(sha256_hex),
            created_at: Timestamp::now(),
        }
    }

    /// `Nostr <base64 of the signed event's JSON>` (NIP-98 §"Request Flow").
    fn header(&self) -> String {
        let mut tags = vec![
            Tag::parse(["u", self.url.as_str()]).unwrap(),
            Tag::parse(["method", self.method]).unwrap(),
        ];
        if let Some(payload) = &self.payload {
            tags.push(Tag::parse(["payload", payload.as_str()]).unwrap());
        }
        let event = EventBuilder::new(self.kind, "")
            .tags(tags)
            .custom_created_at(self.created_at)
            .sign_with_keys(self.keys)
            .unwrap();
        format!("Nostr {}", STANDARD.encode(event.as_json()))
    }
}

fn sha256_hex(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// Calls `method path` with `Authorization: <header>` only.
async fn call(
    admin: &Admin,
    method: &str,
    path: &str,
    body: Option<&str>,
    header: &str,
) -> (u16, Value) {
    admin
        .call_with_headers(method, path, body, &[("authorization", header)])
        .await
}

#[track_caller]
fn assert_unauthorized(result: &(u16, Value), case: &str) {
    assert_eq!(result.0, 401, "{case}: {result:?}");
    assert_eq!(
        result.1["error"]["code"], "unauthorized",
        "{case}: {result:?}"
    );
}

/// The admin public URL the servers of this module are configured with: not the listener's
/// address, as behind a TLS proxy.
const PUBLIC_URL: &str = "http://admin.bunker.test:8448";

struct Setup {
    server: TestServer,
    /// Operator client.
    admin: Admin,
    /// Client without credentials, for NIP-98 calls.
    anon: Admin,
    tenant: String,
    other_tenant: String,
    keys: Keys,
}

impl Setup {
    /// The URL of `path_and_query` as NIP-98 events must name it.
    fn url(&self, path_and_query: &str) -> String {
        format!("{PUBLIC_URL}{path_and_query}")
    }
}

/// Two tenants; `keys` is registered as an admin of the first one only. The failed-authentication
/// throttle is off: these tests make many refused calls from one address on purpose.
async fn setup() -> Setup {
    let server = TestServer::start_with(|c| {
        c.admin_public_url = Some(format!("{PUBLIC_URL}/"));
        c.admin_auth_failures_per_min = 0;
    })
    .await;
    let admin = server.admin();
    let mut tenants = Vec::new();
    for name in ["nip98-a", "nip98-b"] {
        let t = admin.post_ok("/v1/tenants", json!({"name": name})).await;
        tenants.push(t["id"].as_str().unwrap().to_owned());
    }
    let keys = Keys::generate();
    let added = admin
        .post_ok(
            &format!("/v1/tenants/{}/admin-pubkeys", tenants[0]),
            json!({"pubkey": keys.public_key().to_hex(), "name": "nip98 admin"}),
        )
        .await;
    assert_eq!(added["pubkey"], keys.public_key().to_hex().as_str());
    let anon = Admin::new(server.server.admin_addr, None);
    Setup {
        admin,
        anon,
        other_tenant: tenants.pop().unwrap(),
        tenant: tenants.pop().unwrap(),
        keys,
        server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_admin_pubkey_is_accepted() {
    let s = setup().await;
    let users = format!("/v1/tenants/{}/users", s.tenant);

    // POST with a body: rust-nostr's own NIP-98 builder (HttpData), payload = SHA-256 of the body.
    let body = json!({"name": "made-by-nip98"}).to_string();
    let data = HttpData::new(Url::parse(&s.url(&users)).unwrap(), HttpMethod::POST)
        .payload(nostr::hashes::sha256::Hash::hash(body.as_bytes()));
    let event = EventBuilder::http_auth(data)
        .sign_with_keys(&s.keys)
        .unwrap();
    let header = format!("Nostr {}", STANDARD.encode(event.as_json()));
    let (status, created) = call(&s.anon, "POST", &users, Some(&body), &header).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "made-by-nip98");
    let user_id = created["id"].as_str().unwrap().to_owned();

    // GET without a body (no payload tag), with and without a query string in the URL.
    for path in [users.clone(), format!("{users}?limit=10")] {
        let data = HttpData::new(Url::parse(&s.url(&path)).unwrap(), HttpMethod::GET);
        let event = EventBuilder::http_auth(data)
            .sign_with_keys(&s.keys)
            .unwrap();
        let header = format!("Nostr {}", STANDARD.encode(event.as_json()));
        let (status, list) = call(&s.anon, "GET", &path, None, &header).await;
        assert_eq!(status, 200, "{path}: {list}");
        let ids: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [user_id.as_str()], "{path}");
    }

    // DELETE (a method rust-nostr's HttpMethod lacks) with this module's builder; lowercase
    // `method` tags are accepted too (nostr-tools writes the method as its caller spells it).
    let user_path = format!("{users}/{user_id}");
    let header = Auth::new(&s.keys, "delete", s.url(&user_path), None).header();
    let (status, deleted) = call(&s.anon, "DELETE", &user_path, None, &header).await;
    assert_eq!(
        (status, deleted["deleted"].as_bool()),
        (200, Some(true)),
        "{deleted}"
    );

    // The audit log names the NIP-98 admin as the actor of both writes.
    let audit = s
        .admin
        .get_ok(&format!("/v1/tenants/{}/audit?user={user_id}", s.tenant))
        .await;
    let actor = format!("nip98:{}", s.keys.public_key().to_hex());
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["actor"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("user.create", actor.as_str()),
            ("user.delete", actor.as_str())
        ]
    );
    s.server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wrong_field_is_refused_with_401() {
    let s = setup().await;
    let users = format!("/v1/tenants/{}/users", s.tenant);
    let url = s.url(&users);
    let body = json!({"name": "should-not-exist"}).to_string();
    let good = || Auth::new(&s.keys, "POST", url.clone(), Some(&body));

    // The correct header is accepted (so each refusal below is caused by its one change).
    let (status, reply) = call(
        &s.anon,
        "GET",
        &users,
        None,
        &Auth::new(&s.keys, "GET", url.clone(), None).header(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");

    let mut cases: Vec<(&str, String)> = Vec::new();
    for (case, wrong_url) in [
        (
            "other path",
            s.url(&format!("/v1/tenants/{}/admin-pubkeys", s.tenant)),
        ),
        (
            "other tenant",
            s.url(&format!("/v1/tenants/{}/users", s.other_tenant)),
        ),
        ("trailing slash", format!("{url}/")),
        ("extra query", format!("{url}?limit=5")),
        ("https", url.replacen("http://", "https://", 1)),
        (
            "other host",
            url.replacen("admin.bunker.test", "localhost", 1),
        ),
        ("other port", url.replacen(":8448", ":8449", 1)),
        // What a URL rebuilt from the request's Host header would be.
        ("the listener's address", s.anon.url(&users)),
        ("relative", users.clone()),
    ] {
        let auth = Auth {
            url: wrong_url,
            ..good()
        };
        cases.push((case, auth.header()));
    }
    cases.push((
        "method GET",
        Auth {
            method: "GET",
            ..good()
        }
        .header(),
    ));
    cases.push((
        "method PUT",
        Auth {
            method: "PUT",
            ..good()
        }
        .header(),
    ));
    cases.push((
        "payload of another body",
        Auth {
            payload: Some(sha256_hex("{}")),
            ..good()
        }
        .header(),
    ));
    cases.push((
        "payload missing",
        Auth {
            payload: None,
            ..good()
        }
        .header(),
    ));
    // Well outside the 60-s window (the exact boundary is unit-tested in `nip98_tests.rs` with a
    // fixed clock): the cases are sent one after another, and on a loaded machine seconds pass
    // between building an event and the server checking it, which would carry an event built 61 s
    // ahead into the window.
    let now = Timestamp::now().as_secs();
    cases.push((
        "61 s old",
        Auth {
            created_at: Timestamp::from_secs(now - 61),
            ..good()
        }
        .header(),
    ));
    cases.push((
        "an hour old",
        Auth {
            created_at: Timestamp::from_secs(now - 3600),
            ..good()
        }
        .header(),
    ));
    cases.push((
        "10 min ahead",
        Auth {
            created_at: Timestamp::from_secs(now + 600),
            ..good()
        }
        .header(),
    ));
    cases.push((
        "kind 1",
        Auth {
            kind: Kind::TextNote,
            ..good()
        }
        .header(),
    ));
    let stranger = Keys::generate();
    cases.push((
        "unregistered pubkey",
        Auth {
            keys: &stranger,
            ..good()
        }
        .header(),
    ));
    cases.push(("bad signature", tamper_signature(&good().header())));
    cases.push(("not base64", "Nostr !!!not-base64!!!".to_owned()));
    cases.push(("no scheme", good().header().replacen("Nostr ", "", 1)));
    cases.push((
        "basic scheme",
        good().header().replacen("Nostr", "Basic", 1),
    ));

    for (case, header) in &cases {
        let result = call(&s.anon, "POST", &users, Some(&body), header).await;
        assert_unauthorized(&result, case);
        assert!(
            !result
                .1
                .to_string()
                .contains(&header[6.min(header.len())..]),
            "{case}: the header is not echoed"
        );
    }
    let list = s.admin.get_ok(&users).await;
    assert_eq!(
        list["items"],
        json!([]),
        "no refused request created a user"
    );
    s.server.server.stop().await;
}

/// Flips one hex digit of the event's signature, keeping the JSON well-formed.
fn tamper_signature(header: &str) -> String {
    let json = STANDARD
        .decode(header.strip_prefix("Nostr ").unwrap())
        .unwrap();
    let mut event: Value = serde_json::from_slice(&json).unwrap();
    let sig = event["sig"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    event["sig"] = json!(format!("{flipped}{}", &sig[1..]));
    format!("Nostr {}", STANDARD.encode(event.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_of_tenant_a_is_refused_on_tenant_b_and_on_operator_routes() {
    let s = setup().await;
    let b = format!("/v1/tenants/{}", s.other_tenant);
    let b_users = format!("{b}/users");
    let body = json!({"name": "intruder"}).to_string();

    for (method, path, body) in [
        ("GET", b.clone(), None),
        ("GET", b_users.clone(), None),
        ("POST", b_users.clone(), Some(body.as_str())),
        ("GET", format!("{b}/audit"), None),
        ("GET", format!("{b}/policy"), None),
    ] {
        let header = Auth::new(&s.keys, method, s.url(&path), body).header();
        let (status, reply) = call(&s.anon, method, &path, body, &header).await;
        assert!(
            status == 401 || status == 404,
            "{method} {path} as tenant A's admin → {status} {reply}"
        );
    }
    assert_eq!(s.admin.get_ok(&b_users).await["items"], json!([]));

    // Operator-only routes: refused, and nothing happens.
    let tenant_body = json!({"name": "made-by-nip98"}).to_string();
    let a = format!("/v1/tenants/{}", s.tenant);
    for (method, path, body) in [
        ("GET", "/v1/tenants".to_owned(), None),
        ("POST", "/v1/tenants".to_owned(), Some(tenant_body.as_str())),
        ("DELETE", a.clone(), None),
    ] {
        let header = Auth::new(&s.keys, method, s.url(&path), body).header();
        let (status, reply) = call(&s.anon, method, &path, body, &header).await;
        assert!(
            matches!(
                (status, reply["error"]["code"].as_str()),
                (401, Some("unauthorized")) | (403, Some("forbidden"))
            ),
            "{method} {path} with NIP-98 → {status} {reply}"
        );
    }
    let tenants = s.admin.get_ok("/v1/tenants").await;
    assert_eq!(tenants["items"].as_array().unwrap().len(), 2, "{tenants}");
    assert_eq!(s.admin.get_ok(&a).await["id"], s.tenant.as_str());

    // Removing the pubkey ends its access.
    let a_users = format!("{a}/users");
    let header = Auth::new(&s.keys, "GET", s.url(&a_users), None).header();
    assert_eq!(call(&s.anon, "GET", &a_users, None, &header).await.0, 200);
    let (status, _) = s
        .admin
        .call(
            "DELETE",
            &format!("{a}/admin-pubkeys/{}", s.keys.public_key().to_hex()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let header = Auth::new(&s.keys, "GET", s.url(&a_users), None).header();
    assert_unauthorized(
        &call(&s.anon, "GET", &a_users, None, &header).await,
        "removed pubkey",
    );
    s.server.server.stop().await;
}

/// A captured `Authorization: Nostr …` header works once: the same event replayed within its
/// window is refused 401, and a freshly signed one for the same request is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_authorization_event_is_refused() {
    let s = setup().await;
    let users = format!("/v1/tenants/{}/users", s.tenant);
    let header = Auth::new(&s.keys, "GET", s.url(&users), None).header();
    let (status, list) = call(&s.anon, "GET", &users, None, &header).await;
    assert_eq!(status, 200, "{list}");
    let replayed = call(&s.anon, "GET", &users, None, &header).await;
    assert_unauthorized(&replayed, "replayed header");
    assert!(
        replayed.1["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already used"),
        "{replayed:?}"
    );
    // A new event (another created_at, so another id) for the same request.
    let mut fresh = Auth::new(&s.keys, "GET", s.url(&users), None);
    fresh.created_at = Timestamp::from(fresh.created_at.as_secs() - 1);
    assert_eq!(
        call(&s.anon, "GET", &users, None, &fresh.header()).await.0,
        200
    );
    s.server.server.stop().await;
}

/// Without an `admin_public_url` the server has nothing trustworthy to compare a `u` tag with (the
/// `Host` header is the client's to choose), so it refuses NIP-98 outright, even an event naming
/// exactly the URL the client used; bearer tokens still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_public_url_nip98_is_refused() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let tenant = admin
        .post_ok("/v1/tenants", json!({"name": "no-url"}))
        .await;
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let keys = Keys::generate();
    admin
        .post_ok(
            &format!("/v1/tenants/{tenant}/admin-pubkeys"),
            json!({"pubkey": keys.public_key().to_hex()}),
        )
        .await;
    let anon = Admin::new(server.server.admin_addr, None);
    let users = format!("/v1/tenants/{tenant}/users");
    let header = Auth::new(&keys, "GET", anon.url(&users), None).header();
    let (status, body) = call(&anon, "GET", &users, None, &header).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("nip98_not_configured")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("admin_public_url"), "{message}");
    assert_eq!(admin.call("GET", &users, None).await.0, 200);
    server.server.stop().await;
}
