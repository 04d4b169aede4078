//! Unit tests of NIP-46 parsing and the sans-IO handler: every method, every refusal, no I/O.

use super::*;

use crate::nostr::{Crypto, Event, Keypair, PublicKey};
use crate::policy::{Grant, Perms, Policy};
use sha2::{Digest, Sha256};

const NOW: u64 = 1_750_000_000;

fn keys() -> UserKeys {
    UserKeys {
        tenant: "t1".into(),
        user_id: "u1".into(),
        user: Keypair::generate(&mut Crypto::from_os_rng()),
        remote_signer: Keypair::generate(&mut Crypto::from_os_rng()),
        disabled: false,
        policy: std::sync::Arc::new(Policy::default()),
    }
}

/// The grant of a session that asked for nothing in particular: everything the policy allows.
fn full_grant() -> &'static Grant {
    static GRANT: std::sync::OnceLock<Grant> = std::sync::OnceLock::new();
    GRANT.get_or_init(|| Grant::new(Perms::none(), None))
}

fn client() -> PublicKey {
    Keypair::generate(&mut Crypto::from_os_rng()).public_key()
}

fn ctx<'a>(
    keys: &'a UserKeys,
    client: PublicKey,
    has_session: bool,
    token: Option<&'a BunkerSecretView>,
) -> Context<'a> {
    static RELAYS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    Context {
        keys,
        client,
        has_session,
        grant: has_session.then(full_grant),
        session_expires_at: None,
        bunker_secret: token,
        relays: RELAYS.get_or_init(|| vec!["wss://bunker.example".to_owned()]),
        approval: Approval::Granted,
    }
}

fn token(secret: &str, consumed_by: Option<PublicKey>) -> BunkerSecretView {
    BunkerSecretView {
        secret_hash: Sha256::digest(secret.as_bytes()).into(),
        tenant: "t1".into(),
        user: "u1".into(),
        expires_at: NOW + 60,
        consumed_by,
        perms: None,
    }
}

/// Runs one request JSON through parse + handle.
#[track_caller]
fn run(ctx: &Context<'_>, json: &str) -> Outcome {
    handle(
        ctx,
        Request::parse(json).expect("has an id"),
        NOW,
        &mut Crypto::from_os_rng(),
    )
}

#[track_caller]
fn check_err(outcome: &Outcome, expected: RpcError) {
    assert_eq!(outcome.reply.body, Err(expected));
    assert_eq!(outcome.effect, Effect::None);
}

