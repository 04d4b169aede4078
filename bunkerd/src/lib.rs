//! `bunkerd`: the binary's library half — configuration, server lifecycle, the metrics registry's
//! scrape, thread policy, the admin HTTP API and the operator CLI.
//!
//! One process is both a purpose-built NIP-01 relay (crate `relay`, on the relay port) and the
//! signer pool behind it (crate `signer`), plus the admin API on a separate port. This crate wires
//! them: [`server::start`] validates the [`Config`], binds both listeners, opens the store
//! (crate `store`) and the master key (crate `kms`), loads the signer and returns a
//! [`server::Server`] handle; [`server::Server::stop`] shuts down gracefully (stop reading, drain
//! the signer queue, close websockets with 1001, drop the store last). [`cli`] is `bunkerd admin`,
//! a thin client of the admin API.

// The admin API's OpenAPI schemas are one `serde_json::json!` literal, deeper than the default limit.
#![recursion_limit = "256"]

mod admin;
pub mod backup;
pub mod cli;
mod cluster;
pub mod config;
mod custody;
mod dispatch;
pub mod error;
pub mod hygiene;
mod keys;
mod metrics;
pub mod sched;
pub mod server;
mod storage;

pub use config::Config;
pub use custody::create_master_key;
pub use error::Error;
pub use server::{start, Server};
