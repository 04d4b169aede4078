//! The route table: every admin API route, once. The router dispatches only through it and the
//! OpenAPI document (`openapi.rs`) is generated from it, so the two cannot disagree.

use hyper::Method;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// No credentials (health, the OpenAPI document).
    Public,
    /// The operator token only.
    Operator,
    /// The operator, or an admin of the tenant named by the path's `{tenant}` (tenant admin token or
    /// NIP-98 from a registered admin pubkey).
    Tenant,
}

/// What a route does; the router's `match` over this enum is the dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteId {
    Health,
    Ready,
    Metrics,
    OpenApi,
    CreateTenant,
    ListTenants,
    GetTenant,
    UpdateTenant,
    DeleteTenant,
    GetTenantPolicy,
    PutTenantPolicy,
    CreateAdminToken,
    ListAdminTokens,
    RevokeAdminToken,
    AddAdminPubkey,
    ListAdminPubkeys,
    RemoveAdminPubkey,
    CreateUser,
    ListUsers,
    GetUser,
    UpdateUser,
    DeleteUser,
    RotateRemoteSigner,
    GetUserPolicy,
    PutUserPolicy,
    CreateBunkerUri,
    ListBunkerUris,
    RevokeBunkerUri,
    ListSessions,
    RevokeSession,
    RevokeAllSessions,
    QueryAudit,
}

/// One route: method, path template (`{name}` segments are parameters), scope, and what the OpenAPI
/// document says about it.
#[derive(Debug)]
pub(crate) struct RouteSpec {
    pub(crate) id: RouteId,
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) scope: Scope,
    pub(crate) summary: &'static str,
    /// Schema name (a [`super::wire`] type's, in the document's components) of the JSON request
    /// body, if any.
    pub(crate) request: Option<&'static str>,
    /// Success status and the schema name of its body (`None`: empty body).
    pub(crate) status: u16,
    pub(crate) response: Option<&'static str>,
    /// Query parameters: (name, description).
    pub(crate) query: &'static [(&'static str, &'static str)],
}

const PAGE: &[(&str, &str)] = &[
    (
        "cursor",
        "next_cursor of the previous page; omit for the first page",
    ),
    ("limit", "items per page, 1..=1000 (default 100)"),
];

macro_rules! route {
    ($id:ident, $method:ident, $path:literal, $scope:ident, $summary:literal, $req:expr, $status:literal, $resp:expr, $query:expr) => {
        RouteSpec {
            id: RouteId::$id,
            method: Method::$method,
            path: $path,
            scope: Scope::$scope,
            summary: $summary,
            request: $req,
            status: $status,
            response: $resp,
            query: $query,
        }
    };
}

