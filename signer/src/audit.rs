//! The per-tenant audit log: who did what, when, to which event, and how it ended.
//!
//! Role: record every NIP-46 request outcome (sign, encrypt/decrypt, connect, refusals) and every
//! admin action as an [`AuditRecord`] in the `audit` column family, and answer time-range queries
//! over one tenant's records ([`AuditLog::query`]) with opaque cursors.
//!
//! What it must not do: store request or response content, plaintexts, ciphertexts or secrets
//! (records have no field for them, and [`AuditRecord::detail`] is a capped fixed reason); block
//! the signer hot path ([`AuditLog::record`] only validates and hands the record to a bounded
//! queue; a full queue is a counted drop); or let one tenant's query see another tenant's rows.
//!
//! Store layout: `audit`: `<tenant id, 32 ASCII bytes> ‖ time_ms (u64 BE) ‖ seq (u64 BE)` (48
//! bytes) → the record as JSON. A tenant's rows are contiguous and ordered by time, then by `seq`.
//!
//! `seq` comes from one process-wide counter, raised at every [`AuditLog::open`] to the wall clock
//! in Unix **nanoseconds**: it is unique and increasing within the process (so records of the same
//! millisecond keep their order), and a restarted process starts above every `seq` its
//! predecessor used unless that one issued more than one `seq` per nanosecond of its life or the
//! clock went backwards. Even then two rows collide only with the same tenant, millisecond and
//! `seq`.
//!
//! Main items: [`AuditLog`], [`AuditRecord`], [`Outcome`], [`AuditQuery`], [`AuditPage`],
//! [`AuditConfig`].
//!
//! Layout: this file holds the records, the [`AuditLog`] handle with its write paths, and the
//! helpers for row keys, cursors and field formats. The background writer thread and its batching
//! are in the private `writer` submodule; queries ([`AuditQuery`], [`AuditPage`],
//! [`AuditLog::query`]) are in the private `query` submodule, re-exported here.

use crate::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use crossbeam_channel::{bounded, Sender};
use proto::nostr::PublicKey;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};
use store::{Batch, Cf, Durability, Store};

mod query;
mod writer;

pub use query::{AuditPage, AuditQuery, DEFAULT_LIMIT, MAX_LIMIT};
use writer::{write_loop, Counters, Msg, WARN_DROPPED, WARN_REJECTED};

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;

/// Longest [`AuditRecord::detail`] kept, in bytes of UTF-8: longer details are cut at the last
/// character boundary at or below it. A fixed reason such as `permission denied: sign_event:0` is
/// far shorter; the cap bounds what a careless caller can put in a row.
pub const DETAIL_MAX_BYTES: usize = 256;

/// Longest [`AuditRecord::action`], in bytes. NIP-46 method names and admin actions are < 32.
pub const ACTION_MAX_BYTES: usize = 64;

/// Longest [`AuditRecord::actor`], in bytes (`nip98:` + 64 hex chars is 70).
pub const ACTOR_MAX_BYTES: usize = 128;

/// Rows deleted per [`Store::write`] by [`AuditLog::delete_tenant`].
const DELETE_BATCH: usize = 1000;

/// Length of a tenant or user id: 32 lowercase hex characters (see [`crate::directory`]).
const ID_LEN: usize = 32;

/// Length of a row key: tenant id, `time_ms`, `seq`.
const KEY_LEN: usize = ID_LEN + 8 + 8;

/// First byte of every cursor: the cursor format version.
const CURSOR_VERSION: u8 = 1;

/// The process-wide `seq` counter (see the module docs).
static SEQ: AtomicU64 = AtomicU64::new(0);

/// How a request or admin action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done as asked (`"ok"`).
    Ok,
    /// Refused by policy, authentication or a limit (`"refused"`).
    Refused,
    /// Failed on the server's side (`"error"`).
    Error,
}

impl Outcome {
    /// The JSON value: `"ok"`, `"refused"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Error => "error",
        }
    }
}

