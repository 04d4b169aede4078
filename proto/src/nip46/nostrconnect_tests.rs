//! `nostrconnect://` parsing: the NIP's example, the forms clients write, and every refusal.

use super::{relay_key, NostrConnectUri, UriError, MAX_RELAYS, MAX_SECRET_BYTES, MAX_URI_BYTES};

const CLIENT: &str = "83f3b2ae6aa368e8275397b9c26cf550101d63ebaab900d19dd4a4429f5ad8f5";

fn uri(query: &str) -> String {
    format!("nostrconnect://{CLIENT}?{query}")
}

#[test]
fn the_nips_example_parses_with_its_encodings() {
    let text = uri(
        "relay=wss%3A%2F%2Frelay1.example.com&perms=nip44_encrypt%2Cnip44_decrypt%2Csign_event%3A13\
         %2Csign_event%3A14%2Csign_event%3A1059&name=My+Client&secret=0s8j2djs\
         &relay=wss%3A%2F%2Frelay2.example2.com",
    );
    let parsed = NostrConnectUri::parse(&text).expect("parses");
    assert_eq!(parsed.client.to_hex(), CLIENT);
    assert_eq!(
        parsed.relays,
        ["wss://relay1.example.com", "wss://relay2.example2.com"]
    );
    assert_eq!(parsed.secret.as_str(), "0s8j2djs");
    assert_eq!(
        parsed.perms.as_deref(),
        Some("nip44_encrypt,nip44_decrypt,sign_event:13,sign_event:14,sign_event:1059")
    );
    assert_eq!(parsed.name.as_deref(), Some("My Client"));
    assert_eq!((parsed.url, parsed.image), (None, None));
}

#[test]
fn unencoded_relays_flat_metadata_and_an_uppercase_scheme_parse() {
    let text = format!(
        "  NostrConnect://{CLIENT}/?relay=ws://127.0.0.1:7447&secret=abc%2Bdef&url=https://app.example\
         &image=https%3A%2F%2Fapp.example%2Flogo.png&unknown=kept-out  "
    );
    let parsed = NostrConnectUri::parse(&text).expect("parses");
    assert_eq!(parsed.relays, ["ws://127.0.0.1:7447"]);
    assert_eq!(parsed.secret.as_str(), "abc+def");
    assert_eq!(parsed.url.as_deref(), Some("https://app.example"));
    assert_eq!(
        parsed.image.as_deref(),
        Some("https://app.example/logo.png")
    );
}

#[test]
fn the_older_metadata_parameter_fills_what_the_flat_ones_leave() {
    let metadata = "%7B%22name%22%3A%22Old+App%22%2C%22url%22%3A%22https%3A%2F%2Fold.example%22%2C\
                    %22icons%22%3A%5B%22https%3A%2F%2Fold.example%2Fi.png%22%5D%7D";
    let parsed = NostrConnectUri::parse(&uri(&format!(
        "relay=wss://r.example&secret=s&metadata={metadata}"
    )))
    .expect("parses");
    assert_eq!(parsed.name.as_deref(), Some("Old App"));
    assert_eq!(parsed.url.as_deref(), Some("https://old.example"));
    assert_eq!(parsed.image.as_deref(), Some("https://old.example/i.png"));
    let both = NostrConnectUri::parse(&uri(&format!(
        "relay=wss://r.example&secret=s&metadata={metadata}&name=New"
    )))
    .expect("parses");
    assert_eq!(both.name.as_deref(), Some("New"));
    // The older form may omit the secret (its clients expect "ack"); the current form may not.
    let legacy =
        NostrConnectUri::parse(&uri(&format!("relay=wss://r.example&metadata={metadata}")))
            .expect("parses");
    assert!(legacy.secret.is_empty());
    assert_eq!(
        NostrConnectUri::parse(&uri(&format!(
            "relay=wss://r.example&metadata={metadata}&name=x"
        ))),
        Err(UriError::MissingSecret)
    );
    // Unreadable metadata is only display data: ignored.
    let bad = NostrConnectUri::parse(&uri("relay=wss://r.example&secret=s&metadata=%7Bnot-json"))
        .expect("parses");
    assert_eq!(bad.name, None);
}

