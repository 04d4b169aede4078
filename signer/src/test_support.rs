//! Test doubles shared by the signer's unit tests: [`hooked`], an in-memory store whose writes
//! first go through a test-supplied hook (to record them, hold them back, or fail them).

use store::testing::Hooked;
use store::{Batch, Durability, MemStore};

/// An in-memory store with a write hook ([`hooked`]).
pub(crate) type HookedStore = Hooked<MemStore>;

/// An empty [`MemStore`] that calls `hook` before each write: the hook sees the batch and
/// durability, may block, and returning `Err` makes the write fail with that error, applying
/// nothing.
pub(crate) fn hooked(
    hook: impl Fn(&Batch, Durability) -> Result<(), store::Error> + Send + Sync + 'static,
) -> HookedStore {
    Hooked::new(MemStore::new()).before_write(hook)
}
