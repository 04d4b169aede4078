//! Tests of NIP-98 verification: real events signed here (valid GET and POST, then each check
//! failing on its own), header syntax and size, and the example header printed in `98.md` (in
//! `vectors/nip98.vectors.json`, see `vectors/SOURCES.md`).

use crate::nostr::Crypto;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use serde_json::Value;

use super::super::{Keypair, UnsignedEvent};
use super::*;

const VECTOR: &str = include_str!("vectors/nip98.vectors.json");
const NOW: u64 = 1_700_000_000;
const URL: &str = "https://bunker.example.com/admin/tenants?limit=10";
const BODY: &[u8] = br#"{"name":"acme"}"#;
/// SHA-256 of the empty string.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn tag(name: &str, value: &str) -> Vec<String> {
    vec![name.to_owned(), value.to_owned()]
}

fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// A kind-27235 event for `URL` at `NOW`; `edit` changes it before signing.
fn signed(keys: &Keypair, edit: impl FnOnce(&mut UnsignedEvent)) -> Event {
    let mut unsigned = UnsignedEvent {
        created_at: NOW,
        kind: KIND_HTTP_AUTH,
        tags: vec![tag("u", URL), tag("method", "GET")],
        content: String::new(),
    };
    edit(&mut unsigned);
    keys.sign_event(unsigned, &mut Crypto::from_os_rng())
}

fn header_of(event: &Event) -> String {
    format!("Nostr {}", STANDARD.encode(event.to_json()))
}

fn post_event(keys: &Keypair) -> Event {
    signed(keys, |e| {
        e.tags = vec![
            tag("u", URL),
            tag("method", "POST"),
            tag("payload", &body_hash(BODY)),
        ]
    })
}

#[track_caller]
fn check(header: &str, expected: &Expected<'_>, now: u64, want: Result<PublicKey, Nip98Error>) {
    assert_eq!(verify(header, expected, now), want);
}

#[track_caller]
fn check_get(edit: impl FnOnce(&mut UnsignedEvent), want: Nip98Error) {
    let header = header_of(&signed(
        &Keypair::generate(&mut Crypto::from_os_rng()),
        edit,
    ));
    check(&header, &Expected::new(URL, "GET", b""), NOW, Err(want));
}

#[test]
fn valid_get() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let header = header_of(&signed(&keys, |_| {}));
    let get = Expected::new(URL, "GET", b"");
    check(&header, &get, NOW, Ok(keys.public_key()));
}

#[test]
fn valid_post_with_body() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let header = header_of(&post_event(&keys));
    check(
        &header,
        &Expected::new(URL, "POST", BODY),
        NOW,
        Ok(keys.public_key()),
    );
}

#[test]
fn header_syntax_variants_accepted() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    // "?????" contains an aligned 3-byte group wherever it lands, which encodes as "Pz8/": the
    // token is sure to contain '/', the character the URL-safe alphabet replaces.
    let event = signed(&keys, |e| e.content = "?????".to_owned());
    let json = event.to_json();
    let get = Expected::new(URL, "GET", b"");
    let ok = Ok(keys.public_key());
    let padded = STANDARD.encode(&json);
    assert!(padded.contains('/'));
    for header in [
        format!("Nostr {padded}"),
        format!("nostr {padded}"),
        format!("NOSTR {padded}"),
        format!("  Nostr \t {padded} "),
        format!("Nostr {}", STANDARD_NO_PAD.encode(&json)),
    ] {
        check(&header, &get, NOW, ok);
    }
    let url_safe = format!("Nostr {}", URL_SAFE.encode(&json));
    check(&url_safe, &get, NOW, Err(Nip98Error::MissingOrMalformed));
}

#[test]
fn time_window_is_inclusive_and_configurable() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let header = header_of(&signed(&keys, |_| {}));
    let get = Expected::new(URL, "GET", b"");
    let ok = Ok(keys.public_key());
    check(&header, &get, NOW - 60, ok);
    check(&header, &get, NOW + 60, ok);
    // Event created 61 s before now (stale) and 61 s after now (from the future).
    check(&header, &get, NOW + 61, Err(Nip98Error::Stale));
    check(&header, &get, NOW - 61, Err(Nip98Error::Stale));
    let wide = Expected {
        window_secs: 300,
        ..get
    };
    check(&header, &wide, NOW + 61, ok);
    check(&header, &wide, NOW + 301, Err(Nip98Error::Stale));
}

