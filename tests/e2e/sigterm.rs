//! SIGTERM during load: no request that got `OK true` is left without a
//! response; the process exits 0 within the grace period; a restart serves the same users and
//! sessions.
//!
//! Unlike `shutdown.rs` (the same property in-process, through `bunkerd::Server::stop`), this drives
//! the real `bunkerd serve` binary as a child process: RocksDB in a temp dir, both listeners on
//! `127.0.0.1:0` (the bound addresses come from the `bunkerd is serving` JSON log line), the
//! operator token from `BUNKERD_OPERATOR_TOKEN`, `--shutdown-grace-secs 10`, and a real SIGTERM
//! sent with kill(1).
//!
//! The load: four users of one tenant, one client key each (NIP-46 `connect` with the bunker URI's
//! secret first), each pipelining up to [`REQUESTS_PER_CLIENT`] `sign_event` requests on its own
//! websocket with at most [`WINDOW`] unanswered at a time. The window keeps every writer sending
//! for the whole run, so the signal — sent once [`SIGNAL_AFTER_OK`] `OK true` have been read from
//! the sockets, never after a sleep — lands while requests are still being sent (asserted);
//! unbounded pipelining would hand the relay every request in the first few milliseconds. After
//! the signal the relay stops reading frames, so requests sent after that get no `OK` at all:
//! allowed, and counted.
//!
//! Asserted per client: the socket ends with a close frame carrying 1001 (each client reads its
//! socket continuously, so it sees that frame; the relay reads until the peer's close precisely so
//! that its 1001 is not lost to a TCP reset); every `OK true` has exactly one response `EVENT`
//! (signed by the remote-signer key, p-tagging the client, NIP-44 decrypted with the client key,
//! carrying the request's id and the requested note signed by the user's key); and, the converse
//! that the shutdown order promises, no response arrives without its `OK true`. Then: exit status
//! 0, at most grace + [`EXIT_MARGIN`] after the signal, `bunkerd stopped` logged and no warning or
//! error after `shutdown requested` (a drain that ran out of grace logs a warning).
//!
//! Finally the binary restarts on the same data dir (new ports): the admin API lists the same users
//! and each user's session, each old client key gets the user's pubkey from `get_public_key` and a
//! user-signed event from `sign_event` without a new `connect`, and a second SIGTERM exits 0 the
//! same way.
//!
//! A second test sends SIGTERM while the binary is still starting (on its first log line, before
//! the store opens) and asserts the same clean exit once it has started: the signal handlers are
//! installed before the start, so the signal is neither lost nor fatal.
//!
//! Main items: the tests, [`Bunkerd`] (the child process, killed on drop unless it was seen to
//! exit), [`run_client`] (one loaded websocket) and [`check_client`] (the per-client assertions).
//!
//! Must not: synchronise with sleeps, or leave a process behind when it fails.

use crate::support::admin::Admin;
use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::{
    assert_still_served, bunkerd_command, create_user, signal, User, OPERATOR_TOKEN,
};
use fastwebsockets::{Frame, OpCode, Payload, WebSocketRead, WebSocketWrite};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use nostr_connect::prelude::{
    nip44, Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, Tag, Timestamp,
};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch, Notify, Semaphore};
use tokio::time::{timeout, timeout_at};

/// Users (one client, one websocket each).
const USERS: usize = 4;

/// `sign_event` requests each client sends at most.
const REQUESTS_PER_CLIENT: usize = 400;

/// Requests a client may have unanswered (no response `EVENT`, no `OK false`) at once.
const WINDOW: usize = 32;

/// `OK true` messages (all clients together) read before SIGTERM is sent.
const SIGNAL_AFTER_OK: usize = 400;

/// `--shutdown-grace-secs`.
const GRACE_SECS: u64 = 10;

/// How much later than the grace period the process may exit: the exit is observed from another
/// process on a loaded 2-core machine.
const EXIT_MARGIN: Duration = Duration::from_secs(2);

/// How long the binary may take to log that it serves (a debug build opens RocksDB well within it).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Bound on the load phase, from the first request to every client's socket being closed.
const LOAD_TIMEOUT: Duration = Duration::from_secs(15);

/// Bound on provisioning and on the restart checks (the admin client has no timeout of its own).
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

