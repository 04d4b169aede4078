//! [`Crypto`]: the randomness and the blinded secp256k1 context every secret operation takes as an
//! argument, so the protocol core holds no hidden state and the same inputs under a seeded
//! [`Entropy`] give the same outputs.
//!
//! Why an explicit, blinded context instead of the crate's global one: libsecp256k1 uses the
//! context's random blinding value to mask the secret scalar during the fixed-base multiplication
//! behind key derivation and signing (`secp256k1_context_randomize`). The global context is never
//! randomized, and one shared blinding value would be observed across every tenant's keys. The
//! shell keeps one `Crypto` per signer thread (no lock on the hot path); refreshing the blinding
//! every [`RESEED_EVERY`] secret operations bounds how many traces an attacker can collect under
//! one blinding value while keeping the refresh cheap (≈ 24 µs, spread over 1024 signatures:
//! benches/README.md).
//!
//! Must not: hold any key material; fall back to a weaker source of randomness (the caller's
//! [`Entropy`] is the only one).

use secp256k1::{All, Secp256k1};
use zeroize::Zeroize;

/// Number of secret-key operations (key derivation, signing) between two blinding refreshes.
pub const RESEED_EVERY: u32 = 1024;

/// A source of cryptographically secure random bytes: keys, nonces, IVs, BIP-340 aux data and
/// context blinding all come from it. Any `rand_core` CSPRNG is one (the OS generator in the
/// shell, a seeded ChaCha20 in tests).
pub trait Entropy {
    /// Fills `buf` with random bytes.
    ///
    /// # Panics
    ///
    /// May panic when no randomness can be had at all (continuing would risk repeated nonces or
    /// predictable keys).
    fn fill(&mut self, buf: &mut [u8]);
}

impl<R: rand_core::CryptoRng + ?Sized> Entropy for R {
    fn fill(&mut self, buf: &mut [u8]) {
        self.fill_bytes(buf);
    }
}

/// Randomness plus a blinded secp256k1 context. Redacted `Debug`.
pub struct Crypto {
    secp: Secp256k1<All>,
    secret_ops: u32,
    entropy: Box<dyn Entropy + Send>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto").finish_non_exhaustive()
    }
}

impl Crypto {
    /// A context blinded from `entropy`, which then supplies every random byte this handle gives.
    pub fn new(entropy: impl Entropy + Send + 'static) -> Self {
        let mut this = Crypto {
            secp: Secp256k1::new(),
            secret_ops: 0,
            entropy: Box::new(entropy),
        };
        this.reseed();
        this
    }

    /// A handle on the operating system's CSPRNG (`getrandom`): what production code and tests
    /// that need fresh keys use. The core itself never calls this: its callers choose.
    ///
    /// # Panics
    ///
    /// When used, if the operating system has no randomness at all.
    pub fn from_os_rng() -> Self {
        Crypto::new(rand_core::UnwrapErr(rand_core::OsRng))
    }

    /// `N` fresh random bytes. Callers holding secrets in the result must zeroize it.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.entropy.fill(&mut out);
        out
    }

    /// Counts one secret-key operation (refreshing the blinding when due) and returns the context
    /// for it. Use for anything that multiplies the generator by a secret scalar.
    pub(crate) fn secret_ctx(&mut self) -> &Secp256k1<All> {
        self.secret_ops += 1;
        if self.secret_ops >= RESEED_EVERY {
            self.reseed();
        }
        &self.secp
    }

    fn reseed(&mut self) {
        let mut seed: [u8; 32] = self.array();
        self.secp.seeded_randomize(&seed);
        seed.zeroize();
        self.secret_ops = 0;
    }

    /// Secret operations counted since the last refresh (for tests of the schedule).
    #[cfg(test)]
    pub(crate) fn secret_ops_since_reseed(&self) -> u32 {
        self.secret_ops
    }
}