#[test]
fn wrong_url() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let header = header_of(&signed(&keys, |_| {}));
    for url in [
        "https://bunker.example.com/admin/tenants?limit=11",
        "https://bunker.example.com/admin/tenants",
        "https://bunker.example.com:443/admin/tenants?limit=10",
        "https://BUNKER.example.com/admin/tenants?limit=10",
        "http://bunker.example.com/admin/tenants?limit=10",
    ] {
        let expected = Expected::new(url, "GET", b"");
        check(&header, &expected, NOW, Err(Nip98Error::UrlMismatch));
    }
}

#[test]
fn missing_empty_or_duplicate_u_tag() {
    check_get(
        |e| e.tags = vec![tag("method", "GET")],
        Nip98Error::UrlMismatch,
    );
    let bare_u = vec!["u".to_owned()];
    check_get(
        |e| e.tags = vec![bare_u, tag("method", "GET")],
        Nip98Error::UrlMismatch,
    );
    check_get(|e| e.tags.push(tag("u", URL)), Nip98Error::UrlMismatch);
}

#[test]
fn wrong_method() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let header = header_of(&signed(&keys, |_| {}));
    let post = Expected::new(URL, "POST", b"");
    check(&header, &post, NOW, Err(Nip98Error::MethodMismatch));
    check_get(|e| e.tags = vec![tag("u", URL)], Nip98Error::MethodMismatch);
    check_get(
        |e| e.tags.push(tag("method", "GET")),
        Nip98Error::MethodMismatch,
    );
    // Case is folded: nostr-tools passes the method through as its caller spells it.
    let lower = signed(&keys, |e| e.tags[1] = tag("method", "get"));
    let get = Expected::new(URL, "GET", b"");
    check(&header_of(&lower), &get, NOW, Ok(keys.public_key()));
}

#[test]
fn wrong_payload_hash() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let header = header_of(&post_event(&keys));
    let other_body = Expected::new(URL, "POST", br#"{"name":"evil"}"#);
    check(&header, &other_body, NOW, Err(Nip98Error::PayloadMismatch));
    let no_body = Expected::new(URL, "POST", b"");
    check(&header, &no_body, NOW, Err(Nip98Error::PayloadMismatch));
    let upper = signed(&keys, |e| {
        e.tags = vec![
            tag("u", URL),
            tag("method", "POST"),
            tag("payload", &body_hash(BODY).to_uppercase()),
        ]
    });
    let post = Expected::new(URL, "POST", BODY);
    check(
        &header_of(&upper),
        &post,
        NOW,
        Err(Nip98Error::PayloadMismatch),
    );
    let twice = signed(&keys, |e| {
        let t = tag("payload", &body_hash(BODY));
        e.tags = vec![tag("u", URL), tag("method", "POST"), t.clone(), t];
    });
    check(
        &header_of(&twice),
        &post,
        NOW,
        Err(Nip98Error::PayloadMismatch),
    );
}

#[test]
fn payload_tag_for_empty_body_must_hash_the_empty_string() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let get = Expected::new(URL, "GET", b"");
    let empty = signed(&keys, |e| e.tags.push(tag("payload", EMPTY_SHA256)));
    check(&header_of(&empty), &get, NOW, Ok(keys.public_key()));
    check_get(
        |e| e.tags.push(tag("payload", &body_hash(BODY))),
        Nip98Error::PayloadMismatch,
    );
}

#[test]
fn missing_payload_for_a_body() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let event = signed(&keys, |e| e.tags[1] = tag("method", "POST"));
    let post = Expected::new(URL, "POST", BODY);
    check(
        &header_of(&event),
        &post,
        NOW,
        Err(Nip98Error::PayloadMissing),
    );
}

#[test]
fn wrong_kind() {
    for kind in [1, 27234, 27236, 22242] {
        check_get(|e| e.kind = kind, Nip98Error::WrongKind);
    }
}

#[test]
fn bad_signature_or_id() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let get = Expected::new(URL, "GET", b"");
    let mut event = signed(&keys, |_| {});
    event.sig[10] ^= 0x01;
    check(&header_of(&event), &get, NOW, Err(Nip98Error::BadSignature));
    // Content changed after signing: the id no longer matches.
    let mut event = signed(&keys, |_| {});
    event.content = "changed".to_owned();
    check(&header_of(&event), &get, NOW, Err(Nip98Error::BadSignature));
    // Signed by another key than the `pubkey` it claims.
    let mut event = signed(&keys, |_| {});
    event.pubkey = Keypair::generate(&mut Crypto::from_os_rng()).public_key();
    event.id = event::compute_id(
        &event.pubkey,
        event.created_at,
        event.kind,
        &event.tags,
        &event.content,
    );
    check(&header_of(&event), &get, NOW, Err(Nip98Error::BadSignature));
}

