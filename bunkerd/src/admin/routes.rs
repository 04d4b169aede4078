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
    ExportUserKey,
    GetUserPolicy,
    PutUserPolicy,
    CreateBunkerUri,
    ListBunkerUris,
    RevokeBunkerUri,
    AcceptNostrconnect,
    ListApprovals,
    GetApproval,
    ApproveApproval,
    DenyApproval,
    ListSessions,
    RevokeSession,
    RevokeAllSessions,
    QueryAudit,
    GetKeyCustody,
    RotateMasterKey,
    RotateTenantKey,
    CreateBackup,
}

/// The request body a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// None: the route reads no JSON.
    None,
    /// A JSON body of this schema (a [`super::wire`] type's, in the document's components) is
    /// required; an empty body is refused (`400 invalid_json`).
    Required(&'static str),
    /// A JSON body of this schema whose fields are all optional; an empty body reads as `{}`.
    Optional(&'static str),
}

impl Body {
    /// The schema name, if the route takes a body.
    pub(crate) fn schema(self) -> Option<&'static str> {
        match self {
            Body::None => None,
            Body::Required(name) | Body::Optional(name) => Some(name),
        }
    }
}

/// What a query parameter holds: its schema in the document and the check the handlers make
/// ([`super::validate`]); a value that breaks it is answered `400 invalid_input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryKind {
    /// Items per page: an integer, 1..=1000 (default 100).
    Limit,
    /// A tenant or user id (32 lowercase hex): a list's cursor, or the audit log's `user` filter.
    Id,
    /// The audit log's cursor: 32 lowercase hex (the position of the last record examined).
    AuditCursor,
    /// `true` or `false`.
    Bool,
    /// Unix milliseconds: an integer, 0..=2^64-1.
    Millis,
    /// An audit action or NIP-46 method: 1 to 64 characters of `a-z 0-9 _ . : -`.
    Action,
    /// An approval's state: `pending`, `approved`, `remembered`, `denied` or `expired`.
    ApprovalStatus,
}

/// One query parameter of a route (all are optional).
#[derive(Debug)]
pub(crate) struct QueryParam {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) kind: QueryKind,
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
    /// The JSON request body, if any.
    pub(crate) request: Body,
    /// Success status and the schema name of its body (`None`: empty body).
    pub(crate) status: u16,
    pub(crate) response: Option<&'static str>,
    /// Query parameters.
    pub(crate) query: &'static [QueryParam],
}

const PAGE: &[QueryParam] = &[
    QueryParam {
        name: "cursor",
        description: "next_cursor of the previous page; omit for the first page",
        kind: QueryKind::Id,
    },
    QueryParam {
        name: "limit",
        description: "items per page, 1..=1000 (default 100)",
        kind: QueryKind::Limit,
    },
];

const PENDING: &[QueryParam] = &[QueryParam {
    name: "pending",
    description: "true: only unused, unexpired URIs",
    kind: QueryKind::Bool,
}];

const APPROVAL_STATUS: &[QueryParam] = &[QueryParam {
    name: "status",
    description: "only approvals in this state (default: every state)",
    kind: QueryKind::ApprovalStatus,
}];