type Reader = WebSocketRead<tokio::io::ReadHalf<TokioIo<Upgraded>>>;
type Writer = WebSocketWrite<tokio::io::WriteHalf<TokioIo<Upgraded>>>;

/// A `bunkerd serve` child process with its stderr log; sent SIGKILL on drop unless its exit was
/// observed. Also used by `sched.rs`.
pub(crate) struct Bunkerd {
    pub(crate) pid: u32,
    pub(crate) relay_addr: SocketAddr,
    pub(crate) admin_addr: SocketAddr,
    /// Stderr lines, from a reader thread (unbounded, so the child never blocks on a full pipe).
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line read so far: the JSON object, or the raw text as a string if it is not JSON.
    pub(crate) log: Vec<Value>,
    /// The exit status and when a waiter thread saw it; `None` once received.
    exit: Option<oneshot::Receiver<(Instant, std::io::Result<ExitStatus>)>>,
}

impl Bunkerd {
    /// Starts `bunkerd serve` on `data_dir` and waits for `bunkerd is serving`.
    async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    /// [`Bunkerd::start`] with `extra` arguments after the test's own.
    pub(crate) async fn start_with(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra, &[]).await
    }

    /// [`Bunkerd::start_with`] with `env` added to the child's environment.
    pub(crate) async fn start_with_env(
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let store = crate::support::store_args(data_dir);
        Self::serving(Self::spawn_on(data_dir, &store, extra, env)).await
    }

    /// [`Bunkerd::start_with`] on the embedded RocksDB even when the suite runs on PostgreSQL,
    /// for tests of RocksDB's own threads.
    pub(crate) async fn start_on_rocksdb(data_dir: &Path, extra: &[&str]) -> Self {
        Self::serving(Self::spawn_on(data_dir, &[], extra, &[])).await
    }

    /// Waits for `server`'s `bunkerd is serving` and learns its addresses.
    async fn serving(mut server: Self) -> Self {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let serving = server.until_logged("bunkerd is serving", deadline).await;
        server.set_addrs(&serving);
        server
    }

    /// Spawns `bunkerd serve` on `data_dir` with `extra` arguments, without waiting for anything;
    /// the addresses stay `127.0.0.1:0` until [`Bunkerd::set_addrs`].
    fn spawn(data_dir: &Path, extra: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Self {
        Self::spawn_on(data_dir, &crate::support::store_args(data_dir), extra, env)
    }

    /// [`Bunkerd::spawn`] with the `--store` arguments `store` (none: RocksDB in `data_dir`).
    fn spawn_on(
        data_dir: &Path,
        store: &[String],
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let mut command = bunkerd_command();
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(["--log-format", "json", "--log", "info"])
            .args(["--shutdown-grace-secs", &GRACE_SECS.to_string()])
            .args(store)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("BUNKERD_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .envs(env.iter().copied());
        let mut child = command.spawn().expect("bunkerd starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (line_tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let pid = child.id();
        let (exit_tx, exit) = oneshot::channel();
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = exit_tx.send((Instant::now(), status));
        });
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        Bunkerd {
            pid,
            relay_addr: unbound,
            admin_addr: unbound,
            lines,
            log: Vec::new(),
            exit: Some(exit),
        }
    }

    /// Takes the listeners' bound addresses from the `bunkerd is serving` log line.
    fn set_addrs(&mut self, serving: &Value) {
        let addr = |name: &str| -> SocketAddr {
            let text = serving["fields"][name].as_str();
            text.and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("`{name}` in {serving}"))
        };
        self.relay_addr = addr("relay_addr");
        self.admin_addr = addr("admin_addr");
    }

    /// Reads log lines until one whose message is `message`, and returns it.
    async fn until_logged(&mut self, message: &str, deadline: tokio::time::Instant) -> Value {
        self.until_message(message, |m| m == message, deadline)
            .await
    }

    /// Reads log lines until one whose message satisfies `wanted` (`what` names it in a panic),
    /// and returns it.
    pub(crate) async fn until_message(
        &mut self,
        what: &str,
        wanted: impl Fn(&str) -> bool,
        deadline: tokio::time::Instant,
    ) -> Value {
        loop {
            let line = match timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!("bunkerd ended its log before `{what}`: {:?}", self.log),
                Err(_) => panic!("no `{what}` log line in time: {:?}", self.log),
            };
            let entry = serde_json::from_str(&line).unwrap_or(Value::String(line));
            self.log.push(entry.clone());
            if entry["fields"]["message"].as_str().is_some_and(&wanted) {
                return entry;
            }
        }
    }

    /// Admin API client with the operator token.
    pub(crate) fn admin(&self) -> Admin {
        Admin::new(self.admin_addr, Some(OPERATOR_TOKEN))
    }

    /// Sends SIGTERM with kill(1); returns the instant just before.
    pub(crate) fn terminate(&self) -> Instant {
        let at = Instant::now();
        signal(self.pid, "TERM");
        at
    }

    /// Waits until the process exits, at most grace + [`EXIT_MARGIN`] after `signalled` (the drop
    /// guard kills it when that fails); returns its status and how long after `signalled` it exited.
    /// Then reads the rest of its log.
    pub(crate) async fn wait_exit(&mut self, signalled: Instant) -> (ExitStatus, Duration) {
        let bound = Duration::from_secs(GRACE_SECS) + EXIT_MARGIN;
        let deadline = tokio::time::Instant::from_std(signalled + bound);
        let exit = self.exit.as_mut().expect("exit not yet observed");
        let Ok(seen) = timeout_at(deadline, exit).await else {
            panic!("bunkerd still running {bound:?} after SIGTERM")
        };
        self.exit = None;
        let (at, status) = seen.expect("the waiter thread reports");
        let status = status.expect("waiting for bunkerd");
        // Stderr reaches EOF when the process is gone; bounded all the same.
        let until = tokio::time::Instant::now() + START_TIMEOUT;
        while let Ok(Some(line)) = timeout_at(until, self.lines.recv()).await {
            self.log
                .push(serde_json::from_str(&line).unwrap_or(Value::String(line)));
        }
        (status, at.duration_since(signalled))
    }

    /// Sends SIGKILL and waits (at most [`START_TIMEOUT`]) until the process is gone.
    pub(crate) async fn kill(mut self) {
        signal(self.pid, "KILL");
        let exit = self.exit.take().expect("exit not yet observed");
        let (_, status) = timeout(START_TIMEOUT, exit)
            .await
            .expect("bunkerd gone after SIGKILL")
            .expect("the waiter thread reports");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status.unwrap()),
            Some(9),
            "killed by SIGKILL"
        );
    }

    /// Log lines from `shutdown requested` on that are warnings, errors, or not JSON.
    fn problems_after_shutdown(&self) -> Vec<&Value> {
        let start = self
            .log
            .iter()
            .position(|l| l["fields"]["message"] == "shutdown requested")
            .unwrap_or_else(|| panic!("no `shutdown requested` log line: {:?}", self.log));
        self.log[start..]
            .iter()
            .filter(|l| !l.is_object() || l["level"] == "WARN" || l["level"] == "ERROR")
            .collect()
    }

    /// Asserts a clean exit: status 0 within the bound, `bunkerd stopped` logged, and no warning or
    /// error after `shutdown requested`.
    #[track_caller]
    pub(crate) fn assert_clean_exit(&self, status: ExitStatus, took: Duration) {
        assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
        let bound = Duration::from_secs(GRACE_SECS) + EXIT_MARGIN;
        assert!(
            took <= bound,
            "exited {took:?} after SIGTERM (bound {bound:?})"
        );
        assert!(
            self.log
                .iter()
                .any(|l| l["fields"]["message"] == "bunkerd stopped"),
            "no `bunkerd stopped` log line: {:?}",
            self.log
        );
        let problems = self.problems_after_shutdown();
        assert!(problems.is_empty(), "logged during shutdown: {problems:?}");
    }
}

