//! The provisioning API's contract: bearer auth (401), one JSON error shape with stable codes for
//! bad input (4xx), imports of hex and nsec keys.

use crate::support::admin::Admin;
use crate::support::TestServer;
use nostr_connect::prelude::{Keys, ToBech32};
use serde_json::{json, Value};

#[track_caller]
fn check_error(result: &(u16, Value), status: u16, code: &str) {
    assert_eq!(result.0, status, "{result:?}");
    assert_eq!(result.1["error"]["code"], code, "{result:?}");
    assert!(result.1["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors_and_imports() {
    let server = TestServer::start().await;
    let addr = server.server.admin_addr;
    let body = json!({"name": "acme"}).to_string();

    let (status, health) = Admin::new(addr, None).call("GET", "/healthz", None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    check_error(
        &Admin::new(addr, None)
            .call("POST", "/v1/tenants", Some(&body))
            .await,
        401,
        "unauthorized",
    );
    check_error(
        &Admin::new(addr, Some("wrong-token-wrong-token"))
            .call("POST", "/v1/tenants", Some(&body))
            .await,
        401,
        "unauthorized",
    );

    let admin = server.admin();
    check_error(
        &admin.call("POST", "/v1/tenants", Some("{not json")).await,
        400,
        "invalid_json",
    );
    check_error(
        &admin
            .call("POST", "/v1/tenants", Some(r#"{"name":""}"#))
            .await,
        400,
        "invalid_input",
    );
    check_error(
        &admin.call("GET", "/v1/nothing-here", None).await,
        404,
        "route_not_found",
    );
    check_error(
        &admin
            .call("POST", "/v1/tenants/0000/users", Some("{}"))
            .await,
        404,
        "tenant_not_found",
    );

    let tenant = admin.post_ok("/v1/tenants", json!({"name": "acme"})).await;
    let tenant = tenant["id"].as_str().unwrap();
    let users = format!("/v1/tenants/{tenant}/users");
    let bad = json!({"secret_key": "zz"}).to_string();
    let result = admin.call("POST", &users, Some(&bad)).await;
    check_error(&result, 400, "invalid_secret_key");
    assert!(
        !result.1.to_string().contains("zz\""),
        "the bad key is not echoed"
    );
    check_error(
        &admin
            .call(
                "POST",
                &users,
                Some(&json!({"secret_key": "f".repeat(64)}).to_string()),
            )
            .await,
        400,
        "invalid_secret_key",
    );
    check_error(
        &admin
            .call(
                "POST",
                &format!("/v1/tenants/{tenant}/users/0000/bunker-uris"),
                None,
            )
            .await,
        404,
        "user_not_found",
    );

    let keys = Keys::generate();
    let hex = admin
        .post_ok(
            &users,
            json!({"secret_key": keys.secret_key().to_secret_hex()}),
        )
        .await;
    assert_eq!(hex["user_pubkey"], keys.public_key().to_hex().as_str());
    let nsec = keys.secret_key().to_bech32().unwrap();
    // One user per identity key per tenant: the same key again is a conflict…
    check_error(
        &admin
            .call(
                "POST",
                &users,
                Some(&json!({"secret_key": nsec}).to_string()),
            )
            .await,
        409,
        "user_exists",
    );
    // …while another tenant may hold it too.
    let other = admin.post_ok("/v1/tenants", json!({"name": "other"})).await;
    let other_users = format!("/v1/tenants/{}/users", other["id"].as_str().unwrap());
    let from_nsec = admin
        .post_ok(&other_users, json!({"secret_key": nsec}))
        .await;
    assert_eq!(
        from_nsec["user_pubkey"],
        keys.public_key().to_hex().as_str()
    );
    assert_ne!(
        hex["remote_signer_pubkey"], from_nsec["remote_signer_pubkey"],
        "each user gets its own remote-signer key"
    );
    server.server.stop().await;
}

/// A bearer credential is checked before the body is read: a client with a wrong token that
/// announces a body and never sends it gets its 401 at once, not after the body read's bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_bearer_token_is_refused_before_the_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let addr = server.server.admin_addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer wrong-token-0123456789\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    // Well under the 10 s body-read bound: the answer comes without any body byte sent.
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered before the body arrived")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("unauthorized"), "{text}");
    server.server.stop().await;
}

/// `GET path` from the local address `from` (loopback: 127.0.0.1 and 127.0.0.2 are two client
/// addresses) with `token` as bearer credential: the status, the `Retry-After` header if any, and
/// the error code if any.
async fn get_from(
    from: &str,
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
) -> (u16, Option<String>, Option<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{from}:0").parse().unwrap())
        .expect("bind a loopback address");
    let mut stream = socket.connect(addr).await.unwrap();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head[9..12].parse().unwrap();
    let retry_after = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: ").map(str::to_owned));
    let code = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
    (status, retry_after, code)
}

/// Failed authentications are slowed per client address: after its burst of failures an address's
/// requests to authenticated routes are answered 429 with `Retry-After`, even with the right token
/// (its credentials are not looked at), while another address is served and public routes stay
/// open to it; once it has waited `Retry-After` seconds the right token works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_slowed_per_address() {
    let server = TestServer::start_with(|c| {
        c.admin_auth_failure_burst = 3;
        c.admin_auth_failures_per_min = 60;
    })
    .await;
    let addr = server.admin().addr();
    let right = crate::support::OPERATOR_TOKEN;
    let wrong = "wrong-token-0123456789";
    for attempt in 0..3 {
        let refused = get_from("127.0.0.2", addr, "/v1/tenants", wrong).await;
        assert_eq!(
            refused,
            (401, None, Some("unauthorized".into())),
            "{attempt}"
        );
    }
    let (status, retry_after, code) = get_from("127.0.0.2", addr, "/v1/tenants", right).await;
    assert_eq!((status, code.as_deref()), (429, Some("too_many_failures")));
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=3).contains(&wait), "{wait}");
    // Another address, with the right token and with a wrong one: its own bucket.
    assert_eq!(
        get_from("127.0.0.1", addr, "/v1/tenants", right).await.0,
        200
    );
    assert_eq!(
        get_from("127.0.0.1", addr, "/v1/tenants", wrong).await.0,
        401
    );
    // Public routes are not throttled.
    assert_eq!(get_from("127.0.0.2", addr, "/healthz", wrong).await.0, 200);
    // After the advertised wait, the right token is looked at again.
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert_eq!(
        get_from("127.0.0.2", addr, "/v1/tenants", right).await.0,
        200
    );
    server.server.stop().await;
}