#[test]
fn every_refusal_names_its_part() {
    let cases: &[(String, UriError)] = &[
        (
            format!("bunker://{CLIENT}?relay=wss://r&secret=s"),
            UriError::Scheme,
        ),
        ("nostrconnect:/".to_owned(), UriError::Scheme),
        (
            format!("nostrconnect://{}?relay=wss://r&secret=s", &CLIENT[..63]),
            UriError::ClientPubkey,
        ),
        (
            format!(
                "nostrconnect://{}?relay=wss://r&secret=s",
                CLIENT.to_uppercase()
            ),
            UriError::ClientPubkey,
        ),
        (
            format!("nostrconnect://{}?relay=wss://r&secret=s", "f".repeat(64)),
            UriError::ClientPubkey,
        ),
        (uri("secret=s"), UriError::MissingRelay),
        (uri("relay=https://r.example&secret=s"), UriError::Relay(1)),
        (
            uri("relay=wss://ok.example&relay=wss://&secret=s"),
            UriError::Relay(2),
        ),
        (
            uri("relay=wss://u:p@r.example&secret=s"),
            UriError::Relay(1),
        ),
        (uri("relay=wss://r.example"), UriError::MissingSecret),
        (
            uri("relay=wss://r.example&secret="),
            UriError::MissingSecret,
        ),
        (
            uri(&format!(
                "relay=wss://r.example&secret={}",
                "x".repeat(MAX_SECRET_BYTES + 1)
            )),
            UriError::SecretTooLong,
        ),
        (
            uri("relay=wss://r.example&secret=a&secret=b"),
            UriError::Duplicate("secret"),
        ),
        (
            uri("relay=wss://r.example&secret=a&name=x&name=y"),
            UriError::Duplicate("name"),
        ),
        (uri("relay=wss://r.example&secret=%FF"), UriError::Encoding),
        (
            uri(&format!(
                "relay=wss://r.example&secret=s&pad={}",
                "x".repeat(MAX_URI_BYTES)
            )),
            UriError::TooLong,
        ),
    ];
    for (text, want) in cases {
        let got = NostrConnectUri::parse(text).expect_err(text);
        assert_eq!(&got, want, "{text}");
        assert!(!got.to_string().is_empty() && got.code().starts_with("uri_"));
        assert!(!got.to_string().contains("secret=a"));
    }
}

#[test]
fn relays_are_deduplicated_by_their_key_and_capped() {
    let parsed = NostrConnectUri::parse(&uri(
        "relay=wss://R.example/&relay=wss://r.example:443&relay=wss://r.example&secret=s",
    ))
    .expect("parses");
    assert_eq!(parsed.relays, ["wss://R.example/"]);
    let many: String = (0..=MAX_RELAYS)
        .map(|i| format!("relay=wss://r{i}.example&"))
        .collect();
    assert_eq!(
        NostrConnectUri::parse(&uri(&format!("{many}secret=s"))),
        Err(UriError::TooManyRelays)
    );
}

#[test]
fn relay_keys_match_spellings_of_one_relay_only() {
    let same = [
        "wss://Relay.Example",
        "wss://relay.example/",
        "WSS://relay.example:443",
        " wss://relay.example ",
    ];
    for url in same {
        assert_eq!(
            relay_key(url).as_deref(),
            Some("wss://relay.example"),
            "{url}"
        );
    }
    assert_eq!(
        relay_key("ws://127.0.0.1:7447/").as_deref(),
        Some("ws://127.0.0.1:7447")
    );
    assert_ne!(
        relay_key("ws://relay.example"),
        relay_key("wss://relay.example")
    );
    assert_ne!(
        relay_key("wss://relay.example/a"),
        relay_key("wss://relay.example")
    );
    for bad in [
        "http://r.example",
        "wss://",
        "relay.example",
        "wss://r.example/#x",
    ] {
        assert_eq!(relay_key(bad), None, "{bad}");
    }
}

#[test]
fn debug_leaves_the_secret_out() {
    let parsed =
        NostrConnectUri::parse(&uri("relay=wss://r.example&secret=hunter2")).expect("parses");
    assert!(!format!("{parsed:?}").contains("hunter2"));
}
