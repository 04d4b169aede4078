//! Key import and tenant isolation of keys, against the real
//! server. Import: `secret_key` as 64 hex and as `nsec1…`, and `ncryptsec` + `password` (built with
//! rust-nostr's NIP-49, the independent oracle, at LOG_N 8; plus the official NIP-49 vector) each
//! give a user whose `user_pubkey` is the source key's and whose sessions sign with it; a bad key is
//! 400 `invalid_secret_key`, a wrong password 400 `wrong_password`, an ncryptsec without password
//! 400 `invalid_input`, an ncryptsec above the configured LOG_N cap 400 `log_n_too_high`, and no
//! error body echoes the key, the ncryptsec or the password.
//! Isolation: with two tenants and users in each, every session signs with its own user's key and
//! never another's, also after users are deleted and recreated.

use crate::admin_policy::{now, signed_event};
use crate::support::admin::Admin;
use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::{create_user, TestServer, User};
use nostr::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr::{Keys, SecretKey, ToBech32};
use serde_json::{json, Value};

/// The official NIP-49 decryption vector (LOG_N 16, key security 0x00), from
/// <https://github.com/nostr-protocol/nips/blob/dda1b244e5e7829c8251bf6a1095503379fd809e/49.md>
/// §"Test Data" / "Decryption".
const NIP49_NCRYPTSEC: &str = "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p";
const NIP49_PASSWORD: &str = "nostr";
const NIP49_SECRET_HEX: &str = "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683";

/// The password NIP-49 §"Password Unicode Normalization" uses (U+212B U+2126 U+1E9B U+0323), and
/// its NFKC form (U+00C5 U+03A9 U+1E69), which must open the same ncryptsec.
const UNNORMALIZED_PASSWORD: &str = "\u{212B}\u{2126}\u{1E9B}\u{0323}";
const NORMALIZED_PASSWORD: &str = "\u{00C5}\u{03A9}\u{1E69}";

/// A cheap scrypt cost for ncryptsec strings built here (256 KiB, milliseconds).
const TEST_LOG_N: u8 = 8;

fn ncryptsec(keys: &Keys, password: &str) -> String {
    EncryptedSecretKey::new(
        keys.secret_key(),
        password,
        TEST_LOG_N,
        KeySecurity::Unknown,
    )
    .unwrap()
    .to_bech32()
    .unwrap()
}

#[track_caller]
fn assert_error(result: &(u16, Value), status: u16, code: &str, secrets: &[&str]) {
    assert_eq!(result.0, status, "{result:?}");
    assert_eq!(result.1["error"]["code"], code, "{result:?}");
    let text = result.1.to_string();
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "error body echoes {secret:?}: {text}"
        );
    }
}

/// Connects a fresh client to `user` with a fresh bunker URI and signs a kind-1 note; checks it is
/// signed by `user`'s key and returns that pubkey (hex).
async fn sign_with(server: &TestServer, user: &User) -> String {
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let remote = pk(&user.remote_signer_pubkey);
    let uri = server.bunker_uri(user).await;
    let params = vec![user.remote_signer_pubkey.clone(), secret_of(&uri)];
    let ack = client
        .request(&remote, "connect", params, Transport::Nip44)
        .await;
    assert_eq!(ack["result"], "ack", "{ack}");
    let note = json!({"kind": 1, "content": "import", "tags": [], "created_at": now()});
    let reply = client
        .request(
            &remote,
            "sign_event",
            vec![note.to_string()],
            Transport::Nip44,
        )
        .await;
    signed_event(&reply, user).pubkey.to_hex()
}

