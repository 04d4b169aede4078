//! The admin HTTP API, on its own listener (default loopback): tenants, tenant admins,
//! users, bunker URIs, sessions, policies and the audit log, versioned under `/v1`.
//!
//! Layout: [`routes`] is the table of every route (method, path, scope, schemas); the router
//! dispatches only through it and [`openapi`] generates `GET /v1/openapi.json` from it. [`wire`]
//! holds every request and response body as a serde type deriving its OpenAPI schema. [`auth`]
//! turns the `Authorization` header into a [`auth::Principal`] (operator token, tenant admin token,
//! or NIP-98). Handlers live in `tenants.rs` and `users.rs`.
//!
//! Contract for every route:
//! - JSON bodies (at most [`MAX_BODY_BYTES`]), unknown fields refused; lists are pages
//!   `{"items":[…],"next_cursor":…}` (cursor pagination, `limit` 1..=1000, default 100).
//! - One error shape, `{"error":{"code","message"}}`, with stable codes: `unauthorized` (401),
//!   `forbidden` (403), `tenant_not_found` / `user_not_found` / `not_found` / `route_not_found` (404),
//!   `method_not_allowed` (405), `invalid_json` / `invalid_input` / `invalid_secret_key` /
//!   `wrong_password` … (400), `body_too_large` (413), `internal` (500). Messages never echo secrets.
//! - Another tenant's resources answer exactly like missing ones (404), whatever the credential.
//! - Writes are durable (synced WAL) before the response; each mutating call is audited.
//! - Store and sealing work runs on the blocking pool, never on the reactor.

mod auth;
mod openapi;
mod routes;
mod tenants;
mod users;
pub(crate) mod wire;

pub(crate) use auth::AdminTokens;

use auth::{Presented, Principal};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Response, StatusCode};
use relay::http::bytes_body::Body;
use routes::{Lookup, Matched, RouteId, Scope};
use signer::pool::unix_now;
use signer::Bunker;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Largest request body accepted, bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Default page size of list routes.
const DEFAULT_LIMIT: usize = 100;

/// Shared state of the admin listener.
pub(crate) struct AdminState {
    pub(crate) bunker: Arc<Bunker>,
    /// SHA-256 of the operator token.
    pub(crate) operator_token_hash: [u8; 32],
    /// Tenant admin tokens.
    pub(crate) tokens: Arc<AdminTokens>,
    /// Base of the URL NIP-98 events must name (`Config::admin_public_url`), without a trailing `/`.
    pub(crate) public_url: Option<String>,
    /// One NIP-49 (scrypt) import at a time: each may take up to 256 MiB (LOG_N 18) for half a
    /// second.
    pub(crate) imports: tokio::sync::Semaphore,
    /// The server's metrics (rendered by `GET /metrics`).
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// NIP-98 authorization events already used (each works once).
    pub(crate) nip98_replays: auth::Nip98Replays,
    /// The signer queue (its depth is a metric).
    pub(crate) submitter: signer::pool::Submitter,
    /// The subscription index (its dropped deliveries are a metric).
    pub(crate) hub: Arc<relay::fanout::Hub>,
    /// The key store (sizes and readiness).
    pub(crate) store: Arc<dyn store::Store>,
    /// Cancelled when the server stops (not ready any more).
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
}

/// An API error: HTTP status, stable code, human message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    pub(crate) fn tenant_not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "tenant_not_found",
            "tenant not found",
        )
    }
}

impl From<signer::Error> for ApiError {
    fn from(e: signer::Error) -> Self {
        let status = match &e {
            signer::Error::TenantNotFound
            | signer::Error::UserNotFound
            | signer::Error::NotFound(_) => StatusCode::NOT_FOUND,
            signer::Error::UserExists
            | signer::Error::LimitReached(_)
            | signer::Error::Conflict(_) => StatusCode::CONFLICT,
            e if e.is_client_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(code = e.code(), error = %e, "admin request failed");
            return ApiError::internal();
        }
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// A handler's success: status and JSON body (`None`: empty body).
pub(crate) type Reply = (StatusCode, Option<serde_json::Value>);

/// A success with `body`, one of the [`wire`] types.
pub(crate) fn reply<T: serde::Serialize>(status: StatusCode, body: &T) -> Reply {
    (
        status,
        Some(serde_json::to_value(body).expect("wire types serialize")),
    )
}

/// Everything a handler gets.
pub(crate) struct Ctx<'a> {
    pub(crate) state: &'a Arc<AdminState>,
    pub(crate) principal: Principal,
    pub(crate) route: Matched<'a>,
    query: Option<String>,
    body: Zeroizing<Vec<u8>>,
}

impl Ctx<'_> {
    /// The path's `{tenant}`.
    pub(crate) fn tenant(&self) -> String {
        self.route.param("tenant").to_owned()
    }

