//! Test doubles shared by the signer's unit tests: [`HookedStore`], an in-memory [`Store`] whose
//! writes first go through a test-supplied hook (to record them, hold them back, or fail them).

use store::{Batch, Cf, Durability, MemStore, Store};

/// The hook [`HookedStore`] calls before each write; an `Err` fails the write unapplied.
type WriteHook = Box<dyn Fn(&Batch, Durability) -> Result<(), store::Error> + Send + Sync>;

/// A [`MemStore`] that calls a hook before each write: the hook sees the batch and durability,
/// may block, and returning `Err` makes the write fail with that error, applying nothing. Every
/// other method goes straight to the [`MemStore`].
pub(crate) struct HookedStore {
    inner: MemStore,
    hook: WriteHook,
}

impl HookedStore {
    /// An empty store whose writes first call `hook`.
    pub(crate) fn new(
        hook: impl Fn(&Batch, Durability) -> Result<(), store::Error> + Send + Sync + 'static,
    ) -> HookedStore {
        HookedStore {
            inner: MemStore::new(),
            hook: Box::new(hook),
        }
    }
}

impl Store for HookedStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, store::Error> {
        self.inner.get(cf, key)
    }

    fn write(&self, batch: Batch, durability: Durability) -> Result<(), store::Error> {
        (self.hook)(&batch, durability)?;
        self.inner.write(batch, durability)
    }

    fn approximate_size_bytes(&self, cf: Cf) -> Option<u64> {
        self.inner.approximate_size_bytes(cf)
    }

    fn export(&self, visit: &mut store::RecordVisitor<'_>) -> Result<(), store::Error> {
        self.inner.export(visit)
    }

    fn scan_prefix(
        &self,
        cf: Cf,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), store::Error> {
        self.inner.scan_prefix(cf, prefix, visit)
    }

    fn scan_range_in(
        &self,
        cf: Cf,
        start: &[u8],
        end: &[u8],
        order: store::Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), store::Error> {
        self.inner.scan_range_in(cf, start, end, order, visit)
    }
}
