//! [`ConfigError`]: why a configuration was refused, naming the setting.
//!
//! Must not: quote a secret. The texts hold setting names, file paths, line numbers, OS error
//! texts and, for a bad value in the config file, the TOML/serde message (which may quote that
//! value: the file never holds a secret, since the operator token can only be named there as
//! `operator_token_file`). The operator token and key bytes never appear.

use std::path::PathBuf;

/// Why a configuration was refused. Every text starts with `invalid configuration: <setting>: `,
/// where the setting is the flag name (`master-key-file`) or, for an error in the file, the key as
/// written there (`admin_listen`, `limits.max_subscriptions`) or `config` for the file as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file named by `--config` cannot be read (missing, permission denied, not UTF-8).
    #[error("invalid configuration: config: cannot read {}: {source}", path.display())]
    ReadFile {
        /// The config file.
        path: PathBuf,
        /// The OS error (`InvalidData` for a file that is not UTF-8).
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML (TOML 1.0), e.g. an unquoted string or a duplicate key.
    #[error(
        "invalid configuration: config: {}: TOML syntax error at line {line}, column {column}: \
         {message}",
        path.display()
    )]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (characters) of the error.
        column: usize,
        /// The parser's description, without the quoted source line.
        message: String,
    },
    /// The config file has a key bunkerd does not know (a typo, or a setting that has no key,
    /// such as the operator token itself).
    #[error(
        "invalid configuration: {key}: unknown key in {} at line {line} (the keys are listed in \
         deploy/bunkerd.example.toml)",
        path.display()
    )]
    UnknownKey {
        /// The config file.
        path: PathBuf,
        /// The key's dotted path, e.g. `limits.max_subscriptionz`.
        key: String,
        /// 1-based line of the key.
        line: usize,
    },
    /// A key of the config file has a value of the wrong type or form (e.g. `listen = "nope"`).
    #[error("invalid configuration: {key}: {message} (in {} at line {line})", path.display())]
    Value {
        /// The config file.
        path: PathBuf,
        /// The key's dotted path, e.g. `listen`.
        key: String,
        /// 1-based line of the value.
        line: usize,
        /// What is wrong, from serde (e.g. `invalid socket address syntax`).
        message: String,
    },
    /// A setting, from any layer, is invalid ([`crate::Config::validate`]) or cannot be used
    /// (an unreadable operator token file).
    #[error("invalid configuration: {summary}{}", detail.as_deref().unwrap_or_default())]
    Invalid {
        /// The setting, as its flag name without dashes in front (e.g. `master-key-file`).
        setting: &'static str,
        /// `<setting>: <problem>`, fixed text (e.g. `master-key-file: cannot read`).
        summary: &'static str,
        /// Particulars appended to the summary as they are, starting with their own separator
        /// (`" /x: Permission denied (os error 13)"`, `" (got 0)"`).
        detail: Option<String>,
    },
}

impl ConfigError {
    /// Stable snake_case code for logs: `config_file_unreadable`, `config_file_syntax`,
    /// `config_unknown_key`, `config_invalid_value`, `config_invalid_setting`.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::ReadFile { .. } => "config_file_unreadable",
            ConfigError::Syntax { .. } => "config_file_syntax",
            ConfigError::UnknownKey { .. } => "config_unknown_key",
            ConfigError::Value { .. } => "config_invalid_value",
            ConfigError::Invalid { .. } => "config_invalid_setting",
        }
    }

    /// The setting this error is about: the flag name for [`ConfigError::Invalid`], `config` for
    /// an unreadable file or a syntax error, the key's dotted path for a key of the file.
    pub fn setting(&self) -> &str {
        match self {
            ConfigError::ReadFile { .. } | ConfigError::Syntax { .. } => "config",
            ConfigError::UnknownKey { key, .. } | ConfigError::Value { key, .. } => key,
            ConfigError::Invalid { setting, .. } => setting,
        }
    }

    /// A fixed `<setting>: <problem>` text, for [`crate::Error::Config`].
    pub fn summary(&self) -> &'static str {
        match self {
            ConfigError::ReadFile { .. } => "config: cannot read the config file",
            ConfigError::Syntax { .. } => "config: TOML syntax error in the config file",
            ConfigError::UnknownKey { .. } => "config: unknown key in the config file",
            ConfigError::Value { .. } => "config: invalid value in the config file",
            ConfigError::Invalid { summary, .. } => summary,
        }
    }
}

impl From<ConfigError> for crate::Error {
    /// [`crate::Error::Config`] with the error's [`ConfigError::summary`]: `crate::Error::Config`
    /// holds a `&'static str`, so the particulars (paths, numbers) are dropped.
    fn from(e: ConfigError) -> Self {
        crate::Error::Config(e.summary())
    }
}

/// [`ConfigError::Invalid`] for `setting` with a fixed problem text and optional particulars:
/// `invalid!("data-dir", "must not be empty")` or
/// `invalid!("master-key-file", "cannot read", format!(" {}: {e}", path.display()))`, whose text is
/// `invalid configuration: master-key-file: cannot read /x: Permission denied (os error 13)`.
macro_rules! invalid {
    ($setting:literal, $problem:literal) => {
        $crate::config::ConfigError::Invalid {
            setting: $setting,
            summary: concat!($setting, ": ", $problem),
            detail: None,
        }
    };
    ($setting:literal, $problem:literal, $detail:expr) => {
        $crate::config::ConfigError::Invalid {
            setting: $setting,
            summary: concat!($setting, ": ", $problem),
            detail: Some($detail),
        }
    };
}
pub(crate) use invalid;
