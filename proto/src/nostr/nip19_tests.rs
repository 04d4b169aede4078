//! Tests of NIP-19 `nsec`/`npub`: the examples printed in NIP-19 (`19.md`), round trips and the
//! strictness rules (checksum variant, prefix, case, padding, length, scalar range).

use crate::nostr::Crypto;
use bech32::Bech32m;

use super::*;

/// Examples from NIP-19 (`19.md`, "Examples").
const NSEC_EXAMPLE: &str = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5";
const NSEC_EXAMPLE_HEX: &str = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa";
const NPUB_EXAMPLE: &str = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg";
const NPUB_EXAMPLE_HEX: &str = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";

#[track_caller]
fn check(input: &str, expected: Result<&str, Error>) {
    let got = decode_nsec(input).map(|sk| hex::encode(sk.expose_bytes()));
    assert_eq!(got.as_deref().map_err(Clone::clone), expected);
}

fn encode_raw<Ck: bech32::Checksum>(hrp: &str, data: &[u8]) -> String {
    bech32::encode::<Ck>(Hrp::parse(hrp).expect("hrp"), data).expect("encode")
}

#[test]
fn nip19_examples() {
    check(NSEC_EXAMPLE, Ok(NSEC_EXAMPLE_HEX));
    let sk = SecretKey::from_hex(NSEC_EXAMPLE_HEX).expect("hex");
    assert_eq!(encode_nsec(&sk).as_str(), NSEC_EXAMPLE);
    let pk = PublicKey::from_hex(NPUB_EXAMPLE_HEX).expect("hex");
    assert_eq!(encode_npub(&pk), NPUB_EXAMPLE);
}

#[test]
fn round_trip_and_case() {
    let sk = SecretKey::generate(&mut Crypto::from_os_rng());
    let nsec = encode_nsec(&sk);
    assert_eq!(nsec.len(), 63);
    check(&nsec, Ok(&hex::encode(sk.expose_bytes())));
    check(&nsec.to_uppercase(), Ok(&hex::encode(sk.expose_bytes())));
    let mixed = format!("NSEC{}", &NSEC_EXAMPLE[4..]);
    check(&mixed, Err(Error::InvalidBech32));
    assert!(encode_npub(&sk.public_key(&mut Crypto::from_os_rng())).starts_with("npub1"));
}

#[test]
fn strictness() {
    let bytes = hex::decode(NSEC_EXAMPLE_HEX).expect("hex");
    check(NPUB_EXAMPLE, Err(Error::InvalidBech32));
    check(
        &encode_raw::<Bech32m>("nsec", &bytes),
        Err(Error::InvalidBech32),
    );
    check(
        &encode_raw::<Bech32>("nsec", &bytes[..31]),
        Err(Error::InvalidBech32),
    );
    check(
        &encode_raw::<Bech32>("nsec", &[bytes.as_slice(), &[0]].concat()),
        Err(Error::InvalidBech32),
    );
    check(
        &encode_raw::<Bech32>("nsec", &[0u8; 32]),
        Err(Error::InvalidSecretKey),
    );
    check(
        &encode_raw::<Bech32>("nsec", &[0xffu8; 32]),
        Err(Error::InvalidSecretKey),
    );
    check(
        &format!("{}x", &NSEC_EXAMPLE[..62]),
        Err(Error::InvalidBech32),
    );
    check(&"q".repeat(200), Err(Error::InvalidBech32));
    check("", Err(Error::InvalidBech32));
}

/// 52 data characters carry 260 bits: the last 4 must be zero (BIP-173 padding rule).
#[test]
fn nonzero_padding_bits_rejected() {
    let checked = CheckedHrpstring::new::<Bech32>(NSEC_EXAMPLE).expect("valid");
    let mut fes: Vec<bech32::Fe32> = checked.fe32_iter::<std::iter::Empty<u8>>().collect();
    let last = fes.last_mut().expect("data");
    *last = bech32::Fe32::try_from(last.to_u8() | 1).expect("5-bit");
    let tampered: String = {
        use bech32::Fe32IterExt;
        fes.into_iter()
            .with_checksum::<Bech32>(&NSEC)
            .chars()
            .collect()
    };
    check(&tampered, Err(Error::InvalidBech32));
}

#[test]
fn npub_round_trips_and_rejects_nsec_prefix() {
    let keys = crate::nostr::Keypair::generate(&mut Crypto::from_os_rng());
    let npub = super::encode_npub(&keys.public_key());
    assert_eq!(super::decode_npub(&npub).unwrap(), keys.public_key());
    assert_eq!(
        super::decode_npub(&npub.to_ascii_uppercase()).unwrap(),
        keys.public_key()
    );
    let nsec = super::encode_nsec(&keys.secret_key());
    assert!(super::decode_npub(&nsec).is_err());
    assert!(super::decode_nsec(&npub).is_err());
}
