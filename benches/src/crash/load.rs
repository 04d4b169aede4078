//! One round's load and its kill: provisioning workers (tenant → user, generated or imported → two
//! bunker URIs → `connect` with the first) and signing workers (`sign_event` on random acknowledged
//! sessions) run against the live bunkerd until it is sent SIGKILL at the round's random moment
//! and reaped. Every answer is sorted: acknowledged writes go into the ledger, cut ones into its
//! pending lists.
//!
//! Must not: run unbounded ([`MAX_OPS`] per worker, and a time bound), or kill before the round has
//! an acknowledged write and a request in flight (the kill must land mid-load).

use super::http::{self, Admin, Answer};
use super::ledger::{Ledger, PendingUser, Shared, UriState, UserRec};
use super::server::Bunkerd;
use super::{Counts, Options, Rng, Write};
use nostr::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr::{Keys, PublicKey, ToBech32};
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Operations per worker and round, at most.
const MAX_OPS: usize = 100_000;

/// How long past the latest kill moment the load may go on waiting for its conditions (an
/// acknowledged write, a request in flight) before the round is given up.
const CONDITION_BOUND: Duration = Duration::from_secs(30);

/// How long the workers may take to notice the kill (a request's own time bound, and a margin).
const STOP_BOUND: Duration = Duration::from_secs(20);

/// The cheap NIP-49 cost of the `ncryptsec` imports (2^8 scrypt rounds, 256 KiB).
const NCRYPTSEC_LOG_N: u8 = 8;

/// The password of the `ncryptsec` imports.
const NCRYPTSEC_PASSWORD: &str = "crash-harness password";

/// What the load of one round did.
pub(super) struct LoadOutcome {
    pub(super) killed_after: Duration,
    pub(super) acked: Counts,
    pub(super) cut: Counts,
    pub(super) refused: u64,
    pub(super) unexpected: Vec<String>,
}

/// Counters the workers share with the kill.
#[derive(Default)]
struct State {
    /// Set just before the SIGKILL: from then on, a request without an answer is expected.
    killed: AtomicBool,
    /// Set once the process is reaped: the workers stop. Until then they go on loading, so that
    /// whatever is in flight when the process dies is cut, however late the signal lands.
    dead: AtomicBool,
    in_flight: AtomicUsize,
    acked_total: AtomicU64,
    acked: Mutex<Counts>,
    cut: Mutex<Counts>,
    refused: AtomicU64,
    unexpected: Mutex<Vec<String>>,
    /// Woken when a session is acknowledged (signing workers wait for a first one).
    session_added: Notify,
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One round's load against one running bunkerd.
pub(super) struct Load {
    relay: SocketAddr,
    admin: Admin,
    ledger: Shared,
    round: usize,
    provisioners: usize,
    signers: usize,
    kill_ms: (u64, u64),
    state: Arc<State>,
}

impl Load {
    pub(super) fn new(
        options: &Options,
        server: &Bunkerd,
        token: &str,
        ledger: Shared,
        round: usize,
    ) -> Self {
        Load {
            relay: server.relay,
            admin: Admin::new(server.admin, token),
            ledger,
            round,
            provisioners: options.provisioners.max(1),
            signers: options.signers,
            kill_ms: options.kill_ms,
            state: Arc::new(State::default()),
        }
    }