    /// The path's `{user}`.
    pub(crate) fn user(&self) -> String {
        self.route.param("user").to_owned()
    }

    /// Parses the JSON body (an empty body reads as `{}`).
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }

    /// The value of query parameter `name` (its first occurrence), decoded as
    /// `application/x-www-form-urlencoded`: percent-escapes decoded, `+` read as a space.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        query_param(self.query.as_deref()?, name)
    }

    /// `limit` (1..=1000, default 100).
    pub(crate) fn limit(&self) -> Result<usize, ApiError> {
        match self.query("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=signer::directory::MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_input", "limit must be an integer 1..=1000")
                }),
        }
    }

    /// Records an admin action in the tenant's audit log, durably (a synced write, on the blocking
    /// pool).
    pub(crate) async fn audit(&self, tenant: &str, action: &'static str, user: Option<&str>) {
        let state = self.state.clone();
        let principal = self.principal.clone();
        let (tenant, user) = (tenant.to_owned(), user.map(str::to_owned));
        let _ = tokio::task::spawn_blocking(move || {
            audit_admin(&state, &principal, &tenant, action, user.as_deref());
        })
        .await;
    }
}

/// Writes one admin-action audit record, durably, before the API answers. The action already
/// happened; a failed audit write is logged as an error (and the operator alerted by it), not undone.
fn audit_admin(
    state: &AdminState,
    principal: &Principal,
    tenant: &str,
    action: &'static str,
    user: Option<&str>,
) {
    let mut record = signer::audit::AuditRecord::new(
        signer::audit::now_ms(),
        tenant,
        action,
        signer::audit::Outcome::Ok,
    );
    record.actor = Some(principal.actor());
    record.user = user.map(str::to_owned);
    if let Err(e) = state.bunker.audit().record_durable(record) {
        tracing::error!(
            code = e.code(),
            action,
            "writing an admin audit record failed"
        );
    }
}

/// Handles one admin request.
pub(crate) async fn service(
    req: Request<Incoming>,
    state: Arc<AdminState>,
) -> Result<Response<Body>, std::convert::Infallible> {
    if req.method() == hyper::Method::GET && req.uri().path() == "/metrics" {
        // The one route whose body is not JSON (it is in the route table, hence in the OpenAPI
        // document, like every other).
        let state = state.clone();
        let text = tokio::task::spawn_blocking(move || state.metrics.render(&snapshot(&state)))
            .await
            .unwrap_or_default();
        return Ok(Response::builder()
            .header(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
            .header("Cache-Control", "no-store")
            .body(Body::from(text))
            .expect("static response"));
    }
    let response = match handle(req, &state).await {
        Ok((status, Some(body))) => json(status, &body),
        Ok((status, None)) => empty(status),
        Err(e) => {
            let body = wire::ErrorBody {
                error: wire::ErrorDetail {
                    code: e.code.to_owned(),
                    message: e.message,
                },
            };
            json(
                e.status,
                &serde_json::to_value(body).expect("wire types serialize"),
            )
        }
    };
    Ok(response)
}

async fn handle(req: Request<Incoming>, state: &Arc<AdminState>) -> Result<Reply, ApiError> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let matched = match routes::lookup(&method, &path) {
        Lookup::Found(m) => m,
        Lookup::MethodNotAllowed => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            ))
        }
        Lookup::NotFound => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_found",
                "no such route",
            ))
        }
    };
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A bearer token (or no credential) is checked before the body is read, so a client without
    // credentials cannot make the server read one; NIP-98 signs the body's hash, so its body is
    // read first. Either way the read is bounded (`MAX_BODY_BYTES`, `BODY_READ_TIMEOUT`).
    let scope = matched.spec.scope;
    let signs_body = auth::scheme_label(authorization.as_deref()) == "nip98";
    let who = Asking {
        matched: &matched,
        host: &host,
        path: &path,
        query: query.as_deref(),
        method: &method,
        authorization: authorization.as_deref(),
    };
    let (principal, body) = if scope == Scope::Public {
        (Principal::Operator, read_body(req).await?)
    } else if signs_body {
        let body = read_body(req).await?;
        (authorize(state, &who, &body)?, body)
    } else {
        let principal = authorize(state, &who, &[])?;
        (principal, read_body(req).await?)
    };
    let ctx = Ctx {
        state,
        principal,
        route: matched,
        query,
        body,
    };
    dispatch(&ctx).await
}

