//! OpenAPI: `GET /v1/openapi.json` is served without credentials, validates
//! as OpenAPI 3 with an independent validator (`@apidevtools/swagger-parser`, run by the machine's
//! Node through `tests/node/validate_openapi.mjs`), and agrees with the router both ways: every
//! (method, path) in the document is routed (never `route_not_found` / `method_not_allowed`) and
//! accepts exactly the credentials its `security` lists, while every other method on a documented
//! path answers 405 `method_not_allowed` and undocumented paths answer 404 `route_not_found`.
//!
//! Node and npm are required: the validator runs in `tests/node` once `support::node` has
//! installed its packages.

use crate::support::admin::Admin;
use crate::support::{node, TestServer};
use nostr::Keys;
use serde_json::{json, Value};
use std::time::Duration;

/// The methods the admin API could route.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Validates `doc` with swagger-parser; returns the script's JSON line.
async fn validate(doc: &Value) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let args = vec![
        "validate_openapi.mjs".to_owned(),
        file.display().to_string(),
    ];
    let (value, status) = node::run(args, vec![], Duration::from_secs(120)).await;
    assert_eq!(value["ok"] == true, status == 0, "{value}");
    value
}

/// Whether `path` matches the template (`{name}` segments match any non-empty segment).
fn matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

