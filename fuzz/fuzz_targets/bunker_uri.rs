//! Fuzz target: the inputs behind a bunker URI and a NIP-05 name, through the signer's admin
//! services on an in-memory store (`signer::Bunker`): the public relay URLs, a tenant's NIP-05
//! domain, a user's NIP-05 name, and a URI's lifetime, permissions and session lifetime
//! (<https://github.com/nostr-protocol/nips/blob/master/46.md>,
//! <https://github.com/nostr-protocol/nips/blob/master/05.md>).
//!
//! Input: bytes drawn into those values.
//!
//! Checked: a domain and a name are accepted exactly when they have NIP-05's shape as bunkerd
//! restricts it (a lowercase DNS name; 1 to 64 of `a-z0-9-_.`), and the NIP-05 lookup of an
//! accepted pair finds the user; a URI is issued exactly when its lifetime, permissions and session
//! lifetime are in range; an issued URI reads back as a client reads it:
//! `bunker://<remote-signer hex>?relay=…&…&secret=<64 hex>`, every relay value percent-decoding to
//! the configured URL, every character of the query within nostr-tools' `[?/\w:.=&%-]`, and a
//! relay URL made only of `A-Za-z0-9_-.:/` written as is.

#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use kms::MemMasterKey;
use libfuzzer_sys::fuzz_target;
use proto::policy::{Perms, MAX_SESSION_TTL_SECS};
use signer::admin::{KeyImport, NewUser};
use signer::bunker::{DEFAULT_BUNKER_URI_TTL_SECS, MAX_URI_TTL_SECS};
use signer::directory::TenantUpdate;
use signer::{Bunker, BunkerConfig, UriOptions};
use std::sync::Arc;
use store::MemStore;

const NOW: u64 = 1_700_000_000;

#[derive(Arbitrary, Debug)]
struct Input {
    relays: Vec<String>,
    domain: String,
    name: String,
    ttl_secs: Option<u64>,
    perms: Option<String>,
    session_ttl_secs: Option<u64>,
}

/// NIP-05 local parts bunkerd accepts.
fn name_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.'))
}

/// Lowercase DNS names: dot-separated labels of 1 to 63 `a-z0-9-`, no label starting or ending
/// with `-`, at least two labels, 253 bytes at most.
fn domain_ok(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        })
}

fn literal_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-.:/".contains(&b)
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let mut input: Input = u.arbitrary()?;
    input.relays.truncate(4);
    if input.relays.is_empty() {
        input.relays.push("wss://relay.example".into());
    }
    let config = BunkerConfig {
        relays: input.relays.clone(),
        ..BunkerConfig::new("")
    };
    let bunker = Bunker::open(
        Arc::new(MemStore::new()),
        Arc::new(MemMasterKey::from_bytes([1; 32])),
        config,
    )
    .expect("opens on an empty store");
    let admin = bunker.admin();
    let tenant = admin.create_tenant("t", NOW).expect("tenant").id;

    let update = TenantUpdate {
        nip05_domain: Some(Some(input.domain.clone())),
        ..TenantUpdate::default()
    };
    let domain_set = admin.update_tenant(&tenant, update, NOW).is_ok();
    assert_eq!(
        domain_set,
        domain_ok(&input.domain),
        "domain {:?}",
        input.domain
    );

    let new = |nip05_name| NewUser {
        name: None,
        key: KeyImport::default(),
        nip05_name,
    };
    let user = match admin.create_user(&tenant, new(Some(input.name.clone())), NOW) {
        Ok(user) => {
            assert!(
                name_ok(&input.name),
                "accepted NIP-05 name {:?}",
                input.name
            );
            if domain_set {
                let found = bunker
                    .directory()
                    .nip05_lookup(&input.domain, &input.name)
                    .expect("lookup");
                assert_eq!(found.map(|(pk, _)| pk), Some(user.user_pubkey));
            }
            user
        }
        Err(_) => {
            assert!(
                !name_ok(&input.name),
                "refused NIP-05 name {:?}",
                input.name
            );
            admin.create_user(&tenant, new(None), NOW).expect("user")
        }
    };

    let options = UriOptions {
        ttl_secs: input.ttl_secs,
        perms: input.perms.clone(),
        session_ttl_secs: input.session_ttl_secs,
    };
    let ttl = input.ttl_secs.unwrap_or(DEFAULT_BUNKER_URI_TTL_SECS);
    let valid = (1..=MAX_URI_TTL_SECS).contains(&ttl)
        && input
            .perms
            .as_deref()
            .is_none_or(|p| !Perms::parse(p).is_empty())
        && input
            .session_ttl_secs
            .is_none_or(|t| (1..=MAX_SESSION_TTL_SECS).contains(&t));
    let issued = admin.issue_bunker_uri(&tenant, &user.id, NOW, options);
    assert_eq!(issued.is_ok(), valid, "{input:?}");
    let Ok(issued) = issued else {
        return Ok(());
    };

    let uri: &str = &issued.uri;
    let rest = uri.strip_prefix("bunker://").expect("scheme");
    let (signer_hex, query) = rest.split_once('?').expect("query");
    assert_eq!(signer_hex, user.remote_signer_pubkey.to_hex());
    assert!(
        query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"?/_:.=&%-".contains(&b)),
        "query outside nostr-tools' pattern: {query}"
    );
    let pairs: Vec<&str> = query.split('&').collect();
    let (secret_pair, relay_pairs) = pairs.split_last().expect("pairs");
    let secret = secret_pair.strip_prefix("secret=").expect("secret last");
    assert!(
        secret.len() == 64
            && secret
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(relay_pairs.len(), input.relays.len());
    for (pair, relay) in relay_pairs.iter().zip(&input.relays) {
        let value = pair.strip_prefix("relay=").expect("relay=");
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .expect("UTF-8");
        assert_eq!(&decoded, relay);
        if relay.bytes().all(literal_ok) {
            assert_eq!(value, relay, "a plain relay URL was escaped");
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
