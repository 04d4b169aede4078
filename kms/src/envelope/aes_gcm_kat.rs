//! AES-256-GCM known-answer tests run directly through the `aes-gcm` crate, to pin the
//! primitive under the envelope format.
//!
//! Source of the values: D. McGrew and J. Viega, "The Galois/Counter Mode of Operation (GCM)",
//! revised submission to NIST (2005), Appendix B "AES Test Vectors", Test Cases 13, 14 and 16
//! (256-bit key, 96-bit IV). The same values appear in the NIST GCM validation material and are
//! reproduced by many independent implementations.

use crate::test_support::{hex, unhex};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::{AeadInPlace, Aes256Gcm, KeyInit};

/// One vector; every field is hex.
struct Vector {
    key: &'static str,
    iv: &'static str,
    plaintext: &'static str,
    aad: &'static str,
    ciphertext: &'static str,
    tag: &'static str,
}

const ZERO_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const ZERO_IV: &str = "000000000000000000000000";

/// Test Case 13: all-zero key and IV, empty plaintext, no AAD.
const CASE_13: Vector = Vector {
    key: ZERO_KEY,
    iv: ZERO_IV,
    plaintext: "",
    aad: "",
    ciphertext: "",
    tag: "530f8afbc74536b9a963b4f1c4cb738b",
};

/// Test Case 14: all-zero key and IV, one all-zero block, no AAD.
const CASE_14: Vector = Vector {
    key: ZERO_KEY,
    iv: ZERO_IV,
    plaintext: "00000000000000000000000000000000",
    aad: "",
    ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
    tag: "d0d1c8a799996bf0265b98b5d48ab919",
};

/// Test Case 16: 60-byte plaintext (partial last block) and 20 bytes of AAD.
const CASE_16: Vector = Vector {
    key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    iv: "cafebabefacedbaddecaf888",
    plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                 8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    tag: "76fc6ece0f4e1768cddf8853bb2d551b",
};

/// Encrypts and decrypts `v`, and checks that a flipped tag bit is refused.
#[track_caller]
fn check(v: &Vector) {
    let cipher = Aes256Gcm::new(GenericArray::from_slice(&unhex(v.key)));
    let iv = unhex(v.iv);
    let nonce = GenericArray::from_slice(&iv);
    let aad = unhex(v.aad);
    let mut buf = unhex(v.plaintext);
    let tag = cipher
        .encrypt_in_place_detached(nonce, &aad, &mut buf)
        .unwrap();
    assert_eq!(hex(&buf), v.ciphertext, "ciphertext");
    assert_eq!(hex(&tag), v.tag, "tag");
    cipher
        .decrypt_in_place_detached(nonce, &aad, &mut buf, &tag)
        .unwrap();
    assert_eq!(hex(&buf), v.plaintext, "decrypted plaintext");
    let mut bad_tag = tag;
    bad_tag[15] ^= 1;
    let refused = cipher.decrypt_in_place_detached(nonce, &aad, &mut buf, &bad_tag);
    assert!(refused.is_err(), "a flipped tag bit must be refused");
}

#[test]
fn gcm_spec_test_case_13() {
    check(&CASE_13);
}

#[test]
fn gcm_spec_test_case_14() {
    check(&CASE_14);
}

#[test]
fn gcm_spec_test_case_16() {
    check(&CASE_16);
}
