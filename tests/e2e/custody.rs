//! Key custody at start: the master key's self-test and the providers, end to end.
//!
//! Asserted: over a data directory holding keys, bunkerd refuses to start — the binary exits 64
//! naming `master-key-file` — when the master key is missing (it is never created over the
//! data), replaced by another key, or an older copy lacking the version that wrapped the store,
//! and those refused starts write nothing; with the right key back, the same user signs. With
//! the master key in an OpenBao transit engine (a real `bao server -dev`), users are served,
//! `/readyz` turns not-ready once the provider is gone, and a start without it fails naming it.
//! With a PKCS#11 token (SoftHSM2) and with AWS KMS (moto's KMS server), `bunkerd
//! create-master-key` creates version 1 once and refuses a second time, the binary serves on
//! that key, and `/readyz` turns not-ready once the token's files or the KMS server are gone.

use crate::sigterm::Bunkerd;
use crate::support::{bunkerd_command, connected_at, create_user, TestServer, OPERATOR_TOKEN};
use bunkerd::Config;
use kms::testing::{Bao, Moto, SoftHsm};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};
use store::Cf;

/// Writes a master key or keyring file with mode 0600.
fn write_key(path: &Path, content: &[u8]) {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn keyring(versions: &[(u32, u8)]) -> Vec<u8> {
    versions
        .iter()
        .map(|(v, byte)| format!("{v} {}\n", format!("{byte:02x}").repeat(32)))
        .collect::<String>()
        .into_bytes()
}

/// Every record of the store in `data_dir` (opened directly, the server stopped).
fn dump(data_dir: &Path) -> Vec<(Cf, Vec<u8>, Vec<u8>)> {
    let store = crate::support::open_store(data_dir);
    let mut all = Vec::new();
    for cf in Cf::ALL {
        store
            .scan_prefix(cf, b"", &mut |k, v| {
                all.push((cf, k.to_vec(), v.to_vec()));
                true
            })
            .unwrap();
    }
    all
}

fn config(data_dir: &Path) -> Config {
    let mut config = Config::for_data_dir(data_dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_listen = "127.0.0.1:0".parse().unwrap();
    config.operator_token = Some(zeroize::Zeroizing::new(OPERATOR_TOKEN.to_owned()));
    config.workers = 2;
    config.store = crate::support::store_url(data_dir).map(|url| url.parse().expect("infallible"));
    config
}

#[track_caller]
fn refused_start(result: Result<bunkerd::Server, bunkerd::Error>, setting: &str, needle: &str) {
    match result {
        Ok(_) => panic!("bunkerd started; expected a refusal containing {needle:?}"),
        Err(e) => {
            let shown = e.to_string();
            assert!(
                matches!(e, bunkerd::Error::MasterKey { .. }),
                "not a master-key error: {shown}"
            );
            assert!(
                shown.starts_with(&format!("invalid configuration: {setting}: ")),
                "{shown}"
            );
            assert!(shown.contains(needle), "{shown}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_replaced_or_older_master_key_refuses_to_start_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("master.key");
    // A keyring whose version 2 wraps everything.
    write_key(&key_path, &keyring(&[(1, 0x11), (2, 0x22)]));
    let server = TestServer::start_in(dir.path(), "127.0.0.1:0".parse().unwrap()).await;
    let user = server.provision(None).await;
    let mut client = server.connected(&user).await;
    crate::support::assert_still_served(&mut client, &user, "before").await;
    drop(client);
    let (data_dir, _keep, _) = server.stop().await;
    let before = dump(&data_dir);

    std::fs::remove_file(&key_path).unwrap();
    refused_start(
        bunkerd::start(config(&data_dir)).await,
        "master-key-file",
        "never creates a master key over existing data",
    );
    assert!(!key_path.exists(), "no key was created");

    write_key(&key_path, &keyring(&[(1, 0x11), (2, 0x33)]));
    refused_start(
        bunkerd::start(config(&data_dir)).await,
        "master-key-file",
        "its version 2 is a different key",
    );
    write_key(&key_path, &[0x11; 32]);
    refused_start(
        bunkerd::start(config(&data_dir)).await,
        "master-key-file",
        "has no version 2, which wrapped this store's keys (versions present: [1])",
    );
    assert!(before == dump(&data_dir), "a refused start wrote nothing");

    write_key(&key_path, &keyring(&[(1, 0x11), (2, 0x22)]));
    let server = TestServer::start_in(&data_dir, "127.0.0.1:0".parse().unwrap()).await;
    let uri = server.bunker_uri(&user).await;
    let user = crate::support::User {
        bunker_uri: uri,
        ..user
    };
    let mut client = server.connected(&user).await;
    crate::support::assert_still_served(&mut client, &user, "with the key back").await;
    server.stop().await;
}

#[test]
fn the_binary_exits_64_naming_the_setting_when_the_key_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let run = |expect_serving: bool| {
        let mut child = bunkerd_command()
            .arg("serve")
            .env("BUNKERD_DATA_DIR", dir.path())
            .env("BUNKERD_LISTEN", "127.0.0.1:0")
            .env("BUNKERD_ADMIN_LISTEN", "127.0.0.1:0")
            .env("BUNKERD_IO_POLICY", "normal")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if expect_serving {
            // First start: a fresh directory gets its development key and keys in the store.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !started(dir.path()) {
                assert!(Instant::now() < deadline, "bunkerd did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
            crate::support::signal(child.id(), "TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "bunkerd did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    };
    let (status, _) = run(true);
    assert!(status.success(), "{status:?}");
    std::fs::remove_file(dir.path().join("master.key")).unwrap();
    let (status, stderr) = run(false);
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("invalid configuration: master-key-file: ")
            && stderr.contains("is missing, but the store"),
        "{stderr}"
    );
    assert!(!dir.path().join("master.key").exists());
}

/// Whether bunkerd opened its store and passed the self-test: it writes the generated operator
/// token only after that.
fn started(data_dir: &Path) -> bool {
    data_dir.join("operator.token").exists()
}

/// Polls `/readyz` until it answers 503. The provider's health is checked at most every 5 s, so
/// this waits for up to 30 s, and fails the test after that.
async fn becomes_not_ready(admin: &crate::support::admin::Admin) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = admin.call("GET", "/readyz", None).await;
        if status == 503 {
            assert_eq!(
                body["error"]["message"], "the master-key provider does not answer",
                "{body}"
            );
            return;
        }
        assert!(Instant::now() < deadline, "still ready: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transit_master_key_serves_and_an_unreachable_one_is_not_ready() {
    let bao = Bao::start();
    bao.create_key("bunkerd", true);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("bao.token");
    write_key(&token_file, bao.token.as_bytes());
    let uri = format!("transit+{}/transit/bunkerd", bao.address);
    let transit = |config: &mut Config| {
        config.master_key = Some(uri.clone());
        config.master_key_credentials_file = Some(token_file.clone());
    };
    let server = TestServer::start_with(transit).await;
    let data_dir = server.data_dir.clone();
    assert!(!data_dir.join("master.key").exists(), "no key file");
    let user = server.provision(None).await;
    let mut client = server.connected(&user).await;
    crate::support::assert_still_served(&mut client, &user, "on transit").await;
    let admin = server.admin();
    let (status, _) = admin.call("GET", "/readyz", None).await;
    assert_eq!(status, 200);

    // The store is bound to this transit key: a key file does not open it.
    let stopped = server.stop().await;
    write_key(&data_dir.join("master.key"), &[0x44; 32]);
    refused_start(
        bunkerd::start(config(&data_dir)).await,
        "master-key-file",
        "this store's keys are wrapped by the transit master key \"bunkerd\"",
    );
    std::fs::remove_file(data_dir.join("master.key")).unwrap();
    let mut again = config(&data_dir);
    transit(&mut again);
    let server = bunkerd::start(again).await.expect("restarts on transit");
    let admin = crate::support::admin::Admin::new(server.admin_addr, Some(OPERATOR_TOKEN));
    drop(bao);
    becomes_not_ready(&admin).await;
    server.stop().await;

    let mut gone = config(&data_dir);
    transit(&mut gone);
    match bunkerd::start(gone).await {
        Ok(_) => panic!("started without its KMS"),
        Err(e) => {
            assert!(
                matches!(e, bunkerd::Error::Kms(kms::Error::Provider { .. })),
                "{e}"
            );
            assert!(e.to_string().contains("cannot reach"), "{e}");
        }
    }
    drop(stopped);
}

/// `bunkerd create-master-key` with `args` and `env`: its exit status and output.
fn create_master_key(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> (Option<i32>, String) {
    let output = bunkerd_command()
        .arg("create-master-key")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

/// Creates the master key's first version with the binary, refuses a second creation, then
/// serves a fresh data directory with it (the real binary) and has a user sign; the store
/// records the provider. Then `cut` takes the provider away and `/readyz` must turn 503 (it
/// checks the provider at most every 5 s: polled for up to 30 s). `env` reaches the provider's
/// library in both processes.
async fn created_then_served(
    provider: &str,
    key: &str,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
    cut: impl FnOnce(),
) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let mut all = vec!["--data-dir", data_dir];
    all.extend_from_slice(args);
    let (code, text) = create_master_key(&all, env);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        text.trim(),
        format!("created {provider} key \"{key}\" version 1")
    );
    let (code, text) = create_master_key(&all, env);
    assert_eq!(code, Some(64), "a second creation is refused: {text}");
    assert!(
        text.contains("invalid configuration: master-key: ")
            && text.contains("already exists (versions [1]); nothing was created"),
        "{text}"
    );

    let server = Bunkerd::start_with_env(dir.path(), args, env).await;
    let admin = server.admin();
    let tenant = admin.post_ok("/v1/tenants", json!({"name": "acme"})).await;
    let tenant = tenant["id"].as_str().unwrap();
    let user = create_user(&admin, tenant, json!({"name": "alice"})).await;
    let mut client = connected_at(server.relay_addr, &user).await;
    crate::support::assert_still_served(&mut client, &user, "under the provider's key").await;
    let keys = admin.get_ok("/v1/keys").await;
    assert_eq!(
        (keys["provider"].as_str(), keys["key"].as_str()),
        (Some(provider), Some(key))
    );
    assert_eq!(keys["versions"], json!([1]), "{keys}");
    let (status, body) = admin.call("GET", "/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    cut();
    becomes_not_ready(&admin).await;
    server.kill().await;
    assert!(
        !dir.path().join("master.key").exists(),
        "no key file is created beside a KMS key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkcs11_master_key_is_created_once_serves_and_is_not_ready_without_its_token() {
    let hsm = SoftHsm::start();
    let pin = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pin.path(), format!("{}\n", hsm.pin)).unwrap();
    let uri = format!(
        "pkcs11:token={};object=bunkerd-master?module-path={}",
        hsm.token_label,
        hsm.module.display()
    );
    let pin_path = pin.path().to_str().unwrap();
    let args = [
        "--master-key",
        uri.as_str(),
        "--master-key-credentials-file",
        pin_path,
    ];
    let env = [("SOFTHSM2_CONF", hsm.conf.as_os_str())];
    // The token's files gone: as an HSM unplugged or its partition removed.
    let tokens = hsm.conf.parent().unwrap().join("tokens");
    let cut = move || std::fs::remove_dir_all(&tokens).unwrap();
    created_then_served("pkcs11", "bunkerd-master", &args, &env, cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_kms_master_key_is_created_once_serves_and_is_not_ready_without_kms() {
    let moto = Moto::start();
    let uri = format!(
        "aws-kms:bunkerd?region={}&endpoint={}",
        Moto::REGION,
        moto.endpoint
    );
    let env: Vec<(&str, &std::ffi::OsStr)> = Moto::CHILD_ENV
        .iter()
        .map(|(name, value)| (*name, std::ffi::OsStr::new(*value)))
        .collect();
    let cut = move || drop(moto);
    created_then_served(
        "aws-kms",
        "bunkerd",
        &["--master-key", uri.as_str()],
        &env,
        cut,
    )
    .await;
}
