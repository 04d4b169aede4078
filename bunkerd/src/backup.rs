//! Backups: create one while serving, verify a file, restore one onto an empty data directory.
//!
//! Role: `create` writes a point-in-time copy of the store ([`store::Store::export`]) into the
//! backup directory (a temporary file, synced, then renamed: a file under its final name is
//! whole); [`verify_file`] loads a file into memory and opens every sealed key with the
//! configured master key ([`signer::backup::verify_store`]); [`restore`] verifies first, then
//! writes the records into a new RocksDB and verifies that again from disk.
//! Must not: write a secret into a backup (the store holds only sealed material; the master key
//! is never in a backup), overwrite a data directory that holds a store, or print key material.
//!
//! Main items: `create`, [`verify_file`], [`restore`], `Created`.

use crate::config::Config;
use crate::Error;
use kms::Vault;
use signer::backup::{verify_store, VerifyReport};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::backup::{read_backup, BackupSummary, BackupWriter};
use store::{Batch, Durability, MemStore, Store};

/// What a verified backup holds: the file's summary and what opening it found.
pub type Checked = (BackupSummary, VerifyReport);

/// Records per batch while restoring.
const RESTORE_BATCH: usize = 1_000;

/// A backup just written.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    /// The file.
    pub(crate) path: PathBuf,
    /// Provider of the master key wrapping its data keys.
    pub(crate) master_key_provider: &'static str,
    /// The master key's name in the provider.
    pub(crate) master_key: String,
    /// The master key versions that wrap it (a restore needs each).
    pub(crate) master_key_versions: Vec<u32>,
    /// Counts, size and digest.
    pub(crate) summary: BackupSummary,
}

/// Writes a backup of `store` into `dir` (created, mode 0700, if missing) as
/// `bunkerd-<unix seconds>-<8 hex>.backup`, mode 0600. Its header names the master key and the
/// versions that wrap the store: a restore needs them.
///
/// # Errors
///
/// [`Error::Io`] when the directory or file cannot be written or synced; [`Error::Kms`] /
/// [`Error::Store`] when the master key status or the export fails (the partial file is removed).
pub(crate) fn create(
    store: &dyn Store,
    vault: &Vault,
    dir: &Path,
    now: u64,
) -> Result<Created, Error> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |context: String| move |source| Error::Io { context, source };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))?;
    let status = vault.master_status()?;
    let versions: Vec<u32> = status.wrapped_by_version.keys().copied().collect();
    let header = serde_json::json!({
        "format": 1,
        "created_at": now,
        "bunkerd": env!("CARGO_PKG_VERSION"),
        "master_key": {
            "provider": status.info.provider,
            "key": status.info.key,
            "wrapping_versions": versions,
        },
    });
    let mut tag = [0u8; 4];
    getrandom::fill(&mut tag).map_err(|e| Error::Io {
        context: "naming the backup".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let name = format!("bunkerd-{now}-{}.backup", hex::encode(tag));
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.partial"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io(format!("creating {}", partial.display())))?;
    let written = BackupWriter::new(BufWriter::new(file), header.to_string().as_bytes())
        .and_then(|writer| writer.store(store));
    let (out, summary) = match written {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
    };
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io(format!("writing {}", partial.display())))?;
    file.sync_all()
        .map_err(io(format!("syncing {}", partial.display())))?;
    std::fs::rename(&partial, &path).map_err(io(format!("renaming to {}", path.display())))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))?;
    Ok(Created {
        path,
        summary,
        master_key_provider: status.info.provider,
        master_key: status.info.key,
        master_key_versions: versions,
    })
}

/// Reads `file` into an in-memory store (checking its framing and SHA-256).
fn load(file: &Path) -> Result<(Arc<dyn Store>, BackupSummary), Error> {
    let input = std::fs::File::open(file).map_err(|source| Error::Io {
        context: format!("opening {}", file.display()),
        source,
    })?;
    let memory = MemStore::new();
    let summary = read_backup(BufReader::new(input), &mut |cf, key, value| {
        let mut batch = Batch::new();
        batch.put(cf, key.to_vec(), value.to_vec());
        memory.write(batch, Durability::Buffered)
    })?;
    Ok((Arc::new(memory), summary))
}

/// Verifies a backup file: its framing and SHA-256, then the configured master key's self-test
/// over it and every user's two secret keys opened. Writes nothing.
///
/// # Errors
///
/// [`Error::Io`] / [`Error::Store`] for an unreadable or damaged file; [`Error::MasterKey`] when
/// the configured master key does not open it (named as at start-up); [`Error::Kms`] when the
/// provider cannot be reached. Users whose keys fail are in the report, not an error.
pub fn verify_file(config: &Config, file: &Path) -> Result<Checked, Error> {
    let (memory, summary) = load(file)?;
    let master = crate::custody::master_key(config, memory.as_ref())?;
    let report =
        verify_store(memory, master).map_err(|e| crate::custody::self_test_error(config, e))?;
    Ok((summary, report))
}

/// Restores a backup onto the configured store — RocksDB in `config.data_dir`, whose `db/` must
/// not exist yet or be empty, or the `store` PostgreSQL database, which must hold no record: the
/// file is verified in memory first (nothing is written when it fails), then its records are
/// written (the last batch synced), and the result is verified again from the store. The master key must be configured as `serve` will find it (with the default key file,
/// copy `master.key` into the data directory first).
///
/// # Errors
///
/// As [`verify_file`]; [`Error::Io`] (kind `AlreadyExists`) when the target holds a store;
/// [`Error::Store`] when writing fails. A backup with failing users is not restored: the report
/// comes back and nothing is written.
pub fn restore(config: &Config, file: &Path) -> Result<Checked, Error> {
    let occupied = || Error::Io {
        context: format!("restoring into {}", crate::storage::describe(config)),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "the target already holds a store; restore onto an empty one",
        ),
    };
    let db = config.data_dir.join("db");
    if config.store.is_none()
        && std::fs::read_dir(&db).is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(occupied());
    }
    let (memory, summary) = load(file)?;
    let master = crate::custody::master_key(config, memory.as_ref())?;
    let report = verify_store(memory.clone(), master.clone())
        .map_err(|e| crate::custody::self_test_error(config, e))?;
    if !report.sound() {
        return Ok((summary, report));
    }
    let target = crate::storage::open(config)?;
    if crate::storage::holds_records(target.as_ref())? {
        return Err(occupied());
    }
    let mut batch = Batch::new();
    let mut in_batch = 0;
    memory.export(&mut |cf, key, value| {
        batch.put(cf, key.to_vec(), value.to_vec());
        in_batch += 1;
        if in_batch == RESTORE_BATCH {
            in_batch = 0;
            target.write(std::mem::take(&mut batch), Durability::Buffered)?;
        }
        Ok(())
    })?;
    // A synced write syncs the write-ahead log, and with it every batch before it.
    target.write(batch, Durability::Sync)?;
    drop(target);
    let target = crate::storage::open(config)?;
    let report =
        verify_store(target, master).map_err(|e| crate::custody::self_test_error(config, e))?;
    Ok((summary, report))
}
