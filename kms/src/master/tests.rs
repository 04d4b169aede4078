//! Tests of the master-key providers: file creation, permissions and size checks, reload, and
//! that neither errors nor `Debug` ever show key bytes.

use super::{FileMasterKey, MasterKey, MemMasterKey};
use crate::test_support::hex;
use crate::{Binding, Error};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const DEK_BINDING: Binding<'static> = Binding {
    record: "dek",
    tenant: "acme",
    owner: "",
    role: "dek",
};

/// Writes `bytes` to `path` with `mode`, the way an operator might mount a key file.
fn write_key_file(path: &Path, bytes: &[u8], mode: u32) {
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Loads `path` and expects a `MasterKeyFile` error whose reason contains `reason` and whose
/// text and Debug never contain the hex of `secret` (when there is one).
#[track_caller]
fn check(path: &Path, reason: &str, secret: &[u8]) {
    let error = FileMasterKey::load(path).unwrap_err();
    assert_eq!(error.code(), "master_key_file");
    let shown = format!("{error} {error:?}");
    assert!(shown.contains(reason), "{shown}");
    assert!(
        secret.is_empty() || !shown.contains(&hex(secret)),
        "{shown}"
    );
    if let Error::MasterKeyFile { path: p, .. } = &error {
        assert_eq!(p, path);
    }
}

#[test]
fn created_file_is_0600_and_32_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/master.key");
    let key = FileMasterKey::load_or_create(&path).unwrap();
    assert!(key.created());
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
}

#[test]
fn reload_has_same_id_and_opens_what_the_first_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let first = FileMasterKey::load_or_create(&path).unwrap();
    let sealed = first.seal(b"data key bytes", &DEK_BINDING).unwrap();
    for again in [
        FileMasterKey::load_or_create(&path),
        FileMasterKey::load(&path),
    ] {
        let again = again.unwrap();
        assert!(!again.created());
        assert_eq!(again.key_id(), first.key_id());
        assert_eq!(
            again.open(&sealed, &DEK_BINDING).unwrap().as_slice(),
            b"data key bytes"
        );
    }
}

#[test]
fn file_and_memory_keys_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &[9u8; 32], 0o600);
    let file = FileMasterKey::load(&path).unwrap();
    let mem = MemMasterKey::from_bytes([9u8; 32]);
    assert_eq!(file.key_id(), mem.key_id());
    let sealed = mem.seal(b"dek", &DEK_BINDING).unwrap();
    assert_eq!(file.open(&sealed, &DEK_BINDING).unwrap().as_slice(), b"dek");
}

#[test]
fn world_readable_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &[0xab; 32], 0o644);
    check(&path, "permissions 0644, expected 0600", &[0xab; 32]);
    let again = FileMasterKey::load_or_create(&path).unwrap_err();
    assert_eq!(
        again.code(),
        "master_key_file",
        "load_or_create must not replace it"
    );
}

#[test]
fn group_readable_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &[0xab; 32], 0o640);
    check(&path, "permissions 0640, expected 0600", &[0xab; 32]);
}

#[test]
fn owner_read_only_file_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &[0xab; 32], 0o400);
    assert_eq!(
        FileMasterKey::load(&path).unwrap().key_id(),
        MemMasterKey::from_bytes([0xab; 32]).key_id()
    );
}

#[test]
fn wrong_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &[0xcd; 31], 0o600);
    check(&path, "length 31 bytes, expected 32", &[0xcd; 31]);
    write_key_file(&path, &[0xcd; 33], 0o600);
    check(&path, "length 33 bytes, expected 32", &[0xcd; 33]);
    write_key_file(&path, &[], 0o600);
    check(&path, "length 0 bytes, expected 32", &[]);
}

#[test]
fn missing_file_is_refused_by_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.key");
    check(&path, "cannot open", &[]);
    assert!(!path.exists(), "load must never create");
}

#[test]
fn directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    check(dir.path(), "not a regular file", &[]);
}

#[test]
fn debug_never_shows_key_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &[0x5a; 32], 0o600);
    let file = FileMasterKey::load(&path).unwrap();
    let mem = MemMasterKey::from_bytes([0x5a; 32]);
    for shown in [format!("{file:?}"), format!("{mem:?}")] {
        assert!(!shown.contains(&hex(&[0x5a; 32])), "{shown}");
        assert!(!shown.contains("90, 90"), "{shown}");
        assert!(shown.ends_with(".. }"), "{shown}");
    }
}

#[test]
fn different_master_keys_refuse_each_other() {
    let a = MemMasterKey::generate();
    let b = MemMasterKey::generate();
    assert_ne!(a.key_id(), b.key_id());
    let sealed = a.seal(b"dek", &DEK_BINDING).unwrap();
    assert_eq!(
        b.open(&sealed, &DEK_BINDING).unwrap_err().code(),
        "unknown_key_id"
    );
}
