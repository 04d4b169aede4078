//! `GET /v1/openapi.json`: the OpenAPI 3.0.3 document of the admin API, generated from the route
//! table ([`super::routes::ROUTES`]); its component schemas are derived from the wire types
//! ([`super::wire`]). A route added to the table appears here by construction; a test checks the
//! document against an OpenAPI validator.

use super::routes::{self, Body, PathKind, QueryKind, RouteId, RouteSpec, Scope, ROUTES};
use super::validate;
use serde_json::{json, Map, Value};

/// The whole document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for spec in ROUTES {
        let entry = paths
            .entry(spec.path.to_owned())
            .or_insert_with(|| json!({}));
        let mut op = Map::new();
        op.insert("operationId".into(), json!(format!("{:?}", spec.id)));
        op.insert("summary".into(), json!(spec.summary));
        let mut parameters: Vec<Value> = spec
            .path
            .split('/')
            .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                       "schema": path_schema(routes::path_kind(name))})
            })
            .collect();
        parameters.extend(spec.query.iter().map(|q| {
            json!({"name": q.name, "in": "query", "required": false,
                   "description": q.description, "schema": query_schema(q.kind)})
        }));
        if !parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(request) = spec.request.schema() {
            let required = matches!(spec.request, Body::Required(_));
            op.insert(
                "requestBody".into(),
                json!({"required": required,
                       "content": {"application/json": {"schema": schema_ref(request)}}}),
            );
        }
        let mut responses = Map::new();
        let ok = match spec.response {
            Some("PrometheusText") => json!({"description": "success",
                "content": {"text/plain": {"schema": {"type": "string"}}}}),
            Some(schema) => json!({"description": "success",
                "content": {"application/json": {"schema": schema_ref(schema)}}}),
            None => json!({"description": "success, no body"}),
        };
        let mut ok = ok;
        if let Some(links) = links(spec.id) {
            ok["links"] = links;
        }
        responses.insert(spec.status.to_string(), ok);
        for (code, why) in error_statuses(spec) {
            let mut error = error_response(why);
            if code == 429 {
                error["headers"] = json!({"Retry-After": {"required": true,
                    "description": "seconds until this address may try again",
                    "schema": {"type": "integer", "minimum": 1}}});
            }
            responses.insert(code.to_string(), error);
        }
        op.insert("responses".into(), Value::Object(responses));
        match spec.scope {
            Scope::Public => {
                op.insert("security".into(), json!([]));
            }
            Scope::Operator => {
                op.insert("security".into(), json!([{"operatorToken": []}]));
            }
            Scope::Tenant => {
                op.insert(
                    "security".into(),
                    json!([{"operatorToken": []}, {"tenantAdminToken": []}, {"nip98": []}]),
                );
            }
        }
        entry
            .as_object_mut()
            .expect("path items are objects")
            .insert(spec.method.as_str().to_ascii_lowercase(), Value::Object(op));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "bunkerd admin API",
            "version": "1",
            "description": "Tenants, users, bunker URIs, sessions, policies and the audit log of a \
                            bunkerd NIP-46 bunker. Errors are {\"error\":{\"code\",\"message\"}} with \
                            stable codes; lists are pages {\"items\",\"next_cursor\"}."
        },
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {
                "operatorToken": {"type": "http", "scheme": "bearer",
                    "description": "The operator token: every route."},
                "tenantAdminToken": {"type": "http", "scheme": "bearer",
                    "description": "A tenant admin token: routes of its own tenant."},
                "nip98": {"type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "NIP-98: `Nostr <base64 kind-27235 event>` from a pubkey registered as \
                                    an admin of the tenant in the path."}
            },
            "schemas": schemas(),
        }
    })
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": schema_ref("Error")}}})
}

/// The schema of a path parameter.
fn path_schema(kind: PathKind) -> Value {
    let pattern = match kind {
        PathKind::Id => validate::ID_PATTERN,
        PathKind::Hash => validate::HASH_PATTERN,
        PathKind::Pubkey => validate::PUBKEY_PATTERN,
    };
    json!({"type": "string", "pattern": pattern})
}

