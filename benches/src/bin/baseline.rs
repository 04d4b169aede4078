//! `baseline`: the stack a user would pick instead of bunkerd, served on loopback for the
//! side-by-side runs of `scripts/compare-baseline.sh` — rust-nostr's `nostr-relay-builder`
//! [`LocalRelay`] plus one `nostr-connect` [`NostrConnectRemoteSigner`] per user, each in its own
//! tokio task, all in this one process.
//!
//! ```text
//! baseline --listen 127.0.0.1:7447 --users 100 --uris-per-user 2 --out uris.txt --duration 300
//! loadgen run --relay 127.0.0.1:7447 --uris uris.txt --clients 200 --template-pubkey …
//! ```
//!
//! It writes the bunker URIs (`bunker://<signer>?relay=ws%3A%2F%2F…&secret=…`, one per client, the
//! first `--users` lines naming distinct users, like `loadgen provision`) only once every signer's
//! subscription is live at the relay, then serves until `--duration` seconds have passed since start
//! or SIGINT/SIGTERM, and exits 0. It must not be exposed beyond loopback: it has no TLS, no admin
//! and no persistence; every key is generated at start and lost at exit.
//!
//! Configuration, and why:
//! - **One signer per user**, separate signer and user keys ([`NostrConnectKeys`]), as the crate's
//!   own example does. A signer holds at most one secret, reusable, and keeps no record of who
//!   connected: it answers any client's requests. So it is built without a secret, and its
//!   [`NostrConnectSignerActions`] hook ([`SingleUse`]) gives bunkerd's semantics: each URI's
//!   secret is accepted once, and only clients that connected with one are answered (one lock and
//!   one hash-set lookup per request). One signer per user, not per URI.
//! - **TCP_NODELAY on the relay's sockets.** `LocalRelay::run` accepts with tokio and hands the bare
//!   `TcpStream` to tokio-tungstenite without `set_nodelay` and has no option for it, so the
//!   response `EVENT` written right after an `OK` can wait for the client's delayed ACK (Nagle). Its
//!   documented alternative, [`LocalRelay::take_connection`], takes an already upgraded stream, so
//!   this binary accepts itself, sets `TCP_NODELAY`, answers the RFC 6455 handshake and passes the
//!   bare `TcpStream` on: the same websocket stack as `run`, Nagle off. `--stock-listener` uses
//!   `run` instead. The signers' own client sockets (nostr-relay-pool → async-wsocket's
//!   `TcpStream::connect`) keep Nagle on: the signer builds its `RelayPool` internally and accepts
//!   no transport. A signer writes one frame and then waits for the relay's `OK` (which carries the
//!   ACK), so Nagle rarely has unacknowledged data to hold a write behind.
//! - **Rate limit lifted** (`notes_per_minute = u32::MAX`): the default, 60 events a minute per
//!   connection, would refuse a benchmark's clients and the signers' replies.
//!
//! Known behaviour of the baseline (measured as is, not worked around): a signer handles one
//! request at a time and waits for the relay's `OK` to each reply before reading the next request;
//! it drops NIP-04 requests and `sign_event` templates without `pubkey` without answering (so the
//! load generator runs with `--template-pubkey`); a malformed NIP-46 message, or falling more than
//! 4,096 notifications behind on its pool's channel, ends its serve loop (reported on stderr). Its
//! subscription has `since` = its start, so only requests created after that reach it.
//! The relay hands every event to every connection's task to match against its subscriptions
//! (work grows with the number of connections), through a 1,024-event broadcast channel that
//! silently skips events for a connection that falls further behind. Each user costs two sockets
//! (the signer's and the relay's end); raise `ulimit -n` above `2 × users + clients + 100`.
//! The tokio runtime has one worker per core this process may use (`taskset` narrows it).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::Parser;
use nostr::hashes::{sha1, Hash as _};
use nostr::util::BoxedFuture;
use nostr::{Alphabet, Filter, Keys, PublicKey, SingleLetterTag};
use nostr_connect::prelude::{
    NostrConnectKeys, NostrConnectRemoteSigner, NostrConnectRequest, NostrConnectSignerActions,
};
use nostr_relay_builder::builder::{PolicyResult, QueryPolicy, RateLimit};
use nostr_relay_builder::{LocalRelay, RelayBuilder};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long every signer may take to connect and subscribe before the run is abandoned.
const SETUP_WAIT: Duration = Duration::from_secs(120);

