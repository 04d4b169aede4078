//! The client matrix: what every mainstream NIP-46 client must be able to do with a bunker URI
//! from the admin API, for a user of a fresh tenant whose default policy nobody changed — connect,
//! `get_public_key`, sign kinds 1, 3 and 0, a NIP-44 round trip, logout where the library has one,
//! and a refused `sign_event` of kind 23194 that reaches the client as an error naming the
//! permission, promptly. The Node clients run `tests/node/matrix.mjs` through their harness; their
//! report is checked here again, independently (rust-nostr verifies every event).
//!
//! Also here: the rate-limit run ([`run_rate_limited`]), in which a client, once connected, meets a
//! tenant rate of one request a second and must see the relay's refusal as an error, promptly.

use crate::support::{node, TestServer, User};
use nostr_connect::prelude::{Event, JsonUtil};
use serde_json::Value;
use std::time::Duration;

/// The kinds each client signs: a note, a follow list, a profile.
pub const SIGNED_KINDS: [u16; 3] = [1, 3, 0];
/// A NIP-47 wallet request: refused by the default policy.
pub const REFUSED_KIND: u16 = 23194;
/// How soon a refusal must reach the client as an error (on top of any hold the library itself puts
/// on error replies, [`Expect::error_hold`]).
pub const REFUSAL_BOUND: Duration = Duration::from_secs(2);
/// The Rust-side limit on one harness run; the harness's own global timeout (60 s) is shorter.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// What a client library can do, which decides what the matrix expects of it.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The library has a `logout` call (only nostr-tools' `BunkerSigner` among the Node clients).
    pub logout: bool,
    /// How long the library holds every error reply back before its caller sees it.
    pub error_hold: Duration,
}

/// Provisions a fresh tenant and user, runs `node <harness…> <uri> <third-party key>` and checks
/// its report; returns the report.
pub async fn run_node_client(harness: &[&str], expect: Expect) -> Value {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let third = nostr_connect::prelude::Keys::generate();
    let mut args: Vec<String> = harness.iter().map(|s| (*s).to_owned()).collect();
    args.push(user.bunker_uri.clone());
    args.push(third.secret_key().to_secret_hex());
    let (out, status) = node::run(args, vec![], RUN_LIMIT).await;
    check_report(&out, &user, expect);
    assert_eq!(status, 0, "{out}");
    let sessions = sessions(&server, &user).await;
    if expect.logout {
        assert!(sessions.is_empty(), "logout left a session: {sessions:?}");
    } else {
        assert_eq!(sessions.len(), 1, "one session, still there: {sessions:?}");
    }
    server.server.stop().await;
    out
}

/// Provisions a fresh tenant and user and runs `node <harness…> <uri> <third-party key>` with
/// `MATRIX_RATE_LIMIT=1`: the harness connects and asks for the public key, then waits while the
/// tenant's rate is lowered to 1 request a second with a burst of 1 (`PATCH /v1/tenants/{id}`),
/// then signs notes back to back until one is refused. Checks its report (see
/// [`check_rate_limited`]) and returns it.
pub async fn run_rate_limited(harness: &[&str], error_hold: Duration) -> Value {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let third = nostr_connect::prelude::Keys::generate();
    let mut args: Vec<String> = harness.iter().map(|s| (*s).to_owned()).collect();
    args.push(user.bunker_uri.clone());
    args.push(third.secret_key().to_secret_hex());
    let admin = server.admin();
    let path = format!("/v1/tenants/{}", user.tenant);
    let limits = serde_json::json!({"limits": {"requests_per_sec": 1, "burst": 1}});
    let lower = async {
        admin.patch_ok(&path, limits).await;
    };
    let env = vec![("MATRIX_RATE_LIMIT", "1".to_owned())];
    let (out, status) = node::run_paused(args, env, RUN_LIMIT, lower).await;
    check_rate_limited(&out, &user, error_hold);
    assert_eq!(status, 0, "{out}");
    server.server.stop().await;
    out
}