/// The template with `{tenant}` set to `tenant` and every other parameter to `other`.
fn fill(template: &str, tenant: &str, other: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{tenant}" => tenant,
            s if s.starts_with('{') => other,
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Names of the security schemes an operation accepts (empty: no credentials needed).
fn schemes(op: &Value) -> Vec<String> {
    op["security"]
        .as_array()
        .expect("every operation states its security")
        .iter()
        .flat_map(|req| req.as_object().unwrap().keys().cloned())
        .collect()
}

#[track_caller]
fn assert_routed(result: &(u16, Value), what: &str) {
    let code = result.1["error"]["code"].as_str();
    assert!(
        result.0 != 405 && !matches!(code, Some("route_not_found" | "method_not_allowed")),
        "{what} is in the document but not routed: {result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_validates_and_agrees_with_the_router() {
    // The throttle off: every operation is called once without credentials, more than its burst.
    let server = TestServer::start_with(|c| c.admin_auth_failures_per_min = 0).await;
    let operator = server.admin();
    let anon = Admin::new(server.server.admin_addr, None);
    let (status, doc) = anon.call("GET", "/v1/openapi.json", None).await;
    assert_eq!(status, 200, "served without credentials: {doc}");

    // An independent validator accepts it, and rejects a broken copy (so it really validates).
    let verdict = validate(&doc).await;
    assert_eq!(verdict["ok"], true, "OpenAPI validation failed: {verdict}");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    let verdict = validate(&broken).await;
    assert_eq!(verdict["ok"], false, "{verdict}");

    // A real tenant with an admin token, to check which credentials each operation accepts.
    let tenant = operator
        .post_ok("/v1/tenants", json!({"name": "openapi"}))
        .await;
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let token = operator
        .post_ok(&format!("/v1/tenants/{tenant}/admin-tokens"), json!({}))
        .await;
    let tenant_admin = Admin::new(server.server.admin_addr, token["token"].as_str());
    // Parameters that name nothing: valid-looking (a pubkey parses), never found.
    let dummy = Keys::generate().public_key().to_hex();

    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut operations = 0;
    let mut ids = std::collections::HashSet::new();
    for (template, item) in paths {
        let item = item.as_object().unwrap();
        for method in METHODS {
            let Some(op) = item.get(&method.to_ascii_lowercase()) else {
                // Not documented on this path: the router must refuse the method.
                let path = fill(template, &dummy, &dummy);
                let result = operator.call(method, &path, Some("{}")).await;
                assert_eq!(
                    (result.0, result.1["error"]["code"].as_str()),
                    (405, Some("method_not_allowed")),
                    "{method} {template} is not documented but answered {result:?}"
                );
                continue;
            };
            operations += 1;
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "duplicate operationId {}",
                op["operationId"]
            );
            let body = op.get("requestBody").map(|_| "{}");
            let what = format!("{method} {template}");
            let schemes = schemes(op);
            let path = fill(template, &dummy, &dummy);
            if schemes.is_empty() {
                let result = anon.call(method, &path, body).await;
                assert_routed(&result, &what);
                assert_ne!(result.0, 401, "{what} is documented as public: {result:?}");
                continue;
            }
            let result = anon.call(method, &path, body).await;
            assert_routed(&result, &what);
            assert_eq!(
                (result.0, result.1["error"]["code"].as_str()),
                (401, Some("unauthorized")),
                "{what} without credentials"
            );
            assert!(schemes.contains(&"operatorToken".to_owned()), "{what}");
            let result = operator.call(method, &path, body).await;
            assert_routed(&result, &what);
            assert!(
                result.0 != 401 && result.0 != 403,
                "{what} lists the operator token but refused it: {result:?}"
            );
            // On its own tenant, a tenant admin token is accepted exactly where it is listed.
            let own = fill(template, &tenant, &dummy);
            let result = tenant_admin.call(method, &own, body).await;
            assert_routed(&result, &what);
            if schemes.contains(&"tenantAdminToken".to_owned()) {
                assert!(
                    result.0 != 401 && result.0 != 403,
                    "{what} lists tenant admin tokens but refused one: {result:?}"
                );
            } else {
                assert_eq!(
                    (result.0, result.1["error"]["code"].as_str()),
                    (403, Some("forbidden")),
                    "{what} does not list tenant admin tokens"
                );
            }
        }
    }
    assert!(
        operations >= 30,
        "the document lists every route ({operations})"
    );
    assert_eq!(
        operator.get_ok(&format!("/v1/tenants/{tenant}")).await["id"],
        tenant.as_str()
    );

    // Paths the document does not have are not routed, whatever the method.
    for path in [
        "/",
        "/v1",
        "/v2/tenants",
        "/v1/tenant",
        "/v1/openapi.yaml",
        "/v1/tenants/x/nothing",
        "/v1/tenants/x/users/y/nothing",
        "/v1/tenants/x/users/y/sessions/z/extra",
        "/v1/tenants/x/audit/y",
        "/healthz/extra",
        "/V1/tenants",
    ] {
        assert!(
            !paths.keys().any(|t| matches(t, path)),
            "{path} is documented: pick another"
        );
        for method in METHODS {
            for client in [&anon, &operator] {
                let result = client.call(method, path, None).await;
                assert_eq!(
                    (result.0, result.1["error"]["code"].as_str()),
                    (404, Some("route_not_found")),
                    "{method} {path} is not documented but answered {result:?}"
                );
            }
        }
    }
    server.server.stop().await;
}

/// Every response body type of the admin API, by its schema name.
const RESPONSE_SCHEMAS: &[&str] = &[
    "Error",
    "Health",
    "OpenApiDocument",
    "Deleted",
    "KeyCustody",
    "TenantKeys",
    "Backup",
    "ExportedKey",
    "Tenant",
    "TenantPage",
    "TenantLimits",
    "Policy",
    "UserPolicy",
    "AdminTokenCreated",
    "AdminToken",
    "AdminTokenList",
    "AdminPubkey",
    "AdminPubkeyList",
    "User",
    "UserPage",
    "BunkerUriCreated",
    "BunkerUri",
    "BunkerUriList",
    "Session",
    "SessionList",
    "AuditRecord",
    "AuditPage",
    "Approval",
    "ApprovalList",
];

/// Every request body type, by its schema name.
const REQUEST_SCHEMAS: &[&str] = &[
    "MasterKeyRotate",
    "TenantCreate",
    "TenantUpdate",
    "Policy",
    "PolicyOrNull",
    "AdminTokenCreate",
    "AdminPubkeyAdd",
    "UserCreate",
    "UserUpdate",
    "UserKeyExport",
    "BunkerUriCreate",
    "NostrconnectAccept",
    "ApprovalApprove",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_has_a_component_schema_for_every_body() {
    let server = TestServer::start().await;
    let anon = Admin::new(server.server.admin_addr, None);
    let (status, doc) = anon.call("GET", "/v1/openapi.json", None).await;
    assert_eq!(status, 200, "{doc}");
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    for name in RESPONSE_SCHEMAS.iter().chain(REQUEST_SCHEMAS) {
        let schema = schemas
            .get(*name)
            .unwrap_or_else(|| panic!("no component schema {name}"));
        assert!(schema.is_object(), "{name}: {schema}");
    }
    // Each operation's bodies name one of them, and every name it uses is one of them.
    let mut used = std::collections::BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let request = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
            let responses = op["responses"].as_object().unwrap().values();
            let refs = responses
                .map(|r| &r["content"]["application/json"]["schema"]["$ref"])
                .chain([request]);
            for r in refs.filter_map(Value::as_str) {
                let name = r.strip_prefix("#/components/schemas/").unwrap();
                assert!(schemas.contains_key(name), "dangling {r}");
                used.insert(name.to_owned());
            }
        }
    }
    for name in &used {
        assert!(
            RESPONSE_SCHEMAS.contains(&name.as_str()) || REQUEST_SCHEMAS.contains(&name.as_str()),
            "{name} is a body schema missing from this test's lists"
        );
    }
    // Pages are `{"items": [<item>], "next_cursor": string|null}` with their item by reference.
    for (page, item) in [
        ("TenantPage", "Tenant"),
        ("AdminTokenList", "AdminToken"),
        ("AdminPubkeyList", "AdminPubkey"),
        ("UserPage", "User"),
        ("BunkerUriList", "BunkerUri"),
        ("SessionList", "Session"),
        ("AuditPage", "AuditRecord"),
    ] {
        let props = &schemas[page]["properties"];
        assert_eq!(
            props["items"]["items"]["$ref"],
            format!("#/components/schemas/{item}"),
            "{page}"
        );
        assert_eq!(props["next_cursor"]["nullable"], true, "{page}");
    }
    server.server.stop().await;
}
