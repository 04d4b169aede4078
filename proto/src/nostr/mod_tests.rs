//! Cross-module tests: error codes, and a deterministic property-style loop over random keys and
//! plaintexts (NIP-44 and NIP-04 round trips, symmetric conversation keys).

use super::*;
use crate::nostr::Crypto;

/// SplitMix64: a tiny deterministic generator so failures reproduce (no proptest dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn secret_key(&mut self) -> SecretKey {
        loop {
            let mut b = [0u8; 32];
            b.chunks_mut(8)
                .for_each(|c| c.copy_from_slice(&self.next().to_le_bytes()));
            if let Ok(sk) = SecretKey::from_bytes(&b) {
                return sk;
            }
        }
    }

    /// A string of exactly `len` UTF-8 bytes mixing 1-, 2-, 3- and 4-byte characters and controls.
    fn text(&mut self, len: usize) -> String {
        const PIECES: [&str; 8] = ["a", "Z", "\n", "\"", "\u{0}", "é", "€", "🦄"];
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let piece = PIECES[self.below(PIECES.len())];
            out.push_str(if out.len() + piece.len() <= len {
                piece
            } else {
                "x"
            });
        }
        out
    }
}

#[track_caller]
fn check(rng: &mut Rng) {
    let (a, b) = (rng.secret_key(), rng.secret_key());
    let (pub_a, pub_b) = (
        a.public_key(&mut Crypto::from_os_rng()),
        b.public_key(&mut Crypto::from_os_rng()),
    );
    let ck_ab = nip44::ConversationKey::derive(&a, &pub_b).expect("derive");
    let ck_ba = nip44::ConversationKey::derive(&b, &pub_a).expect("derive");
    assert_eq!(
        ck_ab.as_bytes(),
        ck_ba.as_bytes(),
        "conv(a, B) == conv(b, A)"
    );
    let len = 1 + rng.below(2000);
    let text = rng.text(len);
    assert_eq!(text.len(), len);
    let payload = nip44::encrypt(&ck_ab, &text, &mut Crypto::from_os_rng()).expect("encrypt");
    assert_eq!(nip44::decrypt(&ck_ba, &payload).expect("decrypt"), text);
    let (k_ab, k_ba) = (
        nip04::SharedKey::derive(&a, &pub_b),
        nip04::SharedKey::derive(&b, &pub_a),
    );
    let (k_ab, k_ba) = (k_ab.expect("derive"), k_ba.expect("derive"));
    assert_eq!(
        nip04::decrypt(
            &k_ba,
            &nip04::encrypt(&k_ab, &text, &mut Crypto::from_os_rng())
        )
        .expect("decrypt"),
        text
    );
}

#[test]
fn random_round_trips_and_symmetric_keys() {
    let mut rng = Rng(0x6e6f_7374_7221);
    for _ in 0..200 {
        check(&mut rng);
    }
}

#[test]
fn error_codes_are_distinct_snake_case() {
    let errors = [
        Error::InvalidHex,
        Error::InvalidPublicKey,
        Error::InvalidSecretKey,
        Error::InvalidSignature,
        Error::InvalidId,
        Error::InvalidEvent("x"),
        Error::InvalidBech32,
        Error::Nip44(nip44::Error::UnknownVersion),
        Error::Nip44(nip44::Error::InvalidPayloadSize),
        Error::Nip44(nip44::Error::InvalidBase64),
        Error::Nip44(nip44::Error::InvalidDataSize),
        Error::Nip44(nip44::Error::InvalidMac),
        Error::Nip44(nip44::Error::InvalidPadding),
        Error::Nip44(nip44::Error::InvalidUtf8),
        Error::Nip44(nip44::Error::MessageEmpty),
        Error::Nip44(nip44::Error::MessageTooLong),
        Error::Nip44(nip44::Error::InvalidKey),
        Error::Nip04(nip04::Error::InvalidFormat),
        Error::Nip04(nip04::Error::InvalidBase64),
        Error::Nip04(nip04::Error::InvalidIv),
        Error::Nip04(nip04::Error::DecryptFailed),
        Error::Nip04(nip04::Error::InvalidUtf8),
        Error::Nip04(nip04::Error::InvalidKey),
        Error::Nip04(nip04::Error::TooLong),
    ];
    let mut codes: Vec<&str> = errors.iter().map(Error::code).collect();
    for code in &codes {
        assert!(
            code.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
            "{code}"
        );
    }
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len(), "codes are unique");
}

#[test]
fn display_is_fixed_text() {
    assert_eq!(
        Error::InvalidEvent("kind is above 65535").to_string(),
        "invalid event: kind is above 65535"
    );
    assert_eq!(
        Error::from(nip44::Error::InvalidMac).to_string(),
        "nip44: invalid mac"
    );
    assert_eq!(
        Error::from(nip04::Error::TooLong).to_string(),
        "nip04: payload too long"
    );
}
