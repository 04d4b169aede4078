//! Tests of NIP-49: the official vectors of `49.md` (in `vectors/nip49.vectors.json`, see
//! `vectors/SOURCES.md`), then cases built here with a test-only encryptor at a tiny LOG_N (fixed
//! salt and nonce) so they cost microseconds: round trips, NFKC, tampering of each field, malformed
//! strings, versions, the LOG_N bound and out-of-range keys; last, [`encrypt`]'s bounds and round
//! trip. Only the official vectors and the [`encrypt`] round trip run scrypt at LOG_N 16.

use bech32::Bech32m;
use serde_json::Value;

use super::*;

const VECTORS: &str = include_str!("vectors/nip49.vectors.json");
/// Cheap scrypt cost for cases built here (16 KiB of memory).
const TEST_LOG_N: u8 = 4;
const SALT: [u8; 16] = [0x11; 16];
const NONCE: [u8; 24] = [0x22; 24];
/// A valid secret key (the NIP-19 example key).
const SECRET: &str = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa";
/// The secp256k1 group order n: the first value that is not a valid secret key.
const ORDER_N: &str = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vector file is JSON")
}

fn bytes32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// Test-only NIP-49 encryption ("Encrypting a private key"): the 91-byte payload.
fn seal(secret: &[u8; 32], password: &str, log_n: u8, key_security: u8) -> Vec<u8> {
    let key = derive_key(password, &SALT, log_n).expect("scrypt params");
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key[..]));
    let mut buf = *secret;
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&NONCE), &[key_security], &mut buf)
        .expect("encrypt");
    let mut payload = vec![VERSION, log_n];
    payload.extend_from_slice(&SALT);
    payload.extend_from_slice(&NONCE);
    payload.push(key_security);
    payload.extend_from_slice(&buf);
    payload.extend_from_slice(&tag);
    assert_eq!(payload.len(), PAYLOAD_LEN);
    payload
}

fn encode_with<Ck: bech32::Checksum>(hrp: &str, payload: &[u8]) -> String {
    bech32::encode::<Ck>(Hrp::parse(hrp).expect("hrp"), payload).expect("encode")
}

fn encode(payload: &[u8]) -> String {
    encode_with::<Bech32>("ncryptsec", payload)
}

fn sealed_secret(password: &str) -> Vec<u8> {
    seal(&bytes32(SECRET), password, TEST_LOG_N, 0x02)
}

#[track_caller]
fn check(ncryptsec: &str, password: &str, expected: Result<&str, Nip49Error>) {
    let got = decrypt(ncryptsec, password).map(|sk| hex::encode(sk.expose_bytes()));
    assert_eq!(got.as_deref().map_err(|e| *e), expected);
}

#[test]
fn official_decrypt_vector() {
    let v = &vectors()["decrypt"][0];
    let s = v["ncryptsec"].as_str().expect("ncryptsec");
    let parsed = Ncryptsec::parse(s).expect("parse");
    assert_eq!(
        u64::from(parsed.log_n()),
        v["log_n"].as_u64().expect("log_n")
    );
    let ks = v["key_security"].as_u64().expect("key_security");
    assert_eq!(u64::from(parsed.key_security().as_byte()), ks);
    let want = v["secret_key_hex"].as_str().expect("hex");
    check(s, v["password"].as_str().expect("password"), Ok(want));
}

#[test]
fn official_vector_with_wrong_password() {
    let v = &vectors()["decrypt"][0];
    let s = v["ncryptsec"].as_str().expect("ncryptsec");
    check(s, "nostR", Err(Nip49Error::WrongPassword));
}

#[test]
fn password_is_nfkc_normalized() {
    let v = &vectors()["nfkc"][0];
    let input = String::from_utf8(hex::decode(v["input_utf8_hex"].as_str().expect("hex")).unwrap())
        .expect("utf8");
    let want = hex::decode(v["normalized_utf8_hex"].as_str().expect("hex")).expect("hex");
    assert_eq!(normalize_password(&input).as_bytes(), want.as_slice());
    // Encrypted under the normalized form, decrypted with the raw input: same key.
    let normalized = std::str::from_utf8(&want).expect("utf8");
    check(&encode(&sealed_secret(normalized)), &input, Ok(SECRET));
}

#[test]
fn normalization_buffer_grows_past_its_first_capacity() {
    // U+FDFA expands to 18 code points (33 bytes of UTF-8) under NFKC.
    let input = "\u{FDFA}".repeat(8);
    let want: String = input.nfkc().collect();
    assert!(want.len() > input.len() + 16);
    assert_eq!(normalize_password(&input).as_str(), want);
}

