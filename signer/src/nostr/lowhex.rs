//! Strict lowercase hex decoding (NIP-01: ids, pubkeys and signatures are lowercase hex).
//!
//! Must not: accept uppercase, odd lengths or anything but `0-9a-f`; branch on character values
//! (secret keys pass through here, so each character is decoded with arithmetic masks rather than
//! a lookup table or a `match`). Encoding uses `hex::encode`, which already emits lowercase.
//! Main item: [`decode_into`].

/// Decodes `s` (exactly `2 * out.len()` lowercase hex chars) into `out`.
///
/// Returns `false` on a wrong length or any invalid character; `out` may then hold partial data,
/// so callers holding secrets pass a zeroizing buffer. The loop visits every character before
/// reporting, so timing depends only on the length.
pub(crate) fn decode_into(s: &str, out: &mut [u8]) -> bool {
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
pub(crate) fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    decode_into(s, &mut out).then_some(out)
}
