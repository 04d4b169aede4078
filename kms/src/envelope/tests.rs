//! Tests of the sealed record format: round trips, tampering with each byte in turn, moving a
//! record to another binding, and opening a record built by hand from the documented layout.

use super::{Binding, DataKey, AAD_LABEL, MIN_SEALED_LEN};
use crate::test_support::hex;
use crate::Error;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::{AeadInPlace, Aes256Gcm, KeyInit};

const BINDING: Binding<'static> = Binding {
    record: "user_secret_key",
    tenant: "acme",
    owner: "alice",
    role: "user",
};

fn key() -> DataKey {
    DataKey::from_bytes([7u8; 32], 0x0102_0304)
}

/// Opens `sealed` and expects the error with code `code`.
#[track_caller]
fn check(key: &DataKey, sealed: &[u8], binding: &Binding<'_>, code: &str) {
    match key.open(sealed, binding) {
        Ok(_) => panic!("opened, expected {code}"),
        Err(e) => assert_eq!(e.code(), code, "{e}"),
    }
}

#[test]
fn round_trip() {
    let key = key();
    let sealed = key.seal(b"secret bytes", &BINDING);
    assert_eq!(sealed.len(), MIN_SEALED_LEN + 12);
    assert_eq!(
        &sealed[..6],
        &[1, 1, 1, 2, 3, 4],
        "version, algorithm, key id"
    );
    assert_eq!(
        key.open(&sealed, &BINDING).unwrap().as_slice(),
        b"secret bytes"
    );
}

#[test]
fn empty_plaintext_round_trips() {
    let key = key();
    let sealed = key.seal(b"", &BINDING);
    assert_eq!(sealed.len(), MIN_SEALED_LEN);
    assert!(key.open(&sealed, &BINDING).unwrap().is_empty());
}

#[test]
fn same_plaintext_seals_differently() {
    let key = key();
    let a = key.seal(b"same", &BINDING);
    let b = key.seal(b"same", &BINDING);
    assert_ne!(a[6..18], b[6..18], "nonces must differ");
    assert_ne!(a, b);
}

#[test]
fn every_tampered_byte_is_refused() {
    let key = key();
    let sealed = key.seal(b"plaintext", &BINDING);
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        let code = match i {
            0 => "unknown_version",
            1 => "unknown_algorithm",
            2..=5 => "unknown_key_id",
            _ => "wrong_key_or_tampered",
        };
        check(&key, &bad, &BINDING, code);
    }
}

#[test]
fn tampered_header_reports_what_it_found() {
    let key = key();
    let mut bad = key.seal(b"x", &BINDING);
    bad[0] = 2;
    assert!(matches!(
        key.open(&bad, &BINDING),
        Err(Error::UnknownVersion(2))
    ));
    bad[0] = 1;
    bad[1] = 9;
    assert!(matches!(
        key.open(&bad, &BINDING),
        Err(Error::UnknownAlgorithm(9))
    ));
    bad[1] = 1;
    bad[5] = 5;
    let found = key.open(&bad, &BINDING).unwrap_err();
    assert!(matches!(
        found,
        Error::UnknownKeyId {
            expected: 0x0102_0304,
            found: 0x0102_0305
        }
    ));
}

#[test]
fn every_short_record_is_truncated() {
    let key = key();
    let sealed = key.seal(b"", &BINDING);
    for len in 0..sealed.len() {
        check(&key, &sealed[..len], &BINDING, "truncated");
    }
}

#[test]
fn cut_or_extended_ciphertext_is_refused() {
    let key = key();
    let sealed = key.seal(b"sixteen bytes!!!", &BINDING);
    check(
        &key,
        &sealed[..sealed.len() - 1],
        &BINDING,
        "wrong_key_or_tampered",
    );
    let mut longer = sealed.clone();
    longer.push(0);
    check(&key, &longer, &BINDING, "wrong_key_or_tampered");
}

#[test]
fn moved_record_is_refused() {
    let key = key();
    let sealed = key.seal(b"plaintext", &BINDING);
    let moved = [
        Binding {
            owner: "bob",
            ..BINDING
        },
        Binding {
            tenant: "globex",
            ..BINDING
        },
        Binding {
            role: "remote_signer",
            ..BINDING
        },
        Binding {
            record: "connect_token",
            ..BINDING
        },
        Binding {
            owner: "",
            ..BINDING
        },
    ];
    for binding in &moved {
        check(&key, &sealed, binding, "wrong_key_or_tampered");
    }
}

#[test]
fn field_boundaries_are_unambiguous() {
    let key = key();
    let a = Binding {
        tenant: "ab",
        owner: "c",
        ..BINDING
    };
    let b = Binding {
        tenant: "a",
        owner: "bc",
        ..BINDING
    };
    let sealed = key.seal(b"x", &a);
    check(&key, &sealed, &b, "wrong_key_or_tampered");
}

#[test]
fn wrong_key_with_same_id_is_refused() {
    let sealed = key().seal(b"plaintext", &BINDING);
    let other = DataKey::from_bytes([8u8; 32], 0x0102_0304);
    check(&other, &sealed, &BINDING, "wrong_key_or_tampered");
}

#[test]
fn wrong_key_with_other_id_is_unknown_key_id() {
    let sealed = key().seal(b"plaintext", &BINDING);
    check(&DataKey::generate(), &sealed, &BINDING, "unknown_key_id");
}

#[test]
fn overlong_binding_field_cannot_open() {
    let key = key();
    let sealed = key.seal(b"x", &BINDING);
    let long = "x".repeat(65_536);
    check(
        &key,
        &sealed,
        &Binding {
            owner: &long,
            ..BINDING
        },
        "wrong_key_or_tampered",
    );
}

#[test]
fn generated_keys_differ_and_ids_are_check_values() {
    let (a, b) = (DataKey::generate(), DataKey::generate());
    assert_ne!(a.expose_bytes(), b.expose_bytes());
    let id = super::key_check_value(b"bunkerd data key id v1", a.expose_bytes());
    assert_eq!(a.id(), id);
}

#[test]
fn debug_is_redacted() {
    let key = DataKey::generate();
    let text = format!("{key:?}");
    assert!(!text.contains(&hex(key.expose_bytes())), "{text}");
    assert!(
        !text.contains(&format!("{:?}", key.expose_bytes())),
        "{text}"
    );
    assert!(
        text.starts_with("DataKey") && text.ends_with(".. }"),
        "{text}"
    );
}

/// Builds a record with `aes-gcm` directly from the layout in the module docs, so a change to
/// the format (which would orphan every stored record) fails here.
#[test]
fn opens_a_record_built_from_the_documented_layout() {
    let header = [1u8, 1, 0x01, 0x02, 0x03, 0x04];
    let nonce = [0x42u8; 12];
    let mut aad = AAD_LABEL.to_vec();
    aad.extend_from_slice(&header);
    for field in ["user_secret_key", "acme", "alice", "user"] {
        aad.extend_from_slice(&(field.len() as u16).to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    let cipher = Aes256Gcm::new(GenericArray::from_slice(&[7u8; 32]));
    let mut body = b"by hand".to_vec();
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &aad, &mut body)
        .unwrap();
    let record = [&header[..], &nonce, &body, &tag].concat();
    assert_eq!(
        key().open(&record, &BINDING).unwrap().as_slice(),
        b"by hand"
    );
}
