//! `logout []` → `"ack"`, after which the session of this client pubkey ends (NIP-46 §"logout").
//! The reply is produced before the session is removed; the caller applies
//! [`crate::nip46::Effect::Logout`] when it persists the outcome.

/// The result of `logout`.
pub(crate) const ACK: &str = "ack";
