//! [`RocksStore`]: the production [`Store`] on RocksDB. The only file that imports `rocksdb`.
//!
//! Role: map [`Cf`] to RocksDB column families, [`Batch`] to a `WriteBatch` (atomic, across
//! column families) and [`Durability::Sync`] to a synced write-ahead log.
//! What it must not do: leak RocksDB types past this file, or take laptop-hostile memory (the
//! options below keep caches and write buffers small).
//!
//! Main type: [`RocksStore`].

use crate::Error;
use crate::{Batch, Cf, Durability, Op, Order, RecordVisitor, Store};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType,
    DBWithThreadMode, Options, ReadOptions, SingleThreaded, WriteBatch, WriteOptions,
};
use std::path::{Path, PathBuf};

/// Block cache shared by all column families. The data set (tenants, users, sealed keys) is
/// small; 8 MiB keeps hot blocks in memory without a large footprint.
const BLOCK_CACHE_BYTES: usize = 8 << 20;
/// Memtable size per column family before a flush; RocksDB's default (64 MiB) times nine
/// column families would be far too much for a laptop.
const WRITE_BUFFER_BYTES: usize = 4 << 20;
/// Cap on all memtables together.
const DB_WRITE_BUFFER_BYTES: usize = 32 << 20;
/// WAL size that forces flushing old memtables, so rarely written column families do not keep
/// the write-ahead log growing.
const MAX_TOTAL_WAL_BYTES: u64 = 64 << 20;
/// Background flush and compaction jobs; two is plenty for this write rate. RocksDB gives a quarter
/// of them (at least one) to flushes and the rest to compactions: one of each.
const BACKGROUND_JOBS: i32 = 2;
/// Threads in RocksDB's flush pool (its `HIGH` priority pool), as RocksDB derives it from
/// [`BACKGROUND_JOBS`] (`max_background_jobs / 4`, at least 1);
/// [`RocksStore::start_background_threads`] starts them, so an open finds enough and starts none.
const FLUSH_THREADS: i32 = if BACKGROUND_JOBS / 4 > 1 {
    BACKGROUND_JOBS / 4
} else {
    1
};
/// Threads in RocksDB's compaction pool (`LOW`): the rest of [`BACKGROUND_JOBS`], at least 1.
const COMPACTION_THREADS: i32 = if BACKGROUND_JOBS - FLUSH_THREADS > 1 {
    BACKGROUND_JOBS - FLUSH_THREADS
} else {
    1
};
/// RocksDB info-log files kept in the data directory.
const KEEP_LOG_FILES: usize = 3;

// `SingleThreaded` is named explicitly (not the `DB` alias) so a feature enabled elsewhere in
// the dependency graph cannot change the type. Column families are only created at open, so
// the single-threaded mode's `&mut self` create_cf is never needed; reads and writes are `&self`
// and thread-safe.
type Db = DBWithThreadMode<SingleThreaded>;

/// A RocksDB database with one column family per [`Cf`].
pub struct RocksStore {
    db: Db,
    path: PathBuf,
}

impl RocksStore {
    /// Opens the database in `dir`, creating the directory and every column family if missing.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the directory cannot be created, the database is locked by another
    /// process, its files are corrupt, or it holds column families this build does not know.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Engine(format!("cannot create {}: {e}", dir.display())))?;
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let families = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), family_options(&cache)));
        let db =
            Db::open_cf_descriptors(&db_options(&cache), dir, families).map_err(store_error)?;
        Ok(RocksStore {
            db,
            path: dir.to_path_buf(),
        })
    }

    /// Starts RocksDB's background threads — one for flushes, one for compactions — from a
    /// short-lived helper thread that first runs `setup`, so that they inherit the scheduling policy
    /// `setup` gives the helper (a new thread inherits its creator's policy and priority:
    /// pthread_create(3), sched(7)). bunkerd passes a function that puts the helper under
    /// SCHED_IDLE, so flushing memtables and compacting (tens of milliseconds of CPU each; under the
    /// fairness benchmark's ≈ 480 requests/s a flush every ≈ 20 s and a compaction every fourth,
    /// mostly for the audit log) run in the CPU time request handling leaves instead of delaying it
    /// (docs/perf-notes.md).
    ///
    /// Process-wide: the pools belong to RocksDB's default environment, which every database in the
    /// process shares, and they only grow. Call it before the first [`RocksStore::open`]: an open
    /// that finds the threads it needs reuses them, while one that runs first starts them under the
    /// opening thread's own policy, and this call then changes nothing.
    ///
    /// Hazard, for a caller that lowers the priority: on a host kept busy by other work the
    /// background threads get a small share of a core, memtables fill, and RocksDB then stalls
    /// writers (writes wait; none is lost) until a flush completes — a stalled writer frees its
    /// core for that flush.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if the helper thread cannot be created or panics.
    pub fn start_background_threads(setup: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        std::thread::Builder::new()
            .name("rocksdb-starter".into())
            .spawn(move || {
                setup();
                // `Env::new` is RocksDB's default environment, the one `Options` uses.
                let mut env = rocksdb::Env::new().map_err(store_error)?;
                env.set_high_priority_background_threads(FLUSH_THREADS);
                env.set_low_priority_background_threads(COMPACTION_THREADS);
                Ok(())
            })
            .map_err(|e| Error::Engine(format!("cannot start RocksDB's background threads: {e}")))?
            .join()
            .map_err(|_| Error::Engine("starting RocksDB's background threads panicked".into()))?
    }

    fn handle(&self, cf: Cf) -> Result<&ColumnFamily, Error> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| Error::Engine(format!("column family {} is not open", cf.name())))
    }

    fn to_write_batch(&self, batch: Batch) -> Result<WriteBatch, Error> {
        let mut out = WriteBatch::default();
        for op in batch.into_ops() {
            match op {
                Op::Put { cf, key, value } => out.put_cf(self.handle(cf)?, key, value),
                Op::Delete { cf, key } => out.delete_cf(self.handle(cf)?, key),
            }
        }
        Ok(out)
    }
}