impl Drop for Bunkerd {
    fn drop(&mut self) {
        if self.exit.is_some() {
            // Not `support::signal`: a failing kill must not panic inside a drop.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}

/// Counters shared by the clients and the test.
#[derive(Default)]
struct Progress {
    /// `OK true` messages read.
    ok_true: AtomicUsize,
    /// Request frames written.
    sent: AtomicUsize,
    /// Woken at each `OK true`.
    notify: Notify,
}

impl Progress {
    /// Returns once `at_least` `OK true` were read; fails at `deadline`.
    async fn wait_for_ok(&self, at_least: usize, deadline: tokio::time::Instant) {
        loop {
            // `notify_one` keeps a permit when nobody waits, so no wake-up is lost in between.
            let notified = self.notify.notified();
            let seen = self.ok_true.load(Ordering::Acquire);
            if seen >= at_least {
                return;
            }
            if timeout_at(deadline, notified).await.is_err() {
                panic!("only {seen} OK true within {LOAD_TIMEOUT:?}");
            }
        }
    }
}

/// What one client saw.
struct ClientRun {
    /// Request event id (hex) → request number, for every request written (or being written).
    sent: HashMap<String, usize>,
    /// Every relay message after EOSE, in order.
    messages: Vec<Value>,
    /// The close frame's status code, or why the socket ended without one.
    close: Result<u16, String>,
}

/// Connects a fresh client key to `user` (NIP-46 `connect` with the URI's secret) and returns it.
async fn connect(relay: SocketAddr, user: &User) -> Keys {
    let mut client = RawClient::connect(relay).await;
    let params = vec![String::new(), secret_of(&user.bunker_uri)];
    let remote = pk(&user.remote_signer_pubkey);
    let reply = client
        .request(&remote, "connect", params, Transport::Nip44)
        .await;
    assert_eq!(reply["result"], "ack", "{reply}");
    client.keys.clone()
}

/// The request id of request `n`.
fn request_id(n: usize) -> String {
    format!("s{n}")
}

/// The request number of a request id made by [`request_id`].
fn request_number(id: &str) -> Option<usize> {
    id.strip_prefix('s')?.parse().ok()
}

/// The note content of request `n`.
fn content(n: usize) -> String {
    format!("sigterm load {n}")
}

/// A kind-24133 request event from `keys` to `remote` carrying `request` (NIP-44 encrypted).
fn request_event(keys: &Keys, remote: &PublicKey, request: &str) -> Event {
    let encrypted = nip44::encrypt(keys.secret_key(), remote, request, nip44::Version::V2)
        .expect("NIP-44 encryption");
    EventBuilder::new(Kind::NostrConnect, encrypted)
        .tag(Tag::public_key(*remote))
        .custom_created_at(Timestamp::now())
        .sign_with_keys(keys)
        .expect("signing the request event")
}

/// Opens a websocket, subscribes to responses for `keys`, then pipelines `sign_event` requests
/// (at most [`WINDOW`] unanswered) while reading every message until the relay closes the socket.
async fn run_client(
    relay: SocketAddr,
    keys: Keys,
    remote: PublicKey,
    progress: Arc<Progress>,
    deadline: tokio::time::Instant,
) -> ClientRun {
    let mut ws = benches::loadgen::handshake(relay)
        .await
        .expect("websocket handshake");
    let me = keys.public_key().to_hex();
    let req = json!(["REQ", "replies", {"kinds": [24133], "#p": [me], "limit": 0}]).to_string();
    ws.write_frame(Frame::text(Payload::Owned(req.into_bytes())))
        .await
        .expect("send REQ");
    loop {
        let frame = timeout_at(deadline, ws.read_frame())
            .await
            .expect("EOSE in time")
            .expect("read");
        if frame.opcode == OpCode::Text && frame.payload.starts_with(b"[\"EOSE\"") {
            break;
        }
    }
    let (mut read, write) = ws.split(tokio::io::split);
    read.set_auto_close(false);
    read.set_auto_pong(false);
    let window = Arc::new(Semaphore::new(WINDOW));
    let (closed_tx, closed) = watch::channel(false);
    let writer = tokio::spawn(send_requests(
        write,
        keys,
        remote,
        window.clone(),
        closed,
        progress.clone(),
    ));
    let (messages, close) = read_until_close(&mut read, &window, &progress, deadline).await;
    let _ = closed_tx.send(true);
    let sent = timeout_at(deadline, writer)
        .await
        .expect("the writer stops once the socket is closed")
        .expect("writer task");
    ClientRun {
        sent,
        messages,
        close,
    }
}

/// Writes up to [`REQUESTS_PER_CLIENT`] requests, each once the window has room, until the reader
/// reports the socket closed; then answers the relay's close (RFC 6455 §5.5.1).
async fn send_requests(
    mut write: Writer,
    keys: Keys,
    remote: PublicKey,
    window: Arc<Semaphore>,
    mut closed: watch::Receiver<bool>,
    progress: Arc<Progress>,
) -> HashMap<String, usize> {
    let mut sent = HashMap::new();
    for n in 0..REQUESTS_PER_CLIENT {
        tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => break,
            permit = window.acquire() => permit.expect("the window is never closed").forget(),
        }
        let now = Timestamp::now().as_secs();
        let template =
            json!({"kind": 1, "content": content(n), "tags": [], "created_at": now}).to_string();
        let request = json!({"id": request_id(n), "method": "sign_event", "params": [template]});
        let event = request_event(&keys, &remote, &request.to_string());
        sent.insert(event.id.to_hex(), n);
        let text = json!(["EVENT", event]).to_string();
        if write
            .write_frame(Frame::text(Payload::Owned(text.into_bytes())))
            .await
            .is_err()
        {
            break;
        }
        progress.sent.fetch_add(1, Ordering::Relaxed);
    }
    let _ = closed.wait_for(|closed| *closed).await;
    let _ = write.write_frame(Frame::close(1000, b"")).await;
    sent
}

/// Reads relay messages until a close frame, returning them and its status code. An `OK true`
/// counts towards [`Progress::ok_true`]; a response `EVENT` or an `OK false` frees a window slot.
async fn read_until_close(
    read: &mut Reader,
    window: &Semaphore,
    progress: &Progress,
    deadline: tokio::time::Instant,
) -> (Vec<Value>, Result<u16, String>) {
    let mut messages = Vec::new();
    let mut noop = |_: Frame<'_>| async { Ok::<(), std::io::Error>(()) };
    loop {
        let frame = match timeout_at(deadline, read.read_frame(&mut noop)).await {
            Err(_) => return (messages, Err("no close frame in time".to_owned())),
            Ok(Err(e)) => return (messages, Err(format!("ended without a close frame: {e}"))),
            Ok(Ok(frame)) => frame,
        };
        match frame.opcode {
            OpCode::Text => {
                let message: Value =
                    serde_json::from_slice(&frame.payload).expect("relay messages are JSON");
                match (message[0].as_str(), message[2].as_bool()) {
                    (Some("OK"), Some(true)) => {
                        progress.ok_true.fetch_add(1, Ordering::AcqRel);
                        progress.notify.notify_one();
                    }
                    (Some("EVENT"), _) | (Some("OK"), Some(false)) => window.add_permits(1),
                    _ => {}
                }
                messages.push(message);
            }
            OpCode::Close => {
                let code = frame
                    .payload
                    .get(..2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]));
                return (
                    messages,
                    code.ok_or_else(|| "close without a code".to_owned()),
                );
            }
            _ => {}
        }
    }
}

