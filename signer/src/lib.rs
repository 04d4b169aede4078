//! The signer shell: the tenant/user directory, client sessions, the audit log, admin services
//! and the worker pool, around the pure protocol core (crate `proto`).
//!
//! Layering, from pure to imperative:
//!
//! - `proto` (another crate): keys, ciphers, NIP-46 parsing and the sans-IO `nip46::handle`,
//!   policy. It takes randomness and the secp256k1 context as an argument; [`crypto`] supplies the
//!   real ones (the OS generator, one blinded context per thread).
//! - [`directory`] and [`sessions`]: the records of tenants, users, bunker-URI secrets and client
//!   sessions, held in memory for the hot path and persisted through [`store::Store`].
//! - [`admin`]: every admin operation as one service function, atomic against concurrent writers.
//! - [`Bunker`]: the imperative shell around the handler (decrypt, look up, handle, persist, encrypt,
//!   sign), and [`pool::Pool`], the worker threads that run it off the async reactor behind a bounded
//!   queue.
//!
//! The signer never touches a socket: the relay hands it verified-shape kind-24133 events and receives
//! response events through the [`pool::Outbox`] trait.

pub mod admin;
pub mod approvals;
pub mod audit;
pub mod backup;
pub mod bunker;
pub mod cluster;
pub mod crypto;
pub mod directory;
pub mod error;
pub mod pool;
pub mod sessions;
#[cfg(test)]
mod test_support;

pub use bunker::{
    Answer, Bunker, BunkerConfig, HeldView, IssuedUri, Processed, Refusal, SessionInfo, UriOptions,
};
pub use error::Error;
pub use event::KIND_NOSTR_CONNECT;
