//! Operating-system randomness for keys, nonces, IVs and context blinding.
//!
//! Must not: fall back to a weaker source. Without OS entropy bunkerd cannot produce a safe key,
//! nonce or signature, so failure is a panic rather than an error every caller would have to handle
//! the same way. Main item: [`fill`].

/// Fills `buf` from the OS CSPRNG (`getrandom`).
///
/// # Panics
///
/// If the operating system cannot supply randomness (no entropy source at all); continuing would
/// risk repeated nonces or predictable keys.
pub(crate) fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("operating-system randomness unavailable");
}

/// Returns `N` fresh random bytes. Callers holding secrets in the result must zeroize it.
pub(crate) fn array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out);
    out
}
