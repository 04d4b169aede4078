//! `GET /v1/openapi.json`: the OpenAPI 3.0.3 document of the admin API, generated from the route
//! table ([`super::routes::ROUTES`]); its component schemas are derived from the wire types
//! ([`super::wire`]). A route added to the table appears here by construction; a test checks the
//! document against an OpenAPI validator.

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
    if spec.id == RouteId::UpdateTenant {
        out.push((
            409,
            "the nip05_domain is served by another tenant (code conflict)",
        ));
    }
    if has_body {
        out.push((
            408,
            "request body not received within 10 s (code body_timeout)",
        ));
        out.push((413, "request body over 64 KiB (code body_too_large)"));
    }
    out.push((500, "internal error (code internal)"));
    out
}

/// The component schemas: those the wire types derive ([`super::wire::schemas`]), by name.
fn schemas() -> Value {
    let schemas: Map<String, Value> = super::wire::schemas()
        .into_iter()
        .map(|(name, schema)| {
            let schema = serde_json::to_value(schema).expect("a schema serializes");
            (name, schema)
        })
        .collect();
    Value::Object(schemas)
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
            for name in spec.request.iter().chain(&spec.response) {
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
