//! bunkerd's relay crate: the `bunkerd` binary's library half.
//!
//! One process is both a purpose-built NIP-01 relay (kind 24133 only, on the relay port) and the
//! signer pool behind it (crate `signer`), plus the admin API on a separate port. Layering
//! (style.md §5): [`message`] (pure NIP-01 parsing/encoding) → [`session`] (pure per-connection state
//! machine) → `conn` (moves bytes; split reader/writer tasks) → `http` (upgrade, NIP-11) and
//! [`server`] (listeners, lifecycle, shutdown). [`fanout`] delivers the signer's response events to
//! subscriptions. Nothing in this crate handles secret keys: it hands events to the signer pool and
//! delivers what comes back.
//!
//! Entry points: [`server::start`] binds and starts everything and returns a [`server::Server`]
//! handle; [`server::Server::stop`] shuts down gracefully (close websockets with 1001, drain the signer
//! queue, drop the store last).

// The admin API's OpenAPI schemas are one `serde_json::json!` literal, deeper than the default limit.
#![recursion_limit = "256"]

mod admin;
pub mod cli;
pub mod config;
mod conn;
pub mod dedupe;
pub mod error;
pub mod fanout;
pub mod filter;
mod http;
pub mod limits;
pub mod message;
mod metrics;
mod ratelimit;
pub mod sched;
pub mod server;
pub mod session;
mod state;
mod ws;

pub use config::Config;
pub use error::Error;
pub use server::{start, Server};