/// Largest websocket upgrade request accepted, bytes.
const MAX_HANDSHAKE: usize = 8 * 1024;

/// RFC 6455's GUID, appended to `Sec-WebSocket-Key` before hashing.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#[derive(Parser)]
#[command(
    name = "baseline",
    about = "rust-nostr baseline: nostr-relay-builder relay + one nostr-connect signer per user"
)]
struct Cli {
    /// Loopback address the relay listens on (host:port).
    #[arg(long, default_value = "127.0.0.1:7447")]
    listen: SocketAddr,
    /// Users, each with its own user key and remote signer.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Bunker URIs per user (one per client connection; each secret is single-use).
    #[arg(long, default_value_t = 1)]
    uris_per_user: usize,
    /// Where to write the URIs, one per line.
    #[arg(long, default_value = "uris.txt")]
    out: PathBuf,
    /// Seconds to run, from start; the binary then exits by itself.
    #[arg(long, default_value_t = 300)]
    duration: u64,
    /// Use `LocalRelay::run`'s own listener (TCP_NODELAY off) instead of this binary's (on).
    #[arg(long)]
    stock_listener: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `available_parallelism` follows the affinity mask, so `taskset -c 0` gives one worker.
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("baseline: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli, workers));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baseline: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until the duration ends or a signal arrives (both a normal end).
async fn run(cli: Cli, workers: usize) -> Result<(), String> {
    if !cli.listen.ip().is_loopback() {
        return Err(format!("--listen {} is not a loopback address", cli.listen));
    }
    if cli.users == 0 || cli.uris_per_user == 0 {
        return Err("--users and --uris-per-user must be at least 1".into());
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    let why = tokio::select! {
        served = serve(&cli, workers) => return served,
        () = tokio::time::sleep(Duration::from_secs(cli.duration)) => "duration reached",
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    eprintln!("baseline: stopping ({why})");
    Ok(())
}

/// Starts the baseline, publishes the URIs once every signer is subscribed, then serves forever;
/// returns only on a set-up failure.
async fn serve(cli: &Cli, workers: usize) -> Result<(), String> {
    // A URI file left by an earlier run must not be mistaken for this run's.
    let _ = std::fs::remove_file(&cli.out);
    let started = start(cli).await?;
    write_uris(&cli.out, &started.uris)?;
    let listener = if cli.stock_listener {
        "stock listener, TCP_NODELAY off"
    } else {
        "TCP_NODELAY on"
    };
    eprintln!(
        "baseline: relay ws://{} ({listener}), {} users, {} URIs in {}, {workers} worker thread(s)",
        started.addr,
        cli.users,
        started.uris.len(),
        cli.out.display()
    );
    // Serve until `run` drops this future; the relay lives as long as its handle does.
    let _relay = started.relay;
    std::future::pending().await
}

/// A running baseline.
struct Started {
    /// The relay; dropping the last handle shuts it down.
    relay: LocalRelay,
    /// Where it listens.
    addr: SocketAddr,
    /// The bunker URIs, interleaved (see [`bunker_uris`]).
    uris: Vec<String>,
}

/// Starts the relay and every user's signer, and returns once every signer is subscribed.
async fn start(cli: &Cli) -> Result<Started, String> {
    let users: Vec<User> = (0..cli.users)
        .map(|_| User::new(cli.uris_per_user))
        .collect();
    let (readiness, pending) = Readiness::new(&users);
    let (relay, addr) = start_relay(cli, readiness).await?;
    let url = format!("ws://{addr}");
    for user in &users {
        spawn_signer(user, &url)?;
    }
    wait_ready(pending).await?;
    let uris = bunker_uris(&users, &url);
    Ok(Started { relay, addr, uris })
}

/// Waits, at most `SETUP_WAIT`, until every signer's subscription has reached the relay.
async fn wait_ready(mut pending: watch::Receiver<usize>) -> Result<(), String> {
    let ready = tokio::time::timeout(SETUP_WAIT, pending.wait_for(|left| *left == 0))
        .await
        .map(|waited| waited.map(drop));
    match ready {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "{} signer(s) not subscribed after {SETUP_WAIT:?}",
            *pending.borrow()
        )),
    }
}

/// One hosted user: the key that signs their events, the remote signer's key, and the secrets of
/// their bunker URIs (32 lowercase hex characters each).
struct User {
    signer: Keys,
    user: Keys,
    secrets: Vec<String>,
}

impl User {
    fn new(uris: usize) -> Self {
        User {
            signer: Keys::generate(),
            user: Keys::generate(),
            secrets: (0..uris)
                .map(|_| format!("{:032x}", nostr::secp256k1::rand::random::<u128>()))
                .collect(),
        }
    }
}

/// `bunker://` URIs, interleaved as `loadgen provision` writes them: the URIs of index 0 of every
/// user first, then index 1, and so on.
fn bunker_uris(users: &[User], relay_url: &str) -> Vec<String> {
    let relay = percent_encode(relay_url);
    let per_user = users.first().map_or(0, |u| u.secrets.len());
    (0..per_user)
        .flat_map(|k| users.iter().map(move |u| (u, k)))
        .map(|(u, k)| {
            let signer = u.signer.public_key().to_hex();
            format!("bunker://{signer}?relay={relay}&secret={}", u.secrets[k])
        })
        .collect()
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Writes the URIs whole or not at all (a reader polling for the file never sees half of it).
fn write_uris(out: &Path, uris: &[String]) -> Result<(), String> {
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    std::fs::write(&partial, uris.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, out).map_err(|e| format!("{}: {e}", out.display()))
}

/// Builds the relay and starts its listener (ours with TCP_NODELAY, or the library's); returns
/// it with the address it listens on (port 0 picks a free one).
async fn start_relay(cli: &Cli, readiness: Readiness) -> Result<(LocalRelay, SocketAddr), String> {
    let builder = RelayBuilder::default()
        .addr(cli.listen.ip())
        .rate_limit(RateLimit {
            max_reqs: RateLimit::default().max_reqs,
            notes_per_minute: u32::MAX,
        })
        .query_policy(readiness);
    if cli.stock_listener {
        return start_stock(builder, cli.listen.port()).await;
    }
    let listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("bind {}: {e}", cli.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The port only keeps `LocalRelay::url` truthful; this binary's listener does the accepting.
    let relay = LocalRelay::new(builder.port(addr.port()));
    tokio::spawn(accept_loop(listener, relay.clone()));
    Ok((relay, addr))
}

/// Starts `LocalRelay::run`'s own listener (no TCP_NODELAY); port 0 lets the library pick one.
async fn start_stock(builder: RelayBuilder, port: u16) -> Result<(LocalRelay, SocketAddr), String> {
    let builder = if port == 0 {
        builder
    } else {
        builder.port(port)
    };
    let relay = LocalRelay::new(builder);
    relay.run().await.map_err(|e| format!("relay: {e}"))?;
    let url = relay.url().await;
    let addr = url
        .as_str_without_trailing_slash()
        .trim_start_matches("ws://")
        .parse()
        .map_err(|e| format!("relay URL {url}: {e}"))?;
    Ok((relay, addr))
}

async fn accept_loop(listener: TcpListener, relay: LocalRelay) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(take_connection(stream, peer, relay.clone()));
            }
            Err(e) => {
                eprintln!("baseline: accept: {e}");
                // Out of descriptors keeps failing at once; pause rather than spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Sets TCP_NODELAY, answers the websocket handshake and hands the socket to the relay.
async fn take_connection(mut stream: TcpStream, peer: SocketAddr, relay: LocalRelay) {
    let upgraded = match stream.set_nodelay(true) {
        Ok(()) => upgrade(&mut stream).await,
        Err(e) => Err(format!("TCP_NODELAY: {e}")),
    };
    let outcome = match upgraded {
        Ok(()) => relay
            .take_connection(stream, peer)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        eprintln!("baseline: connection {peer}: {e}");
    }
}

/// The server side of the RFC 6455 opening handshake.
///
/// A client sends nothing after its request until it has read the `101`, so reading up to the blank
/// line consumes exactly the request; bytes past it are refused rather than lost.
async fn upgrade(stream: &mut TcpStream) -> Result<(), String> {
    let head = read_head(stream).await?;
    if !head.starts_with("GET ") {
        return Err("not a GET request".into());
    }
    let key = header(&head, "sec-websocket-key").ok_or("no Sec-WebSocket-Key")?;
    let reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    stream
        .write_all(reply.as_bytes())
        .await
        .map_err(|e| e.to_string())
}

/// Reads the request head, up to and including its blank line.
async fn read_head(stream: &mut TcpStream) -> Result<String, String> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if end + 4 != head.len() {
                return Err("data sent before the handshake's answer".into());
            }
            return String::from_utf8(head).map_err(|_| "handshake is not UTF-8".into());
        }
        if head.len() > MAX_HANDSHAKE {
            return Err("handshake too large".into());
        }
    }
}

/// The value of header `name` (lowercase), if present.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// `Sec-WebSocket-Accept`: base64 of SHA-1 over the client's key and RFC 6455's GUID.
fn accept_key(key: &str) -> String {
    B64.encode(sha1::Hash::hash(format!("{key}{WS_GUID}").as_bytes()).to_byte_array())
}

/// Starts a user's signer: its own relay connection and serve loop, in one task.
fn spawn_signer(user: &User, relay_url: &str) -> Result<(), String> {
    let keys = NostrConnectKeys {
        signer: user.signer.clone(),
        user: user.user.clone(),
    };
    // No signer-held secret: `SingleUse` checks the per-URI secrets instead.
    let signer = NostrConnectRemoteSigner::new(keys, [relay_url], None, None)
        .map_err(|e| format!("signer: {e}"))?;
    let policy = SingleUse::new(&user.secrets);
    let name = user.signer.public_key().to_hex();
    tokio::spawn(async move {
        match signer.serve(policy).await {
            Ok(()) => eprintln!("baseline: signer {name} stopped"),
            Err(e) => eprintln!("baseline: signer {name} failed: {e}"),
        }
    });
    Ok(())
}

/// A user's approval policy: every URI secret works once, and only clients that `connect`ed with
/// one are answered.
struct SingleUse {
    state: Mutex<SingleUseState>,
}

struct SingleUseState {
    /// Secrets not yet used, 32 lowercase hex characters each.
    unused: HashSet<String>,
    /// Clients that connected with a secret.
    clients: HashSet<PublicKey>,
}

impl SingleUse {
    fn new(secrets: &[String]) -> Self {
        SingleUse {
            state: Mutex::new(SingleUseState {
                unused: secrets.iter().cloned().collect(),
                clients: HashSet::new(),
            }),
        }
    }
}

impl NostrConnectSignerActions for SingleUse {
    fn approve(&self, client: &PublicKey, request: &NostrConnectRequest) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match request {
            NostrConnectRequest::Connect {
                secret: Some(secret),
                ..
            } if state.unused.remove(secret) => {
                state.clients.insert(*client);
                true
            }
            NostrConnectRequest::Connect { .. } => false,
            _ => state.clients.contains(client),
        }
    }
}

