//! The syntax of the admin API's strings, checked before anything is looked up: ids, public and
//! secret keys, NIP-05 names and domains, pre-approved perms, audit actions and query numbers.
//!
//! Each check is the exact counterpart of a pattern the OpenAPI document declares (the `*_PATTERN`
//! constants, which `openapi.rs` and the wire schemas use), so a value the document accepts is
//! accepted here and a value it refuses is refused: the document is the contract, and the fuzzing
//! test (`tests/e2e/schemathesis.rs`) holds the server to it. What no pattern can say (a key on
//! the curve, a bech32 checksum, a password that decrypts) is checked after these, by the signer.

/// Tenant, user and admin-token ids: 32 lowercase hex characters.
pub(crate) const ID_PATTERN: &str = "^[0-9a-f]{32}$";

/// Bunker-URI ids (SHA-256 of the secret): 64 lowercase hex characters.
pub(crate) const HASH_PATTERN: &str = "^[0-9a-f]{64}$";

/// A public key: 64 hex characters (either case) or a lowercase `npub1…` (58 bech32 characters
/// after `npub1`).
pub(crate) const PUBKEY_PATTERN: &str = "^([0-9a-fA-F]{64}|npub1[02-9ac-hj-np-z]{58})$";

/// A secret key: 64 hex characters (either case) or a lowercase `nsec1…`.
pub(crate) const SECRET_KEY_PATTERN: &str = "^([0-9a-fA-F]{64}|nsec1[02-9ac-hj-np-z]{58})$";

/// A NIP-49 version-2 `ncryptsec1…` (lowercase, 162 characters).
pub(crate) const NCRYPTSEC_PATTERN: &str = "^ncryptsec1[02-9ac-hj-np-z]{152}$";

/// A NIP-05 local part: 1 to 64 characters of `a-z 0-9 . _ -`.
pub(crate) const NIP05_NAME_PATTERN: &str = "^[a-z0-9._-]{1,64}$";

/// A lowercase DNS name with at least two labels, each 1 to 63 characters of `a-z 0-9 -` not
/// starting or ending with `-` (and at most 253 characters in all: `maxLength`).
pub(crate) const DOMAIN_PATTERN: &str =
    "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$";

/// Longest NIP-05 domain, characters.
pub(crate) const MAX_DOMAIN_LEN: usize = 253;

/// An audit action or NIP-46 method: 1 to 64 characters of `a-z 0-9 _ . : -`.
pub(crate) const ACTION_PATTERN: &str = "^[a-z0-9_.:-]{1,64}$";

/// Display names and labels: at most this many characters (Unicode scalar values).
pub(crate) const MAX_NAME_CHARS: usize = 128;

/// Pre-approved perms on a bunker URI: a comma-separated list of NIP-46 methods, `sign_event`
/// taking an optional `:<kind>` (0..=65535, no leading zero), no spaces.
pub(crate) const PERMS_PATTERN: &str = concat!(
    "^(connect|get_public_key|logout|nip04_decrypt|nip04_encrypt|nip44_decrypt|nip44_encrypt",
    "|ping|switch_relays|sign_event(:(0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}",
    "|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?)",
    "(,(connect|get_public_key|logout|nip04_decrypt|nip04_encrypt|nip44_decrypt|nip44_encrypt",
    "|ping|switch_relays|sign_event(:(0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}",
    "|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?))*$"
);

/// Longest pre-approved perms string, characters.
pub(crate) const MAX_PERMS_LEN: usize = 1024;

/// The bech32 data characters.
const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// `len` lowercase hex characters.
pub(crate) fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A tenant, user or admin-token id ([`ID_PATTERN`]).
pub(crate) fn id(s: &str) -> bool {
    lower_hex(s, 32)
}

/// `prefix` then exactly `len` bech32 data characters (lowercase).
fn bech32_text(s: &str, prefix: &str, len: usize) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == len && rest.bytes().all(|b| BECH32.contains(&b)))
}

/// 64 hex characters of either case.
fn any_case_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// [`PUBKEY_PATTERN`].
pub(crate) fn pubkey_text(s: &str) -> bool {
    any_case_hex64(s) || bech32_text(s, "npub1", 58)
}

/// [`SECRET_KEY_PATTERN`].
pub(crate) fn secret_key_text(s: &str) -> bool {
    any_case_hex64(s) || bech32_text(s, "nsec1", 58)
}