/// Per-client counts, summed for the report.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// Requests written (the last one possibly only in part, if the socket failed under it).
    sent: usize,
    ok_true: usize,
    ok_false: usize,
    responses: usize,
    /// Requests written that got neither an `OK` nor a response (sent after reading stopped).
    unanswered: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.sent += o.sent;
        self.ok_true += o.ok_true;
        self.ok_false += o.ok_false;
        self.responses += o.responses;
        self.unanswered += o.unanswered;
    }
}

/// Checks one response `EVENT` and returns its request number: signed by `remote`, p-tags the
/// client, NIP-44 decrypts with the client key to a reply whose `result` is the requested note
/// signed by the user.
fn open_response(message: &Value, keys: &Keys, remote: &PublicKey, user: &User) -> usize {
    assert_eq!(message[1], "replies", "{message}");
    let event = Event::from_json(message[2].to_string()).expect("response event parses");
    event.verify().expect("response signature verifies");
    assert_eq!(
        &event.pubkey, remote,
        "response authored by the remote signer"
    );
    let me = keys.public_key();
    assert!(
        event.tags.public_keys().any(|p| *p == me),
        "p-tags the client"
    );
    let plain = nip44::decrypt(keys.secret_key(), remote, &event.content).expect("NIP-44 decrypt");
    let reply: Value = serde_json::from_str(&plain).expect("reply is JSON");
    let n: usize = reply["id"]
        .as_str()
        .and_then(request_number)
        .unwrap_or_else(|| panic!("reply id is one of ours: {reply}"));
    let signed = crate::admin_policy::signed_event(&reply, user);
    assert_eq!(signed.content, content(n), "the requested note");
    n
}