/// A query policy that admits everything and counts down the signers whose NIP-46 subscription
/// (`#p` = their key) has reached the relay.
///
/// The relay's connection task subscribes to new events before it reads any REQ and stores the
/// subscription before it reads the next frame, so an event published after this count reaches
/// zero is matched against every signer's subscription.
#[derive(Debug)]
struct Readiness {
    waiting: Mutex<HashSet<PublicKey>>,
    left: watch::Sender<usize>,
}

impl Readiness {
    fn new(users: &[User]) -> (Self, watch::Receiver<usize>) {
        let waiting: HashSet<PublicKey> = users.iter().map(|u| u.signer.public_key()).collect();
        let (left, pending) = watch::channel(waiting.len());
        let readiness = Readiness {
            waiting: Mutex::new(waiting),
            left,
        };
        (readiness, pending)
    }

    fn note(&self, filter: &Filter) {
        let Some(tagged) = filter
            .generic_tags
            .get(&SingleLetterTag::lowercase(Alphabet::P))
        else {
            return;
        };
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        for key in tagged
            .iter()
            .filter_map(|hex| PublicKey::from_hex(hex).ok())
        {
            waiting.remove(&key);
        }
        self.left.send_replace(waiting.len());
    }
}

impl QueryPolicy for Readiness {
    fn admit_query<'a>(
        &'a self,
        query: &'a Filter,
        _addr: &'a SocketAddr,
    ) -> BoxedFuture<'a, PolicyResult> {
        self.note(query);
        Box::pin(async { PolicyResult::Accept })
    }
}

// Inline rather than in `baseline/tests.rs`: this binary was assigned this one file, and a sibling
// `src/bin/*.rs` file would be built as another binary.
#[cfg(test)]
#[path = "baseline/tests.rs"]
mod tests;
