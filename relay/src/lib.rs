//! `relay`: bunkerd's purpose-built NIP-01 relay, which accepts only kind-24133 NIP-46 events
//! addressed to the remote signers bunkerd hosts.
//!
//! Layering, from pure to imperative: [`message`] (NIP-01 parsing and encoding) → [`connection`]
//! (the per-connection state machine: admission rules, subscriptions) → `socket` (moves bytes: a
//! reader task and a writer task per websocket, framed by `ws`) → [`http`] (the relay port's
//! HTTP: the websocket upgrade, NIP-11 and NIP-05). [`fanout`] delivers the signer's response
//! events to subscriptions; [`dedupe`] remembers accepted event ids; [`limits`] and
//! [`ratelimit`] bound connections, subscriptions and event rates per connection, address and
//! tenant, before any signature is verified; `intake` is the path of an admitted event to the
//! signer, shared by websockets and `POST /nip46/request`; [`answer`] sends NIP-46 error replies to
//! requests the relay refused itself.
//!
//! What it must not do: hold a secret key. It hands events to the signer pool through the
//! [`dispatch::Dispatch`] trait and delivers what comes back; the `bunkerd` crate implements that
//! trait over the signer, builds a [`state::RelayState`] and serves [`http::relay_service`] on the
//! relay listener.

pub mod answer;
pub mod connection;
pub mod dedupe;
pub mod dispatch;
pub mod fanout;
pub mod filter;
pub mod foreign;
pub mod http;
mod intake;
pub mod limits;
mod liveness;
pub mod message;
pub mod metrics;
pub mod outbox;
mod placement;
pub mod ratelimit;
mod socket;
pub mod state;
mod writer;
mod ws;
