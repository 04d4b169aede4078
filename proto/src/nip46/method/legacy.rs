//! Calls that NIP-46 removed but clients still make, answered rather than refused so that older
//! clients keep working: `get_relays`, `describe`, and `disconnect` (parsed as `logout`).
//!
//! - `get_relays []` → `"{}"`. The old method returned the user's read/write relays; bunkerd has
//!   none to offer, and answering with its own relay would make clients read and publish the user's
//!   notes on a relay that only carries kind 24133.
//! - `describe []` → JSON text of the method names bunkerd answers ([`SUPPORTED_METHODS`]).

use super::SUPPORTED_METHODS;

/// The result of `get_relays`: an empty relay map.
pub(crate) const GET_RELAYS: &str = "{}";

/// The result of `describe`: `["connect","sign_event",…]` as JSON text.
pub(crate) fn describe() -> String {
    serde_json::to_string(&SUPPORTED_METHODS).expect("serializing strings cannot fail")
}