/// The values of an approval's state.
pub(crate) const APPROVAL_STATES: [&str; 5] =
    ["pending", "approved", "remembered", "denied", "expired"];

/// The schema of a query parameter.
fn query_schema(kind: QueryKind) -> Value {
    match kind {
        QueryKind::Limit => json!({"type": "integer", "minimum": 1, "maximum": 1000}),
        QueryKind::Id | QueryKind::AuditCursor => {
            json!({"type": "string", "pattern": validate::ID_PATTERN})
        }
        QueryKind::Bool => json!({"type": "boolean"}),
        QueryKind::Millis => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        QueryKind::Action => json!({"type": "string", "pattern": validate::ACTION_PATTERN}),
        QueryKind::ApprovalStatus => {
            json!({"type": "string", "enum": APPROVAL_STATES})
        }
    }
}

/// OpenAPI links from a creation's answer to the routes of what it created, so that a client (or a
/// fuzzer testing state) can follow them.
fn links(id: RouteId) -> Option<Value> {
    let (targets, parameters): (&[RouteId], Value) = match id {
        RouteId::CreateTenant => (
            &[
                RouteId::GetTenant,
                RouteId::UpdateTenant,
                RouteId::DeleteTenant,
                RouteId::GetTenantPolicy,
                RouteId::PutTenantPolicy,
                RouteId::CreateAdminToken,
                RouteId::ListAdminTokens,
                RouteId::AddAdminPubkey,
                RouteId::ListAdminPubkeys,
                RouteId::CreateUser,
                RouteId::ListUsers,
                RouteId::QueryAudit,
            ],
            json!({"tenant": "$response.body#/id"}),
        ),
        RouteId::CreateUser => (
            &[
                RouteId::GetUser,
                RouteId::UpdateUser,
                RouteId::DeleteUser,
                RouteId::RotateRemoteSigner,
                RouteId::GetUserPolicy,
                RouteId::PutUserPolicy,
                RouteId::CreateBunkerUri,
                RouteId::ListBunkerUris,
                RouteId::ListSessions,
                RouteId::RevokeAllSessions,
            ],
            json!({"tenant": "$response.body#/tenant", "user": "$response.body#/id"}),
        ),
        RouteId::CreateAdminToken => (
            &[RouteId::RevokeAdminToken],
            json!({"tenant": "$request.path.tenant", "token_id": "$response.body#/id"}),
        ),
        RouteId::AddAdminPubkey => (
            &[RouteId::RemoveAdminPubkey],
            json!({"tenant": "$request.path.tenant", "pubkey": "$response.body#/pubkey"}),
        ),
        RouteId::CreateBunkerUri => (
            &[RouteId::RevokeBunkerUri],
            json!({"tenant": "$request.path.tenant", "user": "$request.path.user",
                   "uri_id": "$response.body#/id"}),
        ),
        _ => return None,
    };
    let links: Map<String, Value> = targets
        .iter()
        .map(|target| {
            let spec = ROUTES
                .iter()
                .find(|r| r.id == *target)
                .expect("in the table");
            let names: Vec<&str> = spec
                .path
                .split('/')
                .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
                .collect();
            let params: Map<String, Value> = names
                .iter()
                .map(|n| ((*n).to_owned(), parameters[*n].clone()))
                .collect();
            (
                format!("{target:?}"),
                json!({"operationId": format!("{target:?}"), "parameters": params}),
            )
        })
        .collect();
    Some(Value::Object(links))
}

