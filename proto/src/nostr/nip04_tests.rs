//! Tests of NIP-04: both go-nostr vectors in both directions, byte-exact re-encryption, and the
//! parser's error cases.

use base64::Engine as _;
use serde_json::Value;

use super::*;

const VECTORS: &str = include_str!("vectors/nip04.vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vector file is JSON")
}

fn key_pair(v: &Value, sec: &str, other_pub: &str) -> SharedKey {
    let sk = SecretKey::from_hex(v[sec].as_str().expect("sec")).expect("secret");
    let pk = PublicKey::from_hex(v[other_pub].as_str().expect("pub")).expect("pub");
    assert_eq!(
        sk.public_key(&mut Crypto::from_os_rng()).to_hex(),
        v[if sec == "sec1" { "pub1" } else { "pub2" }]
            .as_str()
            .expect("pub")
    );
    SharedKey::derive(&sk, &pk).expect("derive")
}

#[track_caller]
fn check(key: &SharedKey, payload: &str, plaintext: &str) {
    assert_eq!(decrypt(key, payload).as_deref(), Ok(plaintext));
}

#[test]
fn vectors_decrypt_both_directions() {
    let v = vectors();
    let sender = key_pair(&v, "sec1", "pub2");
    let receiver = key_pair(&v, "sec2", "pub1");
    assert_eq!(
        hex::encode(sender.0),
        v["shared_x"].as_str().expect("shared_x")
    );
    assert_eq!(sender.0, receiver.0, "ECDH is symmetric");
    let cases = v["valid_decrypt"].as_array().expect("list");
    assert_eq!(cases.len(), 2);
    for c in cases {
        let (payload, plaintext) = (
            c["ciphertext"].as_str().expect("ct"),
            c["plaintext"].as_str().expect("pt"),
        );
        check(&receiver, payload, plaintext);
        check(&sender, payload, plaintext);
    }
    assert_eq!(cases[1]["plaintext"].as_str().expect("pt"), "z".repeat(800));
}

#[test]
fn reencrypt_with_vector_iv_is_byte_exact() {
    let v = vectors();
    let key = key_pair(&v, "sec1", "pub2");
    let payload = v["valid_decrypt"][0]["ciphertext"].as_str().expect("ct");
    let (_, iv_b64) = payload.split_once("?iv=").expect("iv part");
    let iv: [u8; 16] = STANDARD
        .decode(iv_b64)
        .expect("b64")
        .try_into()
        .expect("16");
    assert_eq!(encrypt_with_iv(&key, "nanana", &iv), payload);
}

#[test]
fn round_trip_with_random_iv() {
    let key = SharedKey([9u8; 32]);
    for text in ["", "a", "exactly sixteen!", "🦄 multi-byte ⚡"] {
        let (a, b) = (
            encrypt(&key, text, &mut Crypto::from_os_rng()),
            encrypt(&key, text, &mut Crypto::from_os_rng()),
        );
        assert_ne!(a, b, "fresh IV per message");
        assert!(is_nip04_payload(&a));
        check(&key, &a, text);
    }
}

#[track_caller]
fn check_err(key: &SharedKey, payload: &str, expected: Error) {
    assert_eq!(decrypt(key, payload), Err(expected));
}

#[test]
fn malformed_payloads() {
    let key = SharedKey([9u8; 32]);
    let good = encrypt_with_iv(&key, "hello", &[1u8; 16]);
    let (ct, iv) = good.split_once("?iv=").expect("iv");
    check_err(&key, ct, Error::InvalidFormat);
    check_err(&key, &format!("{ct}?iv=***"), Error::InvalidBase64);
    check_err(&key, &format!("*{ct}?iv={iv}"), Error::InvalidBase64);
    check_err(
        &key,
        &format!("{ct}?iv={}", STANDARD.encode([1u8; 15])),
        Error::InvalidIv,
    );
    check_err(&key, &format!("?iv={iv}"), Error::DecryptFailed);
    check_err(
        &key,
        &format!("{}?iv={iv}", STANDARD.encode([0u8; 15])),
        Error::DecryptFailed,
    );
    check_err(&key, &"A".repeat(MAX_PAYLOAD + 1), Error::TooLong);
    // Wrong key: with no MAC, only the padding or UTF-8 check can notice.
    let wrong = decrypt(&SharedKey([8u8; 32]), &good);
    assert!(
        matches!(wrong, Err(Error::DecryptFailed | Error::InvalidUtf8)),
        "{wrong:?}"
    );
    let not_utf8 = {
        let mut buf = [0xffu8; 16];
        let ct = Aes256CbcEnc::new((&key.0).into(), (&[2u8; 16]).into())
            .encrypt_padded_mut::<Pkcs7>(&mut buf, 15)
            .expect("room")
            .to_vec();
        format!("{}?iv={}", STANDARD.encode(ct), STANDARD.encode([2u8; 16]))
    };
    check_err(&key, &not_utf8, Error::InvalidUtf8);
}

#[test]
fn detection_and_redaction() {
    assert!(is_nip04_payload("abc?iv=def"));
    assert!(!is_nip04_payload(
        "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"
    ));
    assert_eq!(format!("{:?}", SharedKey([1u8; 32])), "SharedKey { .. }");
    assert_eq!(Error::DecryptFailed.code(), "nip04_decrypt_failed");
}