impl Store for RocksStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.db.get_cf(self.handle(cf)?, key).map_err(store_error)
    }

    fn approximate_size_bytes(&self, cf: Cf) -> Option<u64> {
        let handle = self.handle(cf).ok()?;
        let property = |name: &str| {
            self.db
                .property_int_value_cf(handle, name)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        Some(property("rocksdb.total-sst-files-size") + property("rocksdb.size-all-mem-tables"))
    }

    fn write(&self, batch: Batch, durability: Durability) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch = self.to_write_batch(batch)?;
        let mut options = WriteOptions::default();
        options.set_sync(durability == Durability::Sync);
        self.db.write_opt(batch, &options).map_err(store_error)
    }

    fn scan_prefix(
        &self,
        cf: Cf,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        let mut iter = self.db.raw_iterator_cf(self.handle(cf)?);
        iter.seek(prefix);
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if !key.starts_with(prefix) || !visit(key, value) {
                return Ok(());
            }
            iter.next();
        }
        // The iterator stops either at the end or on an error; only `status` tells which.
        iter.status().map_err(store_error)
    }

    /// The bounds go into `ReadOptions` (lower inclusive, upper exclusive), so RocksDB itself
    /// stops at them and skips the deletion tombstones beyond them instead of stepping through
    /// them. With an upper bound set, `seek_to_last`
    /// positions on the greatest key below it (RocksDB `ReadOptions::iterate_upper_bound`).
    fn export(&self, visit: &mut RecordVisitor<'_>) -> Result<(), Error> {
        // One snapshot for every column family: a consistent cut across them, while writers go on.
        let snapshot = self.db.snapshot();
        for cf in Cf::ALL {
            let mut options = ReadOptions::default();
            options.set_snapshot(&snapshot);
            // A full scan: keep what it reads out of the block cache that serves requests.
            options.fill_cache(false);
            let mut iter = self.db.raw_iterator_cf_opt(self.handle(cf)?, options);
            iter.seek_to_first();
            while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
                visit(cf, key, value)?;
                iter.next();
            }
            iter.status().map_err(store_error)?;
        }
        Ok(())
    }

    fn scan_range_in(
        &self,
        cf: Cf,
        start: &[u8],
        end: &[u8],
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        let descending = order == Order::Descending;
        if start >= end {
            // RocksDB requires lower bound <= upper bound; an empty range needs no iterator.
            return Ok(());
        }
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(start);
        options.set_iterate_upper_bound(end);
        let mut iter = self.db.raw_iterator_cf_opt(self.handle(cf)?, options);
        if descending {
            iter.seek_to_last();
        } else {
            iter.seek(start);
        }
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            if !visit(key, value) {
                return Ok(());
            }
            if descending {
                iter.prev();
            } else {
                iter.next();
            }
        }
        iter.status().map_err(store_error)
    }
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn db_options(cache: &Cache) -> Options {
    let mut options = family_options(cache);
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_db_write_buffer_size(DB_WRITE_BUFFER_BYTES);
    options.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
    options.set_max_background_jobs(BACKGROUND_JOBS);
    options.set_keep_log_file_num(KEEP_LOG_FILES);
    options
}

fn family_options(cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    options.set_write_buffer_size(WRITE_BUFFER_BYTES);
    options.set_compression_type(DBCompressionType::Lz4);
    options
}

fn store_error(error: rocksdb::Error) -> Error {
    Error::Engine(error.into_string())
}
