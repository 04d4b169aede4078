//! `--provision`: creates a tenant, N users and K bunker URIs per user through bunkerd's admin API,
//! for runs against bunkerd (the baseline provisions its own users).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// POSTs JSON to the admin API and returns the JSON answer.
async fn post(admin: SocketAddr, token: &str, path: &str, body: Value) -> Result<Value, String> {
    let stream = tokio::net::TcpStream::connect(admin)
        .await
        .map_err(|e| format!("admin {admin}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::post(path)
        .header("host", admin.to_string())
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("POST {path}: {status} {value}"));
    }
    Ok(value)
}

/// Creates one tenant with `users` users and `uris_per_user` bunker URIs each; returns the URIs,
/// interleaved so that the first `users` URIs name distinct users.
///
/// # Errors
///
/// The first admin API failure, as text.
pub async fn provision(
    admin: SocketAddr,
    token: &str,
    users: usize,
    uris_per_user: usize,
) -> Result<Vec<String>, String> {
    let tenant = post(admin, token, "/v1/tenants", json!({"name": "loadgen"})).await?;
    let tenant = tenant["id"].as_str().ok_or("tenant id")?.to_owned();
    let mut ids = Vec::with_capacity(users);
    for n in 0..users {
        let user = post(
            admin,
            token,
            &format!("/v1/tenants/{tenant}/users"),
            json!({"name": format!("user{n}")}),
        )
        .await?;
        ids.push(user["id"].as_str().ok_or("user id")?.to_owned());
    }
    let mut uris = Vec::with_capacity(users * uris_per_user);
    for _ in 0..uris_per_user {
        for id in &ids {
            let path = format!("/v1/tenants/{tenant}/users/{id}/bunker-uris");
            let uri = post(admin, token, &path, json!({})).await?;
            uris.push(uri["bunker_uri"].as_str().ok_or("bunker_uri")?.to_owned());
        }
    }
    Ok(uris)
}
