//! The backup file: every record of a store from one point in time ([`Store::export`]), framed
//! and checksummed, with a JSON header the caller chooses.
//!
//! Role: write ([`BackupWriter`]) and read ([`read_backup`]) the file; nothing else. The store
//! holds only sealed material (secrets are sealed by `kms` before they reach it), so the file
//! does too; opening what it holds is the caller's job, with the master key.
//! Must not: interpret keys or values, or trust a file: every length is bounded before anything
//! is allocated, and a file that is cut, extended or altered anywhere fails its SHA-256.
//!
//! Layout (integers big-endian):
//!
//! ```text
//! magic  "bunkerd-backup\n" 0x01                      16 bytes (the last byte is the format)
//! header u32 length ‖ JSON bytes                       at most MAX_HEADER_BYTES
//! record u8 family (1 + position in Cf::ALL) ‖ u32 key length ‖ key ‖ u32 value length ‖ value
//! ...
//! end    u8 0 ‖ u64 record count ‖ SHA-256 of every byte before it (32 bytes)
//! ```
//!
//! Main items: [`BackupWriter`], [`read_backup`], [`BackupSummary`].

use crate::{Cf, Error, RecordVisitor, Store};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// The file's first 16 bytes; the last is the format version.
pub const MAGIC: &[u8; 16] = b"bunkerd-backup\n\x01";
/// Largest header accepted, bytes.
pub const MAX_HEADER_BYTES: u32 = 64 << 10;
/// Largest key accepted, bytes.
pub const MAX_KEY_BYTES: u32 = 64 << 10;
/// Largest value accepted, bytes (the store's records are a few KiB at most).
pub const MAX_VALUE_BYTES: u32 = 16 << 20;

/// What [`BackupWriter::finish`] wrote and [`read_backup`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// The header, as written.
    pub header: Vec<u8>,
    /// Records per column family, in [`Cf::ALL`] order.
    pub records: [u64; Cf::ALL.len()],
    /// Bytes of the whole file.
    pub bytes: u64,
    /// SHA-256 of the file up to the digest, lowercase hex (64 characters).
    pub sha256: String,
}

impl BackupSummary {
    /// Records in all column families.
    pub fn total_records(&self) -> u64 {
        self.records.iter().sum()
    }
}

/// Writes a backup file to `out` (which the caller syncs and renames into place).
pub struct BackupWriter<W: Write> {
    out: W,
    hasher: Sha256,
    summary: BackupSummary,
}

impl<W: Write> BackupWriter<W> {
    /// Writes the magic and `header`.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] when `header` is over [`MAX_HEADER_BYTES`] or `out` fails.
    pub fn new(out: W, header: &[u8]) -> Result<Self, Error> {
        let length = u32::try_from(header.len())
            .ok()
            .filter(|n| *n <= MAX_HEADER_BYTES)
            .ok_or_else(|| Error::Engine("backup header too large".into()))?;
        let mut writer = BackupWriter {
            out,
            hasher: Sha256::new(),
            summary: BackupSummary {
                header: header.to_vec(),
                records: [0; Cf::ALL.len()],
                bytes: 0,
                sha256: String::new(),
            },
        };
        writer.put(MAGIC)?;
        writer.put(&length.to_be_bytes())?;
        writer.put(header)?;
        Ok(writer)
    }

    /// Appends one record.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] when the key or value is over its bound, or `out` fails.
    pub fn record(&mut self, cf: Cf, key: &[u8], value: &[u8]) -> Result<(), Error> {
        let key_len = bounded(key.len(), MAX_KEY_BYTES, "key")?;
        let value_len = bounded(value.len(), MAX_VALUE_BYTES, "value")?;
        let position = cf.index();
        self.put(&[position as u8 + 1])?;
        self.put(&key_len.to_be_bytes())?;
        self.put(key)?;
        self.put(&value_len.to_be_bytes())?;
        self.put(value)?;
        self.summary.records[position] += 1;
        Ok(())
    }

    /// Writes every record `store` exports (one point in time), then the end.
    ///
    /// # Errors
    ///
    /// As [`Store::export`] and [`BackupWriter::record`].
    pub fn store(mut self, store: &dyn Store) -> Result<(W, BackupSummary), Error> {
        store.export(&mut |cf, key, value| self.record(cf, key, value))?;
        self.finish()
    }

    /// Writes the end (count and digest), flushes, and gives back `out` with the summary.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] when `out` fails.
    pub fn finish(mut self) -> Result<(W, BackupSummary), Error> {
        let total = self.summary.total_records();
        self.put(&[0])?;
        self.put(&total.to_be_bytes())?;
        let digest = std::mem::take(&mut self.hasher).finalize();
        self.out.write_all(&digest).map_err(io_error)?;
        self.out.flush().map_err(io_error)?;
        self.summary.bytes += digest.len() as u64;
        self.summary.sha256 = hex(&digest);
        Ok((self.out, self.summary))
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.hasher.update(bytes);
        self.summary.bytes += bytes.len() as u64;
        self.out.write_all(bytes).map_err(io_error)
    }
}

