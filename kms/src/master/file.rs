//! [`FileMasterKey`]: the master key in a file readable by its owner only — one raw 32-byte
//! key (version 1), or a keyring file of several versions ([`super::Keyring`]'s text form).
//!
//! Role: load the master key from a mounted secret; create a development key only when asked
//! (the server asks only for an empty store); rotate and retire by rewriting the file as a
//! keyring, atomically (temporary file, fsync, rename, fsync of the directory).
//! What it must not do: accept a file other users can read, overwrite a file it did not read,
//! or put key bytes into an error, a log line or `Debug`.
//!
//! Main type: [`FileMasterKey`].

use super::{Keyring, MasterKey, MasterKeyInfo, MemMasterKey, Wrapped};
use crate::envelope::fill_random;
use crate::Error;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use zeroize::Zeroizing;

/// Size of a single-key file: exactly one raw AES-256 key.
const KEY_FILE_LEN: u64 = 32;
/// Largest keyring file read: far above any real number of versions (each line is ~75 bytes).
const MAX_KEYRING_LEN: u64 = 1 << 20;
/// Mode for files we create: read and write for the owner only.
const KEY_FILE_MODE: u32 = 0o600;
/// Permission bits that must be clear: any group or other access.
const GROUP_OTHER_BITS: u32 = 0o077;

/// A master key read from a file with mode 0600 (or stricter): either exactly 32 raw bytes
/// (version 1) or a keyring text file holding numbered versions (the highest is current).
///
/// Each version's key id is the first 4 bytes (big-endian u32) of
/// SHA-256(`"bunkerd master key id v1"` ‖ key): a key check value, not secret. Debug shows the
/// path, versions and key ids only; key bytes are zeroized on drop.
pub struct FileMasterKey {
    /// What the file held when last read or written.
    keyring: MemMasterKey,
    path: PathBuf,
    /// Serialises rewrites of the file (rotate, retire).
    rewrite: Mutex<()>,
}

impl FileMasterKey {
    /// Creates a new single-key file at `path` (32 bytes from the OS CSPRNG, mode 0600, never
    /// replacing an existing file, even one that appears concurrently), fsyncs the file and its
    /// directory, creates missing parent directories, and logs a warning that a development
    /// master key was generated: production should mount a key file from a secret store.
    ///
    /// # Errors
    ///
    /// [`Error::MasterKeyFile`] if the file exists or cannot be created, written or synced.
    ///
    /// # Panics
    ///
    /// If the OS random number generator fails.
    pub fn create(path: &Path) -> Result<Self, Error> {
        let bytes = create(path).map_err(|e| file_error(path, format!("cannot create: {e}")))?;
        tracing::warn!(
            path = %path.display(),
            "generated a DEVELOPMENT master key at {}; production deployments should mount a \
             key file from a secret store, or use a KMS or HSM (master_key)",
            path.display()
        );
        Ok(Self::new(path, Keyring::single(*bytes)))
    }

    /// Loads the key or keyring at `path` without ever creating it.
    ///
    /// # Errors
    ///
    /// [`Error::MasterKeyFile`] when the file is missing or unreadable, is not a regular file,
    /// allows any group or other access (`mode & 0o077 != 0`, e.g. "permissions 0644, expected
    /// 0600"), or is neither 32 bytes long nor a valid keyring (the reason names the line). The
    /// reason never contains key bytes.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Ok(Self::new(path, read_keyring(path)?))
    }

    fn new(path: &Path, keyring: Keyring) -> Self {
        FileMasterKey {
            keyring: MemMasterKey::from_keyring(keyring),
            path: path.to_path_buf(),
            rewrite: Mutex::new(()),
        }
    }

    /// Re-reads the file, applies `change` and writes the result atomically; memory changes only
    /// once the file is durable.
    fn change<T>(&self, change: impl FnOnce(&mut Keyring) -> Result<T, Error>) -> Result<T, Error> {
        let _rewrite = self.rewrite.lock().unwrap_or_else(PoisonError::into_inner);
        // The file, not memory, is the truth: another process (an operator's edit) may have
        // changed it, and a rewrite must not drop what it added.
        let mut keyring = read_keyring(&self.path)?;
        let out = change(&mut keyring)?;
        replace_durably(&self.path, keyring.to_text().as_bytes())
            .map_err(|e| file_error(&self.path, format!("cannot rewrite: {e}")))?;
        self.keyring.replace(keyring);
        Ok(out)
    }
}