/// The error statuses a route can answer, derived from what the router and handlers do.
fn error_statuses(spec: &RouteSpec) -> Vec<(u16, &'static str)> {
    let has_body = spec.request.schema().is_some();
    let has_params = spec.path.contains('{');
    let mut out = Vec::new();
    if has_body
        || !spec.query.is_empty()
        || spec.path.contains("{pubkey}")
        || spec.path.contains("{client}")
    {
        out.push((
            400,
            "invalid input (codes: invalid_json, invalid_input, invalid_policy, invalid_pubkey, \
             invalid_secret_key, invalid_ncryptsec, wrong_password, unsupported_version, \
             log_n_too_high, log_n_out_of_range; for nostrconnect:// URIs uri_scheme, uri_client_pubkey, uri_relay, \
             uri_missing_relay, uri_too_many_relays, uri_missing_secret, uri_secret_too_long, \
             uri_duplicate_parameter, uri_encoding, uri_too_long)",
        ));
    }
    if spec.scope != Scope::Public {
        out.push((
            401,
            "missing or invalid credentials (codes: unauthorized, nip98_not_configured)",
        ));
    }
    if spec.scope == Scope::Operator || spec.id == RouteId::UpdateTenant {
        out.push((403, "needs the operator token (code forbidden)"));
    }
    if spec.id == RouteId::ExportUserKey {
        out.push((
            403,
            "the tenant does not allow key export (code key_export_disabled)",
        ));
    }
    if has_params {
        out.push((404, "tenant or resource not found, also for another tenant's (codes: tenant_not_found, user_not_found, not_found)"));
    }
    if matches!(
        spec.id,
        RouteId::CreateUser | RouteId::AddAdminPubkey | RouteId::UpdateUser
    ) {
        out.push((409, "already exists, taken or a tenant limit is reached (codes: user_exists, already_exists, conflict, limit_reached)"));
    }
    if spec.id == RouteId::UpdateTenant {
        out.push((
            409,
            "the nip05_domain is served by another tenant (code conflict)",
        ));
    }
    if matches!(spec.id, RouteId::ApproveApproval | RouteId::DenyApproval) {
        out.push((
            409,
            "the request was already decided or has expired (code conflict)",
        ));
    }
    if spec.id == RouteId::AcceptNostrconnect {
        out.push((
            409,
            "the URI was already accepted, its client already has a session with the user, the \
             user is disabled (code conflict), or a foreign-relay bound refuses it (codes: \
             foreign_relays_max, foreign_relays_per_tenant, foreign_sessions_per_tenant, \
             foreign_relay_private)",
        ));
    }
    if has_body {
        out.push((
            408,
            "request body not received within 10 s (code body_timeout)",
        ));
        out.push((413, "request body over 64 KiB (code body_too_large)"));
    }
    if spec.scope != Scope::Public {
        out.push((
            429,
            "too many failed authentications from this address: retry after Retry-After seconds \
             (code too_many_failures)",
        ));
    }
    if spec.id == RouteId::Ready {
        out.push((
            503,
            "not ready: the server is stopping, the store or the master-key provider does not \
             answer (code not_ready)",
        ));
    }
    if spec.scope == Scope::Tenant || spec.id == RouteId::CreateUser {
        out.push((
            503,
            "busy: too many NIP-98 authorizations in the last minute, or the server is stopping \
             (codes: busy, unavailable)",
        ));
    }
    out.push((500, "internal error (code internal)"));
    out
}

/// The component schemas: those the wire types derive ([`super::wire::schemas`]), by name.
fn schemas() -> Value {
    Value::Object(super::wire::schemas().into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in `value`.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_route_schema_and_every_ref_is_a_component() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for spec in ROUTES {
            for name in spec.request.schema().iter().chain(&spec.response) {
                if *name != "PrometheusText" {
                    assert!(schemas.contains_key(*name), "{name} of {}", spec.path);
                }
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").expect(&r);
            assert!(schemas.contains_key(name), "dangling {r}");
        }
    }

    #[test]
    fn nullable_fields_are_openapi_3_0() {
        let doc = document();
        let user = &doc["components"]["schemas"]["User"];
        assert_eq!(user["properties"]["name"]["nullable"], true, "{user}");
        assert_eq!(user["properties"]["name"]["type"], "string", "{user}");
        let page = &doc["components"]["schemas"]["UserPage"];
        assert_eq!(
            page["properties"]["items"]["items"]["$ref"], "#/components/schemas/User",
            "{page}"
        );
    }
}
