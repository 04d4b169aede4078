//! [`FileMasterKey`]: a master key stored as 32 raw bytes in a file readable by its owner only.
//!
//! Role: load the master key from a mounted secret, or create a development key on first start.
//! What it must not do: accept a file other users can read, accept a file of the wrong size,
//! overwrite an existing file, or put key bytes into an error, a log line or `Debug`.
//!
//! Main type: [`FileMasterKey`].

use super::{master_data_key, MasterKey};
use crate::envelope::{fill_random, Binding, DataKey};
use crate::Error;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// Size of a master key file: exactly one raw AES-256 key.
const KEY_FILE_LEN: u64 = 32;
/// Mode for files we create: read and write for the owner only.
const KEY_FILE_MODE: u32 = 0o600;
/// Permission bits that must be clear: any group or other access.
const GROUP_OTHER_BITS: u32 = 0o077;

/// A master key read from a file of exactly 32 raw bytes with mode 0600 (or stricter).
///
/// The key id is the first 4 bytes (big-endian u32) of SHA-256(`"bunkerd master key id v1"` ‖
/// key): a key check value, not secret. Debug shows the path and key id only; key bytes are
/// zeroized on drop.
pub struct FileMasterKey {
    key: DataKey,
    path: PathBuf,
    created: bool,
}

impl FileMasterKey {
    /// Loads the key at `path`, or creates it if the file does not exist.
    ///
    /// Creation writes 32 bytes from the OS CSPRNG to a new file with mode 0600 (never replacing
    /// an existing file, even one that appears concurrently), fsyncs the file and its directory,
    /// creates missing parent directories, and logs a warning that a development master key was
    /// generated: production should mount a key file from a secret store.
    ///
    /// # Errors
    ///
    /// [`Error::MasterKeyFile`] if the file cannot be created, written or synced, or (when it
    /// exists) for every reason listed on [`FileMasterKey::load`].
    ///
    /// # Panics
    ///
    /// If the OS random number generator fails.
    ///
    /// # Security
    ///
    /// A created key is only as safe as the disk it sits on; it is meant for development.
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        match create(path) {
            Ok(bytes) => Ok(Self::new(path, *bytes, true)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(file_error(path, format!("cannot create: {e}"))),
        }
    }

    /// Loads the key at `path` without ever creating it.
    ///
    /// # Errors
    ///
    /// [`Error::MasterKeyFile`] when the file is missing or unreadable, is not a regular file,
    /// allows any group or other access (`mode & 0o077 != 0`, e.g. "permissions 0644, expected
    /// 0600"), or is not exactly 32 bytes long. The reason never contains key bytes.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let mut file =
            File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
        // Checks use the opened handle (fstat), so the file cannot be swapped between the check
        // and the read.
        let meta = file
            .metadata()
            .map_err(|e| file_error(path, format!("cannot stat: {e}")))?;
        check_metadata(path, &meta)?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        file.read_exact(bytes.as_mut())
            .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
        Ok(Self::new(path, *bytes, false))
    }

    /// Whether this call created the file (a development key) rather than loading one.
    pub fn created(&self) -> bool {
        self.created
    }

    fn new(path: &Path, bytes: [u8; 32], created: bool) -> Self {
        FileMasterKey {
            key: master_data_key(bytes),
            path: path.to_path_buf(),
            created,
        }
    }
}

impl MasterKey for FileMasterKey {
    fn key_id(&self) -> u32 {
        self.key.id()
    }

    fn seal(&self, plaintext: &[u8], binding: &Binding<'_>) -> Result<Vec<u8>, Error> {
        Ok(self.key.seal(plaintext, binding))
    }

    fn open(&self, sealed: &[u8], binding: &Binding<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.key.open(sealed, binding)
    }
}

impl ZeroizeOnDrop for FileMasterKey {}

impl std::fmt::Debug for FileMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMasterKey")
            .field("path", &self.path)
            .field("key_id", &format_args!("{:#010x}", self.key.id()))
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
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
    if meta.len() != KEY_FILE_LEN {
        let reason = format!("length {} bytes, expected {KEY_FILE_LEN}", meta.len());
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
    tracing::warn!(
        path = %path.display(),
        "generated a DEVELOPMENT master key at {}; production deployments should mount a key \
         file from a secret store instead",
        path.display()
    );
    Ok(bytes)
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