pub(crate) async fn new_tenant(admin: &Admin) -> String {
    let t = admin
        .post_ok("/v1/tenants", json!({"name": "import"}))
        .await;
    t["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hex_nsec_and_ncryptsec_imports_keep_the_source_key() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let tenant = new_tenant(&admin).await;

    let from_hex = Keys::generate();
    let from_nsec = Keys::generate();
    let from_ncryptsec = Keys::generate();
    let from_unicode = Keys::generate();
    let official = Keys::new(SecretKey::from_hex(NIP49_SECRET_HEX).unwrap());
    let cases = [
        (
            &from_hex,
            json!({"secret_key": from_hex.secret_key().to_secret_hex()}),
        ),
        (
            &from_nsec,
            json!({"secret_key": from_nsec.secret_key().to_bech32().unwrap()}),
        ),
        (
            &from_ncryptsec,
            json!({"ncryptsec": ncryptsec(&from_ncryptsec, "correct horse"), "password": "correct horse"}),
        ),
        (
            &from_unicode,
            json!({"ncryptsec": ncryptsec(&from_unicode, UNNORMALIZED_PASSWORD),
                   "password": NORMALIZED_PASSWORD}),
        ),
        (
            &official,
            json!({"ncryptsec": NIP49_NCRYPTSEC, "password": NIP49_PASSWORD}),
        ),
    ];
    for (keys, body) in cases {
        let user = create_user(&admin, &tenant, body.clone()).await;
        let expected = keys.public_key().to_hex();
        assert_eq!(user.user_pubkey, expected, "{body}");
        assert_ne!(
            user.remote_signer_pubkey, expected,
            "a separate remote-signer key"
        );
        assert_eq!(sign_with(&server, &user).await, expected, "{body}");
        // The stored user shows the pubkey, never the secret.
        let shown = admin
            .get_ok(&format!("/v1/tenants/{tenant}/users/{}", user.id))
            .await
            .to_string();
        assert!(shown.contains(&expected));
        assert!(!shown.contains(&keys.secret_key().to_secret_hex()));
    }
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_passwords_are_refused_without_echo() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let tenant = new_tenant(&admin).await;
    let users = format!("/v1/tenants/{tenant}/users");
    let keys = Keys::generate();
    let hex = keys.secret_key().to_secret_hex();
    let nsec = keys.secret_key().to_bech32().unwrap();
    let npub = keys.public_key().to_bech32().unwrap();
    // The secp256k1 group order n: the first value that is not a secret key.
    let order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    let mut bad_nsec = nsec.clone();
    let last = bad_nsec.pop().unwrap();
    bad_nsec.push(if last == 'q' { 'p' } else { 'q' });

    for bad in [
        "zz".to_owned(),
        hex[..63].to_owned(),
        format!("{hex}00"),
        "0".repeat(64),
        order.to_owned(),
        bad_nsec.clone(),
        npub.clone(),
        format!("nsec1{}", &hex[..40]),
    ] {
        let body = json!({"secret_key": bad}).to_string();
        let result = admin.call("POST", &users, Some(&body)).await;
        // A two-letter input could occur in any text by chance: look for it as a JSON string.
        let echoed = if bad.len() >= 8 {
            bad.clone()
        } else {
            format!("\"{bad}\"")
        };
        assert_error(&result, 400, "invalid_secret_key", &[&echoed, &hex]);
    }

    let password = "the right password";
    let wrong = "a wrong password";
    let encrypted = ncryptsec(&keys, password);
    let secrets = [
        encrypted.as_str(),
        password,
        wrong,
        hex.as_str(),
        nsec.as_str(),
    ];
    let result = admin
        .call(
            "POST",
            &users,
            Some(&json!({"ncryptsec": encrypted, "password": wrong}).to_string()),
        )
        .await;
    assert_error(&result, 400, "wrong_password", &secrets);
    let result = admin
        .call(
            "POST",
            &users,
            Some(&json!({"ncryptsec": encrypted}).to_string()),
        )
        .await;
    assert_error(&result, 400, "invalid_input", &secrets);
    let result = admin
        .call(
            "POST",
            &users,
            Some(&json!({"secret_key": hex, "password": password}).to_string()),
        )
        .await;
    assert_error(&result, 400, "invalid_input", &secrets);
    let result = admin
        .call(
            "POST",
            &users,
            Some(
                &json!({"secret_key": hex, "ncryptsec": encrypted, "password": password})
                    .to_string(),
            ),
        )
        .await;
    assert_error(&result, 400, "invalid_input", &secrets);
    // A malformed ncryptsec (one character changed: the bech32 checksum fails).
    let mut broken = encrypted.clone();
    let last = broken.pop().unwrap();
    broken.push(if last == 'q' { 'p' } else { 'q' });
    let result = admin
        .call(
            "POST",
            &users,
            Some(&json!({"ncryptsec": broken, "password": password}).to_string()),
        )
        .await;
    assert_error(&result, 400, "invalid_ncryptsec", &[&broken, password]);
    // A body that is not JSON of the right shape: the parser's message does not quote the value.
    let result = admin
        .call(
            "POST",
            &users,
            Some(&format!(r#"{{"secret_key": ["{hex}"]}}"#)),
        )
        .await;
    assert_error(&result, 400, "invalid_json", &[&hex]);

    let list = admin.get_ok(&users).await;
    assert_eq!(list["items"], json!([]), "no failed import created a user");
    // The right password still works afterwards.
    let user = create_user(
        &admin,
        &tenant,
        json!({"ncryptsec": encrypted, "password": password}),
    )
    .await;
    assert_eq!(user.user_pubkey, keys.public_key().to_hex());
    server.server.stop().await;
}

/// The NIP-49 cost cap is a setting (`nip49_max_log_n`): an ncryptsec at the cap imports, one above
/// it is refused 400 `log_n_too_high` (before any scrypt memory) with a message naming the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nip49_cost_cap_is_the_configured_one() {
    let server = TestServer::start_with(|c| c.nip49_max_log_n = TEST_LOG_N).await;
    let admin = server.admin();
    let tenant = new_tenant(&admin).await;
    let users = format!("/v1/tenants/{tenant}/users");
    let password = "capped";
    let at = |keys: &Keys, log_n: u8| {
        EncryptedSecretKey::new(keys.secret_key(), password, log_n, KeySecurity::Unknown)
            .unwrap()
            .to_bech32()
            .unwrap()
    };
    let above = Keys::generate();
    let encrypted = at(&above, TEST_LOG_N + 1);
    let result = admin
        .call(
            "POST",
            &users,
            Some(&json!({"ncryptsec": encrypted, "password": password}).to_string()),
        )
        .await;
    assert_error(&result, 400, "log_n_too_high", &[&encrypted, password]);
    let message = result.1["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("nip49_max_log_n") && message.contains(&TEST_LOG_N.to_string()),
        "{message}"
    );
    let at_cap = Keys::generate();
    let user = create_user(
        &admin,
        &tenant,
        json!({"ncryptsec": at(&at_cap, TEST_LOG_N), "password": password}),
    )
    .await;
    assert_eq!(user.user_pubkey, at_cap.public_key().to_hex());
    server.server.stop().await;
}

/// Signs once with every user's session and checks each event is signed by that user's key, and
/// by no other user's.
async fn check_every_session_signs_with_its_own_key(server: &TestServer, users: &[User]) {
    for user in users {
        let signer = sign_with(server, user).await;
        for other in users.iter().filter(|o| o.id != user.id) {
            assert_ne!(
                signer, other.user_pubkey,
                "a session of user {} in tenant {} signed with the key of user {} in tenant {}",
                user.id, user.tenant, other.id, other.tenant
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_requests_of_tenant_b_never_use_a_key_of_tenant_a() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let a = new_tenant(&admin).await;
    let b = new_tenant(&admin).await;
    let mut users = Vec::new();
    for tenant in [&a, &b, &a, &b] {
        users.push(create_user(&admin, tenant, json!({"name": "user"})).await);
    }
    check_every_session_signs_with_its_own_key(&server, &users).await;

    // Delete one user of each tenant, then create new users under the same names in both tenants
    // and one more in B with an imported key.
    let (a0, b0) = (users.remove(0), users.remove(0));
    for gone in [&a0, &b0] {
        admin
            .delete_ok(&format!("/v1/tenants/{}/users/{}", gone.tenant, gone.id))
            .await;
    }
    let imported = Keys::generate();
    users.push(create_user(&admin, &a, json!({"name": "user"})).await);
    users.push(create_user(&admin, &b, json!({"name": "user"})).await);
    users.push(
        create_user(
            &admin,
            &b,
            json!({"secret_key": imported.secret_key().to_secret_hex()}),
        )
        .await,
    );
    for user in &users {
        assert_ne!(user.user_pubkey, a0.user_pubkey);
        assert_ne!(user.user_pubkey, b0.user_pubkey);
    }
    check_every_session_signs_with_its_own_key(&server, &users).await;
    assert_eq!(
        users.last().unwrap().user_pubkey,
        imported.public_key().to_hex()
    );

    // The deleted users' remote signers are no longer served at all.
    let mut client = RawClient::connect(server.server.relay_addr).await;
    for gone in [&a0, &b0] {
        let event = client.request_event(
            &pk(&gone.remote_signer_pubkey),
            r#"{"id":"x","method":"sign_event","params":[]}"#,
            Transport::Nip44,
        );
        let (accepted, message) = client.publish(&event).await;
        assert!(!accepted && message.starts_with("blocked:"), "{message}");
    }
    server.server.stop().await;
}
