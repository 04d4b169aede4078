//! The signer: bunkerd's Nostr core, NIP-46 request handling, the tenant/user directory, client
//! sessions and the worker pool that runs the crypto.
//!
//! Layering, from pure to imperative:
//!
//! - [`nostr`]: NIP-01 event ids, BIP-340 Schnorr, NIP-44 v2, NIP-04, `nsec` decoding. Pure functions
//!   over byte arrays; checked against the official vectors.
//! - [`nip46`]: the JSON-RPC wire format (loose parsing that can always answer with the request `id`),
//!   one file per method, and the sans-IO [`nip46::handle`]: `(context, request, now) -> outcome`.
//!   No clock, store or socket inside.
//! - [`directory`] and [`sessions`]: the records of tenants, users, bunker-URI secrets and client
//!   sessions, held in memory for the hot path and persisted through [`store::Store`].
//! - [`Bunker`]: the imperative shell around the handler (decrypt, look up, handle, persist, encrypt,
//!   sign), and [`pool::Pool`], the worker threads that run it off the async reactor behind a bounded
//!   queue.
//!
//! The signer never touches a socket: the relay hands it verified-shape kind-24133 events and receives
//! response events through the [`pool::Outbox`] trait.

pub mod admin;
pub mod audit;
pub mod bunker;
pub mod directory;
pub mod error;
pub mod nip46;
pub mod nostr;
pub mod policy;
pub mod pool;
pub mod sessions;

pub use bunker::{Bunker, BunkerConfig, IssuedUri, Processed, Refusal, SessionInfo, UriOptions};
pub use error::Error;
pub use event::KIND_NOSTR_CONNECT;
