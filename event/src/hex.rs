//! Strict lowercase hex decoding (NIP-01: ids, pubkeys and signatures are lowercase hex).
//!
//! Must not: accept uppercase, odd lengths or anything but `0-9a-f`; branch on character values
//! (secret keys pass through here, so each character is decoded with arithmetic masks rather than
//! a lookup table or a `match`). Encoding is branch-free in the same way, and writes straight into
//! the caller's string (`hex::encode` goes through a per-character iterator, ≈ 3 % of a request).
//! Main items: [`decode_into`], [`push_encoded`].

/// Decodes `s` (exactly `2 * out.len()` lowercase hex chars) into `out`.
///
/// Returns `false` on a wrong length or any invalid character; `out` may then hold partial data,
/// so callers holding secrets pass a zeroizing buffer. The loop visits every character before
/// reporting, so timing depends only on the length.
pub fn decode_into(s: &str, out: &mut [u8]) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() != out.len() * 2 {
        return false;
    }
    let mut bad = 0u8;
    for (dst, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, hi_bad) = nibble(pair[0]);
        let (lo, lo_bad) = nibble(pair[1]);
        *dst = (hi << 4) | lo;
        bad |= hi_bad | lo_bad;
    }
    bad == 0
}

/// Decodes one lowercase hex digit without data-dependent branches: returns (value, 1 if invalid).
fn nibble(c: u8) -> (u8, u8) {
    let digit = c.wrapping_sub(b'0');
    let letter = c.wrapping_sub(b'a');
    // `x.wrapping_sub(k) >> 8 & 1` (in u16) is 1 exactly when x < k.
    let is_digit = ((u16::from(digit).wrapping_sub(10) >> 8) & 1) as u8;
    let is_letter = ((u16::from(letter).wrapping_sub(6) >> 8) & 1) as u8;
    let value =
        (digit & is_digit.wrapping_neg()) | (letter.wrapping_add(10) & is_letter.wrapping_neg());
    (value, 1 ^ (is_digit | is_letter))
}

/// Decodes exactly `2 * N` lowercase hex chars into an array (public data only: the copy is not
/// zeroized).
pub fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    decode_into(s, &mut out).then_some(out)
}

/// Appends the lowercase hex of `bytes` to `out` (two chars per byte), without data-dependent
/// branches or table lookups.
pub fn push_encoded(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(digit(b >> 4)));
        out.push(char::from(digit(b & 0x0f)));
    }
}

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_encoded(&mut out, bytes);
    out
}

/// The hex digit of a nibble (`0..=15`): `'0' + n`, plus 39 (`'a' - '0' - 10`) when `n > 9`.
fn digit(n: u8) -> u8 {
    let above_nine = ((9u16.wrapping_sub(u16::from(n)) >> 8) & 1) as u8;
    b'0' + n + 39 * above_nine
}

#[cfg(test)]
mod encode_tests {
    #[test]
    fn encodes_every_byte_like_the_hex_crate() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(super::encode(&all), hex::encode(&all));
        let mut s = String::from("x");
        super::push_encoded(&mut s, &[0xab, 0x01]);
        assert_eq!(s, "xab01");
        assert_eq!(
            super::decode_array::<128>(&super::encode(&all[..128])).unwrap()[..],
            all[..128]
        );
    }
}
