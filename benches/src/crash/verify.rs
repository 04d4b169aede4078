//! After a restart: checks the whole ledger of the data directory against what bunkerd now serves,
//! and settles every write the kill left in doubt.
//!
//! Checked, in order: every acknowledged tenant is listed with its name; every acknowledged user is
//! listed with its user and remote-signer pubkeys; every acknowledged bunker URI is listed, unused
//! if it was, consumed by its client if its `connect` was acknowledged; every acknowledged session
//! is listed. Then, over the network: every session signs (the signature verifies under the
//! recorded user pubkey); every unused URI connects a new client (which then signs); every newly
//! consumed URI is refused to a new client; every user without a session gets one (a new URI) and
//! signs; every tenant found although its creation was cut takes a user that signs.
//!
//! A cut write may be present or absent, never in part: a cut user must carry the imported key; a
//! cut `connect` must have both consumed its URI and made its session, or neither. Anything listed
//! that was never attempted is a phantom. Present cut writes join the ledger (they are durable from
//! now on); the pending lists are emptied.
//!
//! Must not: stop at the first loss (each is reported), or run a check unbounded.

use super::http::{self, Admin, Answer};
use super::ledger::{Ledger, Shared, TenantRec, UriState};
use super::load::user_rec;
use super::{Checked, Counts, Rng, Write};
use nostr::{Keys, PublicKey};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

/// Pages a tenant or user list may have.
const MAX_PAGES: usize = 100;

/// Network checks run at once.
const CONCURRENCY: usize = 4;

/// What a restart found.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) checked: Checked,
    pub(super) cut_present: Counts,
    pub(super) losses: Vec<String>,
}

/// Checks `ledger` against the bunkerd at `admin` / `relay` (see the module doc).
pub(super) async fn verify(
    admin: &Admin,
    relay: SocketAddr,
    ledger: &Shared,
    round: usize,
    rng: &mut Rng,
) -> Result<Found, String> {
    let mut found = Found::default();
    let new_tenants = check_tenants(admin, ledger, &mut found).await?;
    check_users(admin, ledger, &mut found).await;
    let (users, pending_uris) = {
        let mut ledger = Ledger::lock(ledger);
        (ledger.users.len(), std::mem::take(&mut ledger.pending_uris))
    };
    for user in 0..users {
        let cut = pending_uris.iter().filter(|u| **u == user).count();
        check_uris_and_sessions(admin, ledger, user, cut, &mut found).await;
    }
    let jobs = plan(ledger, &new_tenants, rng);
    let net = Net {
        admin: admin.clone(),
        relay,
        round,
    };
    let net = Arc::new(net);
    let mut set = tokio::task::JoinSet::new();
    let mut results = Vec::new();
    for job in jobs {
        if set.len() >= CONCURRENCY {
            if let Some(done) = set.join_next().await {
                results.push(done.map_err(|e| format!("a check failed: {e}"))?);
            }
        }
        let net = net.clone();
        set.spawn(async move { net.run(job).await });
    }
    while let Some(done) = set.join_next().await {
        results.push(done.map_err(|e| format!("a check failed: {e}"))?);
    }
    let mut ledger = Ledger::lock(ledger);
    for result in results {
        apply(&mut ledger, result, &mut found);
    }
    Ok(found)
}

