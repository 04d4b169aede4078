//! [`PgStore`]: the [`Store`] on PostgreSQL, for operators who keep their data in a replicated
//! PostgreSQL rather than on one machine's disk. The only file that speaks SQL.
//!
//! Role: map every [`Cf`] to rows of one table, `records (cf, key, value)` (the schema is
//! `pg/migrations/`, applied at open by refinery under an advisory lock, so nodes starting
//! together migrate once), a [`Batch`] to one statement (atomic: deletes and upserts in one
//! `WITH … INSERT … ON CONFLICT`), [`Durability::Sync`] to a commit with `synchronous_commit = on`
//! (flushed to the primary's WAL, and to synchronous standbys when the server names any),
//! [`Durability::Buffered`] to the same one statement turning `synchronous_commit` off for its
//! own transaction (`async_commit!`: one round trip, not a four-statement transaction), and
//! scans to pages of [`SCAN_PAGE`] rows read without holding a connection while the visitor runs.
//! The `postgres` client blocks on a runtime of its own, which panics on a thread that drives a
//! tokio runtime; every call goes through [`blocking`], so the store may be used from any thread.
//! What it must not do: put keys or values in error text (PostgreSQL's `DETAIL` can quote them;
//! only the message and SQLSTATE are kept), put the connection URL's password anywhere, or wait
//! without a bound (connect, pool checkout, statement and TCP timeouts below).
//!
//! Main types: [`PgStore`], [`PgOptions`].

use crate::Error;
use crate::{Batch, Cf, Durability, LockMode, Op, Order, RecordVisitor, Store, StoreLock};
use postgres::types::Type;
use r2d2_postgres::PostgresConnectionManager;
use std::collections::HashMap;
use std::ops::Bound;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Rows fetched per query of a scan: the visitor runs between pages with no connection held, so
/// it may call back into the store.
const SCAN_PAGE: i64 = 256;
/// Rows fetched per round trip of [`Store::export`] (inside its one snapshot transaction).
const EXPORT_PAGE: i32 = 1024;
/// Times a write is retried when PostgreSQL aborts it for a deadlock or serialization failure
/// (SQLSTATE `40P01`, `40001`); it was not applied, so a retry cannot apply it twice.
const WRITE_RETRIES: usize = 5;
/// A one-row relation whose evaluation turns `synchronous_commit` off until the end of the
/// current transaction (`set_config(…, is_local => true)`, the function form of `SET LOCAL`). A
/// statement sent alone commits on its own as it ends, with the setting still in force, so
/// joining this relation makes that commit asynchronous; the session's own setting is back at the
/// next statement. See <https://www.postgresql.org/docs/current/functions-admin.html> (`set_config`)
/// and <https://www.postgresql.org/docs/current/wal-async-commit.html>. A macro, for `concat!`.
macro_rules! async_commit {
    () => {
        "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
    };
}
/// The [`Store::lock`] key that serializes migrations across nodes starting together.
const MIGRATION_LOCK: &[u8] = b"schema migrations";
/// The key of the advisory lock a [`PgOptions::sole_process`] store holds: `"bunkerd1"`.
const SOLE_PROCESS_LOCK: i64 = 0x6275_6e6b_6572_6431;

mod embedded {
    #![allow(unreachable_pub, missing_docs)]
    refinery::embed_migrations!("src/pg/migrations");
}

type Manager = PostgresConnectionManager<MakeRustlsConnect>;
/// One page of a scan: (key, value) rows.
type Page = Vec<(Vec<u8>, Vec<u8>)>;
/// One page of an export: (column family, key, value) rows.
type ExportPage = Vec<(Cf, Vec<u8>, Vec<u8>)>;
type Pool = r2d2::Pool<Manager>;

