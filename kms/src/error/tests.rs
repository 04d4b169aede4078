//! Tests of [`Error::code`]: every variant has a distinct, stable snake_case code.

use super::Error;
use std::path::PathBuf;

fn one_of_each() -> Vec<Error> {
    vec![
        Error::UnknownVersion(2),
        Error::UnknownAlgorithm(9),
        Error::UnknownKeyId {
            expected: 1,
            found: 2,
        },
        Error::Truncated,
        Error::WrongKeyOrTampered,
        Error::NoDataKey("acme".into()),
        Error::MasterKeyFile {
            path: PathBuf::from("/k"),
            reason: "missing".into(),
        },
        Error::Store(store::Error::Engine("io".into())),
        Error::Corrupt("short".into()),
    ]
}

#[track_caller]
fn check(error: &Error, code: &str) {
    assert_eq!(error.code(), code, "code of {error:?}");
}

#[test]
fn codes_are_the_documented_strings() {
    let codes = [
        "unknown_version",
        "unknown_algorithm",
        "unknown_key_id",
        "truncated",
        "wrong_key_or_tampered",
        "no_data_key",
        "master_key_file",
        "store",
        "corrupt",
    ];
    for (error, code) in one_of_each().iter().zip(codes) {
        check(error, code);
    }
}

#[test]
fn codes_are_snake_case() {
    for error in one_of_each() {
        let ok = error
            .code()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_');
        assert!(ok, "{} is not snake_case", error.code());
    }
}

#[test]
fn display_names_the_key_ids() {
    let text = Error::UnknownKeyId {
        expected: 0xdead_beef,
        found: 1,
    }
    .to_string();
    assert!(
        text.contains("0xdeadbeef") && text.contains("0x00000001"),
        "{text}"
    );
}
