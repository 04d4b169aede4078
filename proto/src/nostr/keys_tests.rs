//! Tests of keys and BIP-340: the official BIP-340 vectors, key parsing rules, redaction and the
//! context blinding schedule.

use super::*;
use crate::nostr::Crypto;
use event::{hex32, verify_schnorr};

const BIP340_CSV: &str = include_str!("vectors/bip340.test-vectors.csv");

/// One row of `bip340.test-vectors.csv` (hex is uppercase there).
struct Row<'a> {
    index: &'a str,
    secret: &'a str,
    public: &'a str,
    aux: &'a str,
    message: &'a str,
    signature: &'a str,
    valid: bool,
}

fn rows() -> Vec<Row<'static>> {
    BIP340_CSV
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.splitn(8, ',').collect();
            Row {
                index: f[0],
                secret: f[1],
                public: f[2],
                aux: f[3],
                message: f[4],
                signature: f[5],
                valid: f[6] == "TRUE",
            }
        })
        .collect()
}

fn arr<const N: usize>(upper_hex: &str) -> [u8; N] {
    hex::decode(upper_hex)
        .expect("vector hex")
        .try_into()
        .expect("vector length")
}

/// Signing rows: derived public key and signature must match exactly.
#[track_caller]
fn check_sign(row: &Row<'_>) {
    let sk = SecretKey::from_bytes(&arr(row.secret)).expect("vector secret key");
    let keys = Keypair::new(&sk, &mut Crypto::from_os_rng());
    assert_eq!(
        keys.public_key().as_bytes(),
        &arr::<32>(row.public),
        "row {} pubkey",
        row.index
    );
    let sig =
        keys.sign_schnorr_with_aux(&arr(row.message), &arr(row.aux), &mut Crypto::from_os_rng());
    assert_eq!(sig, arr::<64>(row.signature), "row {} signature", row.index);
}

/// Verification rows: an unparsable public key counts as a failed verification.
#[track_caller]
fn check_verify(row: &Row<'_>) {
    let verified = match PublicKey::from_bytes(&arr(row.public)) {
        Ok(pk) => verify_schnorr(&pk, &arr(row.message), &arr(row.signature)),
        Err(e) => {
            assert_eq!(e, event::Error::InvalidPublicKey, "row {}", row.index);
            false
        }
    };
    assert_eq!(verified, row.valid, "row {} verification", row.index);
}

#[test]
fn bip340_vectors() {
    let mut checked = 0;
    for row in rows() {
        // Rows 15–18 sign messages of 0, 1, 17 and 100 bytes; our API signs 32-byte event ids only.
        if row.message.len() != 64 {
            continue;
        }
        if !row.secret.is_empty() {
            check_sign(&row);
        }
        check_verify(&row);
        checked += 1;
    }
    assert_eq!(checked, 15, "rows 0-14");
}

#[test]
fn public_key_serde_is_hex_string() {
    let pk = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    let json = serde_json::to_string(&pk).expect("serialize");
    assert_eq!(json, format!("\"{pk}\""));
    assert_eq!(
        serde_json::from_str::<PublicKey>(&json).expect("deserialize"),
        pk
    );
    let bad = serde_json::from_str::<PublicKey>(&format!("\"{}\"", "f".repeat(64)));
    assert!(bad
        .expect_err("not a curve point")
        .to_string()
        .contains("invalid public key"));
    assert!(serde_json::from_str::<PublicKey>("12").is_err());
}

#[test]
fn secret_key_range_and_hex() {
    let n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    let n_minus_1 = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140";
    assert_eq!(SecretKey::from_hex(n).err(), Some(Error::InvalidSecretKey));
    assert_eq!(
        SecretKey::from_hex(&"0".repeat(64)).err(),
        Some(Error::InvalidSecretKey)
    );
    assert_eq!(
        SecretKey::from_hex(&n_minus_1.to_uppercase()).err(),
        Some(Error::InvalidHex)
    );
    assert_eq!(
        SecretKey::from_hex(&n_minus_1[..63]).err(),
        Some(Error::InvalidHex)
    );
    let sk = SecretKey::from_hex(n_minus_1).expect("n - 1 is valid");
    assert_eq!(hex::encode(sk.expose_bytes()), n_minus_1);
}

