//! Unit tests of the admin services over a [`MemStore`](store::MemStore): user creation is one
//! synced batch and a refused creation writes nothing; concurrent writers of one record (threads)
//! lose no acknowledged change, a delete is never undone, and the unsealed-key cache follows the
//! store; the sweeper ends expired sessions and deletes spent bunker-URI records.

use super::{AdminError, AdminTokens, ImportError, KeyImport, NewUser};
use crate::directory::{TenantUpdate, UserUpdate};
use crate::test_support::{hooked, HookedStore};
use crate::{Bunker, BunkerConfig, Error};
use kms::MemMasterKey;
use proto::nostr::nip49::Nip49Error;
use proto::nostr::{PublicKey, SecretKey};
use proto::policy::{Policy, SignKinds};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use store::{Cf, Durability, Store};
use zeroize::Zeroizing;

/// The official NIP-49 decryption vector (`nostr/vectors/nip49.vectors.json`): LOG_N 16.
const NCRYPTSEC: &str = "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p";
const NCRYPTSEC_PASSWORD: &str = "nostr";
const NCRYPTSEC_SECRET: &str = "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683";

/// The durability of every write, in order.
type Writes = Arc<Mutex<Vec<Durability>>>;

/// A bunker over a [`HookedStore`] that records the durability of every write.
fn open() -> (Arc<HookedStore>, Writes, Bunker) {
    let writes = Writes::default();
    let log = writes.clone();
    let store = Arc::new(hooked(move |_, durability| {
        log.lock().unwrap().push(durability);
        Ok(())
    }));
    let bunker = Bunker::open(
        store.clone(),
        Arc::new(MemMasterKey::generate()),
        BunkerConfig::new("ws://127.0.0.1:7447"),
    )
    .unwrap();
    (store, writes, bunker)
}

/// Every (column family, key, value) of the user and routing tables.
fn rows(store: &dyn Store) -> Vec<(Cf, Vec<u8>, Vec<u8>)> {
    let mut rows = Vec::new();
    for cf in [Cf::Users, Cf::SignerIndex, Cf::BunkerSecrets, Cf::Sessions] {
        store
            .scan_prefix(cf, b"", &mut |k, v| {
                rows.push((cf, k.to_vec(), v.to_vec()));
                true
            })
            .unwrap();
    }
    rows
}

fn secret(text: &str) -> Option<Zeroizing<String>> {
    Some(Zeroizing::new(text.to_owned()))
}

pub(super) fn with_key(secret_key: Option<&str>, nip05: Option<&str>) -> NewUser {
    NewUser {
        name: Some("someone".to_owned()),
        key: KeyImport {
            secret_key: secret_key.and_then(secret),
            ..KeyImport::default()
        },
        nip05_name: nip05.map(str::to_owned),
    }
}

#[test]
fn creating_a_user_with_a_key_and_a_nip05_name_is_one_synced_write() {
    let (_, writes, bunker) = open();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let key = crate::crypto::with(SecretKey::generate);
    let hex = hex::encode(key.expose_bytes());
    let before = writes.lock().unwrap().len();
    let user = admin
        .create_user(&tenant, with_key(Some(&hex), Some("alice")), 2)
        .unwrap();
    let writes = writes.lock().unwrap()[before..].to_vec();
    assert_eq!(writes, [Durability::Sync], "one synced batch");
    assert_eq!(user.user_pubkey, crate::crypto::with(|c| key.public_key(c)));
    assert_eq!(user.nip05_name.as_deref(), Some("alice"));
    assert_eq!(bunker.directory().user(&tenant, &user.id).unwrap(), user);
    assert!(bunker
        .directory()
        .is_hosted(user.remote_signer_pubkey.as_bytes()));
    assert_eq!(
        bunker
            .directory()
            .nip05_lookup("x.example", "alice")
            .unwrap(),
        None,
        "no domain yet"
    );
}