/// [`NCRYPTSEC_PATTERN`].
pub(crate) fn ncryptsec_text(s: &str) -> bool {
    bech32_text(s, "ncryptsec1", 152)
}

/// [`NIP05_NAME_PATTERN`].
pub(crate) fn nip05_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// [`DOMAIN_PATTERN`] and at most [`MAX_DOMAIN_LEN`] characters.
pub(crate) fn domain(s: &str) -> bool {
    s.len() <= MAX_DOMAIN_LEN
        && s.contains('.')
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        })
}

/// [`ACTION_PATTERN`].
pub(crate) fn action(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b':' | b'-'))
}

/// A display name or label of at most [`MAX_NAME_CHARS`] characters (`min` 1: not empty).
pub(crate) fn name(s: &str, min: usize) -> bool {
    (min..=MAX_NAME_CHARS).contains(&s.chars().count())
}

/// [`PERMS_PATTERN`] and at most [`MAX_PERMS_LEN`] characters.
pub(crate) fn perms(s: &str) -> bool {
    s.len() <= MAX_PERMS_LEN && s.split(',').all(perm)
}

/// One item of [`PERMS_PATTERN`].
fn perm(item: &str) -> bool {
    let (method, kind) = match item.split_once(':') {
        Some((method, kind)) => (method, Some(kind)),
        None => (item, None),
    };
    let Some(method) = proto::policy::Method::from_name(method) else {
        return false;
    };
    match kind {
        None => true,
        Some(kind) => method == proto::policy::Method::SignEvent && kind_text(kind),
    }
}

/// An event kind in decimal, 0..=65535, without a sign or a leading zero.
fn kind_text(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
        && s.parse::<u16>().is_ok()
}

/// A decimal integer without sign (leading zeros allowed), as a query parameter holds one; `None`
/// for anything else or a value over `u64::MAX`.
pub(crate) fn unsigned(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ids() {
        let hex = "ab".repeat(32);
        assert!(pubkey_text(&hex) && pubkey_text(&hex.to_ascii_uppercase()));
        assert!(!pubkey_text(&hex[1..]) && !pubkey_text(&format!(" {hex}")));
        let npub = format!("npub1{}", "q".repeat(58));
        assert!(pubkey_text(&npub) && !pubkey_text(&npub.to_ascii_uppercase()));
        assert!(
            !pubkey_text(&format!("npub1{}", "b".repeat(58))),
            "b is not bech32"
        );
        assert!(secret_key_text(&format!("nsec1{}", "7".repeat(58))));
        assert!(!secret_key_text(&format!("nsec1{}", "1".repeat(58))));
        assert!(ncryptsec_text(&format!("ncryptsec1{}", "a".repeat(152))));
        assert!(!ncryptsec_text(&format!("ncryptsec1{}", "a".repeat(151))));
        assert!(id(&"0f".repeat(16)) && !id(&"0F".repeat(16)) && !id("0f"));
    }

    #[test]
    fn names_domains_actions() {
        assert!(name(&"é".repeat(128), 1), "characters, not bytes");
        assert!(!name(&"a".repeat(129), 0) && !name("", 1) && name("", 0));
        assert!(nip05_name("alice.b-c_1") && !nip05_name("Alice") && !nip05_name(""));
        assert!(domain("a.b") && domain("x-1.example.org"));
        for bad in [
            "example",
            "-a.b",
            "a-.b",
            "a..b",
            "A.b",
            "a.b.",
            &"a".repeat(64),
        ] {
            assert!(!domain(bad), "{bad}");
        }
        assert!(action("user.create") && action("sign_event") && !action("User") && !action(""));
    }

    #[test]
    fn perms_are_strict() {
        for good in [
            "sign_event",
            "sign_event:0",
            "sign_event:65535,nip44_encrypt",
            "ping",
        ] {
            assert!(perms(good), "{good}");
        }
        for bad in [
            "",
            "sign_event:01",
            "sign_event:65536",
            "nip44_encrypt:1",
            "sign_event, ping",
            "sign_events",
            "ping,",
            "get_relays",
        ] {
            assert!(!perms(bad), "{bad}");
        }
    }

    #[test]
    fn unsigned_numbers() {
        assert_eq!(unsigned("0"), Some(0));
        assert_eq!(unsigned("007"), Some(7));
        assert_eq!(unsigned("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "+1", "-1", "1.0", "18446744073709551616", " 1"] {
            assert_eq!(unsigned(bad), None, "{bad}");
        }
    }
}