/// One audit row. JSON field names are stable (the admin API returns these records as they are);
/// `None` fields are omitted.
///
/// # Security
///
/// No field may hold a secret, a plaintext, a ciphertext or request/response content: only ids,
/// public keys, method names, kinds and fixed reasons. Callers map an unknown NIP-46 method to a
/// fixed action (e.g. `unknown`) rather than copying the client's string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it happened, Unix **milliseconds** (set by the caller, see [`now_ms`]).
    pub time_ms: u64,
    /// Order among records of the same millisecond. Assigned by [`AuditLog::record`] and
    /// [`AuditLog::record_durable`]; any value set by the caller is replaced.
    pub seq: u64,
    /// Tenant id: 32 lowercase hex characters.
    pub tenant: String,
    /// User id (32 lowercase hex characters), when the request or action concerns one user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The client pubkey of a NIP-46 request (32-byte x-only key, 64 lowercase hex in JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<PublicKey>,
    /// Who did an admin action: `operator`, `token:<id>`, `nip98:<pubkey hex>`. 1 to
    /// [`ACTOR_MAX_BYTES`] printable ASCII characters, no spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// A NIP-46 method name (`sign_event`, `nip44_decrypt`, `connect`, …) or an admin action
    /// (`user.create`, …): 1 to [`ACTION_MAX_BYTES`] characters of `a-z 0-9 _ . : -`.
    pub action: String,
    /// The kind of the event signed (NIP-01 `kind`), for `sign_event`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<u16>,
    /// The id of the event signed: 64 lowercase hex characters (NIP-01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// A fixed, non-secret reason such as `permission denied: sign_event:0`. Never a plaintext,
    /// a secret or request content. Cut to [`DETAIL_MAX_BYTES`] when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditRecord {
    /// A record with the required fields and every optional field `None` (`seq` 0 until
    /// recorded). Set the others directly or with struct update syntax.
    pub fn new(
        time_ms: u64,
        tenant: impl Into<String>,
        action: impl Into<String>,
        outcome: Outcome,
    ) -> AuditRecord {
        AuditRecord {
            time_ms,
            seq: 0,
            tenant: tenant.into(),
            user: None,
            client: None,
            actor: None,
            action: action.into(),
            kind: None,
            event_id: None,
            outcome,
            detail: None,
        }
    }

    /// Checks the field formats documented on each field and cuts `detail` to
    /// [`DETAIL_MAX_BYTES`].
    fn validate(&mut self) -> Result<(), Error> {
        if !is_id(&self.tenant) {
            return Err(Error::InvalidInput(
                "audit tenant must be a 32-character lowercase hex id",
            ));
        }
        if self.user.as_deref().is_some_and(|u| !is_id(u)) {
            return Err(Error::InvalidInput(
                "audit user must be a 32-character lowercase hex id",
            ));
        }
        if !is_action(&self.action) {
            return Err(Error::InvalidInput(
                "audit action must be 1 to 64 characters of a-z 0-9 _ . : -",
            ));
        }
        if self.actor.as_deref().is_some_and(|a| !is_actor(a)) {
            return Err(Error::InvalidInput(
                "audit actor must be 1 to 128 printable ASCII characters",
            ));
        }
        if self
            .event_id
            .as_deref()
            .is_some_and(|e| !is_lower_hex(e, 64))
        {
            return Err(Error::InvalidInput(
                "audit event id must be 64 lowercase hex characters",
            ));
        }
        if let Some(detail) = &mut self.detail {
            truncate_at_char(detail, DETAIL_MAX_BYTES);
        }
        Ok(())
    }

    /// The 48-byte row key: tenant id ‖ `time_ms` BE ‖ `seq` BE.
    fn key(&self) -> [u8; KEY_LEN] {
        row_key(&self.tenant, self.time_ms, self.seq)
    }
}

