//! Fuzz target: NIP-04 decryption (`proto::nostr::nip04`),
//! <https://github.com/nostr-protocol/nips/blob/master/04.md>.
//!
//! Input: a mode byte (its value modulo 3), then
//! - mode 0: a payload string `<base64>?iv=<base64>`, decrypted as sent;
//! - mode 1: a 16-byte IV and the plaintext blocks the decryptor must find (any bytes, cut to whole
//!   16-byte blocks), encrypted here with AES-256 in CBC mode written out block by block: the
//!   result must agree with PKCS#7 unpadding and UTF-8 decoding, stated plainly here;
//! - mode 2: an IV and a plaintext: `encrypt_with_iv` must give exactly this file's encryption,
//!   and decrypt back.
//!
//! Always checked: no panic, the documented order of the first checks, and one call holds at most
//! a few times the payload in memory.

#![no_main]

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use proto::nostr::nip04::{self, Error, SharedKey, MAX_PAYLOAD};
use proto::nostr::{PublicKey, SecretKey};
use std::sync::OnceLock;

/// The shared key of two fixed keys, and the same 32 bytes (the unhashed x of the ECDH point)
/// computed here with libsecp256k1 directly, for this file's AES.
fn key() -> &'static (SharedKey, [u8; 32]) {
    static KEY: OnceLock<(SharedKey, [u8; 32])> = OnceLock::new();
    KEY.get_or_init(|| {
        let secp = secp256k1::Secp256k1::new();
        let ours = secp256k1::SecretKey::from_byte_array([5; 32]).expect("valid scalar");
        let theirs = secp256k1::SecretKey::from_byte_array([6; 32]).expect("valid scalar");
        let (x, _) = secp256k1::PublicKey::from_secret_key(&secp, &theirs).x_only_public_key();
        let peer = PublicKey::from_bytes(&x.serialize()).expect("valid x");
        let shared = SharedKey::derive(&SecretKey::from_bytes(&[5; 32]).expect("valid"), &peer)
            .expect("ecdh");
        let point = secp256k1::ecdh::shared_secret_point(&peer.to_even_point(), &ours);
        let raw: [u8; 32] = point[..32].try_into().expect("32 bytes");
        (shared, raw)
    })
}

/// AES-256-CBC over whole blocks, no padding: `C_i = AES(P_i xor C_(i-1))`, `C_0 = IV`.
fn cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], blocks: &[u8]) -> Vec<u8> {
    let aes = Aes256::new(GenericArray::from_slice(key));
    let mut prev = *iv;
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks.chunks_exact(16) {
        let mut b = GenericArray::clone_from_slice(block);
        for (x, p) in b.iter_mut().zip(prev) {
            *x ^= p;
        }
        aes.encrypt_block(&mut b);
        prev.copy_from_slice(&b);
        out.extend_from_slice(&b);
    }
    out
}

fn payload(ciphertext: &[u8], iv: &[u8; 16]) -> String {
    format!("{}?iv={}", STANDARD.encode(ciphertext), STANDARD.encode(iv))
}

/// What decrypting `blocks` must give: PKCS#7 (last byte n in 1..=16, the last n bytes all n),
/// then UTF-8.
fn expected(blocks: &[u8]) -> Result<String, Error> {
    let Some(&n) = blocks.last() else {
        return Err(Error::DecryptFailed);
    };
    let n = usize::from(n);
    if !(1..=16).contains(&n)
        || blocks[blocks.len() - n..]
            .iter()
            .any(|&b| usize::from(b) != n)
    {
        return Err(Error::DecryptFailed);
    }
    String::from_utf8(blocks[..blocks.len() - n].to_vec()).map_err(|_| Error::InvalidUtf8)
}

fn decrypt(payload: &str) -> Result<String, Error> {
    bunkerd_fuzz::decrypt_bounded(payload, || nip04::decrypt(&key().0, payload))
}

fn split_iv(rest: &[u8]) -> Option<([u8; 16], &[u8])> {
    let iv = rest.get(..16)?.try_into().expect("16 bytes");
    Some((iv, &rest[16..]))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let out = decrypt(text);
            if text.len() > MAX_PAYLOAD {
                assert_eq!(out, Err(Error::TooLong));
            } else if !text.contains("?iv=") {
                assert_eq!(out, Err(Error::InvalidFormat));
            }
        }
        1 => {
            let Some((iv, blocks)) = split_iv(rest) else {
                return;
            };
            let blocks = &blocks[..blocks.len() / 16 * 16];
            let ciphertext = cbc_encrypt(&key().1, &iv, blocks);
            assert_eq!(decrypt(&payload(&ciphertext, &iv)), expected(blocks));
        }
        _ => {
            let Some((iv, text)) = split_iv(rest) else {
                return;
            };
            let Ok(text) = std::str::from_utf8(text) else {
                return;
            };
            let sent = nip04::encrypt_with_iv(&key().0, text, &iv);
            let mut padded = text.as_bytes().to_vec();
            let n = 16 - padded.len() % 16;
            padded.resize(padded.len() + n, u8::try_from(n).expect("at most 16"));
            assert_eq!(sent, payload(&cbc_encrypt(&key().1, &iv, &padded), &iv));
            assert_eq!(decrypt(&sent).as_deref(), Ok(text));
        }
    }
});