#[test]
fn round_trip_each_key_security_and_uppercase() {
    for (byte, ks) in [
        (0x00, KeySecurity::HandledInsecurely),
        (0x01, KeySecurity::NotKnownInsecure),
        (0x02, KeySecurity::Untracked),
    ] {
        let s = encode(&seal(&bytes32(SECRET), "pw", TEST_LOG_N, byte));
        assert_eq!(s.len(), 162);
        let parsed = Ncryptsec::parse(&s).expect("parse");
        assert_eq!((parsed.key_security(), parsed.log_n()), (ks, TEST_LOG_N));
        check(&s, "pw", Ok(SECRET));
        check(&s.to_uppercase(), "pw", Ok(SECRET));
    }
}

#[test]
fn tampering_any_field_is_wrong_password() {
    let good = sealed_secret("pw");
    // log_n, salt, nonce, key_security (0x02 -> 0x01 stays a valid byte), ciphertext, tag.
    for (index, mask) in [(1, 0x01), (2, 0x01), (17, 0x80), (18, 0x01), (41, 0x01)]
        .into_iter()
        .chain([(42, 0x03), (43, 0x01), (74, 0x01), (75, 0x01), (90, 0x80)])
    {
        let mut bad = good.clone();
        bad[index] ^= mask;
        check(&encode(&bad), "pw", Err(Nip49Error::WrongPassword));
    }
    check(&encode(&good), "pW", Err(Nip49Error::WrongPassword));
    check(&encode(&good), "", Err(Nip49Error::WrongPassword));
}

#[test]
fn malformed_strings_are_invalid_ncryptsec() {
    let payload = sealed_secret("pw");
    let good = encode(&payload);
    let invalid = Err(Nip49Error::InvalidNcryptsec);
    check(&encode_with::<Bech32>("nsec", &payload), "pw", invalid);
    check(&encode_with::<Bech32>("ncryptsex", &payload), "pw", invalid);
    check(
        &encode_with::<Bech32m>("ncryptsec", &payload),
        "pw",
        invalid,
    );
    check(&good[..good.len() - 1], "pw", invalid);
    check(&good[..100], "pw", invalid);
    check(&encode(&payload[..90]), "pw", invalid);
    check(&encode(&[payload.as_slice(), &[0]].concat()), "pw", invalid);
    check(&format!("NCRYPTSEC{}", &good[9..]), "pw", invalid);
    check("", "pw", invalid);
    check("ncryptsec1", "pw", invalid);
    check(&"q".repeat(MAX_LEN + 1), "pw", invalid);
    let mut flipped = good.into_bytes();
    flipped[60] = if flipped[60] == b'q' { b'p' } else { b'q' };
    check(&String::from_utf8(flipped).unwrap(), "pw", invalid);
}

#[test]
fn unknown_key_security_byte_is_refused() {
    let mut payload = sealed_secret("pw");
    payload[42] = 0x03;
    assert_eq!(
        Ncryptsec::parse(&encode(&payload)).unwrap_err(),
        Nip49Error::InvalidNcryptsec
    );
}

#[test]
fn unsupported_versions() {
    let payload = sealed_secret("pw");
    for version in [0x00, 0x01, 0x03, 0xff] {
        let mut bad = payload.clone();
        bad[0] = version;
        check(&encode(&bad), "pw", Err(Nip49Error::UnsupportedVersion));
        // Another version may have another length: the version is reported, not the length.
        check(
            &encode(&bad[..40]),
            "pw",
            Err(Nip49Error::UnsupportedVersion),
        );
    }
}

#[test]
fn log_n_above_bound_is_refused_before_scrypt() {
    let payload = sealed_secret("pw");
    // 18 (256 MiB of scrypt) is the bound; NDK's "higher security" 20 (1 GiB) is refused.
    assert_eq!(MAX_LOG_N, 18);
    for log_n in [MAX_LOG_N + 1, 20, 22, 64, 255] {
        let mut bad = payload.clone();
        bad[1] = log_n;
        let s = encode(&bad);
        // `parse` takes no password and never runs scrypt, and `decrypt` starts with it.
        assert_eq!(Ncryptsec::parse(&s).unwrap_err(), Nip49Error::LogNTooHigh);
        check(&s, "pw", Err(Nip49Error::LogNTooHigh));
    }
    let mut at_bound = payload;
    at_bound[1] = MAX_LOG_N;
    assert_eq!(
        Ncryptsec::parse(&encode(&at_bound)).map(|n| n.log_n()),
        Ok(MAX_LOG_N)
    );
}