/// Tenants: acknowledged ones listed with their names, others only if their creation was cut (then
/// adopted). Returns the adopted tenants' ids.
async fn check_tenants(
    admin: &Admin,
    ledger: &Shared,
    found: &mut Found,
) -> Result<Vec<String>, String> {
    let listed = admin.list_all("/v1/tenants", MAX_PAGES).await?;
    let listed: HashMap<String, String> = listed
        .iter()
        .filter_map(|t| Some((t["id"].as_str()?.to_owned(), t["name"].as_str()?.to_owned())))
        .collect();
    let mut ledger = Ledger::lock(ledger);
    let known: HashSet<String> = ledger.tenants.iter().map(|t| t.id.clone()).collect();
    for t in &ledger.tenants {
        match listed.get(&t.id) {
            Some(name) if *name == t.name => found.checked.tenants += 1,
            Some(name) => found
                .losses
                .push(format!("tenant {} ({}) is now named {name}", t.id, t.name)),
            None => found.losses.push(format!(
                "acknowledged tenant {} ({}) is missing",
                t.id, t.name
            )),
        }
    }
    let pending = std::mem::take(&mut ledger.pending_tenants);
    let mut adopted = Vec::new();
    for (id, name) in listed.into_iter().filter(|(id, _)| !known.contains(id)) {
        if pending.contains(&name) {
            found.cut_present.bump(Write::Tenant);
            ledger.tenants.push(TenantRec {
                id: id.clone(),
                name,
            });
            adopted.push(id);
        } else {
            found
                .losses
                .push(format!("tenant {id} ({name}) was never created by us"));
        }
    }
    Ok(adopted)
}

/// Users of every tenant: acknowledged ones with the same pubkeys; others only if their creation
/// was cut, with the imported key (then adopted).
async fn check_users(admin: &Admin, ledger: &Shared, found: &mut Found) {
    let tenants: Vec<String> = Ledger::lock(ledger)
        .tenants
        .iter()
        .map(|t| t.id.clone())
        .collect();
    let mut listed_by_tenant = Vec::new();
    for tenant in &tenants {
        let path = format!("/v1/tenants/{tenant}/users");
        match admin.list_all(&path, MAX_PAGES).await {
            Ok(items) => listed_by_tenant.push((tenant.clone(), items)),
            Err(e) => found
                .losses
                .push(format!("users of tenant {tenant} cannot be listed: {e}")),
        }
    }
    let mut ledger = Ledger::lock(ledger);
    let pending = std::mem::take(&mut ledger.pending_users);
    for (tenant, items) in listed_by_tenant {
        let listed: HashMap<&str, &Value> = items
            .iter()
            .filter_map(|u| Some((u["id"].as_str()?, u)))
            .collect();
        let mut known = HashSet::new();
        for rec in ledger.users.iter().filter(|u| u.tenant == tenant) {
            known.insert(rec.id.clone());
            match listed
                .get(rec.id.as_str())
                .and_then(|u| user_rec(&tenant, u))
            {
                Some(now) if now.user_pubkey == rec.user_pubkey && now.remote == rec.remote => {
                    found.checked.users += 1;
                }
                Some(now) => found.losses.push(format!(
                    "user {} changed keys: user {} → {}, remote signer {} → {}",
                    rec.id, rec.user_pubkey, now.user_pubkey, rec.remote, now.remote
                )),
                None => found.losses.push(format!(
                    "acknowledged user {} of tenant {tenant} is missing",
                    rec.id
                )),
            }
        }
        for (id, user) in listed.into_iter().filter(|(id, _)| !known.contains(*id)) {
            let name = user["name"].as_str().unwrap_or_default();
            let cut = pending
                .iter()
                .find(|p| p.tenant == tenant && p.name == name);
            match (cut, user_rec(&tenant, user)) {
                (Some(cut), Some(rec)) if cut.expected.is_none_or(|e| e == rec.user_pubkey) => {
                    found.cut_present.bump(cut.kind);
                    ledger.add_user(rec);
                }
                (Some(_), _) => found.losses.push(format!(
                    "user {id} ({name}), cut, is present with another key or in part: {user}"
                )),
                (None, _) => found.losses.push(format!(
                    "user {id} ({name}) was never created by us: {user}"
                )),
            }
        }
    }
}

