//! `GET /v1/openapi.json`: the OpenAPI 3.0.3 document of the admin API, generated from the route
//! table ([`super::routes::ROUTES`]) and the schemas below. A route added to the table appears here
//! by construction; a test checks the document against an OpenAPI validator.

use super::routes::{RouteId, RouteSpec, Scope, ROUTES};
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
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        parameters.extend(spec.query.iter().map(|(name, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "description": description, "schema": {"type": "string"}})
        }));
        if !parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(request) = spec.request {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": schema_ref(request)}}}),
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
        responses.insert(spec.status.to_string(), ok);
        for (code, why) in error_statuses(spec) {
            responses.insert(code.to_string(), error_response(why));
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

/// The error statuses a route can answer, derived from what the router and handlers do.
fn error_statuses(spec: &RouteSpec) -> Vec<(u16, &'static str)> {
    let has_body = spec.request.is_some();
    let has_params = spec.path.contains('{');
    let mut out = Vec::new();
    if has_body
        || !spec.query.is_empty()
        || spec.path.contains("{pubkey}")
        || spec.path.contains("{client}")
    {
        out.push((
            400,
            "invalid input (codes: invalid_json, invalid_input, invalid_policy, …)",
        ));
    }
    if spec.scope != Scope::Public {
        out.push((401, "missing or invalid credentials (code unauthorized)"));
    }
    if spec.scope == Scope::Operator || spec.id == RouteId::UpdateTenant {
        out.push((403, "needs the operator token (code forbidden)"));
    }
    if spec.id == RouteId::Ready {
        out.push((
            503,
            "not ready: the store does not answer or the server is stopping (code not_ready)",
        ));
    }
    if has_params {
        out.push((404, "tenant or resource not found, also for another tenant's (codes: tenant_not_found, user_not_found, not_found)"));
    }
    if matches!(spec.id, RouteId::CreateUser | RouteId::AddAdminPubkey) {
        out.push((409, "already exists or a tenant limit is reached (codes: user_exists, already_exists, limit_reached)"));
    }
    if has_body {
        out.push((413, "request body over 64 KiB (code body_too_large)"));
    }
    out.push((500, "internal error (code internal)"));
    out
}

fn page_of(item: &str) -> Value {
    json!({"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": schema_ref(item)},
        "next_cursor": {"type": "string", "nullable": true}}})
}

