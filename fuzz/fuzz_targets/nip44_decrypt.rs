//! Fuzz target: NIP-44 v2 decryption (`proto::nostr::nip44`),
//! <https://github.com/nostr-protocol/nips/blob/master/44.md>.
//!
//! A payload with a wrong MAC stops at the MAC check, so most inputs are sealed here first with
//! an independent implementation of the NIP-44 key schedule (HKDF-expand, ChaCha20, HMAC-SHA256):
//! the fuzzer then controls what the decryptor finds behind a valid MAC.
//!
//! Input: a mode byte (the value 3 selects mode 3; any other, its value modulo 3), then
//! - mode 0: a payload string, decrypted as sent;
//! - mode 1: a 32-byte nonce and the padded plaintext block (length prefix, text, padding), sealed
//!   with a valid MAC: decryption must agree with NIP-44's unpadding rules, stated plainly here;
//! - mode 2: a nonce and a plaintext: `encrypt_with_nonce` must give exactly this file's sealing,
//!   and decrypt back;
//! - mode 3: the same with the plaintext repeated past 65,535 bytes, in
//!   the extended 6-byte prefix form.
//!
//! Always checked: no panic, and one call holds at most a few times the payload in memory.

#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use proto::nostr::nip44::{self, ConversationKey, Error, MAX_DECRYPT_PAYLOAD};
use sha2::Sha256;

const CK: [u8; 32] = [0x42; 32];

/// NIP-44's padded length, as the spec's pseudocode states it.
fn padded_len(n: usize) -> usize {
    if n <= 32 {
        return 32;
    }
    let mut next_power = 1usize;
    while next_power < n {
        next_power *= 2;
    }
    let chunk = if next_power <= 256 {
        32
    } else {
        next_power / 8
    };
    chunk * ((n - 1) / chunk + 1)
}

/// `version 2 ‖ nonce ‖ ChaCha20(padded) ‖ HMAC(nonce ‖ ciphertext)`, base64.
fn seal(nonce: &[u8; 32], padded: &[u8]) -> String {
    let hk = Hkdf::<Sha256>::from_prk(&CK).expect("32-byte prk");
    let mut okm = [0u8; 76];
    hk.expand(nonce, &mut okm).expect("76 bytes");
    let mut data = vec![2u8];
    data.extend_from_slice(nonce);
    let mut body = padded.to_vec();
    ChaCha20::new(okm[..32].into(), okm[32..44].into()).apply_keystream(&mut body);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&okm[44..]).expect("any key size");
    mac.update(nonce);
    mac.update(&body);
    data.extend_from_slice(&body);
    data.extend_from_slice(&mac.finalize().into_bytes());
    STANDARD.encode(data)
}

/// The padded block of `text` (2-byte prefix below 65,536 bytes, else 0x0000 and 4 bytes).
fn pad(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match u16::try_from(text.len()) {
        Ok(n) => out.extend_from_slice(&n.to_be_bytes()),
        Err(_) => {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&u32::try_from(text.len()).expect("small").to_be_bytes());
        }
    }
    out.extend_from_slice(text);
    out.resize(out.len() + padded_len(text.len()) - text.len(), 0);
    out
}

/// What decrypting a correctly sealed `padded` block must give.
fn expected(padded: &[u8]) -> Result<String, Error> {
    if 1 + 32 + padded.len() + 32 < 99 {
        return Err(Error::InvalidDataSize);
    }
    if padded.len() < 2 {
        return Err(Error::InvalidPadding);
    }
    let short = usize::from(u16::from_be_bytes([padded[0], padded[1]]));
    let (len, prefix) = if short != 0 {
        (short, 2)
    } else {
        let Some(long) = padded.get(2..6) else {
            return Err(Error::InvalidPadding);
        };
        let long = u32::from_be_bytes(long.try_into().expect("4 bytes")) as usize;
        if long < 65_536 {
            return Err(Error::InvalidPadding);
        }
        (long, 6)
    };
    if prefix + padded_len(len) != padded.len() {
        return Err(Error::InvalidPadding);
    }
    String::from_utf8(padded[prefix..prefix + len].to_vec()).map_err(|_| Error::InvalidUtf8)
}

fn decrypt(payload: &str) -> Result<String, Error> {
    let ck = ConversationKey::from_bytes(CK);
    bunkerd_fuzz::decrypt_bounded(payload, || nip44::decrypt(&ck, payload))
}

fn split_nonce(rest: &[u8]) -> Option<([u8; 32], &[u8])> {
    let nonce = rest.get(..32)?.try_into().expect("32 bytes");
    Some((nonce, &rest[32..]))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // The extended form costs a 64 KiB encryption: one mode value in 256.
    let mode = if mode == 3 { 3 } else { mode % 3 };
    match mode {
        0 => {
            let Ok(payload) = std::str::from_utf8(rest) else {
                return;
            };
            let out = decrypt(payload);
            if payload.is_empty() || payload.starts_with('#') {
                assert_eq!(out, Err(Error::UnknownVersion));
            } else if payload.len() < 132 || payload.len() > MAX_DECRYPT_PAYLOAD {
                assert_eq!(out, Err(Error::InvalidPayloadSize));
            }
        }
        1 => {
            let Some((nonce, padded)) = split_nonce(rest) else {
                return;
            };
            let payload = seal(&nonce, padded);
            if payload.len() > MAX_DECRYPT_PAYLOAD {
                return;
            }
            let want = if payload.len() < 132 {
                Err(Error::InvalidPayloadSize)
            } else {
                expected(padded)
            };
            assert_eq!(decrypt(&payload), want);
        }
        m => {
            let Some((nonce, text)) = split_nonce(rest) else {
                return;
            };
            let Ok(text) = std::str::from_utf8(text) else {
                return;
            };
            let ck = ConversationKey::from_bytes(CK);
            if m == 2 {
                match nip44::encrypt_with_nonce(&ck, text, &nonce) {
                    Err(Error::MessageEmpty) => assert!(text.is_empty()),
                    Err(e) => panic!("encrypt failed: {e}"),
                    Ok(payload) => {
                        assert_eq!(payload, seal(&nonce, &pad(text.as_bytes())));
                        assert_eq!(decrypt(&payload).as_deref(), Ok(text));
                    }
                }
            } else if !text.is_empty() {
                let long = text.repeat(65_536 / text.len() + 1);
                let payload = nip44::encrypt_extended_with_nonce(&ck, &long, &nonce)
                    .expect("extended form encrypts");
                assert_eq!(payload, seal(&nonce, &pad(long.as_bytes())));
                if payload.len() <= MAX_DECRYPT_PAYLOAD {
                    assert_eq!(decrypt(&payload).as_deref(), Ok(long.as_str()));
                }
            }
        }
    }
});