/// One user's bunker URIs and sessions against the ledger; settles cut `connect`s, and the user's
/// `cut_issues` cut URI issues (each may have made one URI we never saw).
async fn check_uris_and_sessions(
    admin: &Admin,
    ledger: &Shared,
    user: usize,
    cut_issues: usize,
    found: &mut Found,
) {
    let rec = Ledger::lock(ledger).users[user].clone();
    let base = format!("/v1/tenants/{}/users/{}", rec.tenant, rec.id);
    let (uris, sessions) = match (
        admin.list(&format!("{base}/bunker-uris")).await,
        admin.list(&format!("{base}/sessions")).await,
    ) {
        (Ok(uris), Ok(sessions)) => (uris, sessions),
        (Err(e), _) | (_, Err(e)) => {
            found.losses.push(format!("user {}: {e}", rec.id));
            return;
        }
    };
    let consumed_by: HashMap<&str, Option<&str>> = uris
        .iter()
        .filter_map(|u| Some((u["id"].as_str()?, u["consumed_by"].as_str())))
        .collect();
    let listed_sessions: HashSet<&str> = sessions
        .iter()
        .filter_map(|s| s["client_pubkey"].as_str())
        .collect();
    let mut ledger = Ledger::lock(ledger);
    let mut known_uris = HashSet::new();
    let mut adopt = Vec::new();
    for (index, uri) in ledger.uris.iter_mut().enumerate() {
        if uri.user != user {
            continue;
        }
        known_uris.insert(uri.id.clone());
        let Some(by) = consumed_by.get(uri.id.as_str()) else {
            found.losses.push(format!(
                "acknowledged bunker URI {} of user {} is missing",
                uri.id, rec.id
            ));
            continue;
        };
        let lost = |what: &str| format!("bunker URI {} of user {}: {what}", uri.id, rec.id);
        match &uri.state {
            UriState::Unconsumed if by.is_none() => found.checked.uris += 1,
            UriState::Unconsumed => found
                .losses
                .push(lost(&format!("consumed by {by:?}, unused by us"))),
            UriState::Consumed { client, .. } if *by == Some(client.to_hex().as_str()) => {
                found.checked.uris += 1;
            }
            UriState::Consumed { client, .. } => found.losses.push(lost(&format!(
                "acknowledged consumed by {client}, now {by:?}"
            ))),
            UriState::Connecting(keys) => {
                let client = keys.public_key().to_hex();
                let session = listed_sessions.contains(client.as_str());
                match (*by == Some(client.as_str()), session, by.is_none()) {
                    (true, true, _) => adopt.push((index, keys.clone())),
                    (false, false, true) => uri.state = UriState::Unconsumed,
                    _ => found.losses.push(lost(&format!(
                        "cut connect in part: consumed by {by:?}, session of {client} listed: \
                         {session}"
                    ))),
                }
            }
        }
    }
    for (index, keys) in adopt {
        found.cut_present.bump(Write::Connect);
        ledger.add_session(index, keys);
    }
    let mut strays = 0;
    for (id, by) in consumed_by {
        if known_uris.contains(id) {
            continue;
        }
        if by.is_some() {
            found.losses.push(format!(
                "bunker URI {id} of user {}, never acknowledged to us, consumed by {by:?}",
                rec.id
            ));
        }
        if ledger.stray_uris.insert(id.to_owned()) {
            strays += 1;
        }
    }
    if strays > cut_issues {
        found.losses.push(format!(
            "user {} has {strays} new bunker URIs never acknowledged to us, {cut_issues} issues cut",
            rec.id
        ));
    }
    for _ in 0..strays.min(cut_issues) {
        found.cut_present.bump(Write::Uri);
    }
    let ours: HashSet<String> = ledger
        .sessions
        .iter()
        .filter(|s| s.user == user)
        .map(|s| s.keys.public_key().to_hex())
        .collect();
    for client in &ours {
        if !listed_sessions.contains(client.as_str()) {
            found.losses.push(format!(
                "acknowledged session of {client} with user {} is missing",
                rec.id
            ));
        }
    }
    for client in listed_sessions {
        if !ours.contains(client) {
            found.losses.push(format!(
                "session of {client} with user {} was never made by us",
                rec.id
            ));
        }
    }
}

/// A network check.
enum Job {
    /// Sign on session `index` with its client key.
    Sign {
        index: usize,
        keys: Keys,
        remote: PublicKey,
        user: PublicKey,
    },
    /// Connect a new client with unused URI `index`, then sign.
    Connect {
        index: usize,
        keys: Keys,
        secret: String,
        remote: PublicKey,
        user: PublicKey,
    },
    /// A new client with consumed URI `index`'s secret must be refused.
    Refuse {
        index: usize,
        keys: Keys,
        secret: String,
        remote: PublicKey,
    },
    /// Issue a URI for user `index` (tenant, id), connect, sign.
    Fresh {
        index: usize,
        tenant: String,
        id: String,
        keys: Keys,
        remote: PublicKey,
        user: PublicKey,
    },
    /// Create a user in a tenant whose creation was cut, then as [`Job::Fresh`].
    Tenant { tenant: String, keys: Keys },
}

