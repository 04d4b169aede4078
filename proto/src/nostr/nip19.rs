//! NIP-19 bech32 keys, only what bunkerd needs: `nsec` and `npub`, in and out.
//!
//! Must not: accept bech32m checksums (NIP-19 uses BIP-173 bech32), non-zero padding bits, a
//! payload other than 32 bytes, or TLV entities (`nprofile`, …). Main items: [`decode_nsec`],
//! [`decode_npub`], [`encode_nsec`], [`encode_npub`].

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use zeroize::Zeroizing;

use super::{Error, PublicKey, SecretKey};

#[cfg(test)]
#[path = "nip19_tests.rs"]
mod tests;

const NSEC: Hrp = Hrp::parse_unchecked("nsec");
const NPUB: Hrp = Hrp::parse_unchecked("npub");
/// BIP-173 length limit; an `nsec`/`npub` is 63 chars. Bounds the checksum work on hostile input.
const MAX_LEN: usize = 90;
/// `nsec1`/`npub1` + 52 data chars + 6 checksum chars.
const ENCODED_LEN: usize = 63;

/// Decodes `nsec1…` (lowercase or all-uppercase) into a secret key.
///
/// # Errors
///
/// [`Error::InvalidBech32`] for a bad checksum (or a bech32m one), another prefix, mixed case,
/// non-zero padding bits or a payload that is not 32 bytes; [`Error::InvalidSecretKey`] if the
/// 32 bytes are 0 or `>= n`.
///
/// # Security
///
/// The decoded bytes are zeroized; the input string is the caller's to wipe.
pub fn decode_nsec(s: &str) -> Result<SecretKey, Error> {
    let bytes = decode_32(s, NSEC)?;
    SecretKey::from_bytes(&bytes)
}

/// Decodes `npub1…` (lowercase or all-uppercase) into a public key.
///
/// # Errors
///
/// [`Error::InvalidBech32`] as for [`decode_nsec`]; [`Error::InvalidPublicKey`] if the 32 bytes
/// are not the x coordinate of a curve point.
pub fn decode_npub(s: &str) -> Result<PublicKey, Error> {
    let bytes = decode_32(s, NPUB)?;
    Ok(PublicKey::from_bytes(&bytes)?)
}

/// The 32-byte payload of a bech32 string with prefix `hrp`, wiped on drop.
fn decode_32(s: &str, hrp: Hrp) -> Result<Zeroizing<[u8; 32]>, Error> {
    if s.len() > MAX_LEN {
        return Err(Error::InvalidBech32);
    }
    let checked = CheckedHrpstring::new::<Bech32>(s).map_err(|_| Error::InvalidBech32)?;
    if checked.hrp() != hrp || checked.validate_segwit_padding().is_err() {
        return Err(Error::InvalidBech32);
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    let mut n = 0;
    for b in checked.byte_iter() {
        *bytes.get_mut(n).ok_or(Error::InvalidBech32)? = b;
        n += 1;
    }
    if n != 32 {
        return Err(Error::InvalidBech32);
    }
    Ok(bytes)
}

/// Encodes a public key as `npub1…` (63 lowercase chars).
pub fn encode_npub(pk: &PublicKey) -> String {
    let mut out = String::with_capacity(ENCODED_LEN);
    encode_into(&mut out, NPUB, pk.as_bytes());
    out
}

/// Encodes a secret key as `nsec1…` (63 lowercase chars), in a string wiped on drop.
///
/// # Security
///
/// For showing a key to its owner once (export). The string is allocated at its final size so no
/// reallocation leaves a copy behind.
pub fn encode_nsec(sk: &SecretKey) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(ENCODED_LEN));
    encode_into(&mut out, NSEC, sk.expose_bytes());
    out
}

fn encode_into(out: &mut String, hrp: Hrp, data: &[u8; 32]) {
    // Writing into a String cannot fail and 32 bytes are far below bech32's length limit.
    bech32::encode_to_fmt::<Bech32, String>(out, hrp, data)
        .expect("32-byte payload always encodes");
    debug_assert_eq!(out.len(), ENCODED_LEN);
}