/// Asserts what one client must see and returns its counts: close code 1001, every `OK true`
/// answered by exactly one response, and no response without its `OK true`.
fn check_client(index: usize, run: &ClientRun, keys: &Keys, user: &User) -> Tally {
    let remote = pk(&user.remote_signer_pubkey);
    let mut acknowledged = HashSet::new();
    let mut refused = HashSet::new();
    let mut answered: HashMap<usize, usize> = HashMap::new();
    let mut others = Vec::new();
    for message in &run.messages {
        match message[0].as_str() {
            Some("OK") => {
                let id = message[1].as_str().unwrap_or_default();
                let n = *run
                    .sent
                    .get(id)
                    .unwrap_or_else(|| panic!("client {index}: OK for no request: {message}"));
                let set = if message[2] == true {
                    &mut acknowledged
                } else {
                    &mut refused
                };
                assert!(set.insert(n), "client {index}: two OKs for request {n}");
            }
            Some("EVENT") => {
                *answered
                    .entry(open_response(message, keys, &remote, user))
                    .or_default() += 1
            }
            _ => others.push(message),
        }
    }
    let tally = Tally {
        sent: run.sent.len(),
        ok_true: acknowledged.len(),
        ok_false: refused.len(),
        responses: answered.values().sum(),
        unanswered: run.sent.len() - acknowledged.len() - refused.len(),
    };
    let report = format!("client {index}: {tally:?}, other messages {others:?}");
    assert_eq!(run.close, Ok(1001), "{report}: closed as going away");
    let unanswered: Vec<_> = acknowledged
        .iter()
        .filter(|n| answered.get(n) != Some(&1))
        .collect();
    assert!(
        unanswered.is_empty(),
        "{report}: OK true without exactly one response for requests {unanswered:?}"
    );
    let orphans: Vec<_> = answered
        .keys()
        .filter(|n| !acknowledged.contains(n))
        .collect();
    assert!(
        orphans.is_empty(),
        "{report}: responses without OK true for {orphans:?}"
    );
    tally
}