/// What a check did, to apply to the ledger.
enum Outcome {
    Signed,
    Connected {
        index: usize,
        keys: Keys,
    },
    Refused {
        index: usize,
    },
    Fresh {
        index: usize,
        uri_id: String,
        secret: String,
        keys: Keys,
    },
    TenantUsable {
        rec: super::ledger::UserRec,
        uri_id: String,
        secret: String,
        keys: Keys,
    },
    Lost(String),
}

/// The network checks, from the settled ledger.
fn plan(ledger: &Shared, new_tenants: &[String], rng: &mut Rng) -> Vec<Job> {
    let ledger = Ledger::lock(ledger);
    let mut jobs = Vec::new();
    let mut served = HashSet::new();
    for (index, s) in ledger.sessions.iter().enumerate() {
        let user = &ledger.users[s.user];
        served.insert(s.user);
        let (keys, remote, user) = (s.keys.clone(), user.remote, user.user_pubkey);
        jobs.push(Job::Sign {
            index,
            keys,
            remote,
            user,
        });
    }
    for (index, uri) in ledger.uris.iter().enumerate() {
        let user = &ledger.users[uri.user];
        let (keys, secret, remote) = (http::keys(rng), uri.secret.clone(), user.remote);
        match uri.state {
            UriState::Unconsumed => {
                served.insert(uri.user);
                jobs.push(Job::Connect {
                    index,
                    keys,
                    secret,
                    remote,
                    user: user.user_pubkey,
                });
            }
            UriState::Consumed {
                refusal_checked: false,
                ..
            } => {
                jobs.push(Job::Refuse {
                    index,
                    keys,
                    secret,
                    remote,
                });
            }
            _ => {}
        }
    }
    for (index, user) in ledger.users.iter().enumerate() {
        if !served.contains(&index) {
            jobs.push(Job::Fresh {
                index,
                tenant: user.tenant.clone(),
                id: user.id.clone(),
                keys: http::keys(rng),
                remote: user.remote,
                user: user.user_pubkey,
            });
        }
    }
    for tenant in new_tenants {
        jobs.push(Job::Tenant {
            tenant: tenant.clone(),
            keys: http::keys(rng),
        });
    }
    jobs
}

/// What the network checks talk to.
struct Net {
    admin: Admin,
    relay: SocketAddr,
    round: usize,
}

impl Net {
    async fn run(&self, job: Job) -> Outcome {
        match job {
            Job::Sign {
                index,
                keys,
                remote,
                user,
            } => {
                match self
                    .sign(&keys, &remote, &user, &format!("session {index}"))
                    .await
                {
                    Ok(()) => Outcome::Signed,
                    Err(e) => {
                        Outcome::Lost(format!("session {index} of {user} does not sign: {e}"))
                    }
                }
            }
            Job::Connect {
                index,
                keys,
                secret,
                remote,
                user,
            } => match self.connect_and_sign(&keys, &remote, &secret, &user).await {
                Ok(()) => Outcome::Connected { index, keys },
                Err(e) => Outcome::Lost(format!("unused bunker URI {index} of {user}: {e}")),
            },
            Job::Refuse {
                index,
                keys,
                secret,
                remote,
            } => {
                let params = json!([remote.to_hex(), secret]);
                match http::nip46(self.relay, &keys, &remote, "connect", params).await {
                    Answer::Ok(Err(_)) => Outcome::Refused { index },
                    other => Outcome::Lost(format!(
                        "consumed bunker URI {index} with a new client: {other:?}"
                    )),
                }
            }
            Job::Fresh {
                index,
                tenant,
                id,
                keys,
                remote,
                user,
            } => match self.fresh(&tenant, &id, &keys, &remote, &user).await {
                Ok((uri_id, secret)) => Outcome::Fresh {
                    index,
                    uri_id,
                    secret,
                    keys,
                },
                Err(e) => Outcome::Lost(format!("user {id} of tenant {tenant}: {e}")),
            },
            Job::Tenant { tenant, keys } => {
                let path = format!("/v1/tenants/{tenant}/users");
                let body = json!({"name": format!("check{}", self.round)});
                let rec = match self.admin.post(&path, body).await {
                    Answer::Ok(user) => user_rec(&tenant, &user),
                    other => {
                        return Outcome::Lost(format!(
                            "cut tenant {tenant} takes no user: {other:?}"
                        ))
                    }
                };
                let Some(rec) = rec else {
                    return Outcome::Lost(format!("cut tenant {tenant}: a user without keys"));
                };
                match self
                    .fresh(&tenant, &rec.id, &keys, &rec.remote, &rec.user_pubkey)
                    .await
                {
                    Ok((uri_id, secret)) => Outcome::TenantUsable {
                        rec,
                        uri_id,
                        secret,
                        keys,
                    },
                    Err(e) => Outcome::Lost(format!("cut tenant {tenant}'s new user: {e}")),
                }
            }
        }
    }

