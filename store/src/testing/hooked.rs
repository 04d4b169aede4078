//! [`Hooked`]: a [`Store`] that forwards every call to a real engine, calling a test's hooks on
//! the way, to record, hold back or fail what a component under test does to its store.
//!
//! Must not: change what the engine does beyond what a hook asks (every method, `insert_new` and
//! `lock` included, reaches the engine's own implementation).

use crate::{Batch, Cf, Durability, Error, LockMode, Order, RecordVisitor, Store, StoreLock};

type WriteHook = Box<dyn Fn(&Batch, Durability) -> Result<(), Error> + Send + Sync>;
type AfterWriteHook = Box<dyn Fn() + Send + Sync>;
type GetHook = Box<dyn Fn(Cf, &[u8]) + Send + Sync>;
type LockHook = Box<dyn Fn(&[u8], LockMode) + Send + Sync>;

/// `inner` with hooks: [`Hooked::before_write`] (sees each batch and its durability before the
/// engine does; may block; an `Err` fails the write with that error, applying nothing),
/// [`Hooked::after_write`] (after a write the engine applied), [`Hooked::after_get`] (after each
/// read, before its value returns) and [`Hooked::before_lock`] (before each [`Store::lock`]).
/// Every other call goes straight to `inner`.
pub struct Hooked<S> {
    inner: S,
    before_write: Option<WriteHook>,
    after_write: Option<AfterWriteHook>,
    after_get: Option<GetHook>,
    before_lock: Option<LockHook>,
}

impl<S: Store> Hooked<S> {
    /// `inner`, with no hook yet.
    pub fn new(inner: S) -> Hooked<S> {
        Hooked {
            inner,
            before_write: None,
            after_write: None,
            after_get: None,
            before_lock: None,
        }
    }

    /// Calls `hook` before each write; its `Err` fails the write unapplied.
    pub fn before_write(
        mut self,
        hook: impl Fn(&Batch, Durability) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        self.before_write = Some(Box::new(hook));
        self
    }

    /// Calls `hook` after each write the engine applied.
    pub fn after_write(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.after_write = Some(Box::new(hook));
        self
    }

    /// Calls `hook` after each [`Store::get`] read its value, before it is returned.
    pub fn after_get(mut self, hook: impl Fn(Cf, &[u8]) + Send + Sync + 'static) -> Self {
        self.after_get = Some(Box::new(hook));
        self
    }

    /// Calls `hook` before each [`Store::lock`].
    pub fn before_lock(mut self, hook: impl Fn(&[u8], LockMode) + Send + Sync + 'static) -> Self {
        self.before_lock = Some(Box::new(hook));
        self
    }
}

impl<S: Store> Store for Hooked<S> {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let value = self.inner.get(cf, key)?;
        if let Some(hook) = &self.after_get {
            hook(cf, key);
        }
        Ok(value)
    }

    fn write(&self, batch: Batch, durability: Durability) -> Result<(), Error> {
        if let Some(hook) = &self.before_write {
            hook(&batch, durability)?;
        }
        self.inner.write(batch, durability)?;
        if let Some(hook) = &self.after_write {
            hook();
        }
        Ok(())
    }

    fn lock(&self, key: &[u8], mode: LockMode) -> Result<StoreLock, Error> {
        if let Some(hook) = &self.before_lock {
            hook(key, mode);
        }
        self.inner.lock(key, mode)
    }

    fn insert_new(
        &self,
        cf: Cf,
        key: &[u8],
        value: &[u8],
        durability: Durability,
    ) -> Result<bool, Error> {
        self.inner.insert_new(cf, key, value, durability)
    }

    fn approximate_size_bytes(&self, cf: Cf) -> Option<u64> {
        self.inner.approximate_size_bytes(cf)
    }

    fn export(&self, visit: &mut RecordVisitor<'_>) -> Result<(), Error> {
        self.inner.export(visit)
    }

    fn scan_prefix(
        &self,
        cf: Cf,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        self.inner.scan_prefix(cf, prefix, visit)
    }

    fn scan_range_in(
        &self,
        cf: Cf,
        start: &[u8],
        end: &[u8],
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        self.inner.scan_range_in(cf, start, end, order, visit)
    }
}