#[test]
fn secret_types_redact_debug() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let sk = keys.secret_key();
    let secret_hex = hex::encode(sk.expose_bytes());
    assert_eq!(format!("{sk:?}"), "SecretKey { .. }");
    let shown = format!("{keys:?}");
    assert_eq!(
        shown,
        format!("Keypair {{ public: {}, .. }}", keys.public_key())
    );
    assert!(!shown.contains(&secret_hex));
}

#[test]
fn keypair_and_secret_key_agree() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let sk = keys.secret_key();
    assert_eq!(sk.public_key(&mut Crypto::from_os_rng()), keys.public_key());
    assert_eq!(
        Keypair::new(&sk, &mut Crypto::from_os_rng())
            .secret_key()
            .expose_bytes(),
        sk.expose_bytes()
    );
    assert_ne!(
        SecretKey::generate(&mut Crypto::from_os_rng()).expose_bytes(),
        sk.expose_bytes()
    );
}

#[test]
fn random_aux_signatures_verify_and_differ() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let msg = [7u8; 32];
    let (a, b) = (
        keys.sign_schnorr(&msg, &mut Crypto::from_os_rng()),
        keys.sign_schnorr(&msg, &mut Crypto::from_os_rng()),
    );
    assert_ne!(a, b, "fresh aux_rand per signature");
    assert!(verify_schnorr(&keys.public_key(), &msg, &a));
    assert!(verify_schnorr(&keys.public_key(), &msg, &b));
    let mut tampered = a;
    tampered[63] ^= 1;
    assert!(!verify_schnorr(&keys.public_key(), &msg, &tampered));
    assert!(!verify_schnorr(&keys.public_key(), &[8u8; 32], &a));
    assert!(!verify_schnorr(
        &Keypair::generate(&mut Crypto::from_os_rng()).public_key(),
        &msg,
        &a
    ));
}

#[test]
fn context_blinding_refreshes_every_1024_secret_ops() {
    let crypto = &mut Crypto::from_os_rng();
    let keys = Keypair::generate(crypto);
    let msg = [1u8; 32];
    let start = crypto.secret_ops_since_reseed();
    for _ in start..crate::nostr::crypto::RESEED_EVERY {
        keys.sign_schnorr(&msg, crypto);
    }
    assert_eq!(
        crypto.secret_ops_since_reseed(),
        0,
        "refreshed at the 1024th operation"
    );
    let sig = keys.sign_schnorr(&msg, crypto);
    assert_eq!(crypto.secret_ops_since_reseed(), 1);
    assert!(
        verify_schnorr(&keys.public_key(), &msg, &sig),
        "signing still correct after refresh"
    );
    // Verification uses no secret and does not count.
    verify_schnorr(&keys.public_key(), &msg, &sig);
    assert_eq!(crypto.secret_ops_since_reseed(), 1);
}

#[test]
fn maps_keyed_by_public_key_are_searchable_by_raw_bytes() {
    let pk = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    let map: std::collections::HashMap<PublicKey, u8> = [(pk, 7)].into_iter().collect();
    assert_eq!(map.get(pk.as_bytes()), Some(&7));
    assert_eq!(hex32(&pk.to_hex()), Some(*pk.as_bytes()));
    assert_eq!(
        hex32(&pk.to_hex().to_uppercase()),
        None,
        "lowercase only, like from_hex"
    );
    assert_eq!(map.get(&[0u8; 32]), None);
}

#[test]
fn sign_then_verify_and_tamper() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let unsigned = UnsignedEvent {
        created_at: 1_700_000_000,
        kind: 24133,
        tags: vec![vec!["p".into(), keys.public_key().to_hex()]],
        content: "quote \" slash \\ nl \n ctrl \u{1} 🦄".into(),
    };
    let event = keys.sign_event(unsigned.clone(), &mut Crypto::from_os_rng());
    assert_eq!(event.pubkey, keys.public_key());
    assert_eq!(
        (event.kind, event.created_at),
        (unsigned.kind, unsigned.created_at)
    );
    assert_eq!(event.verify(), Ok(()));
    assert_eq!(
        Event::from_json(&event.to_json()).expect("round trip"),
        event
    );

    let mut edited = event.clone();
    edited.content.push('!');
    assert_eq!(edited.verify(), Err(event::Error::InvalidId));
    let mut forged = event.clone();
    forged.sig[0] ^= 1;
    assert_eq!(forged.verify(), Err(event::Error::InvalidSignature));
    let mut other_author = event;
    other_author.pubkey = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    assert_eq!(other_author.verify(), Err(event::Error::InvalidId));
}
