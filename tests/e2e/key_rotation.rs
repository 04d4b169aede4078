//! Key rotation and deletion that destroys, end to end.
//!
//! Asserted: a master-key rotation and a tenant data-key rotation, started through the admin
//! API while clients sign, fail no request, end with one master key version and one data key
//! per tenant, and are visible in `GET /v1/keys`, the metrics and the tenant's audit log. A
//! rotation cut by SIGKILL (the real binary) completes after the restart. A deleted user's
//! secrets, and separately a deleted tenant's, open neither in the live store nor in a copy of
//! the data directory made before the deletion, once the deletion's shred and a master-key
//! rotation retiring the old version have run — with every key the provider still holds.

use crate::sigterm::Bunkerd;
use crate::support::{raw, TestServer, User};
use kms::{FileMasterKey, MasterKey, Vault};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Cf, RocksStore, Store};

/// Polls `GET /v1/keys` until `done` holds (at most 60 s); returns the last answer.
async fn keys_until(server: &TestServer, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = server.admin().get_ok("/v1/keys").await;
        if done(&keys) {
            return keys;
        }
        assert!(Instant::now() < deadline, "custody never got there: {keys}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new tenant with `n` users (each with a bunker URI).
pub(crate) async fn tenant_with_users(server: &TestServer, n: usize) -> (String, Vec<User>) {
    let admin = server.admin();
    let tenant = admin.post_ok("/v1/tenants", json!({"name": "acme"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut users = Vec::with_capacity(n);
    for _ in 0..n {
        users.push(server.provision_in(&tenant, None).await);
    }
    (tenant, users)
}

/// `user` signs a note from a fresh session (a new bunker URI) on `server`.
async fn signs_from_a_new_session(server: &TestServer, user: &User, when: &str) {
    let user = User {
        bunker_uri: server.bunker_uri(user).await,
        ..user.clone()
    };
    let mut client = server.connected(&user).await;
    crate::support::assert_still_served(&mut client, &user, when).await;
}

fn settled(keys: &Value) -> bool {
    keys["rotating_to"].is_null()
        && keys["tenants_rotating"] == 0
        && keys["shreds_pending"] == 0
        && keys["running"] == false
        && keys["last_error"].is_null()
}

/// Signs notes for `user` until `stop`, counting them; panics on any failed request. Reports on
/// `started` after its first reply. Paced at one note per 20 ms at most, half the relay's default
/// events per connection, as a client app would: on a fast machine an unpaced loop is refused
/// `rate-limited:` by that limit, which is not what these tests are about.
pub(crate) async fn sign_until(
    mut client: raw::RawClient,
    user: User,
    stop: tokio::sync::watch::Receiver<bool>,
    started: tokio::sync::mpsc::Sender<()>,
) -> u64 {
    let mut signed = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() && signed < 5_000 && Instant::now() < deadline {
        pace.tick().await;
        crate::support::sign_note(&mut client, &user, &format!("note {signed}")).await;
        if signed == 0 {
            started.send(()).await.unwrap();
        }
        signed += 1;
    }
    signed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_while_clients_sign_fail_no_request() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (tenant, users) = tenant_with_users(&server, 150).await;
    let before = keys_until(&server, settled).await;
    assert_eq!(before["provider"], "file");
    assert_eq!(before["versions"], json!([1]));

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (started_tx, mut started) = tokio::sync::mpsc::channel(4);
    let mut signers = Vec::new();
    for user in users.iter().take(4) {
        let client = server.connected(user).await;
        let task = sign_until(client, user.clone(), stop.clone(), started_tx.clone());
        signers.push(tokio::spawn(task));
    }
    // Every signer has had a reply before the rotations start.
    for _ in 0..4 {
        started.recv().await.unwrap();
    }

    // The master key first (it rewraps the tenant's data key and the canary), then the
    // tenant's data key (it re-seals every user), each while the clients sign.
    let rotating = admin.post_ok("/v1/keys/rotate", json!({})).await;
    assert_eq!(rotating["rotating_to"], 2, "{rotating}");
    keys_until(&server, settled).await;
    let metrics = crate::metrics::scrape(&server).await;
    assert!(
        metrics.contains("bunkerd_key_rewrapped_total 2\n"),
        "the data key and the canary rewrapped"
    );
    let rotated = admin
        .post_ok(&format!("/v1/tenants/{tenant}/keys/rotate"), json!(null))
        .await;
    assert_eq!(rotated["data_keys"], 2, "{rotated}");
    // The status reads the master key's counts and the pending rotations one after the other, so
    // one answer may see the rotations done and the old data key not yet gone: wait for both.
    let after = keys_until(&server, |k| {
        settled(k) && k["wrapped_by_version"] == json!({"2": 2})
    })
    .await;
    stop_tx.send(true).unwrap();
    let mut total = 0;
    for signer in signers {
        total += signer.await.expect("no signer failed a request");
    }
    assert!(total > 0, "the clients signed during the rotations");
    assert_eq!(
        after["versions"],
        json!([2]),
        "version 1 destroyed: {after}"
    );
    assert_eq!(after["current_version"], 2);
    // One tenant data key and the canary, all under version 2.
    assert_eq!(after["wrapped_by_version"], json!({"2": 2}), "{after}");

    // Every user still signs, from a fresh session.
    for user in [&users[0], &users[149]] {
        signs_from_a_new_session(&server, user, "after the rotations").await;
    }
    let metrics = crate::metrics::scrape(&server).await;
    assert!(
        metrics.contains("bunkerd_key_resealed_users_total 150\n"),
        "every user re-sealed once"
    );
    // Asked by action: how many `sign_event` records precede them depends on the machine's pace.
    for action in ["keys.rotate", "keys.resealed", "keys.rewrapped"] {
        let audit = admin
            .get_ok(&format!("/v1/tenants/{tenant}/audit?method={action}"))
            .await;
        let items = audit["items"].as_array().unwrap();
        assert!(
            !items.is_empty() && items.iter().all(|r| r["action"] == action),
            "{action}: {audit}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_cut_by_sigkill_completes_after_the_restart() {
    const USERS: usize = 800;
    let server = TestServer::start().await;
    let (tenant, users) = tenant_with_users(&server, USERS).await;
    let (data_dir, _keep, _) = server.stop().await;

    // The real binary takes the rotation and is killed as soon as it has acknowledged it.
    let binary = Bunkerd::start_with(&data_dir, &[]).await;
    let rotated = binary
        .admin()
        .post_ok(&format!("/v1/tenants/{tenant}/keys/rotate"), json!(null))
        .await;
    assert_eq!(rotated["data_keys"], 2, "{rotated}");
    binary.kill().await;
    // The kill landed mid-rotation: both data keys are still in the store.
    let data_keys = |store: &dyn Store| {
        let record = store.get(Cf::Deks, tenant.as_bytes()).unwrap().unwrap();
        let record: Value = serde_json::from_slice(&record).unwrap();
        record["keys"].as_array().unwrap().len()
    };
    assert_eq!(data_keys(&*open_store(&data_dir)), 2, "cut before the end");

    let server = TestServer::start_in(&data_dir, "127.0.0.1:0".parse().unwrap()).await;
    let after = keys_until(&server, settled).await;
    assert_eq!(after["wrapped_by_version"], json!({"1": 2}), "{after}");
    let metrics = crate::metrics::scrape(&server).await;
    let resealed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bunkerd_key_resealed_users_total "))
        .and_then(|v| v.parse::<usize>().ok())
        .expect("the resealed-users counter");
    assert!(
        (1..=USERS).contains(&resealed),
        "the restart finished the rotation: {resealed} users re-sealed after it"
    );
    for user in [&users[0], &users[USERS / 2], &users[USERS - 1]] {
        signs_from_a_new_session(&server, user, "after the resumed rotation").await;
    }
    let (data_dir, _keep, _) = server.stop().await;
    assert_eq!(
        data_keys(&*open_store(&data_dir)),
        1,
        "the old data key deleted"
    );
}

/// Every record of the store in `dir` (the server stopped).
fn open_store(dir: &Path) -> Arc<dyn Store> {
    crate::support::open_store(dir)
}

/// A copy of a stopped server's store, as an operator's copy keeps it: the data directory's files
/// copied to `scratch` and opened there (RocksDB), or every record read into memory (PostgreSQL:
/// what a dump of the database holds).
fn copy_store(data_dir: &Path, scratch: &Path) -> Arc<dyn Store> {
    if crate::support::on_postgres() {
        let copy = store::MemStore::new();
        let mut batch = store::Batch::new();
        open_store(data_dir)
            .export(&mut |cf, key, value| {
                batch.put(cf, key.to_vec(), value.to_vec());
                Ok(())
            })
            .unwrap();
        copy.write(batch, store::Durability::Sync).unwrap();
        return Arc::new(copy);
    }
    copy_dir(data_dir, scratch);
    Arc::new(RocksStore::open(&scratch.join("db")).unwrap())
}

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The user's sealed user key as stored (base64 of the envelope record).
fn sealed_user_key(store: &dyn Store, user: &User) -> Vec<u8> {
    let record = store
        .get(Cf::Users, format!("{}/{}", user.tenant, user.id).as_bytes())
        .unwrap()
        .expect("the user's record");
    let record: Value = serde_json::from_slice(&record).unwrap();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(record["sealed_user_key"].as_str().unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_users_and_tenants_open_in_no_copy_once_the_shred_ran() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let alice = server.provision(None).await;
    let bob = server.provision_in(&alice.tenant, None).await;
    let carol = server.provision(None).await; // another tenant
    let (data_dir, _keep, _) = server.stop().await;
    let copy_parent = tempfile::tempdir().unwrap();
    let copy_store = copy_store(&data_dir, &copy_parent.path().join("copy"));
    let (alice_sealed, carol_sealed) = (
        sealed_user_key(&*copy_store, &alice),
        sealed_user_key(&*copy_store, &carol),
    );
    drop(admin);

    let server = TestServer::start_in(&data_dir, "127.0.0.1:0".parse().unwrap()).await;
    let admin = server.admin();
    admin
        .delete_ok(&format!("/v1/tenants/{}/users/{}", alice.tenant, alice.id))
        .await;
    admin
        .delete_ok(&format!("/v1/tenants/{}", carol.tenant))
        .await;
    let shredded = keys_until(&server, settled).await;
    assert_eq!(shredded["shreds_pending"], 0);
    admin.post_ok("/v1/keys/rotate", json!({})).await;
    let done = keys_until(&server, settled).await;
    assert_eq!(done["versions"], json!([2]), "{done}");
    // Bob, in alice's tenant, is re-sealed under the new data key and still signs.
    let mut client = server.connected(&bob).await;
    crate::support::assert_still_served(&mut client, &bob, "after alice's shred").await;
    drop(client);
    server.stop().await;

    // What remains: the master key file (version 2 only) and the live store.
    let master: Arc<dyn MasterKey> =
        Arc::new(FileMasterKey::load(&data_dir.join("master.key")).unwrap());
    assert_eq!(master.versions().unwrap(), vec![2]);
    let live = Vault::load(Arc::clone(&master), open_store(&data_dir)).unwrap();
    let opened = live.open(
        &alice.tenant,
        "user_secret_key",
        &alice.id,
        "user",
        &alice_sealed,
    );
    assert_eq!(
        opened.unwrap_err().code(),
        "unknown_key_id",
        "alice's old data key is gone"
    );
    let opened = live.open(
        &carol.tenant,
        "user_secret_key",
        &carol.id,
        "user",
        &carol_sealed,
    );
    assert_eq!(
        opened.unwrap_err().code(),
        "no_data_key",
        "carol's tenant has no data key"
    );
    drop(live);

    // The copy: its data keys are wrapped by version 1, destroyed with the rotation.
    let refused = Vault::load(Arc::clone(&master), Arc::clone(&copy_store)).unwrap_err();
    assert_eq!(refused.code(), "custody", "{refused}");
    assert!(
        refused.to_string().contains("has no version 1"),
        "{refused}"
    );
    for tenant in [&alice.tenant, &carol.tenant] {
        let record = copy_store
            .get(Cf::Deks, tenant.as_bytes())
            .unwrap()
            .unwrap();
        let record: Value = serde_json::from_slice(&record).unwrap();
        for key in record["keys"].as_array().unwrap() {
            assert_eq!(key["version"], 1);
            use base64::Engine as _;
            let wrapped = kms::Wrapped {
                version: 1,
                ciphertext: base64::engine::general_purpose::STANDARD
                    .decode(key["wrapped"].as_str().unwrap())
                    .unwrap(),
            };
            let context = kms::Binding {
                record: "dek",
                tenant,
                owner: "",
                role: "dek",
            }
            .context()
            .unwrap();
            let error = master.unwrap(&wrapped, &context).unwrap_err();
            assert_eq!(error.code(), "unknown_key_version", "{error}");
        }
    }
}
