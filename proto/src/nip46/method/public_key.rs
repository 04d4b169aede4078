//! `get_public_key []` → the **user** public key, 32-byte x-only lowercase hex (NIP-46
//! §"Methods"). Never the remote-signer key: the two differ in bunkerd
//! (`docs/protocol-notes.md` §11.4).

use crate::nostr::Keypair;

/// The reply to `get_public_key`.
pub(crate) fn apply(user: &Keypair) -> String {
    user.public_key().to_hex()
}
