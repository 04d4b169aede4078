//! `ping []` → `"pong"` (NIP-46 §"Methods"). Allowed without a session, so a client can probe the
//! signer before `connect`.

/// The result of every `ping`.
pub(crate) const PONG: &str = "pong";