/// After the restart: the client key of `user` still has its session (no `connect`), and it is
/// listed by the admin API.
async fn check_session_survived(server: &Bunkerd, user: &User, keys: &Keys) {
    let path = format!("/v1/tenants/{}/users/{}/sessions", user.tenant, user.id);
    let sessions = server.admin().get_ok(&path).await;
    let me = keys.public_key().to_hex();
    let listed = sessions["items"].as_array().expect("a page has items");
    assert!(
        listed.iter().any(|s| s["client_pubkey"] == me.as_str()),
        "session listed after restart: {sessions}"
    );
    let mut client = RawClient::with_keys(server.relay_addr, keys.clone()).await;
    assert_still_served(&mut client, user, "after restart").await;
}

/// A provisioned user and the client key connected to it.
struct Client {
    user: User,
    keys: Keys,
}

/// Creates a tenant with [`USERS`] users, each with one connected client key.
async fn provision(server: &Bunkerd) -> (String, Vec<Client>) {
    let admin = server.admin();
    let tenant = admin
        .post_ok("/v1/tenants", json!({"name": "sigterm"}))
        .await;
    let tenant = tenant["id"].as_str().expect("tenant id").to_owned();
    let mut clients = Vec::new();
    for i in 0..USERS {
        let user = create_user(&admin, &tenant, json!({"name": format!("user {i}")})).await;
        let keys = connect(server.relay_addr, &user).await;
        clients.push(Client { user, keys });
    }
    (tenant, clients)
}

