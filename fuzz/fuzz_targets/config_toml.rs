//! Fuzz target: the TOML config file (`bunkerd::config::Settings::from_toml`), then the merge
//! over the defaults and `Config::validate`.
//!
//! Input: the file's text (UTF-8).
//!
//! Checked: a file the `toml` crate cannot parse as a table is refused, and one it can is never
//! called a syntax error; error positions are inside the text; every refusal has a code, a
//! setting and a summary; a parsed layer is the identity of `Settings::or` on either side; the
//! defaults fill it and `validate` answers without panicking. `validate` opens the master key
//! file and reads metadata under the data directory, so both paths are replaced by ones that do
//! not exist before it runs: opening a file named by fuzz input (a FIFO, a device) is not safe.

#![no_main]

use bunkerd::config::{ConfigError, Settings};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn check_error(text: &str, e: &ConfigError) {
    assert!(!e.code().is_empty());
    assert!(!e.summary().is_empty());
    let _ = e.setting();
    let _ = e.to_string();
    match e {
        ConfigError::Syntax { line, column, .. } => {
            assert!(
                *line >= 1 && *line <= text.lines().count() + 1,
                "line {line}"
            );
            assert!(
                *column >= 1 && *column <= text.chars().count() + 1,
                "column {column}"
            );
        }
        ConfigError::UnknownKey { line, .. } | ConfigError::Value { line, .. } => {
            assert!(
                *line >= 1 && *line <= text.lines().count() + 1,
                "line {line}"
            );
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Settings::from_toml(text, Path::new("fuzz.toml"));
    let is_table = text.parse::<toml::Table>().is_ok();
    // The toml crate checks scalars (`0x`, a bad date) only when they are deserialized, so an
    // invalid document can come back as a value error of the key holding it: either way refused.
    assert!(
        is_table || parsed.is_err(),
        "accepted a file that is not TOML"
    );
    let syntax_error = matches!(parsed, Err(ConfigError::Syntax { .. }));
    assert!(
        !(is_table && syntax_error),
        "syntax error in valid TOML: {parsed:?}"
    );
    let settings = match parsed {
        Ok(settings) => settings,
        Err(e) => {
            check_error(text, &e);
            return;
        }
    };
    assert_eq!(settings.clone().or(Settings::default()), settings);
    assert_eq!(Settings::default().or(settings.clone()), settings);
    let mut config = settings.with_defaults();
    config.data_dir = "/nonexistent/bunkerd-fuzz/data".into();
    config.master_key_file = None;
    if let Err(e) = config.validate() {
        check_error(text, &e);
    }
});
