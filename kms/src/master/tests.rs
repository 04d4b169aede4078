//! Tests of the embedded master-key providers: the conformance suite over a key file, a
//! keyring file and memory; file creation, permissions, keyring parsing, reload; and that
//! neither errors nor `Debug` ever show key bytes.

use super::conformance;
use super::{FileMasterKey, Keyring, MasterKey, MemMasterKey};
use crate::test_support::hex;
use crate::{Binding, Error};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

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
    FileMasterKey::create(&path).unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
}

#[test]
fn reload_has_same_id_and_opens_what_the_first_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let first = FileMasterKey::create(&path).unwrap();
    let wrapped = first.wrap(b"data key bytes", &context()).unwrap();
    assert_eq!(wrapped.version, 1);
    let again = FileMasterKey::load(&path).unwrap();
    assert_eq!(
        again.unwrap(&wrapped, &context()).unwrap().as_slice(),
        b"data key bytes"
    );
    assert_eq!(
        FileMasterKey::create(&path).unwrap_err().code(),
        "master_key_file",
        "create never replaces a file"
    );
}

fn context() -> Vec<u8> {
    DEK_BINDING.context().unwrap()
}

#[test]
fn a_key_file_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    FileMasterKey::create(&path).unwrap();
    let other = dir.path().join("other.key");
    FileMasterKey::create(&other).unwrap();
    let master = Arc::new(FileMasterKey::load(&path).unwrap());
    conformance::run(
        master.clone(),
        Arc::new(FileMasterKey::load(&other).unwrap()),
    );
    // Rotation rewrote the single-key file as a keyring, and a reload sees what memory saw.
    let reloaded = FileMasterKey::load(&path).unwrap();
    assert_eq!(reloaded.versions().unwrap(), master.versions().unwrap());
    assert_eq!(reloaded.versions().unwrap().len(), 1);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# bunkerd master keyring"), "{text}");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_memory_keyring_passes_the_conformance_suite() {
    conformance::run(
        Arc::new(MemMasterKey::generate()),
        Arc::new(MemMasterKey::generate()),
    );
}

#[test]
fn keyring_files_keep_versions_and_refuse_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring");
    let one = "11".repeat(32);
    let two = "22".repeat(32);
    write_key_file(
        &path,
        format!("# ours\n1 {one}\n\n7 {two}\n").as_bytes(),
        0o600,
    );
    let keyring = FileMasterKey::load(&path).unwrap();
    assert_eq!(keyring.versions().unwrap(), vec![1, 7]);
    assert_eq!(keyring.current_version().unwrap(), 7);
    // Version 1 of the keyring is the same key as a single-key file holding it.
    let single = MemMasterKey::from_bytes([0x11; 32]);
    let wrapped = single.wrap(b"dek", &context()).unwrap();
    assert_eq!(
        keyring.unwrap(&wrapped, &context()).unwrap().as_slice(),
        b"dek"
    );
    for (text, reason) in [
        (
            format!("1 {one}\n1 {two}\n"),
            "line 2: version 1 is 0 or repeated",
        ),
        (format!("0 {one}\n"), "line 1: version 0 is 0 or repeated"),
        (format!("1 {}\n", &one[..62]), "line 1: expected"),
        ("1 zz\n".to_owned(), "line 1: expected"),
        ("# nothing\n".to_owned(), "no key version"),
    ] {
        write_key_file(&path, text.as_bytes(), 0o600);
        check(&path, reason, &[0x11; 32]);
        check(&path, reason, &[0x22; 32]);
    }
    assert!(Keyring::parse(&format!("3 {one}")).is_ok());
}

#[test]
fn file_and_memory_keys_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &[9u8; 32], 0o600);
    let file = FileMasterKey::load(&path).unwrap();
    let mem = MemMasterKey::from_bytes([9u8; 32]);
    let wrapped = mem.wrap(b"dek", &context()).unwrap();
    assert_eq!(
        file.unwrap(&wrapped, &context()).unwrap().as_slice(),
        b"dek"
    );
}

#[test]
fn world_readable_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &[0xab; 32], 0o644);
    check(&path, "permissions 0644, expected 0600", &[0xab; 32]);
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
    let wrapped = MemMasterKey::from_bytes([0xab; 32])
        .wrap(b"dek", &context())
        .unwrap();
    let file = FileMasterKey::load(&path).unwrap();
    assert_eq!(
        file.unwrap(&wrapped, &context()).unwrap().as_slice(),
        b"dek"
    );
}

#[test]
fn wrong_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    for len in [0, 31, 33] {
        write_key_file(&path, &vec![0x41; len], 0o600);
        check(
            &path,
            "neither a 32-byte key nor a keyring file",
            &[0x41; 31],
        );
    }
    write_key_file(&path, &vec![0x41; 2 << 20], 0o600);
    check(&path, "at most 1048576", &[]);
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
        assert!(shown.contains("v1:0x"), "{shown}");
    }
}

#[test]
fn different_master_keys_refuse_each_other() {
    let a = MemMasterKey::generate();
    let b = MemMasterKey::generate();
    let wrapped = a.wrap(b"dek", &context()).unwrap();
    assert_eq!(
        b.unwrap(&wrapped, &context()).unwrap_err().code(),
        "unknown_key_id"
    );
}
