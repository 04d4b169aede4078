//! A raw NIP-01 websocket client that speaks NIP-46 by hand, built on rust-nostr's primitives (an
//! independent implementation of events, NIP-44 and NIP-04), for what real client libraries cannot
//! send: `ping`, NIP-04 transport, unknown methods, malformed events.

use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use nostr_connect::prelude::{
    nip04, nip44, Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, Tag, Timestamp,
};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Request ids, unique per test process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long a test waits for any single relay message before failing.
pub const WAIT: Duration = Duration::from_secs(15);

/// The transport encryption of a request's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Nip44,
    Nip04,
}

/// One websocket connection with its own client keypair.
pub struct RawClient {
    ws: FragmentCollector<TokioIo<Upgraded>>,
    pub keys: Keys,
    pending: VecDeque<Value>,
    subscribed: bool,
}

impl RawClient {
    /// Connects with a fresh client keypair.
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::with_keys(addr, Keys::generate()).await
    }

    /// Connects with the given client keypair.
    pub async fn with_keys(addr: SocketAddr, keys: Keys) -> Self {
        let ws = benches::loadgen::handshake(addr)
            .await
            .expect("websocket handshake");
        RawClient {
            ws: FragmentCollector::new(ws),
            keys,
            pending: VecDeque::new(),
            subscribed: false,
        }
    }

    /// Sends one text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .write_frame(Frame::text(Payload::Owned(text.as_bytes().to_vec())))
            .await
            .expect("send");
    }

    /// Sends a websocket ping and returns the pong's payload.
    pub async fn ping_frame(&mut self, payload: &[u8]) -> Vec<u8> {
        self.ws
            .write_frame(Frame::new(
                true,
                OpCode::Ping,
                None,
                Payload::Owned(payload.to_vec()),
            ))
            .await
            .expect("send ping");
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.read_frame())
                .await
                .expect("pong within the wait")
                .expect("read");
            match frame.opcode {
                OpCode::Pong => return frame.payload.to_vec(),
                OpCode::Text => self
                    .pending
                    .push_back(serde_json::from_slice(&frame.payload).unwrap()),
                // The relay's own keep-alive ping (answered by the library).
                OpCode::Ping => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Reads for `how_long` without sending anything, answering the relay's pings (the library
    /// pongs them) and buffering its messages; fails the test if the relay closes.
    pub async fn listen_for(&mut self, how_long: Duration) {
        let until = tokio::time::Instant::now() + how_long;
        while let Ok(frame) = tokio::time::timeout_at(until, self.ws.read_frame()).await {
            let frame = frame.expect("read");
            match frame.opcode {
                OpCode::Close => panic!("the relay closed the connection"),
                OpCode::Text => self
                    .pending
                    .push_back(serde_json::from_slice(&frame.payload).unwrap()),
                _ => {}
            }
        }
    }

    /// Sends `text` split into `parts` websocket frames (a fragmented message).
    pub async fn send_fragmented(&mut self, text: &[u8], parts: usize) {
        let chunk = text.len().div_ceil(parts);
        for (i, piece) in text.chunks(chunk).enumerate() {
            let opcode = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            let fin = (i + 1) * chunk >= text.len();
            let frame = Frame::new(fin, opcode, None, Payload::Owned(piece.to_vec()));
            if self.ws.write_frame(frame).await.is_err() {
                return; // the relay may close before the last fragment; the caller checks why
            }
        }
    }

    /// Every relay message received so far, read until the answer to a websocket ping sent now:
    /// the relay writes in order, so nothing it queued for this client before the ping is missed.
    pub async fn received_until_pong(&mut self) -> Vec<Value> {
        let payload = b"until-pong";
        assert_eq!(self.ping_frame(payload).await, payload);
        self.pending.drain(..).collect()
    }

    /// Every relay message (buffered first) until the relay's close frame, and its status code.
    pub async fn until_close(&mut self) -> (Vec<Value>, u16) {
        let mut messages: Vec<Value> = self.pending.drain(..).collect();
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.read_frame())
                .await
                .expect("close within the wait")
                .expect("read");
            match frame.opcode {
                OpCode::Text => messages.push(serde_json::from_slice(&frame.payload).unwrap()),
                OpCode::Close => {
                    let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
                    return (messages, code);
                }
                _ => {}
            }
        }
    }

    /// Reads until the relay's close frame and returns its status code.
    pub async fn close_code(&mut self) -> u16 {
        self.until_close().await.1
    }

    /// The next relay message (buffered first), failing the test after [`WAIT`].
    pub async fn next(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        self.read_message().await
    }

    async fn read_message(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.read_frame())
                .await
                .expect("relay message within the wait")
                .expect("websocket read");
            match frame.opcode {
                OpCode::Text => {
                    return serde_json::from_slice(&frame.payload).expect("relay sends JSON")
                }
                OpCode::Close => panic!("relay closed the connection"),
                _ => continue,
            }
        }
    }

    /// The first message (buffered or new) for which `pred` holds; others stay buffered.
    pub async fn next_matching(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let v = self.read_message().await;
            if pred(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// Subscribes to kind-24133 events p-tagged to this client (nostr-tools' shape, `limit: 0`) and
    /// waits for EOSE.
    pub async fn subscribe(&mut self) {
        let me = self.keys.public_key().to_hex();
        let req = json!(["REQ", "replies", {"kinds": [24133], "#p": [me], "limit": 0}]);
        self.send_text(&req.to_string()).await;
        let eose = self
            .next_matching(|v| v[0] == "EOSE" && v[1] == "replies")
            .await;
        assert_eq!(eose[1], "replies");
        self.subscribed = true;
    }

    /// Publishes an event and returns its OK `(accepted, message)`.
    pub async fn publish(&mut self, event: &Event) -> (bool, String) {
        self.send_text(&json!(["EVENT", event]).to_string()).await;
        let id = event.id.to_hex();
        let ok = self
            .next_matching(|v| v[0] == "OK" && v[1] == id.as_str())
            .await;
        (ok[2].as_bool().unwrap(), ok[3].as_str().unwrap().to_owned())
    }

    /// Builds a signed kind-24133 request event carrying `request` (JSON text) to `remote`.
    pub fn request_event(&self, remote: &PublicKey, request: &str, transport: Transport) -> Event {
        request_event(&self.keys, remote, request, transport)
    }

    /// Sends a NIP-46 request and returns the decrypted response JSON, checking the response event's
    /// signature, author and `p` tag, and that its encryption scheme matches the request's.
    pub async fn request(
        &mut self,
        remote: &PublicKey,
        method: &str,
        params: Vec<String>,
        transport: Transport,
    ) -> Value {
        if !self.subscribed {
            self.subscribe().await;
        }
        let id = format!("req-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let request = json!({"id": id, "method": method, "params": params}).to_string();
        let event = self.request_event(remote, &request, transport);
        let (accepted, message) = self.publish(&event).await;
        assert!(accepted, "request event refused: {message}");
        // Skips the error replies to earlier requests the relay refused (a test that floods may
        // leave some unread); any other reply must be this request's.
        for _ in 0..1000 {
            let message = self
                .next_matching(|v| v[0] == "EVENT" && v[1] == "replies")
                .await;
            let reply = self.open_reply(remote, &message, transport);
            if reply["id"] != id.as_str() && is_refusal_reply(&reply) {
                continue;
            }
            assert_eq!(reply["id"], id.as_str(), "reply carries the request id");
            return reply;
        }
        panic!("no reply to {id} among 1000 stray replies");
    }

    /// Decrypts a response `EVENT` message to this client from `remote`, checking the response
    /// event's signature, author and `p` tag, and that its scheme is `transport`.
    pub fn open_reply(&self, remote: &PublicKey, reply: &Value, transport: Transport) -> Value {
        let response = Event::from_json(reply[2].to_string()).expect("response event parses");
        response.verify().expect("response signature verifies");
        assert_eq!(
            &response.pubkey, remote,
            "response authored by the remote-signer key"
        );
        assert_eq!(response.kind, Kind::NostrConnect);
        let me = self.keys.public_key();
        assert!(
            response.tags.public_keys().any(|pk| *pk == me),
            "response p-tags the client"
        );
        let is_nip04 = response.content.contains("?iv=");
        assert_eq!(
            is_nip04,
            transport == Transport::Nip04,
            "reply uses the request's scheme"
        );
        let plaintext = if is_nip04 {
            nip04::decrypt(self.keys.secret_key(), remote, &response.content).unwrap()
        } else {
            nip44::decrypt(self.keys.secret_key(), remote, &response.content).unwrap()
        };
        serde_json::from_str(&plaintext).expect("reply is JSON")
    }
}

/// Whether `reply` is bunkerd's error reply to a request its relay refused itself (a rate limit,
/// the `created_at` window): its error is the `OK false` text, with a NIP-01 prefix.
pub fn is_refusal_reply(reply: &Value) -> bool {
    reply["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("rate-limited: ") || e.starts_with("invalid: "))
}

/// A signed kind-24133 request event from `keys` carrying `request` (JSON text) to `remote`, dated
/// now.
pub fn request_event(
    keys: &Keys,
    remote: &PublicKey,
    request: &str,
    transport: Transport,
) -> Event {
    let content = match transport {
        Transport::Nip44 => {
            nip44::encrypt(keys.secret_key(), remote, request, nip44::Version::V2).unwrap()
        }
        Transport::Nip04 => nip04::encrypt(keys.secret_key(), remote, request).unwrap(),
    };
    EventBuilder::new(Kind::NostrConnect, content)
        .tag(Tag::public_key(*remote))
        .custom_created_at(Timestamp::now())
        .sign_with_keys(keys)
        .unwrap()
}

/// Parses a hex pubkey.
pub fn pk(hex: &str) -> PublicKey {
    PublicKey::from_hex(hex).expect("valid pubkey")
}

/// The `secret` query parameter of a bunker URI.
pub fn secret_of(bunker_uri: &str) -> String {
    bunker_uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("bunker URI has a secret")
        .to_owned()
}
