//! `loadgen provision`: creates a tenant (optionally with request-rate limits), N users and K bunker
//! URIs per user through bunkerd's admin API, for runs against bunkerd (the baseline provisions its
//! own users).
//!
//! Must not: talk to anything but the admin API it is given, or print the operator token.
//!
//! Main items: [`provision_tenant`] (name, limits, users, URIs → [`Provisioned`]) and [`provision`]
//! (the original shape: a tenant named `loadgen` without limits, URIs only).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Method;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// The tenant name [`provision`] uses (and `loadgen provision` without `--tenant-name`).
pub const DEFAULT_TENANT_NAME: &str = "loadgen";

/// A tenant's request-rate limits, as the operator sets them (`limits` of
/// `PATCH /v1/tenants/{tenant}`, enforced per tenant by bunkerd's relay with a token bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Sustained NIP-46 requests per second for the whole tenant (`limits.requests_per_sec`).
    pub requests_per_sec: u32,
    /// Bucket size, requests (`limits.burst`); `None` leaves it unset, which bunkerd treats as a burst
    /// of `requests_per_sec`. bunkerd raises a burst below the rate to the rate.
    pub burst: Option<u32>,
}

/// What [`provision_tenant`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    /// Tenant name (1 to 128 bytes; bunkerd refuses others).
    pub name: String,
    /// Rate limits set right after the tenant is created, before its users; `None` sets none.
    pub limits: Option<RateLimits>,
    /// Users to create (named `user0`, `user1`, …).
    pub users: usize,
    /// Bunker URIs per user (each URI's secret is single-use: one per client connection).
    pub uris_per_user: usize,
}

/// What [`provision_tenant`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// The tenant id bunkerd assigned (the `tenant` label of its `/metrics`).
    pub tenant_id: String,
    /// `bunker://` URIs, interleaved: URI `k × users + u` belongs to user `u`, so the first `users`
    /// URIs name distinct users.
    pub uris: Vec<String>,
}

