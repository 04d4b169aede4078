//! Backups, end to end: `bunkerd backup create` against the running server while clients sign,
//! `bunkerd backup verify` and `bunkerd backup restore` with the real binary.
//!
//! Asserted: a backup taken while four clients sign and users are being provisioned verifies
//! (every user's two keys open with the master key) and restores onto an empty data directory,
//! where every user signs from a new session and every session opened before the backup goes on
//! without a new `connect`. A damaged file, the wrong master key and a target that already holds
//! a store are refused, and nothing is written then.

use crate::key_rotation::{sign_until, tenant_with_users};
use crate::support::{bunkerd_command, raw, TestServer, User, OPERATOR_TOKEN};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Runs the binary with `args`: exit code, stdout, stderr.
fn bunkerd(args: &[impl AsRef<std::ffi::OsStr>]) -> (Option<i32>, String, String) {
    let output = bunkerd_command()
        .args(args)
        .env("BUNKERD_TOKEN", OPERATOR_TOKEN)
        .env_remove("BUNKERD_DATA_DIR")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The arguments of `bunkerd backup restore file` onto the store of `data_dir`.
fn restore(file: &Path, data_dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["backup", "restore", file.to_str().unwrap(), "--data-dir"]
        .map(str::to_owned)
        .into();
    args.push(data_dir.to_str().unwrap().to_owned());
    args.extend(crate::support::store_args(data_dir));
    args
}

/// The value of the `key: value` line `key` of `text`.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` in {text}"))
}

/// Every file under `dir` with its bytes (what "nothing written" compares).
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(tree(&path));
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_signing_verifies_and_restores_with_sessions() {
    let server = TestServer::start().await;
    let (tenant, mut users) = tenant_with_users(&server, 40).await;
    // Sessions opened before the backup, on four of the users, signing throughout.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (started_tx, mut started) = tokio::sync::mpsc::channel(4);
    let mut signers = Vec::new();
    let mut client_keys = Vec::new();
    for user in users.iter().take(4) {
        let client = server.connected(user).await;
        client_keys.push(client.keys.clone());
        let task = sign_until(client, user.clone(), stop.clone(), started_tx.clone());
        signers.push(tokio::spawn(task));
    }
    for _ in 0..4 {
        started.recv().await.unwrap();
    }
    // Provisioning goes on beside the signing while the backup is written.
    let provisioner = {
        let admin = server.admin();
        let tenant = tenant.clone();
        tokio::spawn(async move {
            let mut more = Vec::new();
            for _ in 0..20 {
                more.push(
                    crate::support::create_user(&admin, &tenant, serde_json::json!({})).await,
                );
            }
            more
        })
    };
    let url = format!("http://{}", server.server.admin_addr);
    let (code, out, err) =
        tokio::task::spawn_blocking(move || bunkerd(&["backup", "create", "--url", &url]))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let file = PathBuf::from(field(&out, "file"));
    assert!(file.starts_with(server.data_dir.join("backups")), "{out}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the backup is the owner's only");
    let more = provisioner.await.unwrap();
    stop_tx.send(true).unwrap();
    for signer in signers {
        assert!(signer.await.expect("no request failed") > 0);
    }
    // Users created before the backup started are in it; some of the 20 others may be.
    let master_key = server.data_dir.join("master.key");
    let (data_dir, _keep, _) = server.stop().await;

    let elsewhere = tempfile::tempdir().unwrap();
    let master = master_key.to_str().unwrap();
    let verify = |file: &Path, master: &str| {
        bunkerd(&[
            "backup",
            "verify",
            file.to_str().unwrap(),
            "--data-dir",
            elsewhere.path().to_str().unwrap(),
            "--master-key-file",
            master,
        ])
    };
    let (code, out, err) = verify(&file, master);
    assert_eq!(code, Some(0), "{out}{err}");
    let backed_up: usize = field(&out, "users").parse().unwrap();
    assert!((40..=60).contains(&backed_up), "{out}");
    assert_eq!(
        field(&out, "keys opened"),
        format!("{} of {}", 2 * backed_up, 2 * backed_up)
    );
    assert_eq!(field(&out, "sessions"), "4", "{out}");
    assert!(tree(elsewhere.path()).is_empty(), "verify writes nothing");

    // Refusals: a damaged copy, another master key, a target that holds a store.
    let damaged = elsewhere.path().join("damaged.backup");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&damaged, &bytes).unwrap();
    let (code, _, err) = verify(&damaged, master);
    assert_eq!(code, Some(65), "{err}");
    assert!(err.contains("backup file: "), "{err}");
    let other_key = elsewhere.path().join("other.key");
    std::fs::write(&other_key, [7u8; 32]).unwrap();
    std::fs::set_permissions(&other_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, _, err) = verify(&file, other_key.to_str().unwrap());
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("master-key-file"), "{err}");
    let before = tree(&data_dir);
    let (code, _, err) = bunkerd(&restore(&file, &data_dir));
    assert_eq!(code, Some(73), "{err}");
    assert!(err.contains("already holds a store"), "{err}");
    assert!(
        tree(&data_dir) == before,
        "a refused restore writes nothing"
    );

    // Restore onto an empty directory, with the master key beside it as `serve` expects.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&master_key, restored.path().join("master.key")).unwrap();
    let (code, out, err) = bunkerd(&restore(&file, restored.path()));
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(field(&out, "users"), backed_up.to_string());

    let server = TestServer::start_in(restored.path(), "127.0.0.1:0".parse().unwrap()).await;
    // Every session opened before the backup goes on, without a new connect.
    for (keys, user) in client_keys.into_iter().zip(&users) {
        let mut client = raw::RawClient::with_keys(server.server.relay_addr, keys).await;
        crate::support::assert_still_served(&mut client, user, "after the restore").await;
    }
    // Every user in the backup signs from a new session.
    users.extend(more);
    let mut signed = 0;
    for user in &users {
        let path = format!("/v1/tenants/{tenant}/users/{}", user.id);
        let exists = server.admin().call("GET", &path, None).await.0 == 200;
        if !exists {
            continue;
        }
        let user = User {
            bunker_uri: server.bunker_uri(user).await,
            ..user.clone()
        };
        let mut client = server.connected(&user).await;
        crate::support::sign_note(&mut client, &user, "restored").await;
        signed += 1;
    }
    assert_eq!(signed, backed_up, "every user of the backup signs");
    server.stop().await;
}