    async fn sign(
        &self,
        keys: &Keys,
        remote: &PublicKey,
        user: &PublicKey,
        what: &str,
    ) -> Result<(), String> {
        let content = format!("crash check after round {}: {what}", self.round);
        let signed = http::sign(self.relay, keys, remote, user, &content).await;
        signed.into_result().map(|_| ())
    }

    async fn connect_and_sign(
        &self,
        keys: &Keys,
        remote: &PublicKey,
        secret: &str,
        user: &PublicKey,
    ) -> Result<(), String> {
        let connected = http::connect(self.relay, keys, remote, secret).await;
        connected
            .into_result()
            .map_err(|e| format!("connect: {e}"))?;
        self.sign(keys, remote, user, "new session").await
    }

    /// A new URI for a user, a new client connected with it, a signature: the URI's id and secret.
    async fn fresh(
        &self,
        tenant: &str,
        id: &str,
        keys: &Keys,
        remote: &PublicKey,
        user: &PublicKey,
    ) -> Result<(String, String), String> {
        let path = format!("/v1/tenants/{tenant}/users/{id}/bunker-uris");
        let uri = self.admin.post(&path, json!({})).await.into_result()?;
        let uri_id = uri["id"]
            .as_str()
            .ok_or(format!("bunker URI without id: {uri}"))?;
        let (_, secret) = http::parse_uri(uri["bunker_uri"].as_str().unwrap_or_default())?;
        self.connect_and_sign(keys, remote, &secret, user).await?;
        Ok((uri_id.to_owned(), secret))
    }
}

/// Applies a check's outcome to the ledger and the counts.
fn apply(ledger: &mut Ledger, outcome: Outcome, found: &mut Found) {
    let checked = &mut found.checked;
    match outcome {
        Outcome::Signed => checked.sessions_signed += 1,
        Outcome::Connected { index, keys } => {
            checked.uris_connected += 1;
            checked.sessions_signed += 1;
            ledger.add_session(index, keys);
        }
        Outcome::Refused { index } => {
            checked.consumed_refused += 1;
            if let UriState::Consumed {
                refusal_checked, ..
            } = &mut ledger.uris[index].state
            {
                *refusal_checked = true;
            }
        }
        Outcome::Fresh {
            index,
            uri_id,
            secret,
            keys,
        } => {
            checked.sessions_signed += 1;
            let uri = ledger.add_uri(index, uri_id, secret);
            ledger.add_session(uri, keys);
        }
        Outcome::TenantUsable {
            rec,
            uri_id,
            secret,
            keys,
        } => {
            checked.sessions_signed += 1;
            let user = ledger.add_user(rec);
            let uri = ledger.add_uri(user, uri_id, secret);
            ledger.add_session(uri, keys);
        }
        Outcome::Lost(what) => found.losses.push(what),
    }
}
