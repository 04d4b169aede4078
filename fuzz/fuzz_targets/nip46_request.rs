//! Fuzz target: NIP-46 requests (`proto::nip46`): parsing, then the sans-IO handler, with the
//! user-key NIP-44 and NIP-04 decryption it runs,
//! <https://github.com/nostr-protocol/nips/blob/master/46.md>.
//!
//! Input: one byte of context flags (session or not, expired, user disabled, narrow or full grant,
//! a bunker secret on record, already consumed), then the decrypted request JSON.
//!
//! Checked: parsing gives a fixed reason or an `Incoming` whose id is at most `MAX_ID_LEN` bytes
//! and method at most 64; the reply echoes the id and encodes as `{"id",…}` with exactly one of
//! `result` or `error`; without a session only `connect` and `ping` run; a `connect` effect names
//! the secret on record; a signed event verifies under the user key; `get_public_key` answers the
//! user key; encrypting to the fixed client key decrypts back to the plaintext with the client's
//! key (NIP-44 and NIP-04).

#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::nip46::{
    handle, method_label, Approval, BunkerSecretView, Context, Effect, Request, RpcError, UserKeys,
    MAX_ID_LEN, SUPPORTED_METHODS,
};
use proto::nostr::{nip04, nip44, Crypto, Event, Keypair, PublicKey, SecretKey};
use proto::policy::{Grant, Perms, Policy};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

const NOW: u64 = 1_700_000_000;
/// The bunker-URI secret on record when the flags say there is one.
const SECRET: &str = "fuzz-bunker-secret";

struct Fixture {
    keys: UserKeys,
    disabled: UserKeys,
    client: Keypair,
    full: Grant,
    narrow: Grant,
    relays: Vec<String>,
}

fn keypair(byte: u8, crypto: &mut Crypto) -> Keypair {
    Keypair::new(
        &SecretKey::from_bytes(&[byte; 32]).expect("valid scalar"),
        crypto,
    )
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut crypto = Crypto::new(ChaCha20Rng::from_seed([7; 32]));
        let mut user_keys = |disabled| UserKeys {
            tenant: "t".into(),
            user_id: "u".into(),
            user: keypair(1, &mut crypto),
            remote_signer: keypair(2, &mut crypto),
            disabled,
            policy: Arc::new(Policy::default()),
        };
        Fixture {
            keys: user_keys(false),
            disabled: user_keys(true),
            client: keypair(3, &mut crypto),
            full: Grant::new(Perms::all(), None),
            narrow: Grant::new(
                Perms::parse("sign_event:1,nip44_decrypt,nip04_encrypt"),
                Some(Perms::parse("sign_event:1,nip44_decrypt")),
            ),
            relays: vec!["wss://relay.example".into()],
        }
    })
}

/// Params 0 and 1 of the request as strings, when they are.
fn string_params(text: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(text).ok()?;
    let p = v.get("params")?.as_array()?;
    Some((
        p.first()?.as_str()?.to_owned(),
        p.get(1)?.as_str()?.to_owned(),
    ))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let incoming = match Request::parse(text) {
        Ok(incoming) => incoming,
        Err(reason) => {
            assert!(
                [
                    "content is not a NIP-46 request",
                    "NIP-46 request too large",
                    "NIP-46 request id longer than 128 bytes"
                ]
                .contains(&reason),
                "{reason}"
            );
            return;
        }
    };
    assert!(incoming.id.len() <= MAX_ID_LEN);
    assert!(incoming.method.len() <= 64);
    let label = method_label(&incoming.method);
    assert!(label == "unknown" || SUPPORTED_METHODS.contains(&label));

    let f = fixture();
    let keys = if flags & 4 != 0 { &f.disabled } else { &f.keys };
    let view = BunkerSecretView {
        secret_hash: Sha256::digest(SECRET.as_bytes()).into(),
        tenant: "t".into(),
        user: "u".into(),
        expires_at: NOW + 60,
        consumed_by: (flags & 32 != 0).then(|| f.client.public_key()),
        perms: (flags & 64 != 0).then(|| "sign_event:1".to_owned()),
    };
    let has_session = flags & 1 != 0;
    let ctx = Context {
        keys,
        client: f.client.public_key(),
        has_session,
        grant: has_session.then(|| if flags & 8 != 0 { &f.narrow } else { &f.full }),
        session_expires_at: (flags & 2 != 0).then_some(NOW),
        bunker_secret: (flags & 16 != 0).then_some(&view),
        relays: &f.relays,
        approval: Approval::Granted,
    };
    let id = incoming.id.clone();
    let method = incoming.method.clone();
    let mut crypto = Crypto::new(ChaCha20Rng::from_seed([flags; 32]));
    let outcome = handle(&ctx, incoming, NOW, &mut crypto);
    let reply = outcome.reply;
    assert_eq!(reply.id, id);

    let wire: Value = serde_json::from_str(&reply.to_json()).expect("reply is JSON");
    let wire = wire.as_object().expect("reply is an object");
    assert_eq!(wire.get("id").and_then(Value::as_str), Some(id.as_str()));
    assert!(wire.get("result").is_some() != wire.get("error").is_some());
    assert!(wire.values().all(Value::is_string));

    if !has_session && method != "connect" && method != "ping" {
        assert_eq!(reply.body, Err(RpcError::NotConnected));
    }
    if let Effect::Connect { secret_hash, .. } = &outcome.effect {
        assert_eq!(method, "connect");
        assert_eq!(*secret_hash, view.secret_hash);
    }
    let Ok(result) = &reply.body else {
        return;
    };
    let user = f.keys.user.public_key();
    let client_sk = f.client.secret_key();
    match method.as_str() {
        "sign_event" => {
            let event = Event::from_json(result).expect("signed event parses");
            assert_eq!(event.pubkey, user);
            event.verify().expect("signed event verifies");
        }
        "get_public_key" => assert_eq!(result, &user.to_hex()),
        "nip44_encrypt" | "nip04_encrypt" => {
            let Some((peer, plaintext)) = string_params(text) else {
                return;
            };
            if PublicKey::from_hex(&peer).ok() != Some(f.client.public_key()) {
                return;
            }
            let back = if method == "nip44_encrypt" {
                let ck = nip44::ConversationKey::derive(&client_sk, &user).expect("ecdh");
                nip44::decrypt(&ck, result).expect("own NIP-44 payload decrypts")
            } else {
                let key = nip04::SharedKey::derive(&client_sk, &user).expect("ecdh");
                nip04::decrypt(&key, result).expect("own NIP-04 payload decrypts")
            };
            assert_eq!(back, plaintext);
        }
        _ => {}
    }
});