#[test]
fn parse_recovers_the_id_of_anything_answerable() {
    let env = Request::parse(r#"{"id":"abc","method":"frobnicate"}"#).unwrap();
    assert_eq!(env.id, "abc");
    assert_eq!(
        env.request.unwrap_err(),
        RpcError::UnknownMethod("frobnicate".into())
    );
    let env = Request::parse(r#"{"id":42,"method":"ping","params":[]}"#).unwrap();
    assert_eq!(env.id, "42");
    assert!(matches!(env.request, Ok(Request::Ping)));
    for removed in ["create_account", "nip44_get_key"] {
        let env =
            Request::parse(&format!(r#"{{"id":"1","method":"{removed}","params":[]}}"#)).unwrap();
        assert!(matches!(env.request, Err(RpcError::RemovedMethod(_))));
    }
    assert!(
        Request::parse(r#"{"method":"ping"}"#).is_err(),
        "no id, nothing to reply to"
    );
    assert!(Request::parse("not json").is_err());
    let long_id = "x".repeat(MAX_ID_LEN + 1);
    let refused = Request::parse(&format!(r#"{{"id":"{long_id}","method":"ping"}}"#));
    assert!(refused.is_err(), "an id we cannot echo is refused, not cut");
    // `params` that is not an array still gets an answer carrying the id.
    for params in ["null", "{}", "\"x\""] {
        let env = Request::parse(&format!(
            r#"{{"id":"p","method":"ping","params":{params}}}"#
        ))
        .unwrap();
        assert_eq!(env.id, "p");
        if params != "null" {
            assert_eq!(
                env.request.unwrap_err(),
                RpcError::InvalidParams("params must be an array")
            );
        }
    }
}

#[test]
fn method_labels_are_bounded() {
    assert_eq!(method_label("sign_event"), "sign_event");
    assert_eq!(method_label("anything else"), "unknown");
}

#[test]
fn reply_json_has_result_or_error_never_both() {
    let ok = Reply {
        id: "1".into(),
        body: Ok("pong".into()),
    };
    assert_eq!(ok.to_json(), r#"{"id":"1","result":"pong"}"#);
    let err = Reply {
        id: "2".into(),
        body: Err(RpcError::NotConnected),
    };
    let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
    assert!(v.get("result").is_none());
    assert!(v["error"].as_str().unwrap().starts_with("unauthorized"));
}

#[test]
fn without_a_session_only_connect_and_ping_run() {
    let keys = keys();
    let ctx = ctx(&keys, client(), false, None);
    assert_eq!(
        run(&ctx, r#"{"id":"1","method":"ping","params":[]}"#)
            .reply
            .body,
        Ok("pong".into())
    );
    for method in [
        "get_public_key",
        "sign_event",
        "switch_relays",
        "logout",
        "nip44_encrypt",
    ] {
        let out = run(
            &ctx,
            &format!(r#"{{"id":"1","method":"{method}","params":[]}}"#),
        );
        check_err(&out, RpcError::NotConnected);
    }
}

#[test]
fn connect_consumes_a_valid_secret_once() {
    let keys = keys();
    let me = client();
    let json =
        r#"{"id":"c","method":"connect","params":["","s3cret","sign_event:1",{"name":"App"}]}"#;
    let fresh = token("s3cret", None);
    let out = run(&ctx(&keys, me, false, Some(&fresh)), json);
    assert_eq!(
        out.reply.body,
        Ok("ack".into()),
        "flow A answers ack, not the secret"
    );
    let Effect::Connect {
        secret_hash,
        perms,
        approved,
        metadata,
    } = out.effect
    else {
        panic!("binds")
    };
    assert_eq!(secret_hash, fresh.secret_hash);
    assert_eq!(perms, "sign_event:1");
    assert_eq!(approved, None, "the URI carried no perms");
    assert_eq!(metadata.unwrap().name.as_deref(), Some("App"));

    // With its session, the client is answered without looking at the secret.
    assert_eq!(
        run(&ctx(&keys, me, true, None), json).reply.body,
        Ok("ack".into())
    );
    // Without it (logged out, revoked, expired), its own consumed secret no longer connects.
    let mine = token("s3cret", Some(me));
    check_err(
        &run(&ctx(&keys, me, false, Some(&mine)), json),
        RpcError::SecretUsed,
    );
    let theirs = token("s3cret", Some(client()));
    check_err(
        &run(&ctx(&keys, me, false, Some(&theirs)), json),
        RpcError::SecretUsed,
    );
}

#[test]
fn connect_refusals() {
    let keys = keys();
    let me = client();
    let with =
        |secret: &str| format!(r#"{{"id":"c","method":"connect","params":["","{secret}"]}}"#);
    check_err(
        &run(&ctx(&keys, me, false, None), &with("")),
        RpcError::SecretRequired,
    );
    check_err(
        &run(&ctx(&keys, me, false, None), &with("nope")),
        RpcError::SecretInvalid,
    );
    let other_secret = token("other", None);
    check_err(
        &run(&ctx(&keys, me, false, Some(&other_secret)), &with("nope")),
        RpcError::SecretInvalid,
    );
    let mut expired = token("s", None);
    expired.expires_at = NOW;
    check_err(
        &run(&ctx(&keys, me, false, Some(&expired)), &with("s")),
        RpcError::SecretExpired,
    );
    let mut other_user = token("s", None);
    other_user.user = "u2".into();
    check_err(
        &run(&ctx(&keys, me, false, Some(&other_user)), &with("s")),
        RpcError::SecretInvalid,
    );
    // With a session, connect is an idempotent ack and changes nothing.
    let out = run(&ctx(&keys, me, true, None), &with(""));
    assert_eq!(
        (out.reply.body, out.effect),
        (Ok("ack".into()), Effect::None)
    );
}

#[test]
fn sign_event_accepts_string_or_object_and_alters_nothing() {
    let keys = keys();
    let ctx = ctx(&keys, client(), true, None);
    let template = r#"{"kind":1,"content":"a \"q\" \\ é 🤙\nb","tags":[["t","x"],["e","",""]],"created_at":1749996400}"#;
    let as_string =
        serde_json::json!({"id":"s","method":"sign_event","params":[template]}).to_string();
    let as_object = format!(r#"{{"id":"s","method":"sign_event","params":[{template}]}}"#);
    for json in [as_string, as_object] {
        let result = run(&ctx, &json).reply.body.unwrap();
        let event = Event::from_json(&result).unwrap();
        event.verify().unwrap();
        assert_eq!(event.pubkey, keys.user.public_key());
        assert_eq!(event.content, "a \"q\" \\ é 🤙\nb");
        assert_eq!(
            event.tags,
            vec![
                vec!["t".to_owned(), "x".into()],
                vec!["e".into(), "".into(), "".into()]
            ]
        );
        assert_eq!((event.kind, event.created_at), (1, 1_749_996_400));
    }
    let missing_time =
        r#"{"id":"s","method":"sign_event","params":["{\"kind\":7,\"content\":\"+\"}"]}"#;
    let event = Event::from_json(&run(&ctx, missing_time).reply.body.unwrap()).unwrap();
    assert_eq!(event.created_at, NOW, "created_at filled only when missing");
}

#[test]
fn sign_event_refusals() {
    let keys = keys();
    let ctx = ctx(&keys, client(), true, None);
    let other = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    let foreign = format!(
        r#"{{"id":"s","method":"sign_event","params":[{{"kind":1,"content":"","pubkey":"{other}"}}]}}"#
    );
    check_err(&run(&ctx, &foreign), RpcError::PubkeyMismatch);
    let own = format!(
        r#"{{"id":"s","method":"sign_event","params":[{{"kind":1,"content":"","pubkey":"{}"}}]}}"#,
        keys.user.public_key()
    );
    assert!(
        run(&ctx, &own).reply.body.is_ok(),
        "the user's own pubkey is fine"
    );
    for bad in [
        r#"[]"#,
        r#"["{\"kind\":70000}"]"#,
        r#"["not json"]"#,
        r#"[{"kind":1,"tags":[[1]]}]"#,
    ] {
        let out = run(
            &ctx,
            &format!(r#"{{"id":"s","method":"sign_event","params":{bad}}}"#),
        );
        assert!(
            matches!(out.reply.body, Err(RpcError::InvalidParams(_))),
            "{bad}"
        );
    }
}

#[test]
fn cipher_methods_use_the_user_key() {
    let keys = keys();
    let ctx = ctx(&keys, client(), true, None);
    let third = Keypair::generate(&mut Crypto::from_os_rng());
    let call = |method: &str, text: &str| {
        let json = serde_json::json!({"id":"x","method":method,"params":[third.public_key().to_hex(), text]});
        run(&ctx, &json.to_string()).reply.body
    };
    for scheme in ["nip44", "nip04"] {
        let ciphertext = call(&format!("{scheme}_encrypt"), "hello ✓").unwrap();
        assert_eq!(
            call(&format!("{scheme}_decrypt"), &ciphertext).unwrap(),
            "hello ✓"
        );
        assert!(matches!(
            call(&format!("{scheme}_decrypt"), "garbage"),
            Err(RpcError::CryptoFailed(_))
        ));
    }
    // The third party can read what the user encrypted: the key pair is (user, third party).
    let ct = call("nip44_encrypt", "to third").unwrap();
    let ck =
        crate::nostr::nip44::ConversationKey::derive(&third.secret_key(), &keys.user.public_key())
            .unwrap();
    assert_eq!(crate::nostr::nip44::decrypt(&ck, &ct).unwrap(), "to third");
}

#[test]
fn get_public_key_switch_relays_and_logout() {
    let keys = keys();
    let ctx = ctx(&keys, client(), true, None);
    let pk = run(&ctx, r#"{"id":"1","method":"get_public_key","params":[]}"#)
        .reply
        .body
        .unwrap();
    assert_eq!(pk, keys.user.public_key().to_hex());
    assert_ne!(pk, keys.remote_signer.public_key().to_hex());
    let relays = run(&ctx, r#"{"id":"1","method":"switch_relays","params":[]}"#)
        .reply
        .body
        .unwrap();
    assert_eq!(relays, r#"["wss://bunker.example"]"#);
    let out = run(&ctx, r#"{"id":"1","method":"logout","params":[]}"#);
    assert_eq!(
        (out.reply.body, out.effect),
        (Ok("ack".into()), Effect::Logout)
    );
}

#[test]
fn debug_output_never_shows_secrets_or_payloads() {
    let json = r#"{"id":"d","method":"connect","params":["","the-bunker-secret","",""]}"#;
    let env = Request::parse(json).unwrap();
    assert!(!format!("{env:?}").contains("the-bunker-secret"));
    let Ok(Request::Connect(connect)) = env.request else {
        panic!("connect")
    };
    assert!(!format!("{connect:?}").contains("the-bunker-secret"));
    let third = Keypair::generate(&mut Crypto::from_os_rng())
        .public_key()
        .to_hex();
    let json =
        format!(r#"{{"id":"d","method":"nip44_encrypt","params":["{third}","private words"]}}"#);
    let env = Request::parse(&json).unwrap();
    assert!(!format!("{env:?} {:?}", env.request).contains("private words"));
    let template =
        r#"{"id":"d","method":"sign_event","params":[{"kind":1,"content":"draft words"}]}"#;
    let env = Request::parse(template).unwrap();
    assert!(!format!("{env:?} {:?}", env.request).contains("draft words"));
    let reply = Reply {
        id: "d".into(),
        body: Ok("decrypted words".into()),
    };
    assert!(!format!("{reply:?}").contains("decrypted words"));
}

fn sign_request(kind: u16) -> String {
    let template = format!(r#"{{"kind":{kind},"content":"x","tags":[],"created_at":{NOW}}}"#);
    serde_json::json!({"id": "s", "method": "sign_event", "params": [template]}).to_string()
}

#[test]
fn a_pre_approved_sign_event_1_signs_kind_1_and_is_refused_kind_7_naming_the_permission() {
    let keys = keys();
    let grant = Grant::new(Perms::none(), Some(Perms::parse("sign_event:1")));
    let mut ctx = ctx(&keys, client(), true, None);
    ctx.grant = Some(&grant);
    assert!(run(&ctx, &sign_request(1)).reply.body.is_ok());
    let refused = run(&ctx, &sign_request(7));
    let Err(RpcError::PermissionDenied(message)) = &refused.reply.body else {
        panic!("refused: {:?}", refused.reply.body)
    };
    assert!(message.contains("sign_event:7"), "{message}");
    assert_eq!(
        refused.reply.body.as_ref().unwrap_err().code(),
        "permission_denied"
    );
    let nip44 = r#"{"id":"n","method":"nip44_encrypt","params":["0000000000000000000000000000000000000000000000000000000000000001","x"]}"#;
    let Err(RpcError::PermissionDenied(message)) = run(&ctx, nip44).reply.body else {
        panic!("nip44_encrypt was not granted")
    };
    assert!(message.contains("nip44_encrypt"), "{message}");
}

#[test]
fn closed_kinds_are_refused_by_default_and_signed_once_an_admin_opens_them() {
    let mut keys = keys();
    let sign = |keys: &UserKeys, kind| run(&ctx(keys, client(), true, None), &sign_request(kind));
    for kind in [0, 3, 5, 10002, 22242, 27235, 24242] {
        assert!(
            sign(&keys, kind).reply.body.is_ok(),
            "kind {kind} by default"
        );
    }
    let Err(RpcError::PermissionDenied(message)) = sign(&keys, 23194).reply.body else {
        panic!("kind 23194 is closed by default")
    };
    assert_eq!(
        message,
        "permission denied: sign_event:23194 (kind closed by this user's policy)"
    );
    let open = Policy {
        deny_kinds: Default::default(),
        ..Policy::default()
    };
    keys.policy = std::sync::Arc::new(open);
    assert!(sign(&keys, 23194).reply.body.is_ok(), "once opened");
}

#[test]
fn an_expired_session_is_answered_session_expired_and_ended() {
    let keys = keys();
    let mut c = ctx(&keys, client(), true, None);
    c.session_expires_at = Some(NOW + 1);
    assert!(
        run(&c, &sign_request(1)).reply.body.is_ok(),
        "before expiry"
    );
    c.session_expires_at = Some(NOW);
    for json in [
        sign_request(1),
        r#"{"id":"g","method":"get_public_key"}"#.to_owned(),
        r#"{"id":"c","method":"connect","params":["","s"]}"#.to_owned(),
    ] {
        let out = run(&c, &json);
        assert_eq!(out.reply.body, Err(RpcError::SessionExpired), "{json}");
        assert!(out
            .reply
            .to_json()
            .contains(r#""error":"unauthorized: session expired""#));
        assert_eq!(out.effect, Effect::Logout, "{json}");
    }
    let ping = run(&c, r#"{"id":"p","method":"ping"}"#);
    assert_eq!(ping.reply.body, Ok("pong".into()));
    assert_eq!(ping.effect, Effect::None);
}

#[test]
fn legacy_calls_are_answered_kindly() {
    let keys = keys();
    let c = ctx(&keys, client(), true, None);
    let out = run(&c, r#"{"id":"r","method":"get_relays"}"#);
    assert_eq!(
        out.reply.body,
        Ok("{}".into()),
        "never our relay as read/write"
    );
    let out = run(&c, r#"{"id":"d","method":"describe"}"#);
    let methods: Vec<String> = serde_json::from_str(out.reply.body.as_ref().unwrap()).unwrap();
    for m in [
        "connect",
        "sign_event",
        "nip44_decrypt",
        "logout",
        "switch_relays",
    ] {
        assert!(methods.iter().any(|x| x == m), "{m}");
    }
    assert!(!methods.iter().any(|x| x == "nip44_get_key"));
    let out = run(&c, r#"{"id":"x","method":"disconnect"}"#);
    assert_eq!(out.reply.body, Ok("ack".into()));
    assert_eq!(out.effect, Effect::Logout);
    check_err(
        &run(&c, r#"{"id":"k","method":"nip44_get_key","params":["00"]}"#),
        RpcError::RemovedMethod("nip44_get_key"),
    );
    // Without a session they are refused like any other method.
    let none = ctx(&keys, client(), false, None);
    check_err(
        &run(&none, r#"{"id":"r","method":"get_relays"}"#),
        RpcError::NotConnected,
    );
}

#[test]
fn pre_approved_uri_perms_are_recorded_beside_the_clients_request() {
    let keys = keys();
    let mut pre = token("s3cret", None);
    pre.perms = Some("nip44_encrypt , sign_event:7".into());
    let json =
        r#"{"id":"c","method":"connect","params":["","s3cret","sign_event:1,nip04_decrypt"]}"#;
    let out = run(&ctx(&keys, client(), false, Some(&pre)), json);
    let Effect::Connect {
        approved, perms, ..
    } = out.effect
    else {
        panic!("binds")
    };
    assert_eq!(approved.as_deref(), Some("nip44_encrypt,sign_event:7"));
    assert_eq!(
        perms, "nip04_decrypt,sign_event:1",
        "the request is kept, canonical"
    );
}

#[test]
fn a_disabled_user_answers_only_pings() {
    let mut keys = keys();
    keys.disabled = true;
    let c = ctx(&keys, client(), true, None);
    check_err(&run(&c, &sign_request(1)), RpcError::UserUnavailable);
    assert!(run(&c, r#"{"id":"p","method":"ping","params":[]}"#)
        .reply
        .body
        .is_ok());
}

/// A handle whose randomness is a ChaCha20 stream from `seed`: the same seed, the same bytes.
fn seeded(seed: u64) -> Crypto {
    use rand_chacha::rand_core::SeedableRng;
    Crypto::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

/// The same requests, keys and time under the same seed give byte-identical outcomes (signatures
/// and ciphertexts included); another seed changes every random output. So nothing inside the
/// core draws randomness, reads a clock or keeps state of its own.
#[test]
fn same_inputs_under_a_seeded_rng_give_the_same_outcome() {
    let requests = [
        r#"{"id":"1","method":"sign_event","params":["{\"kind\":1,\"content\":\"hi\",\"tags\":[],\"created_at\":1750000000}"]}"#.to_owned(),
        format!(
            r#"{{"id":"2","method":"nip44_encrypt","params":["{}","secret text"]}}"#,
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        ),
        format!(
            r#"{{"id":"3","method":"nip04_encrypt","params":["{}","secret text"]}}"#,
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        ),
        r#"{"id":"4","method":"get_public_key","params":[]}"#.to_owned(),
        r#"{"id":"5","method":"ping","params":[]}"#.to_owned(),
    ];
    let outcomes = |key_seed: u64, run_seed: u64| -> Vec<(Result<String, RpcError>, Effect)> {
        let keys_crypto = &mut seeded(key_seed);
        let keys = UserKeys {
            tenant: "t1".into(),
            user_id: "u1".into(),
            user: Keypair::generate(keys_crypto),
            remote_signer: Keypair::generate(keys_crypto),
            disabled: false,
            policy: std::sync::Arc::new(Policy::default()),
        };
        let client = Keypair::generate(keys_crypto).public_key();
        let ctx = ctx(&keys, client, true, None);
        let crypto = &mut seeded(run_seed);
        requests
            .iter()
            .map(|json| {
                let outcome = handle(&ctx, Request::parse(json).expect("has an id"), NOW, crypto);
                (outcome.reply.body, outcome.effect)
            })
            .collect()
    };
    let first = outcomes(1, 2);
    assert!(first.iter().all(|(body, _)| body.is_ok()), "{first:?}");
    assert_eq!(first, outcomes(1, 2), "same seeds, same outcomes");
    let other = outcomes(1, 3);
    for i in 0..3 {
        assert_ne!(
            first[i], other[i],
            "request {i} draws from the given randomness"
        );
    }
    assert_eq!(
        first[3..],
        other[3..],
        "get_public_key and ping draw nothing"
    );
}
