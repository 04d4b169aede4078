//! Two [`Bunker`]s over one PostgreSQL database, as two nodes would run: the record locks order
//! them through the store ([`store::Store::lock`]), so a bunker secret connects one client
//! whichever bunker each of its concurrent `connect`s reaches.

use super::refusal::tests::{open, request, Scheme};
use super::*;
use crate::admin::NewUser;
use crate::{BunkerConfig, UriOptions};
use kms::MemMasterKey;
use proto::nostr::{Crypto, Keypair};
use std::sync::Arc;
use store::testing::Postgres;
use store::{PgOptions, PgStore};

const NOW: u64 = 1_750_000_000;
/// Concurrent `connect`s, spread over the bunkers.
const CONNECTS: usize = 64;

#[test]
fn one_secret_connects_one_client_across_bunkers_sharing_a_database() {
    let url = Postgres::shared().database();
    let master = Arc::new(MemMasterKey::generate());
    let bunker = |master: Arc<MemMasterKey>| {
        let store = PgStore::connect(&url, &PgOptions::default()).unwrap();
        Bunker::open(
            Arc::new(store),
            master,
            BunkerConfig::new("ws://127.0.0.1:7447"),
        )
        .unwrap()
    };
    let first = bunker(master.clone());
    let admin = first.admin();
    let tenant = admin.create_tenant("acme", NOW).unwrap().id;
    let user = admin.create_user(&tenant, NewUser::default(), NOW).unwrap();
    // The others open after the user exists, as nodes load the directory at start.
    let bunkers = [first, bunker(master.clone()), bunker(master)];
    let uri = bunkers[0]
        .admin()
        .issue_bunker_uri(&tenant, &user.id, NOW, UriOptions::default())
        .unwrap();
    let secret = uri.uri.split("secret=").nth(1).unwrap().to_owned();
    let remote = user.remote_signer_pubkey;

    let clients: Vec<Keypair> = (0..CONNECTS)
        .map(|_| Keypair::generate(&mut Crypto::from_os_rng()))
        .collect();
    let results: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, client)| {
                let (bunker, secret) = (&bunkers[i % bunkers.len()], &secret);
                scope.spawn(move || {
                    let json = serde_json::json!({
                        "id": format!("c{i}"),
                        "method": "connect",
                        "params": [remote.to_hex(), secret],
                    });
                    let event = request(client, &remote, &json.to_string(), Scheme::Nip44, NOW);
                    let reply = bunker.process(&event, NOW, |_| true).response.unwrap();
                    open(client, &remote, &reply, Scheme::Nip44)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let acks = results.iter().filter(|r| r["result"] == "ack").count();
    assert_eq!(acks, 1, "exactly one connect wins: {results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r["result"] != "ack")
            .all(|r| r["error"].as_str().is_some()),
        "every other connect gets an error reply: {results:?}"
    );
}
