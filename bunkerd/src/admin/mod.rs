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
//! - The OpenAPI document declares every check the server makes on a request (statuses, patterns,
//!   lengths, ranges, enums, required fields, no other field, whether a body is required), so the
//!   document is the contract; [`validate`] holds the checks that mirror its patterns.
//! - JSON bodies (at most [`MAX_BODY_BYTES`]) are JSON objects, unknown fields refused; an empty
//!   body reads as `{}` only where the route's body is optional. Lists are pages
//!   `{"items":[…],"next_cursor":…}` (cursor pagination, `limit` 1..=1000, default 100).
//! - One error shape, `{"error":{"code","message"}}`, with stable codes: `unauthorized` /
//!   `nip98_not_configured` (401), `forbidden` (403), `tenant_not_found` / `user_not_found` /
//!   `not_found` / `route_not_found` (404), `method_not_allowed` (405, with `Allow`),
//!   `invalid_json` / `invalid_input` / `invalid_secret_key` / `wrong_password` … (400),
//!   `body_too_large` (413), `too_many_failures` (429, with `Retry-After`: too many failed
//!   authentications from the client's address, [`throttle`]), `internal` (500). Messages never
//!   echo secrets.
//! - Another tenant's resources answer exactly like missing ones (404), whatever the credential.
//! - Writes are durable (synced WAL) before the response; each mutating call is audited.
//! - Store and sealing work runs on the blocking pool, never on the reactor.

mod approvals;
pub(crate) use approvals::deliver;
mod auth;
mod body;
mod keys;
mod openapi;
mod routes;
mod tenants;
mod throttle;
mod users;
mod validate;
pub(crate) mod wire;

pub(crate) use auth::AdminTokens;

use auth::{Presented, Principal};
pub(crate) use body::parse_object;
use body::{json_error, query_param, read_body};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use relay::http::bytes_body::Body;
use routes::{Body as RequestBody, Lookup, Matched, RouteId, Scope};
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
    /// Base of the URL NIP-98 events must name (`Config::admin_public_url`), without a trailing `/`;
    /// `None`: NIP-98 is refused.
    pub(crate) public_url: Option<String>,
    /// One NIP-49 (scrypt) import at a time: each may take `2^(LOG_N + 10)` bytes (256 MiB at the
    /// default cap, LOG_N 18) for half a second.
    pub(crate) imports: tokio::sync::Semaphore,
    /// The NIP-49 cap and the failed-authentication throttle.
    pub(crate) limits: AdminLimits,
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
    /// Links to the relays clients name in `nostrconnect://` URIs, and the local fan-out.
    pub(crate) foreign: Arc<relay::foreign::ForeignRelays>,
    /// Cancelled when the server stops (not ready any more).
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
    /// The master-key provider's health, for `/readyz`.
    pub(crate) provider_health: crate::custody::ProviderHealth,
    /// Where `POST /v1/backups` writes (`<data-dir>/backups`).
    pub(crate) backup_dir: std::path::PathBuf,
    /// One backup at a time.
    pub(crate) backups: tokio::sync::Semaphore,
    /// The key custody task (rotations, shreds).
    pub(crate) custody: Arc<crate::keys::KeyCustody>,
    /// The cluster bus, when this node is one of several.
    pub(crate) bus: Option<Arc<crate::cluster::Bus>>,
}

/// The admin API's own limits, from the configuration.
#[derive(Debug)]
pub(crate) struct AdminLimits {
    /// Highest NIP-49 LOG_N an import may have (`Config::nip49_max_log_n`).
    nip49_max_log_n: u8,
    /// Failed authentications per client address: the TCP peer's (the admin listener is meant to
    /// be reached directly, so no forwarded-address header is trusted on it).
    throttle: throttle::AuthThrottle,
}

impl AdminLimits {
    /// Highest NIP-49 LOG_N an import may have.
    pub(crate) fn nip49_max_log_n(&self) -> u8 {
        self.nip49_max_log_n
    }

    /// The limits `config` sets (validated: `Config::validate`).
    pub(crate) fn new(config: &crate::Config) -> Self {
        AdminLimits {
            nip49_max_log_n: config.nip49_max_log_n,
            throttle: throttle::AuthThrottle::new(
                config.admin_auth_failures_per_min,
                config.admin_auth_failure_burst,
            ),
        }
    }
}

