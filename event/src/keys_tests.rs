//! Tests of public keys: hex parsing rules (lowercase only, exact length, on the curve), display,
//! and the lift cache.

use super::*;

#[test]
fn public_key_hex_rules() {
    let hex = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let pk = PublicKey::from_hex(hex).expect("generator x");
    assert_eq!(pk.to_hex(), hex);
    assert_eq!(pk.to_string(), hex);
    assert_eq!(format!("{pk:?}"), hex);
    assert_eq!(
        PublicKey::from_hex(&hex.to_uppercase()),
        Err(Error::InvalidHex)
    );
    assert_eq!(PublicKey::from_hex(&hex[..62]), Err(Error::InvalidHex));
    assert_eq!(
        PublicKey::from_hex(&format!("{hex}00")),
        Err(Error::InvalidHex)
    );
    assert_eq!(
        PublicKey::from_hex(&format!("{}g", &hex[..63])),
        Err(Error::InvalidHex)
    );
    assert_eq!(
        PublicKey::from_hex(&"f".repeat(64)),
        Err(Error::InvalidPublicKey)
    );
    assert_eq!(
        PublicKey::from_hex(&"0".repeat(64)),
        Err(Error::InvalidPublicKey)
    );
}

#[test]
fn lift_cache_gives_the_same_keys_and_remembers_only_valid_ones() {
    let hex = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let mut cache = LiftCache::default();
    let first = cache.public_key_from_hex(hex).expect("generator x");
    assert_eq!(first, PublicKey::from_hex(hex).expect("generator x"));
    assert_eq!(cache.public_key_from_hex(hex), Ok(first));
    assert_eq!(cache.lifted.len(), 1);
    assert_eq!(cache.public_key(&[0xff; 32]), Err(Error::InvalidPublicKey));
    assert_eq!(cache.lifted.len(), 1, "an invalid key is not remembered");
    assert_eq!(
        cache.public_key_from_hex(&hex.to_uppercase()),
        Err(Error::InvalidHex)
    );
}