/// Tuning of an [`AuditLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    /// Records that may wait for the writer before [`AuditLog::record`] drops them (counted in
    /// [`AuditLog::dropped`]). Default: 8,192 — most of a second at 10,000 requests/s, while the
    /// writer, batching up to 256 records per write, drains far faster than that.
    pub queue_capacity: usize,
    /// Most rows one [`AuditLog::query`] call reads before it returns a page with a cursor, so a
    /// filter that matches rarely cannot make one call scan a tenant's whole history.
    /// Default: 100,000.
    pub max_examined: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            queue_capacity: 8192,
            max_examined: 100_000,
        }
    }
}

/// The audit log of every tenant, over a [`Store`], with one background writer thread.
///
/// Shared by reference (`Arc<AuditLog>`) between the signer workers and the admin API. Dropping
/// it (or [`AuditLog::shutdown`]) writes everything queued and joins the writer.
pub struct AuditLog {
    store: Arc<dyn Store>,
    tx: Sender<Msg>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    max_examined: usize,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("queued", &self.tx.len())
            .field("dropped", &self.dropped())
            .field("rejected", &self.rejected())
            .field("failed", &self.failed())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log over `store` with [`AuditConfig::default`] and starts its writer thread
    /// (`bunkerd-audit`). Reads nothing from the store.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for opening checks without an API change.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create a thread.
    pub fn open(store: Arc<dyn Store>) -> Result<AuditLog, Error> {
        AuditLog::open_with(store, AuditConfig::default())
    }

    /// [`AuditLog::open`] with explicit tuning (`queue_capacity` and `max_examined` are raised
    /// to at least 1).
    ///
    /// # Errors
    ///
    /// None today (see [`AuditLog::open`]).
    ///
    /// # Panics
    ///
    /// If the OS refuses to create a thread.
    pub fn open_with(store: Arc<dyn Store>, config: AuditConfig) -> Result<AuditLog, Error> {
        SEQ.fetch_max(unix_nanos(), Ordering::Relaxed);
        let (tx, rx) = bounded(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::new());
        let writer = {
            let (store, counters) = (store.clone(), counters.clone());
            std::thread::Builder::new()
                .name("bunkerd-audit".into())
                .spawn(move || write_loop(store.as_ref(), &rx, &counters))
                .expect("spawning the audit writer thread")
        };
        Ok(AuditLog {
            store,
            tx,
            writer: Some(writer),
            counters,
            max_examined: config.max_examined.max(1),
        })
    }