#[test]
fn a_refused_nip05_name_leaves_no_user_behind() {
    let (store, _, bunker) = open();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    admin
        .create_user(&tenant, with_key(None, Some("alice")), 2)
        .unwrap();
    let before = rows(store.as_ref());
    let key = crate::crypto::with(SecretKey::generate);
    let hex = hex::encode(key.expose_bytes());
    for (nip05, why) in [("alice", "taken"), ("Alice!", "malformed")] {
        let refused = admin.create_user(&tenant, with_key(Some(&hex), Some(nip05)), 3);
        let code = refused.as_ref().map_err(AdminError::code).err();
        let expected = if why == "taken" {
            "conflict"
        } else {
            "invalid_input"
        };
        assert_eq!(code, Some(expected), "{why}: {refused:?}");
        assert_eq!(rows(store.as_ref()), before, "{why}: nothing written");
        assert_eq!(bunker.directory().user_count(), 1, "{why}: nothing routed");
    }
    // The key was not recorded as used: importing it again with a free name works.
    let user = admin
        .create_user(&tenant, with_key(Some(&hex), Some("bob")), 4)
        .unwrap();
    assert_eq!(user.user_pubkey, crate::crypto::with(|c| key.public_key(c)));
}

#[test]
fn a_refused_import_writes_nothing() {
    let (store, writes, bunker) = open();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let before = rows(store.as_ref());
    let writes_before = writes.lock().unwrap().len();
    let mut broken = NCRYPTSEC.to_owned();
    let last = broken.pop().unwrap();
    broken.push(if last == 'q' { 'p' } else { 'q' });
    let cases = [
        (secret(&broken), secret(NCRYPTSEC_PASSWORD), None),
        (secret(NCRYPTSEC), secret("not the password"), None),
        (secret(NCRYPTSEC), None, None),
        (
            secret(NCRYPTSEC),
            secret(NCRYPTSEC_PASSWORD),
            secret(NCRYPTSEC_SECRET),
        ),
        (None, secret(NCRYPTSEC_PASSWORD), None),
        (None, None, secret("nsec1notakey")),
    ];
    let expected = [
        ImportError::Ncryptsec(Nip49Error::InvalidNcryptsec),
        ImportError::Ncryptsec(Nip49Error::WrongPassword),
        ImportError::MissingPassword,
        ImportError::BothKeys,
        ImportError::PasswordWithoutNcryptsec,
        ImportError::InvalidSecretKey,
    ];
    for ((ncryptsec, password, secret_key), expected) in cases.into_iter().zip(expected) {
        let new = NewUser {
            key: KeyImport {
                secret_key,
                ncryptsec,
                password,
                ..KeyImport::default()
            },
            ..NewUser::default()
        };
        match admin.create_user(&tenant, new, 2) {
            Err(AdminError::Import(e)) => assert_eq!(e, expected),
            other => panic!("{expected:?}: {other:?}"),
        }
    }
    // Above the caller's LOG_N cap (the vector is at 16): refused before scrypt runs.
    let capped = NewUser {
        key: KeyImport {
            ncryptsec: secret(NCRYPTSEC),
            password: secret(NCRYPTSEC_PASSWORD),
            max_log_n: 15,
            ..KeyImport::default()
        },
        ..NewUser::default()
    };
    assert!(matches!(
        admin.create_user(&tenant, capped, 2),
        Err(AdminError::Import(ImportError::Ncryptsec(
            Nip49Error::LogNTooHigh
        )))
    ));
    assert_eq!(rows(store.as_ref()), before);
    assert_eq!(writes.lock().unwrap().len(), writes_before);
    assert_eq!(bunker.directory().user_count(), 0);
    // The right password imports the vector's key.
    let new = NewUser {
        key: KeyImport {
            ncryptsec: secret(NCRYPTSEC),
            password: secret(NCRYPTSEC_PASSWORD),
            ..KeyImport::default()
        },
        ..NewUser::default()
    };
    let user = admin.create_user(&tenant, new, 3).unwrap();
    let expected =
        crate::crypto::with(|c| SecretKey::from_hex(NCRYPTSEC_SECRET).unwrap().public_key(c));
    assert_eq!(user.user_pubkey, expected);
}

/// Runs `a` and `b` on two threads released together, `rounds` times each.
fn race(rounds: usize, a: impl Fn(usize) + Send + Sync, b: impl Fn(usize) + Send + Sync) {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            (0..rounds).for_each(&a);
        });
        s.spawn(|| {
            barrier.wait();
            (0..rounds).for_each(&b);
        });
    });
}

