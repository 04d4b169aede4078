//! [`MemStore`]: the in-memory [`Store`], for tests and single-process experiments.
//!
//! Role: behave exactly like [`crate::RocksStore`] (same conformance tests) without touching
//! disk. What it must not do: hold its lock while calling a scan visitor (the visitor may call
//! back into the store), or persist anything.
//!
//! Main type: [`MemStore`].

use crate::Error;
use crate::{Batch, Cf, Durability, Op, Order, RecordVisitor, Store};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Entries copied out per lock acquisition during a scan: bounds both memory and the time the
/// lock is held, while keeping each chunk a consistent snapshot.
const SCAN_CHUNK: usize = 64;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory store: one ordered map per column family behind one mutex, so a batch that
/// spans column families is applied atomically. [`Durability`] is ignored (nothing is durable).
#[derive(Default)]
pub struct MemStore {
    maps: Mutex<[Map; Cf::ALL.len()]>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, [Map; Cf::ALL.len()]> {
        // No code that can panic runs under this lock (visitors run outside it), so a poisoned
        // lock still guards consistent maps.
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Up to `SCAN_CHUNK` entries of `cf` with `prefix`, starting at `from`.
    fn chunk(&self, cf: Cf, prefix: &[u8], from: Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let maps = self.lock();
        maps[cf.index()]
            .range((from, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(SCAN_CHUNK)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// Up to `SCAN_CHUNK` entries of `cf` inside `(low, high)`, ascending or descending.
    /// The caller guarantees a non-empty, well-ordered pair of bounds (`BTreeMap::range` panics
    /// on `start > end`).
    fn range_chunk(
        &self,
        cf: Cf,
        low: Bound<&[u8]>,
        high: Bound<&[u8]>,
        descending: bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let maps = self.lock();
        let range = maps[cf.index()].range::<[u8], _>((low, high));
        let copy = |(key, value): (&Vec<u8>, &Vec<u8>)| (key.clone(), value.clone());
        if descending {
            range.rev().take(SCAN_CHUNK).map(copy).collect()
        } else {
            range.take(SCAN_CHUNK).map(copy).collect()
        }
    }
}

impl std::fmt::Debug for MemStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Entry counts only: dumping every record would flood logs.
        let entries: usize = self.lock().iter().map(BTreeMap::len).sum();
        f.debug_struct("MemStore")
            .field("entries", &entries)
            .finish()
    }
}

impl Store for MemStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.lock()[cf.index()].get(key).cloned())
    }

    fn write(&self, batch: Batch, _durability: Durability) -> Result<(), Error> {
        let mut maps = self.lock();
        for op in batch.into_ops() {
            match op {
                Op::Put { cf, key, value } => maps[cf.index()].insert(key, value),
                Op::Delete { cf, key } => maps[cf.index()].remove(&key),
            };
        }
        Ok(())
    }

    fn export(&self, visit: &mut RecordVisitor<'_>) -> Result<(), Error> {
        // A copy taken under the lock is the point in time (this engine is for tests and tools).
        let maps = self.lock().clone();
        for cf in Cf::ALL {
            for (key, value) in &maps[cf.index()] {
                visit(cf, key, value)?;
            }
        }
        Ok(())
    }

    fn scan_prefix(
        &self,
        cf: Cf,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        let mut from = Bound::Included(prefix.to_vec());
        loop {
            let chunk = self.chunk(cf, prefix, from);
            let full = chunk.len() == SCAN_CHUNK;
            let mut last = None;
            for (key, value) in chunk {
                if !visit(&key, &value) {
                    return Ok(());
                }
                last = Some(key);
            }
            match last {
                Some(key) if full => from = Bound::Excluded(key),
                _ => return Ok(()),
            }
        }
    }

    /// Walks `[start, end)` chunk by chunk, moving the lower (ascending) or upper (descending)
    /// bound past the last key visited.
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
            return Ok(());
        }
        let mut resume: Option<Vec<u8>> = None;
        loop {
            let (low, high) = match (&resume, descending) {
                (None, _) => (Bound::Included(start), Bound::Excluded(end)),
                (Some(last), false) => (Bound::Excluded(last.as_slice()), Bound::Excluded(end)),
                (Some(last), true) => (Bound::Included(start), Bound::Excluded(last.as_slice())),
            };
            let chunk = self.range_chunk(cf, low, high, descending);
            let full = chunk.len() == SCAN_CHUNK;
            let mut last = None;
            for (key, value) in chunk {
                if !visit(&key, &value) {
                    return Ok(());
                }
                last = Some(key);
            }
            match last {
                // `last` lies strictly inside `[start, end)`, so the next bounds stay ordered.
                Some(key) if full => resume = Some(key),
                _ => return Ok(()),
            }
        }
    }
}
