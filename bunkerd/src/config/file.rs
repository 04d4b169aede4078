//! The TOML config file (`--config`): read it and parse it into a [`Settings`] layer.
//!
//! Two passes over the text: the TOML parser first (a syntax error is reported with its line and
//! column), then serde over the parsed document through `serde_path_to_error`, so an unknown key
//! or a bad value is reported with its dotted key path (`limits.max_subscriptions`) and line.
//!
//! Must not: echo the file's lines into errors (toml's own `Display` quotes the offending line;
//! only its message is used), or accept a key bunkerd does not know.

use super::{ConfigError, Settings};
use std::ops::Range;
use std::path::Path;

/// serde's text for an unknown field (`serde::de::Error::unknown_field`), which
/// `#[serde(deny_unknown_fields)]` raises.
const UNKNOWN_FIELD_PREFIX: &str = "unknown field";

impl Settings {
    /// Reads and parses the config file at `path` (UTF-8 TOML; keys as in
    /// `deploy/bunkerd.example.toml`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::ReadFile`] if the file cannot be read or is not UTF-8; otherwise as
    /// [`Settings::from_toml`].
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        Settings::from_toml(&text, path)
    }

    /// Parses config file text; `path` only names the file in errors.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] (with 1-based line and column) if `text` is not TOML 1.0;
    /// [`ConfigError::UnknownKey`] for a key that is not a setting (including inline secrets such
    /// as `operator_token`); [`ConfigError::Value`] for a value of the wrong type or form, e.g. a
    /// `listen` that is not `IP:port` or a negative `workers`.
    pub fn from_toml(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let document = toml::Deserializer::parse(text).map_err(|e| {
            let (line, column) = position(text, e.span());
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        serde_path_to_error::deserialize(document).map_err(|e| {
            let key = e.path().to_string();
            let (line, _) = position(text, e.inner().span());
            let message = e.inner().message();
            if message.starts_with(UNKNOWN_FIELD_PREFIX) {
                ConfigError::UnknownKey {
                    path: path.to_path_buf(),
                    key,
                    line,
                }
            } else {
                ConfigError::Value {
                    path: path.to_path_buf(),
                    key,
                    line,
                    message: message.to_owned(),
                }
            }
        })
    }
}

/// The 1-based line and column (in characters) where `span` starts; (1, 1) without a span.
fn position(text: &str, span: Option<Range<usize>>) -> (usize, usize) {
    let mut start = span.map_or(0, |s| s.start).min(text.len());
    // A span starts on a character boundary; step back to one if it ever does not.
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
