//! Where the signer shell gets its [`Crypto`]: one per thread, on the operating system's CSPRNG.
//!
//! The protocol core (`proto`) takes randomness and the blinded secp256k1 context as an argument;
//! this is the one place that supplies the real ones. A thread-local handle needs no lock on the
//! hot path, and each thread's context is blinded with its own value.
//!
//! Must not: be entered again from inside [`with`] (the handle is borrowed mutably for the call).

use proto::nostr::Crypto;
use std::cell::RefCell;

thread_local! {
    static CRYPTO: RefCell<Crypto> = RefCell::new(Crypto::from_os_rng());
}

/// Runs `f` with this thread's handle.
///
/// # Panics
///
/// If called again from inside `f`, or if the operating system has no randomness at all.
pub fn with<R>(f: impl FnOnce(&mut Crypto) -> R) -> R {
    CRYPTO.with_borrow_mut(f)
}
