//! Test-only helpers shared by the unit tests of this crate: hex encoding and decoding.
//!
//! Must not be compiled outside `cfg(test)`; production code never formats bytes as hex.

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a hex string (either case); panics on malformed input because the inputs are
/// constants written in the tests.
#[track_caller]
pub(crate) fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex constant");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex constant"))
        .collect()
}