/// Every route the admin listener serves.
pub(crate) static ROUTES: &[RouteSpec] = &[
    route!(
        Health,
        GET,
        "/healthz",
        Public,
        "Liveness: the process is up",
        None,
        200,
        Some("Health"),
        &[]
    ),
    route!(
        Ready,
        GET,
        "/readyz",
        Public,
        "Readiness: the store answers and the server is not stopping (503 otherwise)",
        None,
        200,
        Some("Health"),
        &[]
    ),
    route!(
        Metrics,
        GET,
        "/metrics",
        Public,
        "Prometheus metrics (text format 0.0.4)",
        None,
        200,
        Some("PrometheusText"),
        &[]
    ),
    route!(
        OpenApi,
        GET,
        "/v1/openapi.json",
        Public,
        "This API's OpenAPI 3 document",
        None,
        200,
        Some("OpenApiDocument"),
        &[]
    ),
    route!(
        CreateTenant,
        POST,
        "/v1/tenants",
        Operator,
        "Create a tenant (an organization) with its own data key",
        Some("TenantCreate"),
        201,
        Some("Tenant"),
        &[]
    ),
    route!(
        ListTenants,
        GET,
        "/v1/tenants",
        Operator,
        "List tenants, ordered by id",
        None,
        200,
        Some("TenantPage"),
        PAGE
    ),
    route!(
        GetTenant,
        GET,
        "/v1/tenants/{tenant}",
        Tenant,
        "Get a tenant",
        None,
        200,
        Some("Tenant"),
        &[]
    ),
    route!(
        UpdateTenant,
        PATCH,
        "/v1/tenants/{tenant}",
        Tenant,
        "Update a tenant's name, NIP-05 domain or (operator only) limits",
        Some("TenantUpdate"),
        200,
        Some("Tenant"),
        &[]
    ),
    route!(
        DeleteTenant,
        DELETE,
        "/v1/tenants/{tenant}",
        Operator,
        "Delete a tenant: destroy its data key (crypto-shred every sealed key), then its rows",
        None,
        200,
        Some("Deleted"),
        &[]
    ),
    route!(
        GetTenantPolicy,
        GET,
        "/v1/tenants/{tenant}/policy",
        Tenant,
        "The tenant's default signing policy",
        None,
        200,
        Some("Policy"),
        &[]
    ),
    route!(
        PutTenantPolicy,
        PUT,
        "/v1/tenants/{tenant}/policy",
        Tenant,
        "Replace the tenant's default signing policy",
        Some("Policy"),
        200,
        Some("Policy"),
        &[]
    ),
    route!(
        CreateAdminToken,
        POST,
        "/v1/tenants/{tenant}/admin-tokens",
        Tenant,
        "Create a tenant admin token (shown once)",
        Some("AdminTokenCreate"),
        201,
        Some("AdminTokenCreated"),
        &[]
    ),
    route!(
        ListAdminTokens,
        GET,
        "/v1/tenants/{tenant}/admin-tokens",
        Tenant,
        "List the tenant's admin tokens (never the tokens themselves)",
        None,
        200,
        Some("AdminTokenList"),
        &[]
    ),
    route!(
        RevokeAdminToken,
        DELETE,
        "/v1/tenants/{tenant}/admin-tokens/{token_id}",
        Tenant,
        "Revoke a tenant admin token",
        None,
        204,
        None,
        &[]
    ),
    route!(
        AddAdminPubkey,
        POST,
        "/v1/tenants/{tenant}/admin-pubkeys",
        Tenant,
        "Register a Nostr pubkey as a tenant admin (NIP-98 HTTP auth)",
        Some("AdminPubkeyAdd"),
        201,
        Some("AdminPubkey"),
        &[]
    ),
    route!(
        ListAdminPubkeys,
        GET,
        "/v1/tenants/{tenant}/admin-pubkeys",
        Tenant,
        "List the tenant's NIP-98 admin pubkeys",
        None,
        200,
        Some("AdminPubkeyList"),
        &[]
    ),
    route!(
        RemoveAdminPubkey,
        DELETE,
        "/v1/tenants/{tenant}/admin-pubkeys/{pubkey}",
        Tenant,
        "Remove a NIP-98 admin pubkey",
        None,
        204,
        None,
        &[]
    ),
    route!(
        CreateUser,
        POST,
        "/v1/tenants/{tenant}/users",
        Tenant,
        "Create a user: generate a key, or import hex / nsec / ncryptsec",
        Some("UserCreate"),
        201,
        Some("User"),
        &[]
    ),
    route!(
        ListUsers,
        GET,
        "/v1/tenants/{tenant}/users",
        Tenant,
        "List users, ordered by id",
        None,
        200,
        Some("UserPage"),
        PAGE
    ),
    route!(
        GetUser,
        GET,
        "/v1/tenants/{tenant}/users/{user}",
        Tenant,
        "Get a user",
        None,
        200,
        Some("User"),
        &[]
    ),
    route!(
        UpdateUser,
        PATCH,
        "/v1/tenants/{tenant}/users/{user}",
        Tenant,
        "Update a user's name, NIP-05 name or disabled flag",
        Some("UserUpdate"),
        200,
        Some("User"),
        &[]
    ),
    route!(
        DeleteUser,
        DELETE,
        "/v1/tenants/{tenant}/users/{user}",
        Tenant,
        "Delete a user: its sealed keys, bunker URIs and sessions",
        None,
        200,
        Some("Deleted"),
        &[]
    ),
    route!(
        RotateRemoteSigner,
        POST,
        "/v1/tenants/{tenant}/users/{user}/rotate-remote-signer",
        Tenant,
        "Replace the user's remote-signer key: old bunker URIs and sessions stop working",
        None,
        200,
        Some("User"),
        &[]
    ),
    route!(
        GetUserPolicy,
        GET,
        "/v1/tenants/{tenant}/users/{user}/policy",
        Tenant,
        "The user's signing policy (its own, or the tenant default)",
        None,
        200,
        Some("UserPolicy"),
        &[]
    ),
    route!(
        PutUserPolicy,
        PUT,
        "/v1/tenants/{tenant}/users/{user}/policy",
        Tenant,
        "Set the user's own signing policy (null: use the tenant default)",
        Some("PolicyOrNull"),
        200,
        Some("UserPolicy"),
        &[]
    ),
    route!(
        CreateBunkerUri,
        POST,
        "/v1/tenants/{tenant}/users/{user}/bunker-uris",
        Tenant,
        "Issue a single-use bunker URI (shown once)",
        Some("BunkerUriCreate"),
        201,
        Some("BunkerUriCreated"),
        &[]
    ),
    route!(
        ListBunkerUris,
        GET,
        "/v1/tenants/{tenant}/users/{user}/bunker-uris",
        Tenant,
        "List the user's bunker URIs (ids, never secrets)",
        None,
        200,
        Some("BunkerUriList"),
        &[("pending", "true: only unused, unexpired URIs")]
    ),
    route!(
        RevokeBunkerUri,
        DELETE,
        "/v1/tenants/{tenant}/users/{user}/bunker-uris/{uri_id}",
        Tenant,
        "Revoke a bunker URI",
        None,
        204,
        None,
        &[]
    ),
    route!(
        ListSessions,
        GET,
        "/v1/tenants/{tenant}/users/{user}/sessions",
        Tenant,
        "List the user's connected clients",
        None,
        200,
        Some("SessionList"),
        &[]
    ),
    route!(
        RevokeSession,
        DELETE,
        "/v1/tenants/{tenant}/users/{user}/sessions/{client}",
        Tenant,
        "End one client's session",
        None,
        204,
        None,
        &[]
    ),
    route!(
        RevokeAllSessions,
        DELETE,
        "/v1/tenants/{tenant}/users/{user}/sessions",
        Tenant,
        "End every session of the user",
        None,
        200,
        Some("Deleted"),
        &[]
    ),
    route!(
        QueryAudit,
        GET,
        "/v1/tenants/{tenant}/audit",
        Tenant,
        "Query the tenant's audit log, oldest first",
        None,
        200,
        Some("AuditPage"),
        &[
            ("from", "unix milliseconds, inclusive"),
            ("to", "unix milliseconds, exclusive"),
            ("user", "user id"),
            (
                "method",
                "NIP-46 method or admin action, e.g. sign_event or user.create"
            ),
            ("cursor", "next_cursor of the previous page"),
            ("limit", "items per page, 1..=1000 (default 100)"),
        ]
    ),
];