/// An API error: HTTP status, stable code, human message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// A header the answer carries (`Allow` on a 405, `Retry-After` on a 429).
    header: Option<(hyper::header::HeaderName, String)>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            header: None,
        }
    }

    /// The same error, answered with `name: value`.
    pub(crate) fn with_header(mut self, name: hyper::header::HeaderName, value: String) -> Self {
        self.header = Some((name, value));
        self
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn internal() -> Self {
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
            signer::Error::KeyExportDisabled => StatusCode::FORBIDDEN,
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

    /// Parses and checks the JSON body: a JSON object ([`wire::Input`]). An empty body reads as
    /// `{}` where the route's body is optional, and is refused where it is required.
    pub(crate) fn json<T: wire::Input>(&self) -> Result<T, ApiError> {
        let body: T = parse_object(self.body_text()?)?;
        body.check()?;
        Ok(body)
    }

    /// The body's text: `{}` for an empty optional body; `400 invalid_json` for an empty required
    /// one.
    fn body_text(&self) -> Result<&[u8], ApiError> {
        match (self.body.is_empty(), self.route.spec.request) {
            (false, _) => Ok(&self.body),
            (true, RequestBody::Optional(_)) => Ok(b"{}"),
            (true, _) => Err(ApiError::bad_request(
                "invalid_json",
                "this route needs a JSON body",
            )),
        }
    }

    /// Parses a signing-policy body ([`wire::parse_policy`]).
    pub(crate) fn policy(&self) -> Result<proto::policy::Policy, ApiError> {
        wire::parse_policy(self.body_text()?)
    }

    /// Parses a signing policy or `null` (`None`).
    pub(crate) fn policy_or_null(&self) -> Result<Option<proto::policy::Policy>, ApiError> {
        let text = self.body_text()?;
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| json_error(&e))?;
        if value.is_null() {
            return Ok(None);
        }
        wire::parse_policy(text).map(Some)
    }

    /// The value of query parameter `name` (its first occurrence), decoded as
    /// `application/x-www-form-urlencoded`: percent-escapes decoded, `+` read as a space.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        query_param(self.query.as_deref()?, name)
    }

    /// Query parameter `name` checked by `valid`, or `400 invalid_input` saying `what` it must be.
    pub(crate) fn query_checked(
        &self,
        name: &'static str,
        valid: impl Fn(&str) -> bool,
        what: &'static str,
    ) -> Result<Option<String>, ApiError> {
        match self.query(name) {
            Some(v) if !valid(&v) => Err(ApiError::bad_request(
                "invalid_input",
                format!("{name} must be {what}"),
            )),
            v => Ok(v),
        }
    }

    /// A tenant or user id in query parameter `name` (32 lowercase hex characters).
    pub(crate) fn query_id(&self, name: &'static str) -> Result<Option<String>, ApiError> {
        self.query_checked(name, validate::id, "32 lowercase hex characters")
    }

    /// Unix milliseconds in query parameter `name`.
    pub(crate) fn query_millis(&self, name: &'static str) -> Result<Option<u64>, ApiError> {
        Ok(self
            .query_checked(
                name,
                |v| validate::unsigned(v).is_some(),
                "unix milliseconds (an integer 0 to 18446744073709551615)",
            )?
            .and_then(|v| validate::unsigned(&v)))
    }

    /// `limit` (1..=1000, default 100).
    pub(crate) fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.query_checked(
            "limit",
            |v| validate::unsigned(v).is_some_and(|n| (1..=1000).contains(&n)),
            "an integer 1..=1000",
        )?;
        Ok(limit
            .and_then(|v| validate::unsigned(&v))
            .map_or(DEFAULT_LIMIT, |n| n as usize))
    }

    /// Records an admin action in the tenant's audit log, durably (a synced write, on the blocking
    /// pool).
    pub(crate) async fn audit(&self, tenant: &str, action: &'static str, user: Option<&str>) {
        let state = self.state.clone();
        let principal = self.principal.clone();
        let (tenant, user) = (tenant.to_owned(), user.map(str::to_owned));
        let _ = tokio::task::spawn_blocking(move || {
            audit_admin(&state, &principal, &tenant, action, user.as_deref(), None)
        })
        .await;
    }

    /// As [`Ctx::audit`] with `detail`, for an action that must not take effect unaudited: the
    /// caller answers only after this returns `Ok` (a failed write is a 500 `internal`).
    pub(crate) async fn audit_first(
        &self,
        tenant: &str,
        action: &'static str,
        user: &str,
        detail: String,
    ) -> Result<(), ApiError> {
        let state = self.state.clone();
        let principal = self.principal.clone();
        let (tenant, user) = (tenant.to_owned(), user.to_owned());
        tokio::task::spawn_blocking(move || {
            audit_admin(
                &state,
                &principal,
                &tenant,
                action,
                Some(&user),
                Some(detail),
            )
        })
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())
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
    detail: Option<String>,
) -> Result<(), signer::Error> {
    let mut record = signer::audit::AuditRecord::new(
        signer::audit::now_ms(),
        tenant,
        action,
        signer::audit::Outcome::Ok,
    );
    record.actor = Some(principal.actor());
    record.user = user.map(str::to_owned);
    record.detail = detail;
    state
        .bunker
        .audit()
        .record_durable(record)
        .inspect_err(|e| {
            tracing::error!(
                code = e.code(),
                action,
                "writing an admin audit record failed"
            );
        })
}