#[test]
fn two_threads_updating_one_user_lose_no_change() {
    let (_, _, bunker) = open();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let user = admin
        .create_user(&tenant, NewUser::default(), 1)
        .unwrap()
        .id;
    let rounds = 200;
    let policy = |i: usize| Policy {
        sign_kinds: SignKinds::Only([u16::try_from(i).unwrap()].into_iter().collect()),
        ..Policy::default()
    };
    race(
        rounds,
        |i| {
            let update = UserUpdate {
                name: Some(Some(format!("name {i}"))),
                ..UserUpdate::default()
            };
            admin.update_user(&tenant, &user, update, 2).unwrap();
        },
        |i| {
            admin
                .set_user_policy(&tenant, &user, Some(policy(i)), 2)
                .unwrap();
        },
    );
    let record = bunker.directory().user(&tenant, &user).unwrap();
    assert_eq!(record.name, Some(format!("name {}", rounds - 1)));
    assert_eq!(record.policy, Some(policy(rounds - 1)));
}

#[test]
fn two_threads_writing_one_tenant_lose_no_admin_pubkey() {
    let (_, _, bunker) = open();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let removed = crate::crypto::with(|c| SecretKey::generate(c).public_key(c));
    admin.add_admin_pubkey(&tenant, removed, None, 1).unwrap();
    let added: Vec<PublicKey> = (0..40)
        .map(|_| crate::crypto::with(|c| SecretKey::generate(c).public_key(c)))
        .collect();
    race(
        added.len(),
        |i| {
            let update = TenantUpdate {
                name: Some(format!("acme {i}")),
                ..TenantUpdate::default()
            };
            admin.update_tenant(&tenant, update, 2).unwrap();
            if i == added.len() / 2 {
                admin.remove_admin_pubkey(&tenant, &removed, 2).unwrap();
            }
        },
        |i| {
            admin.add_admin_pubkey(&tenant, added[i], None, 2).unwrap();
        },
    );
    let record = bunker.directory().tenant(&tenant).unwrap();
    let listed: Vec<PublicKey> = record.admin_pubkeys.iter().map(|a| a.pubkey).collect();
    assert_eq!(
        listed, added,
        "every added pubkey, in order, and not the removed one"
    );
    assert_eq!(record.name, format!("acme {}", added.len() - 1));
    assert!(!bunker.directory().is_tenant_admin(&tenant, &removed));
}

#[test]
fn an_update_racing_a_delete_never_brings_the_user_back() {
    let (store, _, bunker) = open();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    for round in 0..20 {
        let user = admin.create_user(&tenant, NewUser::default(), 1).unwrap();
        race(
            1,
            |_| {
                let update = UserUpdate {
                    disabled: Some(true),
                    ..UserUpdate::default()
                };
                match admin.update_user(&tenant, &user.id, update, 2) {
                    Ok(_) | Err(Error::UserNotFound) => {}
                    Err(e) => panic!("round {round}: {e:?}"),
                }
            },
            |_| {
                admin.delete_user(&tenant, &user.id).unwrap();
            },
        );
        assert!(
            matches!(
                bunker.directory().user(&tenant, &user.id),
                Err(Error::UserNotFound)
            ),
            "round {round}: the deleted user is back"
        );
        assert!(!bunker
            .directory()
            .is_hosted(user.remote_signer_pubkey.as_bytes()));
        assert!(rows(store.as_ref()).is_empty(), "round {round}: rows left");
    }
}