/// How [`PgStore::connect`] connects and how long anything may wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections in the pool (at most this many queries run at once). Default 16.
    pub pool_size: u32,
    /// The longest a new connection may take (TCP, TLS and authentication), and the longest a
    /// caller waits for a pooled connection. Default 5 s.
    pub connect_timeout: Duration,
    /// The longest one statement may run on the server (`statement_timeout`), and, as
    /// `tcp_user_timeout`, the longest sent data may stay unacknowledged before the connection is
    /// dropped. Default 10 s.
    pub statement_timeout: Duration,
    /// Hold a session-level advisory lock for as long as the store lives, and refuse to connect
    /// while another process holds it: one serving process per database. Default `false`.
    pub sole_process: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            sole_process: false,
        }
    }
}

/// Runs `f`, which blocks on the `postgres` crate's own runtime, where blocking is allowed. That
/// crate panics when called on a thread that is driving a tokio runtime, and [`Store`] is a
/// blocking API that async callers may use: on a multi-threaded runtime's thread `f` runs under
/// [`tokio::task::block_in_place`] (the worker hands its other tasks on), on a current-thread
/// runtime's thread it runs on a scoped thread of its own, and anywhere else it runs in place.
pub(crate) fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => f(),
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        Ok(_) => std::thread::scope(|scope| {
            scope
                .spawn(f)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
    }
}

/// A value whose drop closes connections, which blocks on the `postgres` crate's runtime: dropped
/// through [`blocking`], so that a store may be dropped on any thread.
struct DropBlocking<T: Send>(Option<T>);

impl<T: Send> std::ops::Deref for DropBlocking<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("taken only by drop")
    }
}

impl<T: Send> Drop for DropBlocking<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            blocking(move || drop(value));
        }
    }
}

/// A PostgreSQL database holding every column family in one table, `records`.
pub struct PgStore {
    pool: DropBlocking<Pool>,
    /// Sessions that hold [`Store::lock`]s, apart from `pool` so that a lock holder's own reads
    /// and writes always find a connection.
    locks: DropBlocking<Pool>,
    /// The connection holding [`SOLE_PROCESS_LOCK`] when [`PgOptions::sole_process`] asked for it.
    _sole: DropBlocking<Option<std::sync::Mutex<postgres::Client>>>,
    /// `host:port/dbname`, for messages (never the user or password).
    target: String,
}

impl PgStore {
    /// Connects to the database at `url` (a libpq URL or key-value string:
    /// `postgres://user:password@host:port/dbname?sslmode=require`), checks that it answers, and
    /// applies the schema migrations this build knows (`pg/migrations/`) that it lacks.
    ///
    /// TLS is used when the server offers it (`sslmode=prefer`, the default) or required
    /// (`sslmode=require`); the server's certificate is verified against the system's roots. Each
    /// session sets `synchronous_commit = on`, `statement_timeout` and `application_name =
    /// bunkerd`; several hosts may be listed, with `target_session_attrs=read-write` to find the
    /// primary.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the URL does not parse, no connection succeeds within
    /// `options.connect_timeout`, or a migration fails (its text names the database, never the
    /// password).
    pub fn connect(url: &str, options: &PgOptions) -> Result<PgStore, Error> {
        PgStore::connect_as(url, None, options)
    }