/// Loads the server, sends SIGTERM mid-load, and checks every client's stream and the exit;
/// returns the counts as text.
async fn sigterm_during_load(server: &mut Bunkerd, clients: &[Client]) -> String {
    let progress = Arc::new(Progress::default());
    let deadline = tokio::time::Instant::now() + LOAD_TIMEOUT;
    let tasks: Vec<_> = clients
        .iter()
        .map(|c| {
            let remote = pk(&c.user.remote_signer_pubkey);
            let (keys, progress) = (c.keys.clone(), progress.clone());
            tokio::spawn(run_client(
                server.relay_addr,
                keys,
                remote,
                progress,
                deadline,
            ))
        })
        .collect();
    progress.wait_for_ok(SIGNAL_AFTER_OK, deadline).await;
    let signalled = server.terminate();
    let sent_at_signal = progress.sent.load(Ordering::Relaxed);
    let ok_at_signal = progress.ok_true.load(Ordering::Acquire);
    let mut runs = Vec::new();
    for task in tasks {
        runs.push(task.await.expect("client task"));
    }
    let (status, took) = server.wait_exit(signalled).await;
    let mut total = Tally::default();
    for (index, (run, client)) in runs.iter().zip(clients).enumerate() {
        total += check_client(index, run, &client.keys, &client.user);
    }
    let report = format!(
        "{total:?}; at SIGTERM: {sent_at_signal} sent, {ok_at_signal} OK true; {status} \
         {took:?} after SIGTERM"
    );
    assert!(
        sent_at_signal < USERS * REQUESTS_PER_CLIENT,
        "{report}: SIGTERM arrived while requests were still being sent"
    );
    server.assert_clean_exit(status, took);
    report
}

/// Starts the binary again on `data_dir`: the same users are listed, every client keeps its
/// session; then SIGTERM again.
async fn restart_serves_the_same(data_dir: &Path, tenant: &str, clients: &[Client]) {
    let mut server = Bunkerd::start(data_dir).await;
    let page = server
        .admin()
        .get_ok(&format!("/v1/tenants/{tenant}/users"))
        .await;
    let listed: HashSet<&str> = page["items"]
        .as_array()
        .expect("a page has items")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    let expected: HashSet<&str> = clients.iter().map(|c| c.user.id.as_str()).collect();
    assert_eq!(listed, expected, "the same users after restart: {page}");
    for client in clients {
        check_session_survived(&server, &client.user, &client.keys).await;
    }
    let signalled = server.terminate();
    let (status, took) = server.wait_exit(signalled).await;
    server.assert_clean_exit(status, took);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_answers_every_acknowledged_request_and_restart_keeps_sessions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Bunkerd::start(dir.path()).await;
    let (tenant, clients) = tokio::time::timeout(PHASE_TIMEOUT, provision(&server))
        .await
        .expect("provisioned in time");
    let report = sigterm_during_load(&mut server, &clients).await;
    drop(server);
    let restart = restart_serves_the_same(dir.path(), &tenant, &clients);
    tokio::time::timeout(PHASE_TIMEOUT, restart)
        .await
        .expect("restart checks in time");
    println!("sigterm during load: {report}");
}

/// A SIGTERM sent while bunkerd is still starting — here as soon as it logs the development master
/// key it generates, before the store opens and before `bunkerd is serving` — is not lost and does
/// not kill it: it finishes starting, then stops as after any SIGTERM (exit 0, `bunkerd stopped`,
/// nothing logged as a problem) and leaves a store that opens again. Before the handlers were
/// installed ahead of the start, such a signal took its default action (the process died of it,
/// no exit code).
#[tokio::test]
async fn sigterm_while_starting_stops_gracefully_once_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Bunkerd::spawn(dir.path(), &[], &[]);
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    server
        .until_message(
            "generated a DEVELOPMENT master key",
            |m| m.starts_with("generated a DEVELOPMENT master key"),
            deadline,
        )
        .await;
    let signalled = server.terminate();
    let (status, took) = server.wait_exit(signalled).await;
    server.assert_clean_exit(status, took);
    let log = &server.log;
    let at = |message: &str| {
        log.iter()
            .position(|l| l["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no `{message}` log line: {log:?}"))
    };
    assert!(
        at("bunkerd is serving") < at("shutdown requested"),
        "started before stopping: {log:?}"
    );
    drop(server);
    // The same data dir (and the master key generated above) opens again.
    let mut again = Bunkerd::start(dir.path()).await;
    let signalled = again.terminate();
    let (status, took) = again.wait_exit(signalled).await;
    again.assert_clean_exit(status, took);
}
