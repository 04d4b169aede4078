//! `switch_relays []` → the JSON text of the relays this signer wants the client to use
//! (NIP-46 §"switch_relays").
//!
//! Why (`docs/protocol-notes.md` §11.6): nostr-tools `JSON.parse`s the result and switches to
//! whatever array it gets, so an empty list would strand it. We answer the non-empty configured
//! list, or the text `"null"` if the list is somehow empty (nothing to change).

/// The reply to `switch_relays`: `["wss://…",…]` as JSON text, or `"null"`.
pub(crate) fn apply(relays: &[String]) -> String {
    if relays.is_empty() {
        return "null".to_owned();
    }
    serde_json::to_string(relays).expect("serializing strings cannot fail")
}
