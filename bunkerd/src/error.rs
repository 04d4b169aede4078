//! The binary's error type: start-up and shutdown failures.

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid setting; the text names it.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The configured master key cannot be used for this store: it does not open it, it is
    /// missing while the store holds keys, or its provider refuses. The text names the setting.
    #[error("invalid configuration: {setting}: {message}")]
    MasterKey {
        /// The setting as its flag name (`master-key-file`, `master-key`).
        setting: &'static str,
        /// What is wrong and what the store needs; never a credential or key byte.
        message: String,
    },
    /// The master key or a data key failed.
    #[error("key store: {0}")]
    Kms(#[from] kms::Error),
    /// The store failed to open or start.
    #[error("{0}")]
    Store(#[from] store::Error),
    /// The signer failed to load.
    #[error("signer: {0}")]
    Signer(#[from] signer::Error),
    /// The cluster bus (`cluster_bus`) could not be reached or subscribed to; the text names the
    /// server without credentials.
    #[error("cluster bus: {0}")]
    Bus(String),
}

impl Error {
    /// Stable code for logs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::MasterKey { .. } => "master_key",
            Error::Io { .. } => "io",
            Error::Kms(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Signer(e) => e.code(),
            Error::Bus(_) => "bus",
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