impl MasterKey for FileMasterKey {
    fn info(&self) -> MasterKeyInfo {
        MasterKeyInfo {
            provider: "file",
            key: String::new(),
        }
    }

    fn current_version(&self) -> Result<u32, Error> {
        self.keyring.current_version()
    }

    fn versions(&self) -> Result<Vec<u32>, Error> {
        self.keyring.versions()
    }

    fn wrap(&self, plaintext: &[u8], context: &[u8]) -> Result<Wrapped, Error> {
        self.keyring.wrap(plaintext, context)
    }

    fn unwrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.keyring.unwrap(wrapped, context)
    }

    fn rotate(&self) -> Result<u32, Error> {
        self.change(|keyring| Ok(keyring.add_random()))
    }

    fn retire(&self, keep_from: u32) -> Result<Vec<u32>, Error> {
        self.change(|keyring| keyring.retire(keep_from))
    }
}

impl std::fmt::Debug for FileMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMasterKey")
            .field("path", &self.path)
            .field("versions", &*self.keyring.read())
            .finish_non_exhaustive()
    }
}

/// Reads a single-key or keyring file, checking it through the opened handle (fstat), so the
/// file cannot be swapped between the check and the read.
fn read_keyring(path: &Path) -> Result<Keyring, Error> {
    let mut file = File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| file_error(path, format!("cannot stat: {e}")))?;
    check_metadata(path, &meta)?;
    if meta.len() == KEY_FILE_LEN {
        let mut bytes = Zeroizing::new([0u8; 32]);
        file.read_exact(bytes.as_mut())
            .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
        return Ok(Keyring::single(*bytes));
    }
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEYRING_LEN)
        .read_to_string(&mut text)
        .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    Keyring::parse(&text).map_err(|reason| {
        file_error(
            path,
            format!("neither a 32-byte key nor a keyring file: {reason}"),
        )
    })
}

/// Refuses anything but a regular, owner-only file of exactly 32 bytes.
fn check_metadata(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    if !meta.is_file() {
        return Err(file_error(path, "not a regular file".into()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        let reason = format!("permissions {mode:04o}, expected {KEY_FILE_MODE:04o}");
        return Err(file_error(path, reason));
    }
    if meta.len() > MAX_KEYRING_LEN {
        let reason = format!("length {} bytes, at most {MAX_KEYRING_LEN}", meta.len());
        return Err(file_error(path, reason));
    }
    Ok(())
}

/// Creates a new key file; fails with `AlreadyExists` if one is there.
fn create(path: &Path) -> std::io::Result<Zeroizing<[u8; 32]>> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(path)?;
    let mut bytes = Zeroizing::new([0u8; 32]);
    fill_random(bytes.as_mut());
    if let Err(e) = write_durably(&mut file, bytes.as_ref(), dir) {
        // A partial file would be refused on every later start; remove it so a retry can work.
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(bytes)
}

/// Replaces `path` with `content` atomically: a new 0600 file beside it, fsynced, renamed over
/// it, and the directory fsynced, so a crash leaves the old file or the new one, never a mix.
fn replace_durably(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = parent_dir(path);
    let mut suffix = [0u8; 8];
    fill_random(&mut suffix);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.{:016x}.tmp",
        name.unwrap_or_default(),
        u64::from_be_bytes(suffix)
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(&tmp)?;
    let written = file
        .write_all(content)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

/// Writes and fsyncs the file, then fsyncs its directory so the new name survives a crash.
fn write_durably(file: &mut File, bytes: &[u8], dir: &Path) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()?;
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn file_error(path: &Path, reason: String) -> Error {
    Error::MasterKeyFile {
        path: path.to_path_buf(),
        reason,
    }
}
