//! One load-generator connection: set-up (subscribe, `connect`, `get_public_key`), request building,
//! and the timed phase with a split socket (a writer task on schedule, a reader task that only
//! timestamps frames).

use super::{Method, Options};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use nostr::nips::nip44::v2::{self as nip44, ConversationKey};
use nostr::nips::nip46::NostrConnectURI;
use nostr::{Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, Tag};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// How long set-up steps (handshake, EOSE, connect, get_public_key) may take.
const SETUP_WAIT: Duration = Duration::from_secs(30);

/// Connections set up at once.
const SETUP_CONCURRENCY: usize = 32;

/// A client websocket.
pub type Ws = WebSocket<TokioIo<Upgraded>>;

/// What verification needs to know about one client.
pub(super) struct Identity {
    pub(super) keys: Keys,
    pub(super) remote: PublicKey,
    pub(super) user: PublicKey,
    pub(super) conversation: ConversationKey,
    /// The third party of `nip44_encrypt` requests (its secret lets verification decrypt results).
    pub(super) third_party: Keys,
}

/// A connected, authorized client.
pub(super) struct Connected {
    ws: Ws,
    id: Identity,
}

/// One prepared request.
pub(super) struct Prepared {
    pub(super) request_id: String,
    /// Id of the request event (hex), which the relay's `OK` names.
    pub(super) event_id: String,
    pub(super) method: Method,
    /// For `sign_event`: the content the signed event must carry.
    pub(super) content: String,
    frame: Vec<u8>,
}

/// A client with its requests built.
pub(super) struct Plan {
    conn: Connected,
    requests: Vec<Prepared>,
    index: usize,
}

/// What the timed phase recorded for one client.
pub(super) struct ClientResult {
    pub(super) id: Identity,
    pub(super) requests: Vec<Prepared>,
    /// Send instant per request (None: not sent before the time bound).
    pub(super) sent: Vec<Option<Instant>>,
    /// Every text frame received, with its arrival instant.
    pub(super) frames: Vec<(Instant, Vec<u8>)>,
}

struct Spawner;

impl<F> hyper::rt::Executor<F> for Spawner
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(fut);
    }
}

/// Opens a websocket to a relay at `addr` (path `/`, `TCP_NODELAY` on), as a client.
///
/// # Errors
///
/// The TCP or handshake failure, as text.
pub async fn handshake(addr: std::net::SocketAddr) -> Result<Ws, String> {
    handshake_from(addr, None).await
}

