//! Fuzz target: the secret-key inputs of user creation (`signer::admin::KeyImport`): 64 hex,
//! NIP-19 `nsec`/`npub` (<https://github.com/nostr-protocol/nips/blob/master/19.md>) and NIP-49
//! `ncryptsec` with its password (<https://github.com/nostr-protocol/nips/blob/master/49.md>).
//!
//! Input: a mode byte (its value modulo 2), then
//! - mode 0: a key text, a NUL, a password: imported as `secret_key` and, when it parses as an
//!   `ncryptsec` of cheap cost (LOG_N at most 4), as `ncryptsec` with the password; also decoded
//!   directly as `nsec` and `npub`;
//! - mode 1: an `ncryptsec` built here from NIP-49's description (scrypt over the NFKC password,
//!   XChaCha20-Poly1305 with the key-security byte as AAD, bech32), with LOG_N at most 4.
//!
//! Checked: an accepted `secret_key` is the key its text names (hex, or `nsec` that re-encodes
//! to the same text in lowercase); an `ncryptsec` whose LOG_N is above the cap is refused as
//! `LogNTooHigh` without running scrypt; decoded `npub`s re-encode likewise; a built `ncryptsec` parses
//! to its LOG_N and key-security byte and imports its key with the password and through
//! `KeyImport`, and a different password is refused as `WrongPassword`.

#![no_main]

use arbitrary::{Result, Unstructured};
use bech32::{Bech32, Hrp};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use libfuzzer_sys::fuzz_target;
use proto::nostr::nip19;
use proto::nostr::nip49::{self, Ncryptsec, Nip49Error};
use proto::nostr::SecretKey;
use signer::admin::{ImportError, KeyImport};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Most LOG_N run here: scrypt at 2^(LOG_N + 10) bytes stays cheap.
const MAX_CHEAP_LOG_N: u8 = 4;

fn import(secret_key: Option<&str>, ncryptsec: Option<&str>, password: Option<&str>) -> KeyImport {
    let z = |s: Option<&str>| s.map(|s| Zeroizing::new(s.to_owned()));
    KeyImport {
        secret_key: z(secret_key),
        ncryptsec: z(ncryptsec),
        password: z(password),
        max_log_n: MAX_CHEAP_LOG_N,
    }
}

fn check_text(text: &str, password: &str) {
    let trimmed = text.trim();
    match import(Some(text), None, None).resolve() {
        Ok(Some(sk)) => {
            let bytes = sk.expose_bytes();
            if trimmed.starts_with("nsec1") || trimmed.starts_with("NSEC1") {
                assert_eq!(*nip19::encode_nsec(&sk), trimmed.to_lowercase());
            } else {
                assert_eq!(bunkerd_fuzz::hex(bytes), trimmed.to_lowercase());
            }
        }
        Ok(None) => panic!("a given secret_key resolved to none"),
        Err(_) => {}
    }
    if let Ok(sk) = nip19::decode_nsec(text) {
        assert_eq!(*nip19::encode_nsec(&sk), text.to_lowercase());
    }
    if let Ok(pk) = nip19::decode_npub(text) {
        assert_eq!(nip19::encode_npub(&pk), text.to_lowercase());
    }
    // Above the import's cap, refused before scrypt runs (src/lib.rs aborts on any allocation
    // over 64 MiB, which scrypt makes from LOG_N 16 on).
    if let Ok(parsed) = Ncryptsec::parse_capped(trimmed, nip49::LOG_N_LIMIT) {
        if parsed.log_n() > MAX_CHEAP_LOG_N {
            assert_eq!(
                import(None, Some(text), Some(password))
                    .resolve()
                    .map(|_| ()),
                Err(ImportError::Ncryptsec(Nip49Error::LogNTooHigh))
            );
        }
    }
    if let Ok(parsed) = Ncryptsec::parse(trimmed) {
        if parsed.log_n() <= MAX_CHEAP_LOG_N {
            let direct = parsed.decrypt(password).map(|sk| *sk.expose_bytes());
            let imported = import(None, Some(text), Some(password))
                .resolve()
                .map(|sk| *sk.expect("some").expose_bytes());
            assert_eq!(direct.ok(), imported.ok());
        }
    }
}

/// An `ncryptsec` as NIP-49 describes it.
fn build(
    secret: &[u8; 32],
    password: &str,
    log_n: u8,
    salt: &[u8; 16],
    nonce: &[u8; 24],
    security: u8,
) -> String {
    let normalized: String = password.nfkc().collect();
    let params = scrypt::Params::new(log_n, 8, 1, 32).expect("valid parameters");
    let mut key = [0u8; 32];
    scrypt::scrypt(normalized.as_bytes(), salt, &params, &mut key).expect("32-byte output");
    let mut sealed = secret.to_vec();
    let tag = XChaCha20Poly1305::new(&key.into())
        .encrypt_in_place_detached(XNonce::from_slice(nonce), &[security], &mut sealed)
        .expect("encrypts");
    let mut payload = vec![0x02, log_n];
    payload.extend_from_slice(salt);
    payload.extend_from_slice(nonce);
    payload.push(security);
    payload.extend_from_slice(&sealed);
    payload.extend_from_slice(&tag);
    bech32::encode::<Bech32>(Hrp::parse("ncryptsec").expect("hrp"), &payload).expect("encodes")
}

fn round_trip(u: &mut Unstructured<'_>) -> Result<()> {
    let secret: [u8; 32] = u.arbitrary()?;
    let Ok(sk) = SecretKey::from_bytes(&secret) else {
        return Ok(());
    };
    let log_n = u.int_in_range(1..=MAX_CHEAP_LOG_N)?;
    let salt: [u8; 16] = u.arbitrary()?;
    let nonce: [u8; 24] = u.arbitrary()?;
    let security = u.int_in_range(0..=2)?;
    let password: String = u.arbitrary()?;
    let text = build(&secret, &password, log_n, &salt, &nonce, security);

    let parsed = Ncryptsec::parse(&text).expect("built ncryptsec parses");
    assert_eq!(parsed.log_n(), log_n);
    assert_eq!(parsed.key_security().as_byte(), security);
    let got = nip49::decrypt(&text, &password).expect("decrypts with its password");
    assert_eq!(got.expose_bytes(), sk.expose_bytes());
    let imported = import(None, Some(&text), Some(&password))
        .resolve()
        .expect("imports")
        .expect("a key");
    assert_eq!(imported.expose_bytes(), sk.expose_bytes());
    let other = format!("{password}x");
    assert_eq!(
        nip49::decrypt(&text, &other).map(|_| ()),
        Err(Nip49Error::WrongPassword)
    );
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let (key, password) = text.split_once('\0').unwrap_or((text, ""));
        check_text(key, password);
    } else {
        let _ = round_trip(&mut Unstructured::new(rest));
    }
});
