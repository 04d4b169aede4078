//! The admin API fuzzed against its own OpenAPI document by schemathesis (PyPI; `.ci/run` installs
//! a pinned version into `$HOME/.cache/bunkerd-venv`), with every check it has (`-c all`), twice:
//! with the operator token, and as a tenant admin. Any failure fails the test: a 5xx, a status or
//! body the document does not declare, a request the document calls valid that is refused (or an
//! invalid one that is accepted), a 405 without `Allow`, credentials that are not enforced, or a
//! tenant admin reading another tenant's objects.
//!
//! What the run is given, and why:
//! - Dictionaries of real keys: a 64-hex public or secret key, an `npub`/`nsec` or an
//!   `ncryptsec` that fits the document's pattern is still refused when it is not a point on the
//!   curve, fails its checksum or does not decrypt, which no JSON Schema can say. The fuzzer draws
//!   those fields from keys made here (`ncryptsec`s at LOG_N 1 to 4, all under one password),
//!   and still sends the pattern-breaking ones of its own in its negative cases. `nostrconnect://`
//!   URIs likewise come from a dictionary of valid ones.
//! - The tenant run pins `{tenant}` to tenant A and names two identities, A's and B's admin
//!   tokens, as peers: schemathesis' object-level authorization check replays A's successful reads
//!   as B and fails when B gets A's objects. Each run has its own server, so the operator run's
//!   deletions cannot take the tenant run's tenant away.
//! - The failed-authentication throttle is off: the fuzzer sends hundreds of refused credentials
//!   from one address on purpose (`admin_api` tests the throttle).
//!
//! The example count is bounded ([`MAX_EXAMPLES`]) so the test takes a couple of minutes.

use crate::support::TestServer;
use nostr::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr::{Keys, ToBech32};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Test cases per operation and phase.
const MAX_EXAMPLES: &str = "12";

/// The fuzzer's seed: a run is repeatable against the same server state.
const SEED: &str = "20261204";

/// The password of every `ncryptsec` in the dictionary.
const PASSWORD: &str = "fuzz password";

/// The `st` executable: `$BUNKERD_SCHEMATHESIS` if set, else where `.ci/run` installs it, else
/// `st` on the `PATH`.
fn st_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("BUNKERD_SCHEMATHESIS") {
        return path.into();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let installed = home.join(".cache/bunkerd-venv/bin/st");
    if installed.exists() {
        return installed;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("st"))
        .find(|p| p.exists());
    on_path.unwrap_or_else(|| {
        panic!(
            "schemathesis (`st`) not found: install it as .ci/run does \
             (python3 -m venv $HOME/.cache/bunkerd-venv && \
             $HOME/.cache/bunkerd-venv/bin/pip install schemathesis==<the version .ci/run pins>), \
             or set BUNKERD_SCHEMATHESIS to an st executable"
        )
    })
}

/// Keys the fuzzer may draw from, by dictionary name: public keys (hex and npub), secret keys
/// (hex and nsec), ncryptsecs (of those secret keys, under [`PASSWORD`]) and the password.
fn dictionaries() -> Value {
    let (mut pubkeys, mut secrets, mut encrypted) = (vec![], vec![], vec![]);
    for i in 0..8u8 {
        let keys = Keys::generate();
        pubkeys.push(keys.public_key().to_hex());
        pubkeys.push(keys.public_key().to_bech32().unwrap());
        secrets.push(keys.secret_key().to_secret_hex());
        secrets.push(keys.secret_key().to_bech32().unwrap());
        let ncryptsec =
            EncryptedSecretKey::new(keys.secret_key(), PASSWORD, 1 + i % 4, KeySecurity::Unknown)
                .unwrap();
        encrypted.push(ncryptsec.to_bech32().unwrap());
    }
    // nostrconnect:// URIs of fresh clients: the pattern allows URIs no parser accepts. Their relay
    // refuses connections, so the links bunkerd opens for them only back off.
    let uris: Vec<String> = (0..8)
        .map(|i| {
            let client = Keys::generate().public_key().to_hex();
            format!(
                "nostrconnect://{client}?relay=ws%3A%2F%2F127.0.0.1%3A9&secret=fuzz{i}&name=fuzz"
            )
        })
        .collect();
    json!({"pubkey": pubkeys, "secret_key": secrets, "ncryptsec": encrypted, "password": [PASSWORD],
           "nostrconnect_uri": uris})
}

/// `schemathesis.toml` text: the dictionaries, the fields that draw from them, `extra` lines.
fn config(dictionaries: &Value, extra: &str) -> String {
    let mut text = String::new();
    for (name, values) in dictionaries.as_object().unwrap() {
        // JSON strings of ASCII text are TOML basic strings.
        text.push_str(&format!("[dictionaries.{name}]\nvalues = {values}\n"));
    }
    text.push_str("[parameters]\n");
    for (field, dictionary) in [
        ("body.pubkey", "pubkey"),
        ("path.pubkey", "pubkey"),
        ("path.client", "pubkey"),
        ("body.secret_key", "secret_key"),
        ("body.ncryptsec", "ncryptsec"),
        ("body.password", "password"),
        ("body.uri", "nostrconnect_uri"),
    ] {
        text.push_str(&format!(
            "\"{field}\" = {{ dictionary = \"{dictionary}\" }}\n"
        ));
    }
    text.push_str(extra);
    text
}