    /// Queues `rec` for the writer without blocking: for the signer hot path. The writer stores
    /// it within about 10 ms with [`Durability::Buffered`] (a power loss may lose it).
    ///
    /// Assigns `rec.seq` and cuts `detail` to [`DETAIL_MAX_BYTES`]. A record whose fields break
    /// their documented format is not stored and is counted in [`AuditLog::rejected`]; when the
    /// queue is full the record is counted in [`AuditLog::dropped`]. Both log a rate-limited
    /// warning (without the record).
    pub fn record(&self, mut rec: AuditRecord) {
        if let Err(error) = rec.validate() {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            if self.counters.may_warn(WARN_REJECTED) {
                tracing::warn!(
                    reason = %error,
                    rejected_total = self.rejected(),
                    "audit records with malformed fields were not stored"
                );
            }
            return;
        }
        rec.seq = next_seq();
        // Full or disconnected (the writer died): either way the record is not stored.
        if self.tx.try_send(Msg::Record(Box::new(rec))).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            if self.counters.may_warn(WARN_DROPPED) {
                tracing::warn!(
                    dropped_total = self.dropped(),
                    "audit queue full: audit records dropped"
                );
            }
        }
    }

    /// Validates, assigns `seq` and writes `rec` now with [`Durability::Sync`]: for admin actions,
    /// before the API answers. Blocks on disk; call it from a blocking context.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when a field breaks its documented format (nothing is written);
    /// [`Error::Store`] when the store write fails.
    pub fn record_durable(&self, mut rec: AuditRecord) -> Result<(), Error> {
        rec.validate()?;
        rec.seq = next_seq();
        let mut batch = Batch::new();
        batch.put(Cf::Audit, rec.key().to_vec(), encode(&rec));
        self.store.write(batch, Durability::Sync)?;
        Ok(())
    }

    /// Blocks until every record queued by [`AuditLog::record`] before this call has been
    /// written (or lost to a failed write). For tests, shutdown and [`AuditLog::delete_tenant`].
    ///
    /// # Errors
    ///
    /// [`Error::Store`] with the first store failure of the writer since the previous flush (each
    /// failure is reported to one flush only; every lost record is also counted in
    /// [`AuditLog::failed`]), or when the writer thread has died.
    pub fn flush(&self) -> Result<(), Error> {
        let (reply, answer) = bounded(1);
        self.tx.send(Msg::Flush(reply)).map_err(|_| writer_gone())?;
        match answer.recv() {
            Ok(None) => Ok(()),
            Ok(Some(error)) => Err(error.into()),
            Err(_) => Err(writer_gone()),
        }
    }

    /// Flushes, stops the writer and joins it: [`Drop`] does the same but can only log a
    /// failure.
    ///
    /// # Errors
    ///
    /// As [`AuditLog::flush`].
    pub fn shutdown(mut self) -> Result<(), Error> {
        let flushed = self.flush();
        self.stop();
        flushed
    }

    /// Records refused by [`AuditLog::record`] because the queue was full or the writer had
    /// died, since open.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records refused by [`AuditLog::record`] because a field broke its format, since open.
    pub fn rejected(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
    }

    /// Queued records lost because the writer's store write failed, since open.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Deletes every row of `tenant`, 1,000 rows per synced write, after flushing the
    /// queue so records queued before the call are deleted too. Returns the number of rows
    /// deleted. Call it after the tenant stops serving requests, or new records may follow.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a tenant that is not a 32-character lowercase hex id;
    /// [`Error::Store`] when the flush or a store read or write fails (rows deleted by earlier
    /// batches stay deleted; calling again finishes the job).
    pub fn delete_tenant(&self, tenant: &str) -> Result<usize, Error> {
        check_tenant(tenant)?;
        self.flush()?;
        let (mut start, end) = (row_key(tenant, 0, 0).to_vec(), tenant_end(tenant));
        let mut deleted = 0;
        loop {
            let mut keys: Vec<Vec<u8>> = Vec::new();
            self.store
                .scan_range(Cf::Audit, &start, &end, &mut |key, _| {
                    keys.push(key.to_vec());
                    keys.len() < DELETE_BATCH
                })?;
            let Some(last) = keys.last() else {
                return Ok(deleted);
            };
            // Resume after the last key: rescanning from the tenant's start would step over
            // every tombstone written so far.
            start = [last.as_slice(), &[0]].concat();
            let count = keys.len();
            let mut batch = Batch::new();
            for key in keys {
                batch.delete(Cf::Audit, key);
            }
            self.store.write(batch, Durability::Sync)?;
            deleted += count;
            if count < DELETE_BATCH {
                return Ok(deleted);
            }
        }
    }

    /// Sends the stop marker and joins the writer (once).
    fn stop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        // Blocks while the queue is full: the writer is draining it.
        let _ = self.tx.send(Msg::Stop);
        if writer.join().is_err() {
            tracing::error!("the audit writer thread panicked");
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Unix time in milliseconds from the system clock (0 before 1970), for [`AuditRecord::time_ms`].
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
}

fn writer_gone() -> Error {
    Error::Store(store::Error::Engine(
        "audit writer thread has stopped".into(),
    ))
}

fn encode(rec: &AuditRecord) -> Vec<u8> {
    serde_json::to_vec(rec).expect("audit records serialize")
}

