//! A third-party relay on its own port: rust-nostr's `nostr-relay-builder` (an in-memory relay
//! written independently of bunkerd), for the tests and demonstrations of client-initiated
//! pairing, where a client names relays that are not bunkerd's own.
//!
//! Prints `ws://<ip>:<port>` on stdout once it listens, then serves until killed. `--port` lets a
//! restarted relay come back where its clients expect it. `--auth` requires NIP-42 authentication
//! for reading (a `REQ` is answered `CLOSED auth-required:` until the connection has
//! authenticated); writing stays open. The relay's own write rate limit is raised so that test
//! traffic is not refused by it.
//!
//! ```text
//! cargo run -p benches --bin foreign-relay -- --port 0 [--auth]
//! ```

use clap::Parser;
use nostr_relay_builder::builder::{RateLimit, RelayBuilderNip42, RelayBuilderNip42Mode};
use nostr_relay_builder::{LocalRelay, RelayBuilder};
use std::io::Write;
use std::net::IpAddr;

/// A rust-nostr relay on its own port.
#[derive(Debug, Parser)]
#[command(name = "foreign-relay")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    addr: IpAddr,
    /// Port; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Require NIP-42 authentication before serving a subscription.
    #[arg(long)]
    auth: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut builder = RelayBuilder::default()
        .addr(cli.addr)
        .rate_limit(RateLimit {
            max_reqs: 1000,
            notes_per_minute: u32::MAX,
        });
    if cli.port != 0 {
        builder = builder.port(cli.port);
    }
    if cli.auth {
        builder = builder.nip42(RelayBuilderNip42 {
            mode: RelayBuilderNip42Mode::Read,
        });
    }
    let relay = LocalRelay::new(builder);
    if let Err(e) = relay.run().await {
        eprintln!("foreign-relay: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let url = relay.url().await;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", url.as_str_without_trailing_slash());
    let _ = stdout.flush();
    std::future::pending::<()>().await;
    std::process::ExitCode::SUCCESS
}