#[test]
fn a_chosen_cap_is_applied_and_itself_capped() {
    let s = encode(&sealed_secret("pw"));
    // TEST_LOG_N is 4: a cap of 3 refuses it before scrypt, a cap of 4 decrypts it.
    assert_eq!(
        decrypt_capped(&s, "pw", TEST_LOG_N - 1).unwrap_err(),
        Nip49Error::LogNTooHigh
    );
    assert!(decrypt_capped(&s, "pw", TEST_LOG_N).is_ok());
    // No cap goes past LOG_N_LIMIT (20, 1 GiB): 21 is refused even under a cap of 255.
    let mut above = sealed_secret("pw");
    above[1] = LOG_N_LIMIT + 1;
    assert_eq!(
        Ncryptsec::parse_capped(&encode(&above), u8::MAX).unwrap_err(),
        Nip49Error::LogNTooHigh
    );
    assert_eq!(scrypt_bytes(18), 256 << 20);
    assert_eq!(scrypt_bytes(LOG_N_LIMIT), 1 << 30);
    assert_eq!(scrypt_bytes(u8::MAX), u64::MAX);
}

#[test]
fn out_of_range_keys_are_refused_after_decryption() {
    for raw in [[0u8; 32], bytes32(ORDER_N), [0xff; 32]] {
        let s = encode(&seal(&raw, "pw", TEST_LOG_N, 0x01));
        check(&s, "pw", Err(Nip49Error::InvalidSecretKey));
    }
}

#[test]
fn debug_is_redacted_and_codes_are_distinct() {
    let payload = sealed_secret("pw");
    let parsed = Ncryptsec::parse(&encode(&payload)).expect("parse");
    let debug = format!("{parsed:?}");
    assert_eq!(debug, "Ncryptsec { log_n: 4, key_security: Untracked, .. }");
    let all = [
        Nip49Error::InvalidNcryptsec,
        Nip49Error::UnsupportedVersion,
        Nip49Error::LogNTooHigh,
        Nip49Error::WrongPassword,
        Nip49Error::InvalidSecretKey,
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(Nip49Error::code).collect();
    assert_eq!(codes.len(), all.len());
}

#[test]
fn encrypt_refuses_a_cost_outside_16_to_20_before_any_work() {
    let secret = SecretKey::from_bytes(&bytes32(SECRET)).expect("valid key");
    let mut crypto = Crypto::from_os_rng();
    for log_n in [
        0,
        TEST_LOG_N,
        MIN_EXPORT_LOG_N - 1,
        LOG_N_LIMIT + 1,
        u8::MAX,
    ] {
        let got = encrypt(
            &secret,
            "pw",
            log_n,
            KeySecurity::NotKnownInsecure,
            &mut crypto,
        );
        assert_eq!(got, Err(Nip49Error::LogNTooHigh), "log_n {log_n}");
    }
}

#[test]
fn encrypt_round_trips_with_fresh_salt_and_nonce() {
    let secret = SecretKey::from_bytes(&bytes32(SECRET)).expect("valid key");
    let mut crypto = Crypto::from_os_rng();
    // A composed "é" exported, its decomposed form typed on import: NFKC makes them one password.
    let mut export = || {
        encrypt(
            &secret,
            "caf\u{e9} 123",
            MIN_EXPORT_LOG_N,
            KeySecurity::NotKnownInsecure,
            &mut crypto,
        )
        .expect("encrypt")
    };
    let exported = export();
    assert_eq!(exported.len(), 162);
    assert!(exported.starts_with("ncryptsec1"));
    let parsed = Ncryptsec::parse(&exported).expect("parses");
    assert_eq!(parsed.log_n(), MIN_EXPORT_LOG_N);
    assert_eq!(parsed.key_security(), KeySecurity::NotKnownInsecure);
    let opened = parsed.decrypt("cafe\u{301} 123").expect("decrypts");
    assert_eq!(opened.expose_bytes(), secret.expose_bytes());
    assert_eq!(
        parsed.decrypt("cafe 123").map(|_| ()),
        Err(Nip49Error::WrongPassword)
    );
    // Same key and password again: another salt and nonce, so another string.
    let again = export();
    assert_ne!(again, exported);
    assert_ne!(again[10..60], exported[10..60], "salt and nonce differ");
}