fn schemas() -> Value {
    let hex64 = json!({"type": "string", "pattern": "^[0-9a-f]{64}$"});
    let id = json!({"type": "string", "pattern": "^[0-9a-f]{32}$"});
    let unix = json!({"type": "integer", "format": "int64", "minimum": 0});
    let opt_unix = json!({"type": "integer", "format": "int64", "minimum": 0, "nullable": true});
    let opt_str = json!({"type": "string", "nullable": true});
    json!({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
        "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
        "OpenApiDocument": {"type": "object"},
        "Deleted": {"type": "object", "properties": {
            "deleted": {}, "id": {"type": "string"}, "users_deleted": {"type": "integer"}}},
        "TenantCreate": {"type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 128}}},
        "TenantUpdate": {"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 128},
            "nip05_domain": opt_str,
            "limits": schema_ref("TenantLimits")}},
        "TenantLimits": {"type": "object", "additionalProperties": false,
            "description": "Operator only. max_users is enforced at user creation; request rates by the relay.",
            "properties": {
            "max_users": {"type": "integer", "minimum": 0, "nullable": true},
            "requests_per_sec": {"type": "integer", "minimum": 0, "nullable": true},
            "burst": {"type": "integer", "minimum": 0, "nullable": true}}},
        "Tenant": {"type": "object", "required": ["id", "name", "created_at"], "properties": {
            "id": id, "name": {"type": "string"}, "created_at": unix, "updated_at": opt_unix,
            "nip05_domain": opt_str, "limits": schema_ref("TenantLimits")}},
        "TenantPage": page_of("Tenant"),
        "Policy": {"type": "object", "description": "Signing policy."},
        "PolicyOrNull": {"type": "object", "nullable": true},
        "UserPolicy": {"type": "object", "properties": {
            "policy": schema_ref("Policy"), "inherited": {"type": "boolean"}}},
        "AdminTokenCreate": {"type": "object", "additionalProperties": false,
            "properties": {"name": {"type": "string", "maxLength": 128}}},
        "AdminTokenCreated": {"type": "object", "required": ["id", "token"], "properties": {
            "id": id, "token": hex64, "name": opt_str, "created_at": unix}},
        "AdminToken": {"type": "object", "properties": {
            "id": id, "name": opt_str, "created_at": unix, "created_by": {"type": "string"}}},
        "AdminTokenList": page_of("AdminToken"),
        "AdminPubkeyAdd": {"type": "object", "required": ["pubkey"], "additionalProperties": false,
            "properties": {"pubkey": {"type": "string", "description": "64 hex or npub1…"},
                           "name": {"type": "string", "maxLength": 128}}},
        "AdminPubkey": {"type": "object", "properties": {
            "pubkey": hex64, "name": opt_str, "added_at": unix}},
        "AdminPubkeyList": page_of("AdminPubkey"),
        "UserCreate": {"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "maxLength": 128},
            "secret_key": {"type": "string", "description": "64 hex or nsec1… to import"},
            "ncryptsec": {"type": "string", "description": "NIP-49 ncryptsec1… to import"},
            "password": {"type": "string", "description": "the ncryptsec's password"},
            "nip05_name": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"}}},
        "UserUpdate": {"type": "object", "additionalProperties": false, "properties": {
            "name": opt_str, "disabled": {"type": "boolean"}, "nip05_name": opt_str}},
        "User": {"type": "object", "required": ["id", "tenant", "user_pubkey", "remote_signer_pubkey"],
            "properties": {
            "id": id, "tenant": id, "name": opt_str, "user_pubkey": hex64,
            "remote_signer_pubkey": hex64, "nip05_name": opt_str, "disabled": {"type": "boolean"},
            "created_at": unix, "updated_at": opt_unix}},
        "UserPage": page_of("User"),
        "BunkerUriCreate": {"type": "object", "additionalProperties": false, "properties": {
            "ttl_secs": {"type": "integer", "minimum": 1, "maximum": 31_536_000},
            "perms": {"type": "string", "maxLength": 1024,
                      "description": "pre-approved NIP-46 permissions, e.g. sign_event:1,nip44_encrypt"}}},
        "BunkerUriCreated": {"type": "object", "required": ["id", "bunker_uri", "expires_at"],
            "properties": {"id": hex64, "bunker_uri": {"type": "string"}, "expires_at": unix}},
        "BunkerUri": {"type": "object", "properties": {
            "id": hex64, "created_at": unix, "expires_at": unix,
            "consumed_by": {"type": "string", "nullable": true}, "consumed_at": opt_unix,
            "perms": opt_str}},
        "BunkerUriList": page_of("BunkerUri"),
        "Session": {"type": "object", "properties": {
            "client_pubkey": hex64, "remote_signer_pubkey": hex64,
            "metadata": {"type": "object", "nullable": true}, "perms": {"type": "string"},
            "scheme": {"type": "string", "enum": ["nip44", "nip04"]}, "created_at": unix,
            "last_used_at": opt_unix, "requests": {"type": "integer"}}},
        "SessionList": page_of("Session"),
        "AuditRecord": {"type": "object", "properties": {
            "time_ms": unix, "seq": {"type": "integer"}, "tenant": id, "user": opt_str,
            "client": {"type": "string", "nullable": true}, "actor": opt_str,
            "action": {"type": "string"}, "kind": {"type": "integer", "nullable": true},
            "event_id": {"type": "string", "nullable": true},
            "outcome": {"type": "string", "enum": ["ok", "refused", "error"]}, "detail": opt_str}},
        "AuditPage": page_of("AuditRecord"),
    })
}