    /// Runs the workers, kills `server` at a moment drawn from `rng`, and waits for the workers.
    pub(super) async fn run(self, server: Bunkerd, mut rng: Rng) -> Result<LoadOutcome, String> {
        let kill_after = Duration::from_millis(rng.range(self.kill_ms.0, self.kill_ms.1));
        let start = tokio::time::Instant::now();
        let bound = start + kill_after + CONDITION_BOUND;
        let this = Arc::new(self);
        let mut workers = tokio::task::JoinSet::new();
        for w in 0..this.provisioners {
            let (this, rng) = (this.clone(), rng.fork());
            workers.spawn(async move { this.provision(w, rng, bound).await });
        }
        for w in 0..this.signers {
            let (this, rng) = (this.clone(), rng.fork());
            workers.spawn(async move { this.sign(w, rng, bound).await });
        }
        // The random moment, then (polled, bounded) the two conditions of a kill mid-load.
        tokio::time::sleep_until(start + kill_after).await;
        let state = &this.state;
        while state.acked_total.load(Ordering::SeqCst) == 0
            || state.in_flight.load(Ordering::SeqCst) == 0
        {
            if tokio::time::Instant::now() >= bound {
                state.killed.store(true, Ordering::SeqCst);
                return Err(format!(
                    "round {}: no acknowledged write with a request in flight within {:?}",
                    this.round,
                    kill_after + CONDITION_BOUND
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        state.killed.store(true, Ordering::SeqCst);
        let killed_after = start.elapsed();
        server.kill()?;
        state.dead.store(true, Ordering::SeqCst);
        let joined = tokio::time::timeout(STOP_BOUND, async {
            while let Some(done) = workers.join_next().await {
                done.map_err(|e| format!("a load worker failed: {e}"))?;
            }
            Ok::<(), String>(())
        })
        .await;
        joined
            .map_err(|_| format!("load workers still running {STOP_BOUND:?} after the kill"))??;
        let take = |m: &Mutex<Counts>| *m.lock().unwrap_or_else(|p| p.into_inner());
        let unexpected =
            std::mem::take(&mut *state.unexpected.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(LoadOutcome {
            killed_after,
            acked: take(&state.acked),
            cut: take(&state.cut),
            refused: state.refused.load(Ordering::SeqCst),
            unexpected,
        })
    }

    fn killed(&self) -> bool {
        self.state.killed.load(Ordering::SeqCst)
    }

    /// Whether a worker should stop: the process is gone, or the time bound passed.
    fn done(&self, bound: tokio::time::Instant) -> bool {
        self.state.dead.load(Ordering::SeqCst) || tokio::time::Instant::now() >= bound
    }

    /// Sends one request of kind `kind` and books its outcome: acknowledged, refused, unexpected,
    /// cut by the kill (sent, never answered), or not sent (the process was already gone).
    async fn attempt<T>(&self, kind: Write, request: impl Future<Output = Answer<T>>) -> Answer<T> {
        let answer = {
            let _in_flight = InFlight::new(&self.state.in_flight);
            request.await
        };
        let state = &self.state;
        match &answer {
            Answer::Ok(_) => {
                state
                    .acked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .bump(kind);
                state.acked_total.fetch_add(1, Ordering::SeqCst);
            }
            Answer::Refused(_) => {
                state.refused.fetch_add(1, Ordering::SeqCst);
            }
            Answer::Unexpected(e) => self.unexpected(e.clone()),
            Answer::Cut(_) if self.killed() => {
                state
                    .cut
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .bump(kind);
            }
            Answer::Down(_) if self.killed() => {}
            Answer::Cut(e) | Answer::Down(e) => {
                self.unexpected(format!("no answer before the kill: {e}"));
            }
        }
        answer
    }

    fn unexpected(&self, what: String) {
        let mut list = self
            .state
            .unexpected
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        list.push(format!("round {}: {what}", self.round));
    }

    /// A provisioning worker: tenant (sometimes), user, two URIs, `connect` with the first.
    async fn provision(&self, w: usize, mut rng: Rng, bound: tokio::time::Instant) {
        for n in 0..MAX_OPS {
            if self.done(bound) {
                return;
            }
            let known = Ledger::lock(&self.ledger).random_tenant(&mut rng);
            let tenant = match known {
                Some(tenant) if !rng.percent(10) => tenant,
                _ => match self.create_tenant(format!("t{}.{w}.{n}", self.round)).await {
                    Some(tenant) => tenant,
                    None => continue,
                },
            };
            let name = format!("u{}.{w}.{n}", self.round);
            let Some(user) = self.create_user(&tenant, name, &mut rng).await else {
                continue;
            };
            let mut first = None;
            for _ in 0..2 {
                match self.issue_uri(user).await {
                    Some(uri) => first = first.or(Some(uri)),
                    None => break,
                }
            }
            if let Some(uri) = first {
                self.connect(uri, http::keys(&mut rng)).await;
            }
        }
    }

    /// `POST /v1/tenants`; the new tenant's id when acknowledged.
    async fn create_tenant(&self, name: String) -> Option<String> {
        let request = self.admin.post("/v1/tenants", json!({"name": name}));
        match self.attempt(Write::Tenant, request).await {
            Answer::Ok(tenant) => {
                let id = tenant["id"].as_str().map(str::to_owned);
                match id.filter(|_| tenant["name"] == name.as_str()) {
                    Some(id) => {
                        let mut ledger = Ledger::lock(&self.ledger);
                        ledger.tenants.push(super::ledger::TenantRec {
                            id: id.clone(),
                            name,
                        });
                        Some(id)
                    }
                    None => {
                        self.unexpected(format!("tenant {name} answered {tenant}"));
                        None
                    }
                }
            }
            Answer::Cut(_) => {
                Ledger::lock(&self.ledger).pending_tenants.push(name);
                None
            }
            Answer::Refused(_) | Answer::Unexpected(_) | Answer::Down(_) => None,
        }
    }

    /// `POST …/users` with a generated key or an import drawn from `rng`; the user's ledger index
    /// when acknowledged.
    async fn create_user(&self, tenant: &str, name: String, rng: &mut Rng) -> Option<usize> {
        let kind = match rng.range(0, 9) {
            0..=3 => Write::User,
            4..=5 => Write::ImportHex,
            6..=7 => Write::ImportNsec,
            _ => Write::ImportNcryptsec,
        };
        let (body, expected) = user_body(&name, kind, rng);
        let path = format!("/v1/tenants/{tenant}/users");
        match self.attempt(kind, self.admin.post(&path, body)).await {
            Answer::Ok(user) => match user_rec(tenant, &user) {
                Some(rec) if expected.is_none_or(|e| e == rec.user_pubkey) => {
                    Some(Ledger::lock(&self.ledger).add_user(rec))
                }
                _ => {
                    let wanted = expected.map(|e| e.to_hex());
                    self.unexpected(format!("user {name} (key {wanted:?}) answered {user}"));
                    None
                }
            },
            Answer::Cut(_) => {
                Ledger::lock(&self.ledger).pending_users.push(PendingUser {
                    tenant: tenant.to_owned(),
                    name,
                    expected,
                    kind,
                });
                None
            }
            Answer::Refused(_) | Answer::Unexpected(_) | Answer::Down(_) => None,
        }
    }

    /// `POST …/bunker-uris` for ledger user `user`; the URI's ledger index when acknowledged.
    async fn issue_uri(&self, user: usize) -> Option<usize> {
        let (tenant, id, remote) = {
            let ledger = Ledger::lock(&self.ledger);
            let u = &ledger.users[user];
            (u.tenant.clone(), u.id.clone(), u.remote)
        };
        let path = format!("/v1/tenants/{tenant}/users/{id}/bunker-uris");
        let uri = match self
            .attempt(Write::Uri, self.admin.post(&path, json!({})))
            .await
        {
            Answer::Ok(uri) => uri,
            Answer::Cut(_) => {
                Ledger::lock(&self.ledger).pending_uris.push(user);
                return None;
            }
            Answer::Refused(_) | Answer::Unexpected(_) | Answer::Down(_) => return None,
        };
        let parsed = uri["bunker_uri"].as_str().map(http::parse_uri);
        match (uri["id"].as_str(), parsed) {
            (Some(uri_id), Some(Ok((signer, secret)))) if signer == remote => {
                Some(Ledger::lock(&self.ledger).add_uri(user, uri_id.to_owned(), secret))
            }
            _ => {
                self.unexpected(format!("bunker URI for user {id} answered {uri}"));
                None
            }
        }
    }

    /// NIP-46 `connect` with URI `uri`'s secret from the client `keys`.
    async fn connect(&self, uri: usize, keys: Keys) {
        let (remote, secret) = {
            let mut ledger = Ledger::lock(&self.ledger);
            ledger.uris[uri].state = UriState::Connecting(keys.clone());
            let rec = &ledger.uris[uri];
            (ledger.users[rec.user].remote, rec.secret.clone())
        };
        let request = http::connect(self.relay, &keys, &remote, &secret);
        match self.attempt(Write::Connect, request).await {
            Answer::Ok(()) => {
                Ledger::lock(&self.ledger).add_session(uri, keys);
                self.state.session_added.notify_waiters();
            }
            // Sent and not answered: consumed by `keys`, or not at all, as the restart will show.
            Answer::Cut(_) => {}
            Answer::Refused(_) | Answer::Unexpected(_) | Answer::Down(_) => {
                Ledger::lock(&self.ledger).uris[uri].state = UriState::Unconsumed;
            }
        }
    }

    /// A signing worker: `sign_event` on random acknowledged sessions.
    async fn sign(&self, w: usize, mut rng: Rng, bound: tokio::time::Instant) {
        for n in 0..MAX_OPS {
            if self.done(bound) {
                return;
            }
            let session = Ledger::lock(&self.ledger).random_session(&mut rng);
            let Some((keys, remote, user)) = session else {
                // No session yet (a fresh data directory): wait for one, polling with a bound.
                let wait = self.state.session_added.notified();
                let _ = tokio::time::timeout(Duration::from_millis(20), wait).await;
                continue;
            };
            let content = format!("crash round {} signer {w} note {n}", self.round);
            let request = http::sign(self.relay, &keys, &remote, &user, &content);
            let _ = self.attempt(Write::Sign, request).await;
        }
    }
}

/// The body of a user creation of kind `kind` named `name`, and the imported key's pubkey.
fn user_body(name: &str, kind: Write, rng: &mut Rng) -> (Value, Option<PublicKey>) {
    let keys = http::keys(rng);
    let secret = keys.secret_key();
    let body = match kind {
        Write::ImportHex => json!({"name": name, "secret_key": secret.to_secret_hex()}),
        Write::ImportNsec => {
            let nsec = secret.to_bech32().expect("a secret key encodes as nsec");
            json!({"name": name, "secret_key": nsec})
        }
        Write::ImportNcryptsec => {
            let sealed = EncryptedSecretKey::new(
                secret,
                NCRYPTSEC_PASSWORD,
                NCRYPTSEC_LOG_N,
                KeySecurity::Unknown,
            )
            .expect("NIP-49 encryption with a valid key")
            .to_bech32()
            .expect("an ncryptsec encodes");
            json!({"name": name, "ncryptsec": sealed, "password": NCRYPTSEC_PASSWORD})
        }
        _ => return (json!({"name": name}), None),
    };
    (body, Some(keys.public_key()))
}

/// The ledger record of a user answer (`POST …/users` or a list item) in `tenant`.
pub(super) fn user_rec(tenant: &str, user: &Value) -> Option<UserRec> {
    let pubkey = |field: &str| PublicKey::from_hex(user[field].as_str()?).ok();
    Some(UserRec {
        tenant: tenant.to_owned(),
        id: user["id"].as_str()?.to_owned(),
        user_pubkey: pubkey("user_pubkey")?,
        remote: pubkey("remote_signer_pubkey")?,
    })
}