/// A matched route and its path parameters, in template order.
#[derive(Debug)]
pub(crate) struct Matched<'a> {
    pub(crate) spec: &'static RouteSpec,
    pub(crate) params: Vec<(&'static str, &'a str)>,
}

impl Matched<'_> {
    /// The value of path parameter `name` (present by construction of the table).
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v)
    }
}

/// What the path and method match: a route, a known path with another method (405), or nothing.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    Found(Matched<'a>),
    MethodNotAllowed,
    NotFound,
}

/// Finds the route for `method` and `path` (no query string).
pub(crate) fn lookup<'a>(method: &Method, path: &'a str) -> Lookup<'a> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut path_known = false;
    for spec in ROUTES {
        let Some(params) = match_path(spec.path, &segments) else {
            continue;
        };
        if spec.method == *method {
            return Lookup::Found(Matched { spec, params });
        }
        path_known = true;
    }
    if path_known {
        Lookup::MethodNotAllowed
    } else {
        Lookup::NotFound
    }
}

fn match_path<'a>(
    template: &'static str,
    segments: &[&'a str],
) -> Option<Vec<(&'static str, &'a str)>> {
    let parts: Vec<&'static str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, seg) in parts.iter().zip(segments) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if seg.is_empty() || seg.len() > 128 {
                return None;
            }
            params.push((name, *seg));
        } else if part != seg {
            return None;
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_unique_and_matches_itself() {
        for (i, spec) in ROUTES.iter().enumerate() {
            let concrete = spec
                .path
                .split('/')
                .map(|p| if p.starts_with('{') { "x1" } else { p })
                .collect::<Vec<_>>()
                .join("/");
            match lookup(&spec.method, &concrete) {
                Lookup::Found(m) => assert_eq!(m.spec.id, spec.id, "{}", spec.path),
                other => panic!("{} {} → {other:?}", spec.method, spec.path),
            }
            for other in &ROUTES[i + 1..] {
                assert!(
                    !(other.method == spec.method && other.path == spec.path),
                    "duplicate route {} {}",
                    spec.method,
                    spec.path
                );
            }
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert!(matches!(
            lookup(&Method::GET, "/v2/tenants"),
            Lookup::NotFound
        ));
        assert!(matches!(
            lookup(&Method::PUT, "/v1/tenants"),
            Lookup::MethodNotAllowed
        ));
        let Lookup::Found(m) = lookup(&Method::GET, "/v1/tenants/abc/users/def") else {
            panic!("no match")
        };
        assert_eq!(m.param("tenant"), "abc");
        assert_eq!(m.param("user"), "def");
    }
}