/// [`handshake`] from local address `source` (any port) when given, for example `127.0.0.2` so a
/// capture or the relay's per-address limits can tell this generator's connections apart.
///
/// # Errors
///
/// The bind, TCP or handshake failure, as text.
pub(super) async fn handshake_from(
    addr: std::net::SocketAddr,
    source: Option<std::net::IpAddr>,
) -> Result<Ws, String> {
    let stream = match source {
        None => tokio::net::TcpStream::connect(addr).await,
        Some(ip) => {
            let socket = match ip {
                std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            }
            .map_err(|e| format!("socket: {e}"))?;
            socket
                .bind(std::net::SocketAddr::new(ip, 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
            socket.connect(addr).await
        }
    }
    .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let req = hyper::Request::builder()
        .uri(format!("http://{addr}/"))
        .header("Host", addr.to_string())
        .header(hyper::header::UPGRADE, "websocket")
        .header(hyper::header::CONNECTION, "upgrade")
        .header(
            "Sec-WebSocket-Key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("Sec-WebSocket-Version", "13")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let (ws, _) = fastwebsockets::handshake::client(&Spawner, req, stream)
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    Ok(ws)
}

/// Sets up every client, `SETUP_CONCURRENCY` at a time.
pub(super) async fn set_up_all(options: &Options) -> Result<Vec<Connected>, String> {
    let gate = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let tasks: Vec<_> = options.uris[..options.clients]
        .iter()
        .map(|uri| {
            let (gate, uri, addr, source) =
                (gate.clone(), uri.clone(), options.relay, options.source);
            tokio::spawn(async move {
                let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
                tokio::time::timeout(SETUP_WAIT, set_up(addr, source, &uri))
                    .await
                    .map_err(|_| "set-up timed out".to_owned())?
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    for task in tasks {
        clients.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(clients)
}

async fn set_up(
    addr: std::net::SocketAddr,
    source: Option<std::net::IpAddr>,
    uri: &str,
) -> Result<Connected, String> {
    let NostrConnectURI::Bunker {
        remote_signer_public_key: remote,
        secret,
        ..
    } = NostrConnectURI::parse(uri).map_err(|e| format!("bunker URI: {e}"))?
    else {
        return Err("not a bunker:// URI".into());
    };
    let keys = Keys::generate();
    let conversation =
        ConversationKey::derive(keys.secret_key(), &remote).map_err(|e| e.to_string())?;
    let mut ws = handshake_from(addr, source).await?;
    let me = keys.public_key().to_hex();
    let req = json!(["REQ", "lg", {"kinds": [24133], "#p": [me], "limit": 0}]);
    send(&mut ws, req.to_string().into_bytes()).await?;
    wait_for(&mut ws, |v| v[0] == "EOSE").await?;
    let partial = Identity {
        keys,
        remote,
        user: remote,
        conversation,
        third_party: Keys::generate(),
    };
    let secret = secret.unwrap_or_default();
    let ack = call(
        &mut ws,
        &partial,
        "connect",
        json!([remote.to_hex(), secret]),
    )
    .await?;
    if ack != "ack" && ack != secret {
        return Err(format!("connect answered {ack:?}"));
    }
    let user = call(&mut ws, &partial, "get_public_key", json!([])).await?;
    let user = PublicKey::from_hex(&user).map_err(|e| format!("user pubkey: {e}"))?;
    Ok(Connected {
        ws,
        id: Identity { user, ..partial },
    })
}

async fn send(ws: &mut Ws, text: Vec<u8>) -> Result<(), String> {
    ws.write_frame(Frame::text(Payload::Owned(text)))
        .await
        .map_err(|e| e.to_string())
}

async fn wait_for(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Result<Value, String> {
    loop {
        let frame = ws.read_frame().await.map_err(|e| e.to_string())?;
        if frame.opcode != OpCode::Text {
            continue;
        }
        let v: Value = serde_json::from_slice(&frame.payload).map_err(|e| e.to_string())?;
        if v[0] == "OK" && v[2] == false {
            return Err(format!("request refused: {}", v[3]));
        }
        if pred(&v) {
            return Ok(v);
        }
    }
}

/// One untimed request/response during set-up; returns the `result`.
async fn call(ws: &mut Ws, id: &Identity, method: &str, params: Value) -> Result<String, String> {
    let request = json!({"id": method, "method": method, "params": params}).to_string();
    send(ws, event_frame(id, &request)?.0).await?;
    let reply = wait_for(ws, |v| v[0] == "EVENT").await?;
    let event = Event::from_json(reply[2].to_string()).map_err(|e| e.to_string())?;
    let reply = super::verify::open(id, &event)?;
    match (reply["result"].as_str(), reply["error"].as_str()) {
        (_, Some(error)) => Err(format!("{method} failed: {error}")),
        (Some(result), None) => Ok(result.to_owned()),
        _ => Err(format!("{method}: reply without result")),
    }
}

/// `["EVENT", <kind-24133 request to the remote signer carrying `request`, NIP-44 encrypted>]` and
/// the event's id.
fn event_frame(id: &Identity, request: &str) -> Result<(Vec<u8>, String), String> {
    let payload =
        nip44::encrypt_to_bytes(&id.conversation, request.as_bytes()).map_err(|e| e.to_string())?;
    let event = EventBuilder::new(Kind::NostrConnect, B64.encode(payload))
        .tag(Tag::public_key(id.remote))
        .sign_with_keys(&id.keys)
        .map_err(|e| e.to_string())?;
    let frame = format!(r#"["EVENT",{}]"#, event.as_json()).into_bytes();
    Ok((frame, event.id.to_hex()))
}

/// Builds every client's requests (signed and encrypted) before the clock starts.
pub(super) fn build_all(clients: Vec<Connected>, options: &Options) -> Vec<Plan> {
    let per_client = options.requests / clients.len();
    let extra = options.requests % clients.len();
    let now = nostr::Timestamp::now().as_secs();
    clients
        .into_iter()
        .enumerate()
        .map(|(index, conn)| {
            let count = per_client + usize::from(index < extra);
            let requests = (0..count)
                .map(|n| {
                    let method = options.mix.pick(index + n * options.clients);
                    prepare(&conn.id, index, n, method, now, options)
                })
                .collect();
            Plan {
                conn,
                requests,
                index,
            }
        })
        .collect()
}

fn prepare(
    id: &Identity,
    client: usize,
    n: usize,
    method: Method,
    now: u64,
    options: &Options,
) -> Prepared {
    let request_id = format!("{client}-{n}");
    let content = format!("loadgen note {request_id} ✓");
    let params = match method {
        Method::SignEvent => {
            let mut template = json!({"kind": 1, "content": content, "tags": [["t", "loadgen"]], "created_at": now});
            if options.template_pubkey {
                template["pubkey"] = id.user.to_hex().into();
            }
            json!([template.to_string()])
        }
        Method::Nip44Encrypt => json!([id.third_party.public_key().to_hex(), content]),
        Method::Ping | Method::GetPublicKey => json!([]),
    };
    let request = json!({"id": request_id, "method": method.name(), "params": params}).to_string();
    let (frame, event_id) = event_frame(id, &request).expect("encrypting and signing a request");
    Prepared {
        frame,
        event_id,
        request_id,
        method,
        content,
    }
}

/// Runs every client's timed phase concurrently and collects what they recorded, with the instant
/// the phase started.
///
/// The clock starts only once every client task has set itself up (split its socket, spawned its
/// reader and writer), so set-up work never delays the timestamps of early responses.
pub(super) async fn timed_phase(
    plans: Vec<Plan>,
    options: &Options,
) -> (Instant, Vec<ClientResult>) {
    let ready = Arc::new(tokio::sync::Barrier::new(plans.len() + 1));
    let (start_tx, start_rx) = tokio::sync::watch::channel(None::<Instant>);
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let (ready, start_rx) = (ready.clone(), start_rx.clone());
            tokio::spawn(drive(plan, ready, start_rx, options.clone()))
        })
        .collect();
    ready.wait().await;
    let start = Instant::now() + Duration::from_millis(20);
    let _ = start_tx.send(Some(start));
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("client task"));
    }
    (start, results)
}

async fn drive(
    plan: Plan,
    ready: Arc<tokio::sync::Barrier>,
    mut start_rx: tokio::sync::watch::Receiver<Option<Instant>>,
    options: Options,
) -> ClientResult {
    let Plan {
        conn,
        mut requests,
        index,
    } = plan;
    let (mut read, write) = conn.ws.split(tokio::io::split);
    read.set_auto_pong(false);
    read.set_auto_close(false);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    // The reader only timestamps frames; it is aborted (never cancelled mid-read and reused).
    let reader = tokio::spawn(async move {
        let mut noop = |_: Frame<'_>| async { Ok::<(), std::io::Error>(()) };
        while let Ok(frame) = read.read_frame(&mut noop).await {
            if frame.opcode == OpCode::Text
                && tx.send((Instant::now(), frame.payload.to_vec())).is_err()
            {
                break;
            }
        }
    });
    let window = Arc::new(Semaphore::new(1));
    let sent_count = Arc::new(AtomicUsize::new(0));
    // Moved, not copied: the frames are not needed after sending.
    let frames: Vec<Vec<u8>> = requests
        .iter_mut()
        .map(|r| std::mem::take(&mut r.frame))
        .collect();
    ready.wait().await;
    let start = start_rx
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|s| *s)
        .expect("the coordinator sends the start instant");
    let writer = tokio::spawn(write_all(
        write,
        frames,
        Schedule::new(&options, index, start),
        window.clone(),
        sent_count.clone(),
    ));
    let deadline = tokio::time::Instant::from_std(start + options.duration + options.timeout);
    let mut received = Vec::new();
    let mut settled = 0usize;
    loop {
        if writer.is_finished() && settled >= sent_count.load(Ordering::Acquire) {
            break;
        }
        tokio::select! {
            msg = rx.recv() => {
                let Some((at, bytes)) = msg else { break };
                if settles(&bytes) {
                    settled += 1;
                    window.add_permits(1);
                }
                received.push((at, bytes));
            }
            () = tokio::time::sleep_until(deadline) => break,
            // Re-check the end condition regularly: the writer can finish after the last response
            // (open loop, or a time-bounded closed loop), and nothing else would wake this loop.
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    reader.abort();
    let sent = writer.await.unwrap_or_default();
    ClientResult {
        id: conn.id,
        requests,
        sent,
        frames: received,
    }
}

/// Whether a frame ends a request's wait: its response `EVENT`, or an `OK false` refusal.
fn settles(frame: &[u8]) -> bool {
    frame.starts_with(b"[\"EVENT\"")
        || (frame.starts_with(b"[\"OK\"") && frame.windows(7).any(|w| w == b",false,"))
}

/// When each request of one client may be sent.
#[derive(Clone, Copy)]
enum Schedule {
    /// One in flight: send the next when the previous settles.
    Closed { stop: Instant },
    /// Fixed spacing in sending time: request k after `first + k × every` of it, stretched over
    /// the pauses of `duty` (if any) from `start`.
    Open {
        start: Instant,
        first: Duration,
        every: Duration,
        duty: Option<super::Duty>,
        stop: Instant,
    },
}

impl Schedule {
    fn new(options: &Options, index: usize, start: Instant) -> Self {
        let stop = start + options.duration;
        match options.rate {
            None => Schedule::Closed { stop },
            Some(rate) => Schedule::Open {
                start,
                first: Duration::from_secs_f64(index as f64 / rate),
                every: Duration::from_secs_f64(options.clients as f64 / rate),
                duty: options.duty,
                stop,
            },
        }
    }
}

async fn write_all(
    mut write: fastwebsockets::WebSocketWrite<tokio::io::WriteHalf<TokioIo<Upgraded>>>,
    frames: Vec<Vec<u8>>,
    schedule: Schedule,
    window: Arc<Semaphore>,
    sent_count: Arc<AtomicUsize>,
) -> Vec<Option<Instant>> {
    let mut sent = vec![None; frames.len()];
    for (k, frame) in frames.into_iter().enumerate() {
        let stop = match schedule {
            Schedule::Closed { stop } => {
                let Ok(permit) = window.acquire().await else {
                    break;
                };
                permit.forget();
                stop
            }
            Schedule::Open {
                start,
                first,
                every,
                duty,
                stop,
            } => {
                let sending = first + every * k as u32;
                let at = start + duty.map_or(sending, |duty| duty.wall(sending));
                // Due after the time bound (with a duty, possibly a whole pause after it): done.
                if at >= stop {
                    break;
                }
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                stop
            }
        };
        if Instant::now() >= stop {
            break;
        }
        if write
            .write_frame(Frame::text(Payload::Owned(frame)))
            .await
            .is_err()
        {
            break;
        }
        sent[k] = Some(Instant::now());
        sent_count.fetch_add(1, Ordering::Release);
    }
    sent
}