/// Handles one admin request from `peer` (the TCP peer's address).
pub(crate) async fn service(
    req: Request<Incoming>,
    state: Arc<AdminState>,
    peer: std::net::IpAddr,
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
    let response = match handle(req, &state, peer).await {
        Ok((status, Some(body))) => json(status, &body),
        Ok((status, None)) => empty(status),
        Err(e) => {
            let body = wire::ErrorBody {
                error: wire::ErrorDetail {
                    code: e.code.to_owned(),
                    message: e.message,
                },
            };
            let mut response = json(
                e.status,
                &serde_json::to_value(body).expect("wire types serialize"),
            );
            if let Some((name, value)) = e.header {
                if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
    };
    Ok(response)
}

async fn handle(
    req: Request<Incoming>,
    state: &Arc<AdminState>,
    peer: std::net::IpAddr,
) -> Result<Reply, ApiError> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let matched = match routes::lookup(&method, &path) {
        Lookup::Found(m) => m,
        Lookup::MethodNotAllowed { allow } => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
            .with_header(hyper::header::ALLOW, allow))
        }
        Lookup::NotFound => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_found",
                "no such route",
            ))
        }
    };
    // The TCP peer: no forwarded-address header is trusted on the admin listener.
    let client = peer;
    if matched.spec.scope != Scope::Public {
        if let Some(wait) = state
            .limits
            .throttle
            .held_back(client, std::time::Instant::now())
        {
            // Credentials are not looked at: an address that keeps failing learns nothing more.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failures",
                "too many failed authentications from this address; retry later",
            )
            .with_header(hyper::header::RETRY_AFTER, secs.max(1).to_string()));
        }
    }
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
        client,
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
    /// The client's address (the throttle's key).
    client: std::net::IpAddr,
    path: &'a str,
    query: Option<&'a str>,
    method: &'a hyper::Method,
    authorization: Option<&'a str>,
}

/// Authenticates a request to a non-public route and checks its scope: the principal, or the
/// 401 / 403 / 404 to answer. Failures are counted, logged (scheme and route, never the
/// credential) and charged to the client's address ([`throttle::AuthThrottle`]).
fn authorize(state: &AdminState, asking: &Asking<'_>, body: &[u8]) -> Result<Principal, ApiError> {
    let Asking {
        matched,
        client,
        path,
        query,
        method,
        authorization,
    } = *asking;
    let scope = matched.spec.scope;
    let url = state.public_url.as_ref().map(|base| match &query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    });
    let presented = Presented {
        authorization,
        url: url.as_deref(),
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
    .inspect_err(|e| {
        // Never the credential: its scheme and the route only.
        let scheme = auth::scheme_label(presented.authorization);
        state.metrics.admin_auth_failed(scheme);
        tracing::warn!(
            scheme,
            route = matched.spec.path,
            "admin authentication failed"
        );
        let refused = e.status == StatusCode::UNAUTHORIZED;
        if refused && state.limits.throttle.failed(client, std::time::Instant::now()) {
            tracing::warn!(
                %client,
                "too many failed admin authentications from this address: its requests are refused 429 until it may try again"
            );
        }
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
        outbound_bytes: state.hub.outbound_bytes(),
        retained_bytes: state.hub.retained_bytes(),
        ready: is_ready(state).is_ok(),
        cluster_nodes: state.bus.as_ref().map_or(1, |bus| *bus.nodes().borrow()),
        bus_dropped: state.bus.as_ref().map_or(0, |bus| bus.dropped()),
        cluster_reloads: state.bus.as_ref().map_or(0, |bus| bus.reloads()),
    }
}

/// Ready: not stopping, the store answers a read, and the master-key provider answers (checked
/// at most every [`crate::custody::PROVIDER_HEALTH_MAX_AGE`]). `Err` says which is not, in
/// words safe for an unauthenticated caller (no address, key name or provider error text).
fn is_ready(state: &AdminState) -> Result<(), &'static str> {
    if state.shutdown.is_cancelled() {
        return Err("the server is stopping");
    }
    if state
        .store
        .get(store::Cf::Meta, b"readiness-probe")
        .is_err()
    {
        return Err("the store does not answer");
    }
    if !state.bunker.in_step() {
        return Err("out of step with the cluster: reloading from the store");
    }
    if !state
        .provider_health
        .healthy(state.bunker.vault().master().as_ref())
    {
        return Err("the master-key provider does not answer");
    }
    Ok(())
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
                .unwrap_or(Err("the readiness check failed"));
            match ready {
                Ok(()) => Ok(reply(
                    StatusCode::OK,
                    &wire::Health {
                        status: "ready".into(),
                    },
                )),
                Err(why) => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_ready",
                    why,
                )),
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
        AcceptNostrconnect => users::accept_nostrconnect(ctx).await,
        ListApprovals => approvals::list(ctx).await,
        GetApproval => approvals::get(ctx).await,
        ApproveApproval => approvals::decide(ctx, true).await,
        DenyApproval => approvals::decide(ctx, false).await,
        ListSessions => users::list_sessions(ctx).await,
        RevokeSession => users::revoke_session(ctx).await,
        RevokeAllSessions => users::revoke_all_sessions(ctx).await,
        GetKeyCustody => keys::status(ctx).await,
        RotateMasterKey => keys::rotate_master(ctx).await,
        RotateTenantKey => keys::rotate_tenant(ctx).await,
        CreateBackup => keys::create_backup(ctx).await,
        ExportUserKey => users::export_key(ctx).await,
    }
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
