//! The one error type of the `store` crate.
//!
//! Role: say that the storage engine failed, with the engine's own message for operators' logs.
//! What it must not do: carry record values (they may be sealed secrets); callers never send the
//! text to a client.
//!
//! Main type: [`Error`].

/// A storage engine failure: a read, write, sync, scan or open that did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine failed; the text is the engine's message (paths and column family names,
    /// never keys or values).
    #[error("store: {0}")]
    Engine(String),
    /// The engine's server cannot be reached (PostgreSQL: no connection within the connect
    /// timeout, or it closed); retrying later may succeed. The text names the host and database.
    #[error("store: {0}")]
    Unavailable(String),
    /// A backup file is not one, is of another format version, or is damaged (cut short,
    /// extended, altered: its framing or SHA-256 does not hold). The text names what.
    #[error("backup file: {0}")]
    DamagedBackup(String),
}

impl Error {
    /// Stable snake_case code for logs and metrics labels: `store`, `store_unavailable`,
    /// `damaged_backup`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Engine(_) => "store",
            Error::Unavailable(_) => "store_unavailable",
            Error::DamagedBackup(_) => "damaged_backup",
        }
    }
}