/// What [`authorize`] needs of a request besides its body.
struct Asking<'a> {
    matched: &'a routes::Matched<'a>,
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    method: &'a hyper::Method,
    authorization: Option<&'a str>,
}

/// Authenticates a request to a non-public route and checks its scope: the principal, or the
/// 401 / 403 / 404 to answer. Failures are counted and logged (scheme and route, never the
/// credential).
fn authorize(state: &AdminState, asking: &Asking<'_>, body: &[u8]) -> Result<Principal, ApiError> {
    let Asking {
        matched,
        host,
        path,
        query,
        method,
        authorization,
    } = *asking;
    let scope = matched.spec.scope;
    let base = match &state.public_url {
        Some(base) => base.clone(),
        None => format!("http://{host}"),
    };
    let url = match &query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    let presented = Presented {
        authorization,
        url: &url,
        method: method.as_str(),
        body,
        tenant: (scope == Scope::Tenant).then(|| matched.param("tenant")),
    };
    let principal = auth::authenticate(
        &presented,
        &state.operator_token_hash,
        &state.tokens,
        &state.bunker,
        &state.nip98_replays,
        unix_now(),
    )
    .inspect_err(|_| {
        // Never the credential: its scheme and the route only.
        let scheme = auth::scheme_label(presented.authorization);
        state.metrics.admin_auth_failed(scheme);
        tracing::warn!(
            scheme,
            route = matched.spec.path,
            "admin authentication failed"
        );
    })?;
    match scope {
        Scope::Operator if principal != Principal::Operator => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this route needs the operator token",
            ))
        }
        Scope::Tenant if !principal.may_access(matched.param("tenant")) => {
            return Err(ApiError::tenant_not_found())
        }
        _ => {}
    }
    Ok(principal)
}

/// Reads the state gauges for a scrape (store sizes and per-tenant counts: blocking, called on the
/// blocking pool).
fn snapshot(state: &AdminState) -> crate::metrics::Snapshot {
    let directory = state.bunker.directory();
    let waits = state.submitter.handover_waits();
    crate::metrics::Snapshot {
        queue_depth: state.submitter.queued(),
        queue_by_tenant: state.submitter.queued_by_tenant(),
        handover_written: waits.written,
        handover_timeouts: waits.timed_out,
        handover_waited: waits.waited,
        users_by_tenant: directory.users_by_tenant(),
        sessions_by_tenant: state.bunker.sessions().by_tenant(),
        store_sizes: store::Cf::ALL
            .iter()
            .filter_map(|cf| Some((cf.name(), state.store.approximate_size_bytes(*cf)?)))
            .collect(),
        audit_dropped: state.bunker.audit().dropped(),
        deliveries_dropped: state.hub.dropped(),
        ready: is_ready(state),
    }
}

/// Ready: not stopping, and the store answers a read.
fn is_ready(state: &AdminState) -> bool {
    !state.shutdown.is_cancelled() && state.store.get(store::Cf::Meta, b"readiness-probe").is_ok()
}

