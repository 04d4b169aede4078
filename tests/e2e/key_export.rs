//! NIP-49 key export against the real server: off for a new tenant (403 `key_export_disabled`),
//! turned on by the operator only (a tenant admin's `key_export` change is 403 `forbidden`), then
//! a tenant admin exports a user's key and rust-nostr's NIP-49 (the independent oracle) and
//! nostr-tools' `nip49.decrypt` (as a client opens it) open it with the caller's password into the
//! user's own key. Costs below LOG_N
//! 16 or above the server's cap, short passwords, another tenant's user are refused; each export
//! leaves an audit record naming the user and the cost, and no answer or record holds the password.

use crate::admin_import::new_tenant;
use crate::support::admin::Admin;
use crate::support::{create_user, TestServer};
use nostr::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr::{FromBech32, Keys};
use serde_json::{json, Value};

const PASSWORD: &str = "a leaving person's own passphrase";

fn export_path(tenant: &str, user: &str) -> String {
    format!("/v1/tenants/{tenant}/users/{user}/export")
}

#[track_caller]
fn refused(result: &(u16, Value), status: u16, code: &str) {
    assert_eq!(result.0, status, "{result:?}");
    assert_eq!(result.1["error"]["code"], code, "{result:?}");
    assert!(!result.1.to_string().contains(PASSWORD), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_allows_export_and_the_key_opens_in_rust_nostr_and_nostr_tools() {
    let server = TestServer::start().await;
    let operator = server.admin();
    let tenant = new_tenant(&operator).await;
    let other = new_tenant(&operator).await;
    let token = operator
        .post_ok(&format!("/v1/tenants/{tenant}/admin-tokens"), json!({}))
        .await;
    let tenant_admin = Admin::new(
        server.server.admin_addr,
        Some(token["token"].as_str().unwrap()),
    );
    let keys = Keys::generate();
    let user = create_user(
        &tenant_admin,
        &tenant,
        json!({"secret_key": keys.secret_key().to_secret_hex()}),
    )
    .await;
    let stranger = create_user(&operator, &other, json!({})).await;
    let body = json!({"password": PASSWORD}).to_string();
    let path = export_path(&tenant, &user.id);

    // Off for a new tenant, for the operator as for the tenant's admin.
    let shown = operator.get_ok(&format!("/v1/tenants/{tenant}")).await;
    assert_eq!(shown["key_export"], false, "{shown}");
    for caller in [&operator, &tenant_admin] {
        refused(
            &caller.call("POST", &path, Some(&body)).await,
            403,
            "key_export_disabled",
        );
    }
    // Only the operator turns it on.
    let allow = json!({"key_export": true}).to_string();
    let tenant_path = format!("/v1/tenants/{tenant}");
    refused(
        &tenant_admin.call("PATCH", &tenant_path, Some(&allow)).await,
        403,
        "forbidden",
    );
    let updated = operator
        .patch_ok(&tenant_path, json!({"key_export": true}))
        .await;
    assert_eq!(updated["key_export"], true, "{updated}");

    // Refusals before any scrypt work.
    for (bad, code) in [
        (
            json!({"password": PASSWORD, "log_n": 15}),
            "log_n_out_of_range",
        ),
        (
            json!({"password": PASSWORD, "log_n": 19}),
            "log_n_out_of_range",
        ),
        (json!({"password": "short"}), "invalid_input"),
    ] {
        let result = tenant_admin
            .call("POST", &path, Some(&bad.to_string()))
            .await;
        refused(&result, 400, code);
    }
    // Another tenant's user is not found through this tenant, nor reachable with its admin token.
    refused(
        &tenant_admin
            .call("POST", &export_path(&tenant, &stranger.id), Some(&body))
            .await,
        404,
        "user_not_found",
    );
    refused(
        &tenant_admin
            .call("POST", &export_path(&other, &stranger.id), Some(&body))
            .await,
        404,
        "tenant_not_found",
    );

    // The export, opened by rust-nostr with the password: the user's own key.
    let exported = tenant_admin
        .post_ok(&path, json!({"password": PASSWORD}))
        .await;
    assert_eq!(exported["log_n"], 16, "{exported}");
    assert_eq!(exported["user_pubkey"], keys.public_key().to_hex());
    let ncryptsec = exported["ncryptsec"].as_str().unwrap();
    assert_eq!(ncryptsec.len(), 162);
    let encrypted = EncryptedSecretKey::from_bech32(ncryptsec).unwrap();
    assert_eq!(encrypted.log_n(), 16);
    assert_eq!(encrypted.key_security(), KeySecurity::Medium);
    let opened = encrypted.decrypt(PASSWORD).unwrap();
    assert_eq!(opened.to_secret_hex(), keys.secret_key().to_secret_hex());
    assert!(encrypted.decrypt("not the passphrase").is_err());
    // And nostr-tools opens it as a client does (`nip49.decrypt`).
    let (opened, code) = crate::support::node::run(
        vec!["nip49_decrypt.mjs".into()],
        vec![
            ("NCRYPTSEC", ncryptsec.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
        ],
        std::time::Duration::from_secs(60),
    )
    .await;
    assert_eq!(code, 0, "{opened}");
    assert_eq!(opened["pubkey"], keys.public_key().to_hex(), "{opened}");
    // At the server's cap (18 by default) too, and a second export is another string.
    let costly = operator
        .post_ok(&path, json!({"password": PASSWORD, "log_n": 18}))
        .await;
    let costly = EncryptedSecretKey::from_bech32(costly["ncryptsec"].as_str().unwrap()).unwrap();
    assert_eq!(costly.log_n(), 18);
    assert_eq!(
        costly.decrypt(PASSWORD).unwrap().to_secret_hex(),
        keys.secret_key().to_secret_hex()
    );

    // Each export is audited with its caller, user and cost; refusals exported nothing.
    let audit = operator
        .get_ok(&format!("/v1/tenants/{tenant}/audit?limit=1000"))
        .await;
    assert!(!audit.to_string().contains(PASSWORD));
    let exports: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "user.key_export")
        .collect();
    assert_eq!(exports.len(), 2, "{audit}");
    let mut costs: Vec<&str> = exports
        .iter()
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    costs.sort_unstable();
    assert_eq!(
        costs,
        ["NIP-49 ncryptsec, log_n 16", "NIP-49 ncryptsec, log_n 18"]
    );
    for record in &exports {
        assert_eq!(record["user"], user.id.as_str(), "{record}");
    }
    let mut actors: Vec<&str> = exports
        .iter()
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    actors.sort_unstable();
    assert!(actors.contains(&"operator"), "{actors:?}");
    assert!(actors.iter().any(|a| a.starts_with("token:")), "{actors:?}");

    // Turned off again, export stops.
    operator
        .patch_ok(&tenant_path, json!({"key_export": false}))
        .await;
    refused(
        &tenant_admin.call("POST", &path, Some(&body)).await,
        403,
        "key_export_disabled",
    );
    server.server.stop().await;
}