#[test]
fn garbage_headers_are_malformed() {
    let json = signed(&Keypair::generate(&mut Crypto::from_os_rng()), |_| {}).to_json();
    let b64 = STANDARD.encode(&json);
    let get = Expected::new(URL, "GET", b"");
    for header in [
        String::new(),
        "Nostr".to_owned(),
        "Nostr ".to_owned(),
        format!("Bearer {b64}"),
        format!("Nostr{b64}"),
        format!("Nostr {b64}!"),
        format!("Nostr {}", &b64[..b64.len() - 5]),
        format!("Nostr {} {}", &b64[..8], &b64[8..]),
        "Nostr not*base64".to_owned(),
        format!("Nostr {}", STANDARD.encode([0xff, 0xfe, 0x00])),
        format!("Nostr {}", STANDARD.encode("{\"kind\":27235}")),
        format!(
            "Nostr {}",
            STANDARD.encode(json.replace("\"sig\"", "\"sgi\""))
        ),
    ] {
        check(&header, &get, NOW, Err(Nip98Error::MissingOrMalformed));
    }
}

#[test]
fn oversize_header_is_refused_before_decoding() {
    let keys = Keypair::generate(&mut Crypto::from_os_rng());
    let get = Expected::new(URL, "GET", b"");
    let header_with = |len: usize| header_of(&signed(&keys, |e| e.content = "x".repeat(len)));
    // "Nostr " + padded base64 of the JSON: the largest such header that fits is 8190 bytes, a
    // JSON of 3 · 2046 bytes; one more JSON byte makes it 8194.
    let json_len_without_content = signed(&keys, |_| {}).to_json().len();
    let content_len = (MAX_HEADER_LEN - 6) / 4 * 3 - json_len_without_content;
    let fits = header_with(content_len);
    assert_eq!(fits.len(), MAX_HEADER_LEN - 2);
    check(&fits, &get, NOW, Ok(keys.public_key()));
    let over = header_with(content_len + 1);
    assert_eq!(over.len(), MAX_HEADER_LEN + 2);
    check(&over, &get, NOW, Err(Nip98Error::HeaderTooLarge));
    // Not even the scheme is looked at.
    let junk = "!".repeat(MAX_HEADER_LEN + 1);
    check(&junk, &get, NOW, Err(Nip98Error::HeaderTooLarge));
}

#[test]
fn nip98_example_header_is_signed_but_has_no_u_tag() {
    let v: Value = serde_json::from_str(VECTOR).expect("vector file is JSON");
    let header = v["header"].as_str().expect("header");
    let event = decode_header(header).expect("example decodes");
    assert_eq!(event.id_hex(), v["id"].as_str().expect("id"));
    assert_eq!(event.pubkey.to_hex(), v["pubkey"].as_str().expect("pubkey"));
    assert_eq!(Some(event.created_at), v["created_at"].as_u64());
    assert_eq!(event.verify(), Ok(()));
    let names: Vec<&str> = event.tags.iter().map(|t| t[0].as_str()).collect();
    assert_eq!(names, ["url", "method"]);
    // The example predates the `u` tag name, so it fails check 3 even at its own time.
    let url = v["url"].as_str().expect("url");
    let expected = Expected::new(url, v["method"].as_str().expect("method"), b"");
    let err = verify(header, &expected, event.created_at).unwrap_err();
    assert_eq!(err.code(), v["expected_error"].as_str().expect("code"));
}

#[test]
fn error_codes_are_distinct() {
    let all = [
        Nip98Error::MissingOrMalformed,
        Nip98Error::HeaderTooLarge,
        Nip98Error::WrongKind,
        Nip98Error::BadSignature,
        Nip98Error::Stale,
        Nip98Error::UrlMismatch,
        Nip98Error::MethodMismatch,
        Nip98Error::PayloadMismatch,
        Nip98Error::PayloadMissing,
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(Nip98Error::code).collect();
    assert_eq!(codes.len(), all.len());
}
