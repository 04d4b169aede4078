//! The raw secp256k1 0.31 primitives behind bunkerd's wrappers, called directly on one explicit
//! context: the fastest a well-kept binding can do, i.e. the floor.
//!
//! Role: time BIP-340 sign and verify, raw ECDH (+ the NIP-44 HKDF-extract) and context
//! re-randomization without any of bunkerd's wrapping (key re-validation, thread-local lookup,
//! OS randomness for `aux_rand`, secret copies and erasure), and emulate the three blinding
//! policies: never refreshed (0.31's static context), refreshed every 1024 secret operations
//! (bunkerd's `proto::nostr` context) and refreshed after every secret operation (secp256k1
//! 0.33's global context).
//!
//! Must not: be used for anything but measurement. The blinding seeds here come from a counter,
//! not the OS, so that only libsecp256k1's own cost is timed; production seeds come from
//! `getrandom` (see `proto/src/nostr/crypto.rs`).
//!
//! Main type: [`RawSecp`].

use hkdf::Hkdf;
use secp256k1::{schnorr, All, Keypair, Parity, Secp256k1, SecretKey, XOnlyPublicKey};
use sha2::Sha256;

use crate::Fixture;

/// bunkerd's refresh interval (secret operations between two blindings), as in
/// `proto/src/nostr/crypto.rs`.
pub const OUR_RESEED_EVERY: u32 = 1024;

/// One explicit `Secp256k1::new()` context plus the parsed keys of a [`Fixture`].
///
/// Holds the remote signer's secret as libsecp256k1 types, erased on drop (fixture keys are test
/// constants, but the habit is kept).
pub struct RawSecp {
    ctx: Secp256k1<All>,
    /// The remote signer's keypair (signs responses).
    signer: Keypair,
    signer_secret: SecretKey,
    /// The client's key, parsed once: as x-only (verify) and as the even-y point (ECDH).
    client_xonly: XOnlyPublicKey,
    client_point: secp256k1::PublicKey,
    /// Secret operations since the last blinding refresh.
    ops: u32,
    /// Blinding refreshes done, used as the (benchmark-only) seed.
    reseeds: u64,
}

impl RawSecp {
    /// Parses the fixture's remote-signer secret and client public key into libsecp256k1 types
    /// on a fresh explicit context (`Secp256k1::new()`, blinded once with a fixed seed).
    ///
    /// # Panics
    ///
    /// Never for a [`Fixture`] (its keys are valid by construction).
    pub fn new(fx: &Fixture) -> RawSecp {
        let mut ctx = Secp256k1::new();
        ctx.seeded_randomize(&[0x5a; 32]);
        let secret = fx.remote_signer.secret_key();
        let signer_secret =
            SecretKey::from_byte_array(*secret.expose_bytes()).expect("fixture key is valid");
        let signer = Keypair::from_secret_key(&ctx, &signer_secret);
        let client_xonly = XOnlyPublicKey::from_byte_array(*fx.client.public_key().as_bytes())
            .expect("fixture key is valid");
        let client_point = secp256k1::PublicKey::from_x_only_public_key(client_xonly, Parity::Even);
        RawSecp {
            ctx,
            signer,
            signer_secret,
            client_xonly,
            client_point,
            ops: 0,
            reseeds: 0,
        }
    }

    /// BIP-340 signature of a 32-byte message by the remote signer, with caller-supplied
    /// `aux_rand`, on the context as it is (no refresh). Returns `r ‖ s`, 64 bytes.
    pub fn sign(&self, msg: &[u8; 32], aux: &[u8; 32]) -> [u8; 64] {
        self.ctx
            .sign_schnorr_with_aux_rand(msg, &self.signer, aux)
            .to_byte_array()
    }

    /// [`RawSecp::sign`], refreshing the context's blinding first whenever `every` secret
    /// operations have been done since the last refresh (`every = 1` refreshes before each
    /// signature, as secp256k1 0.33 does after each one).
    pub fn sign_reblinding(&mut self, msg: &[u8; 32], aux: &[u8; 32], every: u32) -> [u8; 64] {
        self.ops += 1;
        if self.ops >= every {
            self.reblind();
        }
        self.sign(msg, aux)
    }

    /// One `secp256k1_context_randomize` call (recomputes the blinded generator table entry).
    pub fn reblind(&mut self) {
        self.reseeds += 1;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.reseeds.to_le_bytes());
        self.ctx.seeded_randomize(&seed);
        self.ops = 0;
    }

    /// BIP-340 verification of a 64-byte signature over a 32-byte message by the client's key,
    /// already parsed (no `lift_x`).
    pub fn verify_client(&self, msg: &[u8; 32], sig: &[u8; 64]) -> bool {
        let sig = schnorr::Signature::from_byte_array(*sig);
        self.ctx
            .verify_schnorr(&sig, msg, &self.client_xonly)
            .is_ok()
    }

    /// BIP-340 verification by the remote signer's own key (to check [`RawSecp::sign`]).
    pub fn verify_signer(&self, msg: &[u8; 32], sig: &[u8; 64]) -> bool {
        let sig = schnorr::Signature::from_byte_array(*sig);
        let (xonly, _) = self.signer.x_only_public_key();
        self.ctx.verify_schnorr(&sig, msg, &xonly).is_ok()
    }

    /// NIP-44 v2 conversation key, raw: `HKDF-Extract(salt "nip44-v2", x(secret · client))` with
    /// libsecp256k1's ECDH on the already-parsed client point. 32 bytes.
    ///
    /// # Security
    ///
    /// Returns key material as a plain array: for measurement and test comparison only.
    pub fn conversation_key(&self) -> [u8; 32] {
        let xy = secp256k1::ecdh::shared_secret_point(&self.client_point, &self.signer_secret);
        let (prk, _) = Hkdf::<Sha256>::extract(Some(b"nip44-v2"), &xy[..32]);
        prk.into()
    }

    /// BIP-340 `lift_x`: parses 32 bytes as an x-only public key (what every `PublicKey` →
    /// libsecp256k1 conversion costs). `None` if not on the curve.
    pub fn parse_xonly(bytes: &[u8; 32]) -> Option<XOnlyPublicKey> {
        XOnlyPublicKey::from_byte_array(*bytes).ok()
    }
}

impl Drop for RawSecp {
    fn drop(&mut self) {
        self.signer.non_secure_erase();
        self.signer_secret.non_secure_erase();
    }
}

impl std::fmt::Debug for RawSecp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSecp")
            .field("ops", &self.ops)
            .finish_non_exhaustive()
    }
}