const AUDIT: &[QueryParam] = &[
    QueryParam {
        name: "from",
        description: "unix milliseconds, inclusive",
        kind: QueryKind::Millis,
    },
    QueryParam {
        name: "to",
        description: "unix milliseconds, exclusive (below from: an empty page)",
        kind: QueryKind::Millis,
    },
    QueryParam {
        name: "user",
        description: "user id",
        kind: QueryKind::Id,
    },
    QueryParam {
        name: "method",
        description: "NIP-46 method or admin action, e.g. sign_event or user.create",
        kind: QueryKind::Action,
    },
    QueryParam {
        name: "cursor",
        description: "next_cursor of the previous page",
        kind: QueryKind::AuditCursor,
    },
    QueryParam {
        name: "limit",
        description: "items per page, 1..=1000 (default 100)",
        kind: QueryKind::Limit,
    },
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
        Body::None,
        200,
        Some("Health"),
        &[]
    ),
    route!(
        Ready,
        GET,
        "/readyz",
        Public,
        "Readiness: the store answers, the node is in step with its cluster and the server is not stopping (503 otherwise)",
        Body::None,
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
        Body::None,
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
        Body::None,
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
        Body::Required("TenantCreate"),
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
        Body::None,
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
        Body::None,
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
        Body::Optional("TenantUpdate"),
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
        Body::None,
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
        Body::None,
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
        Body::Required("Policy"),
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
        Body::Optional("AdminTokenCreate"),
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
        Body::None,
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
        Body::None,
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
        Body::Required("AdminPubkeyAdd"),
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
        Body::None,
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
        Body::None,
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
        Body::Optional("UserCreate"),
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
        Body::None,
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
        Body::None,
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
        Body::Optional("UserUpdate"),
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
        Body::None,
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
        Body::None,
        200,
        Some("User"),
        &[]
    ),
    route!(
        ExportUserKey,
        POST,
        "/v1/tenants/{tenant}/users/{user}/export",
        Tenant,
        "Export the user key as NIP-49 ncryptsec under the caller's password, where the tenant's \
         key_export allows it (403 key_export_disabled otherwise); audited; one export at a time",
        Body::Required("UserKeyExport"),
        200,
        Some("ExportedKey"),
        &[]
    ),
    route!(
        GetUserPolicy,
        GET,
        "/v1/tenants/{tenant}/users/{user}/policy",
        Tenant,
        "The user's signing policy (its own, or the tenant default)",
        Body::None,
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
        Body::Required("PolicyOrNull"),
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
        Body::Optional("BunkerUriCreate"),
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
        Body::None,
        200,
        Some("BunkerUriList"),
        PENDING
    ),
    route!(
        RevokeBunkerUri,
        DELETE,
        "/v1/tenants/{tenant}/users/{user}/bunker-uris/{uri_id}",
        Tenant,
        "Revoke a bunker URI",
        Body::None,
        204,
        None,
        &[]
    ),
    route!(
        AcceptNostrconnect,
        POST,
        "/v1/tenants/{tenant}/users/{user}/nostrconnect",
        Tenant,
        "Pair the user with the client of a nostrconnect:// URI: creates its session and \
         publishes the connect response on the client's relays",
        Body::Required("NostrconnectAccept"),
        201,
        Some("Session"),
        &[]
    ),
    route!(
        ListApprovals,
        GET,
        "/v1/tenants/{tenant}/approvals",
        Tenant,
        "Requests held for approval (newest first; at most 1000)",
        Body::None,
        200,
        Some("ApprovalList"),
        APPROVAL_STATUS
    ),
    route!(
        GetApproval,
        GET,
        "/v1/tenants/{tenant}/approvals/{approval_id}",
        Tenant,
        "One request held for approval",
        Body::None,
        200,
        Some("Approval"),
        &[]
    ),
    route!(
        ApproveApproval,
        POST,
        "/v1/tenants/{tenant}/approvals/{approval_id}/approve",
        Tenant,
        "Approve a held request (once, or remembered for its client): it runs and its client gets \
         the reply",
        Body::Optional("ApprovalApprove"),
        200,
        Some("Approval"),
        &[]
    ),
    route!(
        DenyApproval,
        POST,
        "/v1/tenants/{tenant}/approvals/{approval_id}/deny",
        Tenant,
        "Deny a held request: its client gets an error reply",
        Body::None,
        200,
        Some("Approval"),
        &[]
    ),
    route!(
        ListSessions,
        GET,
        "/v1/tenants/{tenant}/users/{user}/sessions",
        Tenant,
        "List the user's connected clients",
        Body::None,
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
        Body::None,
        204,
        None,
        &[]
    ),
    // An action on the user (as rotate-remote-signer), not a DELETE of `…/sessions`: the list of
    // sessions is still there afterwards, empty.
    route!(
        RevokeAllSessions,
        POST,
        "/v1/tenants/{tenant}/users/{user}/revoke-sessions",
        Tenant,
        "End every session of the user (its clients need new bunker URIs)",
        Body::None,
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
        Body::None,
        200,
        Some("AuditPage"),
        AUDIT
    ),
    route!(
        GetKeyCustody,
        GET,
        "/v1/keys",
        Operator,
        "The master key's provider and versions, what each version wraps, and the key custody jobs",
        Body::None,
        200,
        Some("KeyCustody"),
        &[]
    ),
    route!(
        RotateMasterKey,
        POST,
        "/v1/keys/rotate",
        Operator,
        "Rotate the master key: a new version in the provider, every data key rewrapped under it \
         while serving, then the older versions destroyed (unless retire_old is false)",
        Body::Optional("MasterKeyRotate"),
        202,
        Some("KeyCustody"),
        &[]
    ),
    route!(
        RotateTenantKey,
        POST,
        "/v1/tenants/{tenant}/keys/rotate",
        Operator,
        "Rotate a tenant's data key: every user re-sealed under a new one while serving, then the \
         old one destroyed",
        Body::None,
        202,
        Some("TenantKeys"),
        &[]
    ),
    route!(
        CreateBackup,
        POST,
        "/v1/backups",
        Operator,
        "Write a backup of the whole store, as of one point in time, while serving: a file in \
         <data-dir>/backups holding only sealed material (restore it with the master key versions \
         it names); one backup at a time",
        Body::None,
        201,
        Some("Backup"),
        &[]
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

/// What the path and method match: a route, a known path with another method (405, with the
/// methods it has, for the `Allow` header), or nothing.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    Found(Matched<'a>),
    MethodNotAllowed { allow: String },
    NotFound,
}

/// Finds the route for `method` and `path` (no query string).
pub(crate) fn lookup<'a>(method: &Method, path: &'a str) -> Lookup<'a> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut allowed: Vec<&str> = Vec::new();
    for spec in ROUTES {
        let Some(params) = match_path(spec.path, &segments) else {
            continue;
        };
        if spec.method == *method {
            return Lookup::Found(Matched { spec, params });
        }
        allowed.push(spec.method.as_str());
    }
    if allowed.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::MethodNotAllowed {
            allow: allowed.join(", "),
        }
    }
}

/// What a path parameter holds, by its name in the templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathKind {
    /// `{tenant}`, `{user}`, `{token_id}`: 32 lowercase hex characters.
    Id,
    /// `{uri_id}`: 64 lowercase hex characters (SHA-256 of the URI's secret).
    Hash,
    /// `{pubkey}`, `{client}`: a public key, 64 hex characters (either case) or `npub1…`.
    Pubkey,
}

/// The kind of the path parameter `name`.
pub(crate) fn path_kind(name: &str) -> PathKind {
    match name {
        "uri_id" => PathKind::Hash,
        "pubkey" | "client" => PathKind::Pubkey,
        _ => PathKind::Id,
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
#[path = "routes_tests.rs"]
mod tests;
