//! `proto`: bunkerd's protocol core — secret keys and BIP-340 signing, NIP-44 v2, NIP-04, NIP-19,
//! NIP-49, NIP-98, NIP-46 request parsing and handling, and the signing policy.
//!
//! Pure by construction: the crate depends on no async runtime, store or concurrent map, and
//! holds no hidden state. Randomness and the blinded secp256k1 context come in as a
//! [`nostr::Crypto`], time as a `now` argument (Unix seconds), stored records as arguments; what
//! must change in the world comes back as a value ([`nip46::Effect`]). So the same inputs under a
//! seeded [`nostr::Entropy`] give the same outcome, byte for byte. The signer shell (crate
//! `signer`) does the I/O around it.
//!
//! Layering: [`nostr`] (keys, ciphers, encodings; checked against the official vectors) →
//! [`policy`] (permissions, grants, checks) → [`nip46`] (the JSON-RPC wire format and
//! [`nip46::handle`]). Public keys and events come from the `event` crate.

pub mod nip46;
pub mod nostr;
pub mod policy;