    /// [`PgStore::connect`] with `password` (when given) in place of the URL's: for a password
    /// kept in a file rather than in the URL.
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect`].
    pub fn connect_as(
        url: &str,
        password: Option<&str>,
        options: &PgOptions,
    ) -> Result<PgStore, Error> {
        blocking(|| PgStore::connect_here(url, password, options))
    }

    fn connect_here(
        url: &str,
        password: Option<&str>,
        options: &PgOptions,
    ) -> Result<PgStore, Error> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| Error::Engine(format!("the PostgreSQL URL does not parse: {e}")))?;
        if let Some(password) = password {
            config.password(password);
        }
        let target = describe(&config);
        let statement_ms = options.statement_timeout.as_millis();
        config
            .connect_timeout(options.connect_timeout)
            .tcp_user_timeout(options.statement_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("bunkerd")
            .options(&format!(
                "-c synchronous_commit=on -c statement_timeout={statement_ms}"
            ));
        let sole = if options.sole_process {
            Some(std::sync::Mutex::new(sole_process_lock(&config, &target)?))
        } else {
            None
        };
        let build = |min_idle| {
            r2d2::Pool::builder()
                .max_size(options.pool_size)
                .min_idle(Some(min_idle))
                .connection_timeout(options.connect_timeout)
                .build(PostgresConnectionManager::new(config.clone(), tls()?))
                .map_err(|e| {
                    Error::Unavailable(format!("cannot connect to PostgreSQL at {target}: {e}"))
                })
        };
        let pool = build(1)?;
        let locks = build(0)?;
        let store = PgStore {
            pool: DropBlocking(Some(pool)),
            locks: DropBlocking(Some(locks)),
            _sole: DropBlocking(Some(sole)),
            target,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Checks that `url` parses as a PostgreSQL connection URL, without connecting.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] saying what does not parse (the parser's words, which do not repeat the
    /// password).
    pub fn check_url(url: &str) -> Result<(), Error> {
        url.parse::<postgres::Config>()
            .map(drop)
            .map_err(|e| Error::Engine(format!("the PostgreSQL URL does not parse: {e}")))
    }

    /// The schema version applied (the highest migration number), for logs and tests.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the database does not answer.
    pub fn schema_version(&self) -> Result<i32, Error> {
        let row = blocking(|| {
            self.conn()?
                .query_one("SELECT max(version) FROM refinery_schema_history", &[])
                .map_err(|e| self.error("reading the schema version", e))
        })?;
        row.try_get::<_, Option<i32>>(0)
            .map_err(|e| self.error("reading the schema version", e))
            .map(|v| v.unwrap_or(0))
    }

    /// Applies the missing migrations under [`MIGRATION_LOCK`], so nodes starting together
    /// migrate once.
    fn migrate(&self) -> Result<(), Error> {
        let _migrating = self.lock(MIGRATION_LOCK, LockMode::Exclusive)?;
        embedded::migrations::runner()
            .run(&mut *self.conn()?)
            .map(drop)
            .map_err(|e| Error::Engine(format!("migrating {}: {e}", self.target)))
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>, Error> {
        self.pool.get().map_err(|e| {
            Error::Unavailable(format!(
                "no connection to PostgreSQL at {}: {e}",
                self.target
            ))
        })
    }

    fn error(&self, doing: &str, e: postgres::Error) -> Error {
        let text = format!("{doing} on {}: {}", self.target, safe_text(&e));
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            // The connection broke (or never worked): the server, not the request, is the problem.
            Error::Unavailable(text)
        } else {
            Error::Engine(text)
        }
    }

    /// One page of `cf` within the bounds, in `order`.
    fn page(
        &self,
        cf: Cf,
        low: Bound<&[u8]>,
        high: Bound<&[u8]>,
        order: Order,
    ) -> Result<Page, Error> {
        let mut sql = String::from("SELECT key, value FROM records WHERE cf = $1");
        let name = cf.name();
        let mut keys: Vec<&[u8]> = Vec::with_capacity(2);
        for (bound, [inclusive, exclusive]) in [(low, [">=", ">"]), (high, ["<=", "<"])] {
            let (key, op) = match bound {
                Bound::Included(key) => (key, inclusive),
                Bound::Excluded(key) => (key, exclusive),
                Bound::Unbounded => continue,
            };
            keys.push(key);
            sql.push_str(&format!(" AND key {op} ${}", keys.len() + 1));
        }
        let mut params: Vec<(&(dyn postgres::types::ToSql + Sync), Type)> =
            vec![(&name, Type::TEXT)];
        params.extend(keys.iter().map(|key| (key as _, Type::BYTEA)));
        sql.push_str(match order {
            Order::Ascending => " ORDER BY key ASC",
            Order::Descending => " ORDER BY key DESC",
        });
        sql.push_str(&format!(" LIMIT {SCAN_PAGE}"));
        let rows = blocking(|| {
            self.conn()?
                .query_typed(&sql, &params)
                .map_err(|e| self.error("scanning", e))
        })?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(|e| self.error("reading a scanned row", e))
    }

    /// Visits `cf` between the bounds in `order`, page by page, until `visit` says stop.
    fn scan(
        &self,
        cf: Cf,
        low: Bound<&[u8]>,
        high: Bound<&[u8]>,
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        let mut resume: Option<Vec<u8>> = None;
        loop {
            let (low, high) = match (&resume, order) {
                (None, _) => (low, high),
                (Some(last), Order::Ascending) => (Bound::Excluded(last.as_slice()), high),
                (Some(last), Order::Descending) => (low, Bound::Excluded(last.as_slice())),
            };
            let rows = self.page(cf, low, high, order)?;
            let full = rows.len() as i64 == SCAN_PAGE;
            for (key, value) in &rows {
                if !visit(key, value) {
                    return Ok(());
                }
            }
            match rows.into_iter().next_back() {
                Some((key, _)) if full => resume = Some(key),
                _ => return Ok(()),
            }
        }
    }

    /// The reading half of [`Store::export`]: sends the pages in order and returns when done,
    /// or early (without error) when the receiver hung up.
    fn export_pages(&self, sender: &std::sync::mpsc::SyncSender<ExportPage>) -> Result<(), Error> {
        let mut conn = self.conn()?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| self.error("starting the export", e))?;
        for cf in Cf::ALL {
            let name = cf.name();
            let portal = tx
                .bind(
                    "SELECT key, value FROM records WHERE cf = $1 ORDER BY key",
                    &[&name],
                )
                .map_err(|e| self.error("exporting", e))?;
            loop {
                let rows = tx
                    .query_portal(&portal, EXPORT_PAGE)
                    .map_err(|e| self.error("exporting", e))?;
                if rows.is_empty() {
                    break;
                }
                let page = rows
                    .iter()
                    .map(|row| Ok((cf, row.try_get(0)?, row.try_get(1)?)))
                    .collect::<Result<_, postgres::Error>>()
                    .map_err(|e| self.error("exporting", e))?;
                if sender.send(page).is_err() {
                    return Ok(());
                }
            }
        }
        tx.commit().map_err(|e| self.error("ending the export", e))
    }

    fn write_once(
        conn: &mut postgres::Client,
        ops: &Collapsed<'_>,
        durability: Durability,
    ) -> Result<(), postgres::Error> {
        macro_rules! upsert {
            ($($joined:expr, )?) => {
                concat!(
                    "WITH gone AS (DELETE FROM records r \
                     USING unnest($1::text[], $2::bytea[]) AS d(cf, key) \
                     WHERE r.cf = d.cf AND r.key = d.key) \
                     INSERT INTO records (cf, key, value) SELECT p.* FROM ",
                    $($joined, ", ",)?
                    "unnest($3::text[], $4::bytea[], $5::bytea[]) AS p \
                     ON CONFLICT (cf, key) DO UPDATE SET value = EXCLUDED.value"
                )
            };
        }
        const SYNC: &str = upsert!();
        // A batch of deletes alone joins no row, so PostgreSQL may skip `async_commit!` and
        // commit synchronously: more durable than asked, never less.
        const BUFFERED: &str = upsert!(async_commit!(),);
        let params: [(&(dyn postgres::types::ToSql + Sync), Type); 5] = [
            (&ops.delete_cfs, Type::TEXT_ARRAY),
            (&ops.delete_keys, Type::BYTEA_ARRAY),
            (&ops.put_cfs, Type::TEXT_ARRAY),
            (&ops.put_keys, Type::BYTEA_ARRAY),
            (&ops.put_values, Type::BYTEA_ARRAY),
        ];
        // One statement outside a transaction block commits on its own: under the session's
        // `synchronous_commit = on` (durable before `query_typed` returns), or off for it alone.
        let statement = match durability {
            Durability::Sync => SYNC,
            Durability::Buffered => BUFFERED,
        };
        conn.query_typed(statement, &params).map(drop)
    }
}

/// A batch reduced to the last operation on each key, sorted by (column family, key) so that
/// concurrent writers lock rows in one order.
#[derive(Default)]
struct Collapsed<'a> {
    delete_cfs: Vec<&'static str>,
    delete_keys: Vec<&'a [u8]>,
    put_cfs: Vec<&'static str>,
    put_keys: Vec<&'a [u8]>,
    put_values: Vec<&'a [u8]>,
}

impl<'a> Collapsed<'a> {
    fn new(ops: &'a [Op]) -> Self {
        let mut last: HashMap<(&'static str, &'a [u8]), Option<&'a [u8]>> = HashMap::new();
        for op in ops {
            match op {
                Op::Put { cf, key, value } => last.insert((cf.name(), key), Some(value)),
                Op::Delete { cf, key } => last.insert((cf.name(), key), None),
            };
        }
        let mut last: Vec<_> = last.into_iter().collect();
        last.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Collapsed::default();
        for ((cf, key), value) in last {
            match value {
                Some(value) => {
                    out.put_cfs.push(cf);
                    out.put_keys.push(key);
                    out.put_values.push(value);
                }
                None => {
                    out.delete_cfs.push(cf);
                    out.delete_keys.push(key);
                }
            }
        }
        out
    }
}

impl Store for PgStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let name = cf.name();
        let row = blocking(|| {
            self.conn()?
                .query_typed_opt(
                    "SELECT value FROM records WHERE cf = $1 AND key = $2",
                    &[(&name, Type::TEXT), (&key, Type::BYTEA)],
                )
                .map_err(|e| self.error("reading", e))
        })?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(|e| self.error("reading a row", e))
    }

    fn write(&self, batch: Batch, durability: Durability) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let ops = batch.into_ops();
        let collapsed = Collapsed::new(&ops);
        blocking(|| {
            let mut attempt = 0;
            loop {
                let mut conn = self.conn()?;
                match PgStore::write_once(&mut conn, &collapsed, durability) {
                    Ok(()) => return Ok(()),
                    Err(e) if retryable(&e) && attempt < WRITE_RETRIES => attempt += 1,
                    Err(e) => return Err(self.error("writing", e)),
                }
            }
        })
    }

    /// One `INSERT … ON CONFLICT DO NOTHING`: the primary key decides between concurrent
    /// callers, whichever process they run in. [`Durability::Buffered`] commits with
    /// `synchronous_commit = off` (a crash of the database may forget the row; it is visible to
    /// every session at once either way).
    fn insert_new(
        &self,
        cf: Cf,
        key: &[u8],
        value: &[u8],
        durability: Durability,
    ) -> Result<bool, Error> {
        const SYNC: &str = "INSERT INTO records (cf, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (cf, key) DO NOTHING";
        const BUFFERED: &str = concat!(
            "INSERT INTO records (cf, key, value) SELECT $1, $2, $3 FROM ",
            async_commit!(),
            " ON CONFLICT (cf, key) DO NOTHING"
        );
        let name = cf.name();
        let params: [(&(dyn postgres::types::ToSql + Sync), Type); 3] = [
            (&name, Type::TEXT),
            (&key, Type::BYTEA),
            (&value, Type::BYTEA),
        ];
        blocking(|| {
            let statement = match durability {
                Durability::Sync => SYNC,
                Durability::Buffered => BUFFERED,
            };
            self.conn()?
                .execute_typed(statement, &params)
                .map(|rows| rows == 1)
                .map_err(|e| self.error("writing", e))
        })
    }

    /// One `REPEATABLE READ` read-only transaction over every column family: one snapshot, read
    /// `EXPORT_PAGE` (1,024) rows per round trip through a portal by a thread of its own that holds one
    /// pooled connection for the whole export, while `visit` runs on the caller's thread (so it
    /// need not be `Send`, and may call back into the store).
    fn export(&self, visit: &mut RecordVisitor<'_>) -> Result<(), Error> {
        let (sender, pages) = std::sync::mpsc::sync_channel::<ExportPage>(1);
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || self.export_pages(&sender));
            let mut visited = Ok(());
            'pages: for page in pages.iter() {
                for (cf, key, value) in &page {
                    visited = visit(*cf, key, value);
                    if visited.is_err() {
                        break 'pages;
                    }
                }
            }
            // Hanging up stops the reader at its next page.
            drop(pages);
            let read = reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            visited.and(read)
        })
    }

    /// A session-level advisory lock (`pg_advisory_lock`, or `pg_advisory_lock_shared`) on the
    /// first 8 bytes of SHA-256 of `key`, held by a session of a pool of its own. The wait is
    /// bounded by the statement timeout; a node that dies closes its sessions, which releases
    /// their locks.
    fn lock(&self, key: &[u8], mode: LockMode) -> Result<StoreLock, Error> {
        let id = lock_id(key);
        let take = match mode {
            LockMode::Shared => "SELECT pg_advisory_lock_shared($1)",
            LockMode::Exclusive => "SELECT pg_advisory_lock($1)",
        };
        blocking(|| {
            let mut conn = self.locks.get().map_err(|e| {
                Error::Unavailable(format!(
                    "no connection to PostgreSQL at {}: {e}",
                    self.target
                ))
            })?;
            conn.execute(take, &[&id])
                .map_err(|e| self.error("taking a lock", e))?;
            Ok(StoreLock::held(Box::new(PgLock {
                conn: Some(conn),
                id,
                mode,
            })))
        })
    }

    fn scan_prefix(
        &self,
        cf: Cf,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        let end = prefix_end(prefix);
        let high = match &end {
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        self.scan(cf, Bound::Included(prefix), high, Order::Ascending, visit)
    }

    fn scan_range_in(
        &self,
        cf: Cf,
        start: &[u8],
        end: &[u8],
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        if start >= end {
            return Ok(());
        }
        self.scan(
            cf,
            Bound::Included(start),
            Bound::Excluded(end),
            order,
            visit,
        )
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// The least key above every key starting with `prefix`, or `None` when there is none (an empty
/// prefix, or one of only `0xff` bytes).
/// A held advisory lock: the pooled session that holds it, unlocked and handed back on drop.
struct PgLock {
    conn: Option<r2d2::PooledConnection<Manager>>,
    id: i64,
    mode: LockMode,
}

impl Drop for PgLock {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let release = match self.mode {
            LockMode::Shared => "SELECT pg_advisory_unlock_shared($1)",
            LockMode::Exclusive => "SELECT pg_advisory_unlock($1)",
        };
        let id = self.id;
        blocking(move || {
            if conn.execute(release, &[&id]).is_err() {
                // Never hand back a session that may still hold the lock. A session this broken
                // is usually closed already (the pool then discards it), which released it.
                let _ = conn.batch_execute("SELECT pg_advisory_unlock_all()");
            }
        });
    }
}

/// The advisory-lock id of `key`: SHA-256's first 8 bytes, big-endian.
fn lock_id(key: &[u8]) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key);
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The least key above every key that starts with `prefix` (`None`: no such bound, the prefix is
/// empty or all `0xff`).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A connection of its own holding [`SOLE_PROCESS_LOCK`] (released when it closes, also when this
/// process dies).
fn sole_process_lock(config: &postgres::Config, target: &str) -> Result<postgres::Client, Error> {
    let failed = |e: postgres::Error| {
        Error::Unavailable(format!(
            "cannot connect to PostgreSQL at {target}: {}",
            safe_text(&e)
        ))
    };
    let mut client = config.connect(tls()?).map_err(failed)?;
    let held: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&SOLE_PROCESS_LOCK])
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    if !held {
        return Err(Error::Engine(format!(
            "another bunkerd process is using the database at {target}"
        )));
    }
    Ok(client)
}

/// `host:port/dbname` of a config, for messages: never the user or password.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = config.get_ports().get(i).or(config.get_ports().first());
            format!("{host}:{}", port.copied().unwrap_or(5432))
        })
        .collect();
    format!(
        "{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("(default database)")
    )
}

/// A PostgreSQL error as text without what could quote a record: for a server error, its message
/// and SQLSTATE but not its `DETAIL` or `WHERE`.
fn safe_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// The TLS connector: rustls with the system's roots, used when the server offers TLS or the URL
/// requires it.
fn tls() -> Result<MakeRustlsConnect, Error> {
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Engine(format!("TLS for PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