/// Reads a backup file from `input`, handing each record to `visit`, then checks the end: the
/// record count and the SHA-256. Records reach `visit` before the digest is checked: a caller
/// that writes them somewhere must discard that on an error.
///
/// # Errors
///
/// [`Error::DamagedBackup`] naming what is wrong: not a backup file, another format version, a
/// length over its bound, an unknown column family, a cut file, bytes after the end, a count or
/// digest that does not match; [`Error::Engine`] when `input` fails to read; or `visit`'s error.
pub fn read_backup(
    input: impl Read,
    visit: &mut RecordVisitor<'_>,
) -> Result<BackupSummary, Error> {
    let mut reader = HashingReader {
        input,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut magic = [0u8; 16];
    reader.exact(&mut magic)?;
    if magic[..15] != MAGIC[..15] {
        return Err(corrupt("not a bunkerd backup file"));
    }
    if magic[15] != MAGIC[15] {
        return Err(corrupt(&format!(
            "backup format {} is not known",
            magic[15]
        )));
    }
    let header_len = reader.length(MAX_HEADER_BYTES, "header")?;
    let mut header = vec![0u8; header_len];
    reader.exact(&mut header)?;
    let mut records = [0u64; Cf::ALL.len()];
    let (mut key, mut value) = (Vec::new(), Vec::new());
    loop {
        let mut tag = [0u8; 1];
        reader.exact(&mut tag)?;
        if tag[0] == 0 {
            break;
        }
        let position = usize::from(tag[0] - 1);
        let cf = *Cf::ALL
            .get(position)
            .ok_or_else(|| corrupt("unknown column family"))?;
        key.resize(reader.length(MAX_KEY_BYTES, "key")?, 0);
        reader.exact(&mut key)?;
        value.resize(reader.length(MAX_VALUE_BYTES, "value")?, 0);
        reader.exact(&mut value)?;
        visit(cf, &key, &value)?;
        records[position] += 1;
    }
    let mut count = [0u8; 8];
    reader.exact(&mut count)?;
    let digest = std::mem::take(&mut reader.hasher).finalize();
    let mut stored = [0u8; 32];
    reader.input.read_exact(&mut stored).map_err(cut)?;
    if reader.input.read(&mut [0u8; 1]).map_err(io_error)? != 0 {
        return Err(corrupt("bytes after the end"));
    }
    if stored[..] != digest[..] {
        return Err(corrupt("SHA-256 does not match (altered or damaged)"));
    }
    if u64::from_be_bytes(count) != records.iter().sum::<u64>() {
        return Err(corrupt("record count does not match"));
    }
    Ok(BackupSummary {
        header,
        records,
        bytes: reader.bytes + 32,
        sha256: hex(&digest),
    })
}

struct HashingReader<R> {
    input: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.input.read_exact(buf).map_err(cut)?;
        self.hasher.update(&*buf);
        self.bytes += buf.len() as u64;
        Ok(())
    }

    fn length(&mut self, max: u32, what: &str) -> Result<usize, Error> {
        let mut raw = [0u8; 4];
        self.exact(&mut raw)?;
        let length = u32::from_be_bytes(raw);
        if length > max {
            return Err(corrupt(&format!("{what} length {length} over {max}")));
        }
        Ok(length as usize)
    }
}

fn bounded(length: usize, max: u32, what: &str) -> Result<u32, Error> {
    u32::try_from(length)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| Error::Engine(format!("backup: a {what} of {length} bytes is over {max}")))
}

fn corrupt(what: &str) -> Error {
    Error::DamagedBackup(what.to_owned())
}

fn cut(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        corrupt("cut short")
    } else {
        io_error(e)
    }
}

fn io_error(e: std::io::Error) -> Error {
    Error::Engine(format!("backup file: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, Durability, MemStore};

    fn sample() -> MemStore {
        let store = MemStore::new();
        let mut batch = Batch::new();
        batch.put(Cf::Meta, b"m".to_vec(), b"1".to_vec());
        batch.put(Cf::Users, b"u1".to_vec(), vec![7u8; 300]);
        batch.put(Cf::Users, b"u2".to_vec(), Vec::new());
        batch.put(Cf::Approvals, b"a".to_vec(), b"x".to_vec());
        store.write(batch, Durability::Sync).unwrap();
        store
    }

    fn written() -> (Vec<u8>, BackupSummary) {
        let writer = BackupWriter::new(Vec::new(), br#"{"k":1}"#).unwrap();
        writer.store(&sample()).unwrap()
    }

    #[test]
    fn a_store_round_trips_with_its_header_counts_and_digest() {
        let (file, summary) = written();
        assert_eq!(summary.bytes, file.len() as u64);
        assert_eq!(summary.total_records(), 4);
        assert_eq!(summary.records[Cf::Users.index()], 2);
        let copy = MemStore::new();
        let read = read_backup(file.as_slice(), &mut |cf, key, value| {
            let mut batch = Batch::new();
            batch.put(cf, key.to_vec(), value.to_vec());
            copy.write(batch, Durability::Buffered)
        })
        .unwrap();
        assert_eq!(read, summary);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        sample()
            .export(&mut |cf, k, v| {
                a.push((cf, k.to_vec(), v.to_vec()));
                Ok(())
            })
            .unwrap();
        copy.export(&mut |cf, k, v| {
            b.push((cf, k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn every_damage_is_refused_by_name() {
        let (file, _) = written();
        let read = |bytes: &[u8]| {
            read_backup(bytes, &mut |_, _, _| Ok(()))
                .unwrap_err()
                .to_string()
        };
        assert!(read(&file[..file.len() - 1]).contains("cut short"));
        assert!(read(&file[..40]).contains("cut short"));
        let mut longer = file.clone();
        longer.push(0);
        assert!(read(&longer).contains("bytes after the end"));
        for at in [30, file.len() / 2, file.len() - 40] {
            let mut flipped = file.clone();
            flipped[at] ^= 1;
            let e = read(&flipped);
            assert!(
                e.contains("SHA-256") || e.contains("length") || e.contains("column family"),
                "byte {at}: {e}"
            );
        }
        let mut other = file.clone();
        other[15] = 9;
        assert!(read(&other).contains("backup format 9 is not known"));
        assert!(read(b"SQLite format 3\0....").contains("not a bunkerd backup file"));
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read(&huge).contains("header length"));
    }
}