/// Checks a rate-limit run's report: every step passed; one of the back-to-back notes was rejected
/// with an error naming `rate-limited` within [`REFUSAL_BOUND`] (plus the library's `hold`), not
/// after the harness's 5-second wait for a reply that never comes; and the bunker's error reply
/// to it reached the socket within the bound.
#[track_caller]
pub fn check_rate_limited(out: &Value, user: &User, hold: Duration) {
    assert_every_step_passed(out, user);
    let seen = &out["rate_limited"];
    let ms = |v: &Value| Duration::from_millis(v.as_u64().expect("a duration in ms"));
    assert_eq!(ms(&seen["error_hold_ms"]), hold, "{seen}");
    let error = seen["error"].as_str().expect("an error text");
    assert!(error.contains("rate-limited"), "{seen}");
    assert!(
        ms(&seen["elapsed_ms"]) < REFUSAL_BOUND + hold,
        "the refusal surfaced late: {seen}"
    );
    let reply = seen["reply_error"].as_str().expect("an error reply");
    assert!(reply.starts_with("rate-limited: "), "{seen}");
    assert!(ms(&seen["reply_ms"]) < REFUSAL_BOUND, "{seen}");
}

/// Asserts that a report's run passed every step, for `user`.
#[track_caller]
fn assert_every_step_passed(out: &Value, user: &User) {
    let failed: Vec<String> = out["steps"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter(|s| s["ok"] != true)
        .map(|s| format!("{}: {}", s["step"], s["error"]))
        .collect();
    assert!(
        out["ok"] == true && failed.is_empty(),
        "{} failed steps:\n{}\nreport: {out}",
        out["package"],
        failed.join("\n")
    );
    assert_eq!(out["user_pubkey"], user.user_pubkey.as_str());
}

/// The user's sessions, from the admin API.
pub async fn sessions(server: &TestServer, user: &User) -> Vec<Value> {
    let path = format!("/v1/tenants/{}/users/{}/sessions", user.tenant, user.id);
    let list = server.admin().get_ok(&path).await;
    list["items"]
        .as_array()
        .expect("a list of sessions")
        .clone()
}

/// Checks a `matrix.mjs` report: every step passed, and what it brought back holds up.
#[track_caller]
pub fn check_report(out: &Value, user: &User, expect: Expect) {
    assert_every_step_passed(out, user);
    let urls = out["wire"]["urls"].as_array().expect("the sockets used");
    assert!(
        !urls.is_empty()
            && urls
                .iter()
                .all(|u| u.as_str().unwrap().starts_with("ws://127.0.0.1:")),
        "the client used sockets other than the bunker's: {urls:?}"
    );
    for kind in SIGNED_KINDS {
        let event = &out["events"][kind.to_string()];
        check_signed(event, kind, user);
    }
    assert_eq!(out["nip44_roundtrip"], true);
    let refusal = &out["refusal"];
    let ms = |v: &Value| Duration::from_millis(v.as_u64().expect("a duration in ms"));
    assert_eq!(
        ms(&refusal["error_hold_ms"]),
        expect.error_hold,
        "the harness's idea of the library's hold: {refusal}"
    );
    assert!(
        ms(&refusal["reply_ms"]) < REFUSAL_BOUND,
        "the bunker's error reply came late: {refusal}"
    );
    assert_refused(
        refusal["error"].as_str().expect("an error text"),
        ms(&refusal["elapsed_ms"]),
        expect.error_hold,
    );
    let logout = if expect.logout {
        "ack".into()
    } else {
        Value::Null
    };
    assert_eq!(out["logout"], logout, "{out}");
}

/// A signed event from a client: it verifies (rust-nostr), by the user, of the kind asked for.
#[track_caller]
pub fn check_signed(event: &Value, kind: u16, user: &User) {
    let event = Event::from_json(event.to_string())
        .unwrap_or_else(|e| panic!("kind {kind}: not an event ({e}): {event}"));
    event.verify().expect("the signed event verifies");
    assert_eq!(event.pubkey.to_hex(), user.user_pubkey, "kind {kind}");
    assert_eq!(event.kind.as_u16(), kind);
}

/// The refused request surfaced as an error that names the permission, within [`REFUSAL_BOUND`]
/// (plus the library's own `hold`), not as a hang.
#[track_caller]
pub fn assert_refused(error: &str, elapsed: Duration, hold: Duration) {
    assert!(
        error.contains(&format!("sign_event:{REFUSED_KIND}")),
        "the error does not name the permission: {error}"
    );
    assert!(
        elapsed < REFUSAL_BOUND + hold,
        "the refusal surfaced after {elapsed:?}: {error}"
    );
}