/// Sends one admin API request with the operator token and returns the JSON answer.
async fn call(
    admin: SocketAddr,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let stream = tokio::net::TcpStream::connect(admin)
        .await
        .map_err(|e| format!("admin {admin}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method.clone())
        .uri(path)
        .header("host", admin.to_string())
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
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
        return Err(format!("{method} {path}: {status} {value}"));
    }
    Ok(value)
}

/// POSTs JSON to the admin API and returns the JSON answer.
async fn post(admin: SocketAddr, token: &str, path: &str, body: Value) -> Result<Value, String> {
    call(admin, token, Method::POST, path, Some(body)).await
}

/// Creates the tenant `spec` describes through the admin API at `admin` (with the operator `token`):
/// `POST /v1/tenants`, then, with `spec.limits`, `PATCH /v1/tenants/{tenant}` with
/// `{"limits": {"requests_per_sec", "burst"}}` (an operator-only field), then `spec.users` users and
/// `spec.uris_per_user` bunker URIs each.
///
/// # Errors
///
/// The first failure, as text: the admin API unreachable, an answer that is not JSON, a non-2xx
/// status (with bunkerd's error body, e.g. a name outside 1 to 128 bytes or a token that is not the
/// operator's), or an answer without the expected `id` / `bunker_uri` field. What was created before
/// the failure stays.
pub async fn provision_tenant(
    admin: SocketAddr,
    token: &str,
    spec: &TenantSpec,
) -> Result<Provisioned, String> {
    let tenant = post(admin, token, "/v1/tenants", json!({"name": spec.name})).await?;
    let tenant = tenant["id"].as_str().ok_or("tenant id")?.to_owned();
    if let Some(limits) = spec.limits {
        let body = json!({"limits": {
            "requests_per_sec": limits.requests_per_sec,
            "burst": limits.burst,
        }});
        let path = format!("/v1/tenants/{tenant}");
        call(admin, token, Method::PATCH, &path, Some(body)).await?;
    }
    let mut ids = Vec::with_capacity(spec.users);
    for n in 0..spec.users {
        let user = post(
            admin,
            token,
            &format!("/v1/tenants/{tenant}/users"),
            json!({"name": format!("user{n}")}),
        )
        .await?;
        ids.push(user["id"].as_str().ok_or("user id")?.to_owned());
    }
    let mut uris = Vec::with_capacity(spec.users * spec.uris_per_user);
    for _ in 0..spec.uris_per_user {
        for id in &ids {
            let path = format!("/v1/tenants/{tenant}/users/{id}/bunker-uris");
            let uri = post(admin, token, &path, json!({})).await?;
            uris.push(uri["bunker_uri"].as_str().ok_or("bunker_uri")?.to_owned());
        }
    }
    Ok(Provisioned {
        tenant_id: tenant,
        uris,
    })
}

/// Creates one tenant named [`DEFAULT_TENANT_NAME`], without limits, with `users` users and
/// `uris_per_user` bunker URIs each; returns the URIs, interleaved so that the first `users` URIs
/// name distinct users.
///
/// # Errors
///
/// The first admin API failure, as text (see [`provision_tenant`]).
pub async fn provision(
    admin: SocketAddr,
    token: &str,
    users: usize,
    uris_per_user: usize,
) -> Result<Vec<String>, String> {
    let spec = TenantSpec {
        name: DEFAULT_TENANT_NAME.to_owned(),
        limits: None,
        users,
        uris_per_user,
    };
    Ok(provision_tenant(admin, token, &spec).await?.uris)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "loadgen-provision-test-token-0123456789";

    /// A fresh, empty data directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new() -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let path = std::env::temp_dir()
                .join(format!("loadgen-provision-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&path).expect("temp dir");
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn start(dir: &TempDir) -> bunkerd::Server {
        let mut config = bunkerd::Config::for_data_dir(&dir.0);
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.admin_listen = "127.0.0.1:0".parse().expect("addr");
        config.operator_token = Some(TOKEN.to_owned().into());
        config.workers = 1;
        bunkerd::start(config).await.expect("bunkerd starts")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn creates_the_named_tenant_with_limits_users_and_interleaved_uris() {
        let dir = TempDir::new();
        let server = start(&dir).await;
        let admin = server.admin_addr;
        let spec = TenantSpec {
            name: "fairness-a".to_owned(),
            limits: Some(RateLimits {
                requests_per_sec: 300,
                burst: Some(600),
            }),
            users: 3,
            uris_per_user: 2,
        };
        let made = provision_tenant(admin, TOKEN, &spec).await.unwrap();

        let path = format!("/v1/tenants/{}", made.tenant_id);
        let tenant = call(admin, TOKEN, Method::GET, &path, None).await.unwrap();
        assert_eq!(tenant["id"], made.tenant_id.as_str());
        assert_eq!(tenant["name"], "fairness-a");
        assert_eq!(tenant["limits"]["requests_per_sec"], 300);
        assert_eq!(tenant["limits"]["burst"], 600);
        assert_eq!(tenant["limits"]["max_users"], Value::Null);

        // 3 users × 2 URIs, every URI distinct; URIs u and u + 3 name the same remote signer (the
        // same user), the first three name three different ones.
        assert_eq!(made.uris.len(), 6);
        let signer = |uri: &str| {
            uri.strip_prefix("bunker://")
                .and_then(|rest| rest.split('?').next())
                .expect("bunker://<remote-signer-pubkey>?…")
                .to_owned()
        };
        let signers: Vec<String> = made.uris.iter().map(|u| signer(u)).collect();
        for u in 0..3 {
            assert_eq!(
                signers[u],
                signers[u + 3],
                "URI {u} and {} share a user",
                u + 3
            );
            assert_ne!(
                made.uris[u],
                made.uris[u + 3],
                "each URI has its own secret"
            );
        }
        let mut first = signers[..3].to_vec();
        first.sort();
        first.dedup();
        assert_eq!(first.len(), 3, "the first `users` URIs name distinct users");

        // The original entry point: a tenant named `loadgen`, no limits.
        let uris = provision(admin, TOKEN, 2, 1).await.unwrap();
        assert_eq!(uris.len(), 2);
        let list = call(admin, TOKEN, Method::GET, "/v1/tenants", None)
            .await
            .unwrap();
        let default = list["items"]
            .as_array()
            .expect("a page of tenants")
            .iter()
            .find(|t| t["name"] == DEFAULT_TENANT_NAME)
            .expect("the default tenant is listed");
        assert_eq!(default["limits"]["requests_per_sec"], Value::Null);

        // A failure names the call and the status, never the token.
        let err = call(
            admin,
            "not-the-operator-token-at-all",
            Method::GET,
            &path,
            None,
        )
        .await
        .unwrap_err();
        assert!(err.starts_with(&format!("GET {path}: 401")), "{err}");
        assert!(!err.contains(TOKEN));
        server.stop().await;
    }
}
