//! The secp256k1 context: one per thread, blinded at creation and re-blinded every
//! [`RESEED_EVERY`] secret-key operations.
//!
//! Why an explicit context instead of the crate's global one: libsecp256k1 uses the context's
//! random blinding value to mask the secret scalar during the fixed-base multiplication behind key
//! derivation and signing (`secp256k1_context_randomize`). The global context is never randomized
//! unless the `rand` feature is on, and a single shared blinding value would be observed across
//! every tenant's keys. A thread-local context needs no lock on the hot path, and refreshing the
//! blinding every 1024 secret operations bounds how many traces an attacker can collect under one
//! blinding value while keeping the refresh cheap: measured at ≈ 24 µs (≈ 1.5 signatures), it adds
//! ≈ 25 ns per signature (≈ 0.15 %) when spread over 1024, against +24 µs per signature (2.5× the
//! cost) for secp256k1 0.33's re-randomize-after-every-operation policy (benches/README.md).
//!
//! Must not: be reentered from inside [`with_ctx`] by a secret operation (the refresh needs a
//! mutable borrow); hold any key material. Main items: [`with_ctx`], [`with_secret_ctx`].

use std::cell::RefCell;

use secp256k1::{All, Secp256k1};
use zeroize::Zeroize;

use super::rng;

/// Number of secret-key operations (key derivation, signing) between two blinding refreshes.
pub(crate) const RESEED_EVERY: u32 = 1024;

/// A context plus the count of secret operations done since its last blinding refresh.
struct Blinded {
    secp: Secp256k1<All>,
    secret_ops: u32,
}

impl Blinded {
    fn new() -> Self {
        let mut this = Blinded {
            secp: Secp256k1::new(),
            secret_ops: 0,
        };
        this.reseed();
        this
    }

    fn reseed(&mut self) {
        let mut seed: [u8; 32] = rng::array();
        self.secp.seeded_randomize(&seed);
        seed.zeroize();
        self.secret_ops = 0;
    }
}

thread_local! {
    static CTX: RefCell<Blinded> = RefCell::new(Blinded::new());
}

/// Runs `f` with this thread's context, for public-key-only work (verification, parsing).
pub(crate) fn with_ctx<R>(f: impl FnOnce(&Secp256k1<All>) -> R) -> R {
    CTX.with(|c| f(&c.borrow().secp))
}

/// Counts one secret-key operation (refreshing the blinding when due), then runs `f` like
/// [`with_ctx`]. Use for anything that multiplies the generator by a secret scalar.
pub(crate) fn with_secret_ctx<R>(f: impl FnOnce(&Secp256k1<All>) -> R) -> R {
    note_secret_op();
    with_ctx(f)
}

fn note_secret_op() {
    CTX.with(|c| {
        let mut blinded = c.borrow_mut();
        blinded.secret_ops += 1;
        if blinded.secret_ops >= RESEED_EVERY {
            blinded.reseed();
        }
    });
}

/// Secret operations counted on this thread since the last refresh (for tests of the schedule).
#[cfg(test)]
pub(crate) fn secret_ops_since_reseed() -> u32 {
    CTX.with(|c| c.borrow().secret_ops)
}