/// Runs `st run` against `server`'s document with `config` (and `args`) in `dir`; panics with its
/// output unless every check passed on every operation of the document.
async fn fuzz(server: &TestServer, dir: &Path, who: &str, config: &str, args: &[&str]) {
    let config_file = dir.join(format!("{who}.toml"));
    std::fs::write(&config_file, config).unwrap();
    let admin = crate::support::admin::Admin::new(server.server.admin_addr, None);
    let (_, doc) = admin.call("GET", "/v1/openapi.json", None).await;
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    let url = format!("http://{}/v1/openapi.json", server.server.admin_addr);
    let started = std::time::Instant::now();
    let mut command = Command::new(st_binary());
    command
        .current_dir(dir)
        .arg("--config-file")
        .arg(&config_file)
        .args([
            "run",
            &url,
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
        ])
        .args([
            "--seed",
            SEED,
            "--generation-database",
            "none",
            "--no-color",
        ])
        .args(args);
    // The server runs on this test's runtime: wait for `st` off its threads.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("st runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("schemathesis as {who}: {:.0?}", started.elapsed());
    assert!(
        output.status.success(),
        "schemathesis as {who} failed:\n{text}"
    );
    // Every operation was selected and tested; schemathesis may leave out the one that serves the
    // document it was loaded from (`GET /v1/openapi.json`).
    let number = |label: &str| {
        let rest = &text[text
            .find(label)
            .unwrap_or_else(|| panic!("no {label}:\n{text}"))..];
        let digits = |s: &str| {
            s.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        };
        let first = digits(&rest[label.len()..]);
        let after = &rest[label.len() + first.len()..];
        let second = after.strip_prefix('/').map(digits);
        (
            first.parse::<usize>().unwrap(),
            second.map(|s| s.parse::<usize>().unwrap()),
        )
    };
    let (selected, total) = number("Selected: ");
    let (tested, _) = number("Tested: ");
    assert!(
        Some(selected) == total && tested == selected && tested + 1 >= operations,
        "{tested} of the document's {operations} operations tested as {who}:\n{text}"
    );
}

/// A server for one run: the throttle off (see the module doc).
async fn server() -> TestServer {
    TestServer::start_with(|c| c.admin_auth_failures_per_min = 0).await
}

/// A tenant and an admin token of it: (id, token).
async fn tenant_with_token(server: &TestServer, name: &str) -> (String, String) {
    let admin = server.admin();
    let tenant = admin.post_ok("/v1/tenants", json!({ "name": name })).await;
    let id = tenant["id"].as_str().unwrap().to_owned();
    let token = admin
        .post_ok(&format!("/v1/tenants/{id}/admin-tokens"), json!({}))
        .await;
    (id, token["token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_passes_schemathesis_as_operator_and_as_tenant_admin() {
    let dir = tempfile::tempdir().unwrap();
    let dictionaries = dictionaries();

    // As tenant A's admin, with tenant B's admin as the peer that must not see A's objects.
    let server_a = server().await;
    let (a, a_token) = tenant_with_token(&server_a, "tenant-a").await;
    let (_, b_token) = tenant_with_token(&server_a, "tenant-b").await;
    let identities = json!({"schemaVersion": "0.1.0", "auth": [
        {"name": "tenant-a", "fixedHeaders": [{"name": "Authorization", "value": format!("Bearer {a_token}")}]},
        {"name": "tenant-b", "fixedHeaders": [{"name": "Authorization", "value": format!("Bearer {b_token}")}]},
    ]});
    let identities_file = dir.path().join("identities.json");
    std::fs::write(&identities_file, identities.to_string()).unwrap();
    let tenant = format!(
        "\"path.tenant\" = \"{a}\"\n[auth.wfc]\npath = {}\nuser = \"tenant-a\"\n\
         peers = [\"tenant-a\", \"tenant-b\"]\n",
        json!(identities_file.display().to_string())
    );
    fuzz(
        &server_a,
        dir.path(),
        "tenant-admin",
        &config(&dictionaries, &tenant),
        &[],
    )
    .await;
    server_a.server.stop().await;

    // As the operator, on a server of its own.
    let server_o = server().await;
    let bearer = format!("Authorization: Bearer {}", crate::support::OPERATOR_TOKEN);
    fuzz(
        &server_o,
        dir.path(),
        "operator",
        &config(&dictionaries, ""),
        &["--header", &bearer],
    )
    .await;
    server_o.server.stop().await;
}
