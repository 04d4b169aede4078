//! `nip04_encrypt`, `nip04_decrypt`, `nip44_encrypt`, `nip44_decrypt`
//! `[<third-party pubkey>, <text>]` (NIP-46 §"Methods").
//!
//! These run with the **user** key against the third party's key; they are unrelated to the
//! encryption of the kind-24133 transport envelope. Results: NIP-04 `<b64>?iv=<b64>`, NIP-44 v2
//! base64 payload, or the decrypted plaintext.

use super::param_str;
use crate::nip46::RpcError;
use crate::nostr::{nip04, nip44, Crypto, Keypair, PublicKey};
use serde_json::value::RawValue;

/// An encryption scheme: NIP-04 (AES-256-CBC, legacy) or NIP-44 v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// NIP-04: AES-256-CBC, `<b64>?iv=<b64>`.
    Nip04,
    /// NIP-44 version 2.
    Nip44,
}

/// Parsed params of the four user-key cipher methods.
pub struct CipherParams {
    /// NIP-04 or NIP-44.
    pub scheme: Scheme,
    /// `true` for `*_encrypt`, `false` for `*_decrypt`.
    pub encrypt: bool,
    /// The third party's 32-byte x-only public key.
    pub peer: PublicKey,
    /// Plaintext (encrypt) or ciphertext (decrypt).
    pub text: String,
}

impl CipherParams {
    /// Parses `[<pubkey hex>, <text>]` for `method` (one of the four cipher method names).
    ///
    /// # Errors
    ///
    /// [`RpcError::InvalidParams`] when either param is missing, not a string, or the pubkey is not
    /// a valid 64-hex x-only key.
    pub(crate) fn parse(method: &str, params: &[&RawValue]) -> Result<Self, RpcError> {
        let peer = param_str(params.first())
            .and_then(|hex| PublicKey::from_hex(&hex).ok())
            .ok_or(RpcError::InvalidParams(
                "param 0 must be a 64-hex x-only pubkey",
            ))?;
        let text = param_str(params.get(1))
            .ok_or(RpcError::InvalidParams("param 1 must be a string"))?
            .into_owned();
        Ok(CipherParams {
            scheme: if method.starts_with("nip04") {
                Scheme::Nip04
            } else {
                Scheme::Nip44
            },
            encrypt: method.ends_with("encrypt"),
            peer,
            text,
        })
    }

    /// Runs the operation with the user key.
    ///
    /// # Errors
    ///
    /// [`RpcError::CryptoFailed`] naming the method when the key agreement, encryption or
    /// decryption fails (invalid peer point, bad payload, MAC or padding failure, oversize text).
    pub(crate) fn apply(self, user: &Keypair, crypto: &mut Crypto) -> Result<String, RpcError> {
        let secret = user.secret_key();
        match (self.scheme, self.encrypt) {
            (Scheme::Nip44, true) => nip44::ConversationKey::derive(&secret, &self.peer)
                .and_then(|ck| nip44::encrypt(&ck, &self.text, crypto))
                .map_err(|_| RpcError::CryptoFailed("nip44_encrypt")),
            (Scheme::Nip44, false) => nip44::ConversationKey::derive(&secret, &self.peer)
                .and_then(|ck| nip44::decrypt(&ck, &self.text))
                .map_err(|_| RpcError::CryptoFailed("nip44_decrypt")),
            (Scheme::Nip04, true) => nip04::SharedKey::derive(&secret, &self.peer)
                .map(|key| nip04::encrypt(&key, &self.text, crypto))
                .map_err(|_| RpcError::CryptoFailed("nip04_encrypt")),
            (Scheme::Nip04, false) => nip04::SharedKey::derive(&secret, &self.peer)
                .and_then(|key| nip04::decrypt(&key, &self.text))
                .map_err(|_| RpcError::CryptoFailed("nip04_decrypt")),
        }
    }
}

/// Redacted: the text is a plaintext or a ciphertext of the user's.
impl std::fmt::Debug for CipherParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CipherParams")
            .field("scheme", &self.scheme)
            .field("encrypt", &self.encrypt)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}