#[test]
fn the_key_cache_follows_concurrent_updates() {
    let (_, _, bunker) = open();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let user = admin.create_user(&tenant, NewUser::default(), 1).unwrap();
    let rs = *user.remote_signer_pubkey.as_bytes();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // The hot path: loads (and caches) the user's keys as fast as it can.
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                bunker.directory().keys(&rs).unwrap();
            }
        });
        for i in 0..200 {
            let disabled = i % 2 == 0;
            let update = UserUpdate {
                disabled: Some(disabled),
                ..UserUpdate::default()
            };
            admin.update_user(&tenant, &user.id, update, 2).unwrap();
            // Whatever the loader read before this write, the cache now serves the write.
            assert_eq!(
                bunker.directory().keys(&rs).unwrap().disabled,
                disabled,
                "{i}"
            );
        }
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn admin_tokens_revoke_once_and_go_with_their_tenant() {
    let (store, _, bunker) = open();
    let admin = bunker.admin();
    let tokens = AdminTokens::load(store.clone()).unwrap();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let (_, record) = admin
        .create_admin_token(&tokens, &tenant, None, "operator".to_owned(), 1)
        .unwrap();
    let results = Mutex::new(Vec::new());
    race(
        1,
        |_| {
            results
                .lock()
                .unwrap()
                .push(admin.revoke_admin_token(&tokens, &tenant, &record.id))
        },
        |_| {
            results
                .lock()
                .unwrap()
                .push(admin.revoke_admin_token(&tokens, &tenant, &record.id))
        },
    );
    let results = results.into_inner().unwrap();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(AdminError::AdminTokenNotFound))));

    admin
        .create_admin_token(&tokens, &tenant, None, "operator".to_owned(), 2)
        .unwrap();
    assert_eq!(admin.delete_tenant(&tokens, &tenant).unwrap(), 0);
    assert!(tokens.list(&tenant).is_empty());
    assert!(matches!(
        admin.create_admin_token(&tokens, &tenant, None, "operator".to_owned(), 3),
        Err(AdminError::Signer(Error::TenantNotFound))
    ));
    let reloaded = AdminTokens::load(store).unwrap();
    assert!(reloaded.list(&tenant).is_empty(), "deleted durably");
}

/// A `connect` request event from `client` to `remote_signer` with `secret`, dated `now`.
fn connect_event(
    client: &proto::nostr::Keypair,
    remote_signer: &PublicKey,
    secret: &str,
    now: u64,
) -> proto::nostr::Event {
    use proto::nostr::{nip44, UnsignedEvent};
    let request = serde_json::json!({"id": "c", "method": "connect", "params": ["", secret]});
    crate::crypto::with(|crypto| {
        let key = nip44::ConversationKey::derive(&client.secret_key(), remote_signer).unwrap();
        let content = nip44::encrypt(&key, &request.to_string(), crypto).unwrap();
        client.sign_event(
            UnsignedEvent {
                created_at: now,
                kind: crate::KIND_NOSTR_CONNECT,
                tags: vec![vec!["p".to_owned(), remote_signer.to_hex()]],
                content,
            },
            crypto,
        )
    })
}

#[test]
fn the_sweeper_ends_expired_sessions_and_deletes_spent_bunker_uris() {
    use crate::bunker::UriOptions;
    let (_, _, bunker) = open();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let user = admin.create_user(&tenant, with_key(None, None), 1).unwrap();
    let rs = user.remote_signer_pubkey;
    let issue = |ttl_secs, session_ttl_secs| {
        let options = UriOptions {
            ttl_secs: Some(ttl_secs),
            perms: None,
            session_ttl_secs,
        };
        let uri = admin
            .issue_bunker_uri(&tenant, &user.id, 1000, options)
            .unwrap();
        uri.uri.rsplit_once("secret=").unwrap().1.to_owned()
    };
    let expiring = issue(600, Some(10)); // its session ends at 1010
    let _unused = issue(5, None); // expires at 1005
    let revoked = issue(600, None);
    let connect = |secret: &str| {
        let client = crate::crypto::with(proto::nostr::Keypair::generate);
        let processed = bunker.process(&connect_event(&client, &rs, secret, 1000), 1000, |_| true);
        assert!(processed.accepted.is_ok());
        assert!(bunker.sessions().get(&rs, &client.public_key()).is_some());
        client.public_key()
    };
    let a = connect(&expiring);
    let b = connect(&revoked);
    admin.revoke_sessions(&tenant, &user.id, Some(&b)).unwrap();
    let uris = |b: &Bunker| b.directory().list_tokens(&tenant, &user.id).unwrap().len();
    assert_eq!(uris(&bunker), 3);

    // At 1001: only the used URI whose session was revoked goes.
    let swept = admin.sweep(1001).unwrap();
    assert_eq!((swept.sessions, swept.bunker_uris), (0, 1));
    assert!(bunker.sessions().get(&rs, &a).is_some());
    assert_eq!(uris(&bunker), 2);

    // At 1010: A's session expired (so its URI is spent too), and the unused URI expired.
    let swept = admin.sweep(1010).unwrap();
    assert_eq!((swept.sessions, swept.bunker_uris), (1, 2));
    assert!(bunker.sessions().get(&rs, &a).is_none());
    assert_eq!(uris(&bunker), 0);
    assert_eq!(admin.sweep(1010).unwrap(), super::Swept::default());
}