async fn dispatch(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    use RouteId::*;
    match ctx.route.spec.id {
        Health => Ok(reply(
            StatusCode::OK,
            &wire::Health {
                status: "ok".into(),
            },
        )),
        Ready => {
            let state = ctx.state.clone();
            let ready = tokio::task::spawn_blocking(move || is_ready(&state))
                .await
                .unwrap_or(false);
            if ready {
                Ok(reply(
                    StatusCode::OK,
                    &wire::Health {
                        status: "ready".into(),
                    },
                ))
            } else {
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_ready",
                    "the store does not answer or the server is stopping",
                ))
            }
        }
        // Answered in `service` (a text body); unreachable through `handle`.
        Metrics => Err(ApiError::internal()),
        OpenApi => Ok(reply(
            StatusCode::OK,
            &wire::OpenApiDocument(openapi::document()),
        )),
        CreateTenant => tenants::create(ctx).await,
        ListTenants => tenants::list(ctx),
        GetTenant => tenants::get(ctx),
        UpdateTenant => tenants::update(ctx).await,
        DeleteTenant => tenants::delete(ctx).await,
        GetTenantPolicy => tenants::get_policy(ctx),
        PutTenantPolicy => tenants::put_policy(ctx).await,
        GetUserPolicy => users::get_policy(ctx).await,
        PutUserPolicy => users::put_policy(ctx).await,
        QueryAudit => tenants::query_audit(ctx).await,
        CreateAdminToken => tenants::create_token(ctx).await,
        ListAdminTokens => tenants::list_tokens(ctx),
        RevokeAdminToken => tenants::revoke_token(ctx).await,
        AddAdminPubkey => tenants::add_pubkey(ctx).await,
        ListAdminPubkeys => tenants::list_pubkeys(ctx),
        RemoveAdminPubkey => tenants::remove_pubkey(ctx).await,
        CreateUser => users::create(ctx).await,
        ListUsers => users::list(ctx).await,
        GetUser => users::get(ctx).await,
        UpdateUser => users::update(ctx).await,
        DeleteUser => users::delete(ctx).await,
        RotateRemoteSigner => users::rotate(ctx).await,
        CreateBunkerUri => users::create_uri(ctx).await,
        ListBunkerUris => users::list_uris(ctx).await,
        RevokeBunkerUri => users::revoke_uri(ctx).await,
        ListSessions => users::list_sessions(ctx).await,
        RevokeSession => users::revoke_session(ctx).await,
        RevokeAllSessions => users::revoke_all_sessions(ctx).await,
    }
}

/// Longest time a client may take to send a request body once its head is read.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn read_body(req: Request<Incoming>) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES).collect();
    let body = tokio::time::timeout(BODY_READ_TIMEOUT, body)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "request body not received within 10 s",
            )
        })?
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "request body too large or unreadable",
            )
        })?
        .to_bytes();
    Ok(Zeroizing::new(body.to_vec()))
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if body.is_empty() { b"{}" } else { body };
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
        ApiError::bad_request("invalid_json", message)
    })
}

/// Runs blocking signer work (store writes, sealing) off the reactor.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, signer::Error> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(ApiError::from)
}

/// A page of a list route: `items` converted to their wire type `W`.
pub(crate) fn page<'a, S: 'a, W>(
    items: impl IntoIterator<Item = &'a S>,
    next_cursor: Option<String>,
) -> Reply
where
    W: serde::Serialize + From<&'a S>,
{
    let page = wire::Page::<W> {
        items: items.into_iter().map(W::from).collect(),
        next_cursor,
    };
    reply(StatusCode::OK, &page)
}

/// The first value of `name` in the query string `query`, form-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header("Cache-Control", "no-store")
        .body(Body::from(body.to_string()))
        .expect("static response")
}

fn empty(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("Cache-Control", "no-store")
        .body(Body::from(String::new()))
        .expect("static response")
}

#[cfg(test)]
mod tests {
    use super::query_param;

    #[test]
    fn query_values_are_form_decoded() {
        let q = "cursor=a%2Bb&limit=%31%30&method=user%2Ecreate&name=two+words&empty=&bare";
        assert_eq!(query_param(q, "cursor").as_deref(), Some("a+b"));
        assert_eq!(query_param(q, "limit").as_deref(), Some("10"));
        assert_eq!(query_param(q, "method").as_deref(), Some("user.create"));
        assert_eq!(query_param(q, "name").as_deref(), Some("two words"));
        assert_eq!(query_param(q, "empty").as_deref(), Some(""));
        assert_eq!(query_param(q, "bare").as_deref(), Some(""));
        assert_eq!(query_param(q, "missing"), None);
        // The first occurrence wins; an escaped key matches its decoded name.
        assert_eq!(query_param("a=1&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_param("%6Cimit=5", "limit").as_deref(), Some("5"));
    }
}
