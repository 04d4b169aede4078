//! The admin HTTP API, on its own listener (default loopback): provisioning and health.
//!
//! Routes (JSON, versioned under `/v1`):
//! - `GET /healthz` → `200 {"status":"ok"}` (no auth: process is up)
//! - `POST /v1/tenants` `{"name"}` → `201 {"id","name","created_at"}`
//! - `POST /v1/tenants/{tenant}/users` `{"name"?, "secret_key"?}` → `201 {"id","tenant",
//!   "user_pubkey","remote_signer_pubkey","created_at"}`; `secret_key` is 64 hex or `nsec1…` to
//!   import, else a key is generated.
//! - `POST /v1/tenants/{tenant}/users/{user}/bunker-uris` → `201 {"bunker_uri","expires_at"}`
//!
//! Every `/v1` route needs `Authorization: Bearer <operator token>`; the token is compared as SHA-256
//! digests in constant time. Every error has one body shape, `{"error":{"code","message"}}`, with a
//! stable `code`; messages never echo secrets. Bodies are capped at [`MAX_BODY_BYTES`]. Store writes
//! run on the blocking pool and are durable before the response is sent.

use crate::http::bytes_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use signer::nostr::{nip19, SecretKey};
use signer::pool::unix_now;
use signer::Bunker;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Largest request body accepted, bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared state of the admin listener.
pub(crate) struct AdminState {
    pub(crate) bunker: Arc<Bunker>,
    /// SHA-256 of the operator token.
    pub(crate) operator_token_hash: [u8; 32],
}

/// An API error: HTTP status, stable code, human message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }
}

impl From<signer::Error> for ApiError {
    fn from(e: signer::Error) -> Self {
        let status = match &e {
            signer::Error::TenantNotFound | signer::Error::UserNotFound => StatusCode::NOT_FOUND,
            e if e.is_client_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(code = e.code(), error = %e, "admin request failed");
            return ApiError::new(status, e.code(), "internal error");
        }
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Handles one admin request.
pub(crate) async fn service(
    req: Request<Incoming>,
    state: Arc<AdminState>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let response = match route(req, &state).await {
        Ok((status, body)) => json(status, &body),
        Err(e) => json(
            e.status,
            &serde_json::json!({"error": {"code": e.code, "message": e.message}}),
        ),
    };
    Ok(response)
}

async fn route(
    req: Request<Incoming>,
    state: &Arc<AdminState>,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let path: Vec<String> = req
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    if segments == ["healthz"] && req.method() == Method::GET {
        return Ok((StatusCode::OK, serde_json::json!({"status": "ok"})));
    }
    if segments.first() != Some(&"v1") {
        return Err(ApiError::not_found());
    }
    authorize(&req, state)?;
    match (req.method().clone(), &segments[1..]) {
        (Method::POST, ["tenants"]) => create_tenant(req, state).await,
        (Method::POST, ["tenants", tenant, "users"]) => {
            create_user(req, state, (*tenant).to_owned()).await
        }
        (Method::POST, ["tenants", tenant, "users", user, "bunker-uris"]) => {
            create_bunker_uri(state, (*tenant).to_owned(), (*user).to_owned()).await
        }
        (_, ["tenants", ..]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        )),
        _ => Err(ApiError::not_found()),
    }
}

fn authorize(req: &Request<Incoming>, state: &AdminState) -> Result<(), ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
    };
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    if bool::from(hash.ct_eq(&state.operator_token_hash)) {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, ApiError> {
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "request body too large or unreadable",
            )
        })?
        .to_bytes();
    let body = Zeroizing::new(body.to_vec());
    let text: &[u8] = if body.is_empty() { b"{}" } else { &body };
    serde_json::from_slice(text).map_err(|e| {
        // serde's text can quote the offending *value* (e.g. `invalid type: string "…"`), which
        // could be a secret: only field-name messages are passed on, otherwise just the position.
        let detail = e.to_string();
        let message = if detail.starts_with("missing field") || detail.starts_with("unknown field")
        {
            format!("invalid JSON body: {detail}")
        } else {
            format!(
                "invalid JSON body at line {} column {}",
                e.line(),
                e.column()
            )
        };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    })
}

/// Runs blocking signer work (store writes, sealing) off the reactor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, signer::Error> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        })?
        .map_err(ApiError::from)
}

async fn create_tenant(
    req: Request<Incoming>,
    state: &Arc<AdminState>,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
    }
    let body: Body = read_json(req).await?;
    let bunker = state.bunker.clone();
    let tenant = blocking(move || bunker.directory().create_tenant(&body.name, unix_now())).await?;
    Ok((
        StatusCode::CREATED,
        serde_json::to_value(tenant).expect("serializable"),
    ))
}

async fn create_user(
    req: Request<Incoming>,
    state: &Arc<AdminState>,
    tenant: String,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        secret_key: Option<Zeroizing<String>>,
    }
    let body: Body = read_json(req).await?;
    let secret = body
        .secret_key
        .as_deref()
        .map(|s| parse_secret_key(s))
        .transpose()?;
    let bunker = state.bunker.clone();
    let user = blocking(move || {
        bunker
            .directory()
            .create_user(&tenant, body.name, secret, unix_now())
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        serde_json::json!({
            "id": user.id,
            "tenant": user.tenant,
            "name": user.name,
            "user_pubkey": user.user_pubkey,
            "remote_signer_pubkey": user.remote_signer_pubkey,
            "created_at": user.created_at,
        }),
    ))
}

/// Accepts 64 hex characters or a NIP-19 `nsec1…`.
fn parse_secret_key(text: &str) -> Result<SecretKey, ApiError> {
    let text = text.trim();
    let parsed = if text.starts_with("nsec1") {
        nip19::decode_nsec(text)
    } else {
        SecretKey::from_hex(&text.to_ascii_lowercase())
    };
    parsed.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_secret_key",
            "secret_key must be 64 hex characters or an nsec1 string of a valid secp256k1 key",
        )
    })
}

async fn create_bunker_uri(
    state: &Arc<AdminState>,
    tenant: String,
    user: String,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let bunker = state.bunker.clone();
    let now = unix_now();
    let uri = blocking(move || bunker.issue_bunker_uri(&tenant, &user, now)).await?;
    let expires_at = now + state.bunker.config().bunker_uri_ttl_secs;
    Ok((
        StatusCode::CREATED,
        serde_json::json!({"bunker_uri": uri.as_str(), "expires_at": expires_at}),
    ))
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header("Cache-Control", "no-store")
        .body(Body::from(body.to_string()))
        .expect("static response")
}