fn row_key(tenant: &str, time_ms: u64, seq: u64) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[..ID_LEN].copy_from_slice(tenant.as_bytes());
    key[ID_LEN..ID_LEN + 8].copy_from_slice(&time_ms.to_be_bytes());
    key[ID_LEN + 8..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The least key above every key of `tenant`: the id with its last byte incremented (an ASCII hex
/// digit, so no carry).
fn tenant_end(tenant: &str) -> Vec<u8> {
    let mut end = tenant.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// Decodes a row of `tenant` and checks it against its key.
fn decode_row(tenant: &str, key: &[u8], value: &[u8]) -> Result<AuditRecord, Error> {
    let rec: AuditRecord =
        serde_json::from_slice(value).map_err(|_| Error::Corrupt("audit record"))?;
    if key.len() != KEY_LEN || rec.tenant != tenant || rec.key() != key {
        return Err(Error::Corrupt("audit record does not match its key"));
    }
    Ok(rec)
}

/// Cursor: base64url (no padding) of version ‖ order (0 oldest first, 1 newest first) ‖ the
/// 48-byte key of the last row examined.
fn encode_cursor(newest_first: bool, key: &[u8; KEY_LEN]) -> String {
    let mut raw = Vec::with_capacity(2 + KEY_LEN);
    raw.extend_from_slice(&[CURSOR_VERSION, u8::from(newest_first)]);
    raw.extend_from_slice(key);
    B64URL.encode(raw)
}

/// The position a cursor of [`AuditLog::query`] continues after: the (`time_ms`, `seq`) of the
/// last row that query examined; `None` when `cursor` does not decode. A caller may hand out the
/// position instead of the cursor and rebuild the cursor with [`cursor_after`].
pub fn cursor_position(cursor: &str) -> Option<(u64, u64)> {
    if cursor.len() > 67 {
        return None;
    }
    let raw = B64URL.decode(cursor).ok()?;
    let (_, key) = raw.split_at_checked(2)?;
    let key: [u8; KEY_LEN] = key.try_into().ok()?;
    let number = |range: std::ops::Range<usize>| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&key[range]);
        u64::from_be_bytes(bytes)
    };
    Some((number(ID_LEN..ID_LEN + 8), number(ID_LEN + 8..KEY_LEN)))
}

/// The cursor that continues a query of `tenant`'s records (in `newest_first` order) after the
/// position (`time_ms`, `seq`): what [`AuditPage::next_cursor`] holds when that row was the last
/// one examined. Any position is valid, whether or not a record is there.
///
/// # Errors
///
/// [`Error::InvalidInput`] for a tenant that is not a 32-character lowercase hex id.
pub fn cursor_after(
    tenant: &str,
    newest_first: bool,
    time_ms: u64,
    seq: u64,
) -> Result<String, Error> {
    check_tenant(tenant)?;
    Ok(encode_cursor(newest_first, &row_key(tenant, time_ms, seq)))
}

fn decode_cursor(cursor: &str, tenant: &str, newest_first: bool) -> Result<[u8; KEY_LEN], Error> {
    const MALFORMED: Error = Error::InvalidInput("cursor is malformed");
    // 50 bytes encode to 67 characters; refuse anything longer before decoding it.
    if cursor.len() > 67 {
        return Err(MALFORMED);
    }
    let raw = B64URL.decode(cursor).map_err(|_| MALFORMED)?;
    let (header, key) = raw.split_at_checked(2).ok_or(MALFORMED)?;
    let key: [u8; KEY_LEN] = key.try_into().map_err(|_| MALFORMED)?;
    if header[0] != CURSOR_VERSION || header[1] > 1 {
        return Err(MALFORMED);
    }
    if header[1] != u8::from(newest_first) {
        return Err(Error::InvalidInput("cursor is for the other order"));
    }
    if &key[..ID_LEN] != tenant.as_bytes() {
        return Err(Error::InvalidInput("cursor belongs to another tenant"));
    }
    Ok(key)
}

fn check_tenant(tenant: &str) -> Result<(), Error> {
    if is_id(tenant) {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "tenant must be a 32-character lowercase hex id",
        ))
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_id(s: &str) -> bool {
    is_lower_hex(s, ID_LEN)
}

fn is_action(s: &str) -> bool {
    (1..=ACTION_MAX_BYTES).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

fn is_actor(s: &str) -> bool {
    (1..=ACTOR_MAX_BYTES).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(cut);
    }
}
