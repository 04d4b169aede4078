//! One realistic NIP-46 `sign_event` exchange, built once and shared by every benchmark.
//!
//! Role: the inputs each benchmark times, shaped like production traffic: a kind-24133 request
//! from a client app to a hosted remote signer, carrying a NIP-44 `sign_event` request of 250
//! bytes (a 432-char `content`), the user's note to sign, the `{"id","result"}` reply and the
//! response event, plus NIP-04 keys, 300 B / 4 KiB plaintexts and a sealed 32-byte secret.
//!
//! Must not: use real keys (the secret keys are fixed test constants), or return a fixture that
//! does not verify and decrypt: [`Fixture::new`] checks the request before returning it.
//!
//! Main types: [`Fixture`], [`Sealed`].

use event::compute_id;
use kms::{Binding, DataKey};
use proto::nip46::Reply;
use proto::nostr::{nip04, nip44, Event, Keypair, PublicKey, SecretKey, UnsignedEvent};
use signer::KIND_NOSTR_CONNECT;

#[cfg(test)]
#[path = "fixture_tests.rs"]
mod tests;

/// Fixed test secret of the client app (lowercase hex; never a real key).
const CLIENT_SECRET: &str = "7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a";
/// Fixed test secret of the hosted remote-signer key.
const REMOTE_SIGNER_SECRET: &str =
    "c9b3b1b5a2f0f1e8d7c6b5a4938271605f4e3d2c1b0a99887766554433221100";
/// Fixed test secret of the user key that signs the note.
const USER_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Unix time (seconds) used for every `created_at`.
pub const NOW: u64 = 1_732_170_000;

/// The NIP-46 request id a client library would send (a UUID, as nostr-tools does).
const REQUEST_ID: &str = "b3c1f0a2-7d4e-4a59-9c1e-2f6d8e0a1b37";

/// The note the client asks the user key to sign (a short kind-1 text note with two tags).
const NOTE_CONTENT: &str = "gm nostr! Trying a hosted bunker today, signing from my phone.";

/// Size of the small plaintext benchmark, in bytes (about one NIP-46 request or reply).
pub const SMALL_LEN: usize = 300;

/// Size of the large plaintext benchmark, in bytes (a long note or a contact list page).
pub const LARGE_LEN: usize = 4096;

/// Record kind, tenant, owner and role of the sealed secret, as the directory binds user keys.
const SEALED_RECORD: &str = "user_secret_key";
const SEALED_TENANT: &str = "tenant-0001";
const SEALED_OWNER: &str = "user-0001";
const SEALED_ROLE: &str = "remote_signer";

/// A 32-byte secret key sealed under a tenant data key (what the directory unseals on a cache
/// miss).
pub struct Sealed {
    /// The tenant's AES-256-GCM data key (random for each fixture).
    pub key: DataKey,
    /// The sealed record: 32 bytes of plaintext + 34 bytes of header, nonce and tag.
    pub record: Vec<u8>,
}

impl Sealed {
    /// The binding the record was sealed with (record `user_secret_key`, role `remote_signer`).
    pub fn binding(&self) -> Binding<'static> {
        Binding {
            record: SEALED_RECORD,
            tenant: SEALED_TENANT,
            owner: SEALED_OWNER,
            role: SEALED_ROLE,
        }
    }
}

/// Every input the benchmarks need, for one client ↔ remote-signer pair.
pub struct Fixture {
    /// The client app's key; it signs [`Fixture::request`].
    pub client: Keypair,
    /// The hosted remote-signer key: the request's `p` tag, the response's author.
    pub remote_signer: Keypair,
    /// The user key that signs the note.
    pub user: Keypair,
    /// The same user and remote-signer keys as the signer holds them (for [`proto::nip46::handle`]).
    pub keys: proto::nip46::UserKeys,
    /// The session's grant (everything the default policy allows), as a connected client has.
    pub grant: proto::policy::Grant,
    /// NIP-44 v2 conversation key between remote signer and client (what a session caches).
    pub conversation: nip44::ConversationKey,
    /// NIP-04 shared key between remote signer and client.
    pub nip04: nip04::SharedKey,
    /// The decrypted NIP-46 request JSON (`{"id","method":"sign_event","params":[…]}`).
    pub request_plaintext: String,
    /// The kind-24133 request event, signed by the client, NIP-44 content.
    pub request: Event,
    /// The NIP-01 client frame `["EVENT",{…}]` carrying [`Fixture::request`].
    pub request_frame: String,
    /// The note the user key signs, as the request describes it.
    pub note: UnsignedEvent,
    /// The reply JSON `{"id":…,"result":"<signed note JSON>"}` before encryption.
    pub reply_plaintext: String,
    /// The kind-24133 response event (NIP-44 content), signed by the remote signer.
    pub response: Event,
    /// A [`SMALL_LEN`]-byte ASCII plaintext.
    pub small: String,
    /// A [`LARGE_LEN`]-byte ASCII plaintext.
    pub large: String,
    /// A sealed 32-byte secret and its data key.
    pub sealed: Sealed,
}

impl Fixture {
    /// Builds the exchange: keys, request, note, reply and response.
    ///
    /// # Panics
    ///
    /// If the OS has no randomness, or if the built request does not verify or decrypt (a bug in
    /// the fixture or in the crates it calls; nothing is timed on broken inputs).
    pub fn new() -> Fixture {
        let client = keypair(CLIENT_SECRET);
        let remote_signer = keypair(REMOTE_SIGNER_SECRET);
        let user = keypair(USER_SECRET);
        let secret = remote_signer.secret_key();
        let conversation = nip44::ConversationKey::derive(&secret, &client.public_key())
            .expect("validated keys always derive");
        let nip04 = nip04::SharedKey::derive(&secret, &client.public_key())
            .expect("validated keys always derive");
        let note = note();
        let request_plaintext = request_plaintext(&note);
        let request = request_event(&client, &remote_signer, &conversation, &request_plaintext);
        let reply_plaintext =
            reply_plaintext(signer::crypto::with(|c| user.sign_event(note.clone(), c)));
        let response = response_event(&remote_signer, &client, &conversation, &reply_plaintext);
        let fixture = Fixture {
            request_frame: format!("[\"EVENT\",{}]", request.to_json()),
            client,
            remote_signer,
            user,
            keys: proto::nip46::UserKeys {
                tenant: "bench".into(),
                user_id: "bench".into(),
                user: keypair(USER_SECRET),
                remote_signer: keypair(REMOTE_SIGNER_SECRET),
                disabled: false,
                policy: std::sync::Arc::new(proto::policy::Policy::default()),
            },
            grant: proto::policy::Grant::new(proto::policy::Perms::none(), None),
            conversation,
            nip04,
            request_plaintext,
            request,
            note,
            reply_plaintext,
            response,
            small: text(SMALL_LEN),
            large: text(LARGE_LEN),
            sealed: sealed(&secret),
        };
        fixture.assert_usable();
        fixture
    }

    /// The id of the note as the user key signs it (what `sign_event` hashes).
    pub fn note_id(&self) -> [u8; 32] {
        let n = &self.note;
        compute_id(
            &self.user.public_key(),
            n.created_at,
            n.kind,
            &n.tags,
            &n.content,
        )
    }

    /// The id of an event, recomputed from its fields (the hash `Event::verify` does).
    pub fn event_id(event: &Event) -> [u8; 32] {
        compute_id(
            &event.pubkey,
            event.created_at,
            event.kind,
            &event.tags,
            &event.content,
        )
    }

    fn assert_usable(&self) {
        self.request.verify().expect("fixture request verifies");
        let plain = nip44::decrypt(&self.conversation, &self.request.content)
            .expect("fixture request decrypts");
        assert_eq!(plain, self.request_plaintext, "fixture request round-trips");
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

fn keypair(secret_hex: &str) -> Keypair {
    let secret = SecretKey::from_hex(secret_hex).expect("fixed test key is valid");
    signer::crypto::with(|c| Keypair::new(&secret, c))
}

fn note() -> UnsignedEvent {
    UnsignedEvent {
        created_at: NOW,
        kind: 1,
        tags: vec![
            vec!["t".to_owned(), "nostr".to_owned()],
            vec!["client".to_owned(), "bench".to_owned()],
        ],
        content: NOTE_CONTENT.to_owned(),
    }
}

/// The request JSON: the note template as a JSON string param, as NIP-46 specifies.
fn request_plaintext(note: &UnsignedEvent) -> String {
    let template = serde_json::json!({
        "kind": note.kind,
        "content": note.content,
        "tags": note.tags,
        "created_at": note.created_at,
    });
    serde_json::json!({
        "id": REQUEST_ID,
        "method": "sign_event",
        "params": [template.to_string()],
    })
    .to_string()
}

fn request_event(
    client: &Keypair,
    remote_signer: &Keypair,
    ck: &nip44::ConversationKey,
    plaintext: &str,
) -> Event {
    transport_event(client, remote_signer.public_key(), ck, plaintext)
}

fn reply_plaintext(signed_note: Event) -> String {
    Reply {
        id: REQUEST_ID.to_owned(),
        body: Ok(signed_note.to_json()),
    }
    .to_json()
}

fn response_event(
    remote_signer: &Keypair,
    client: &Keypair,
    ck: &nip44::ConversationKey,
    plaintext: &str,
) -> Event {
    transport_event(remote_signer, client.public_key(), ck, plaintext)
}

/// A kind-24133 event from `author` to `to` (one `p` tag) with NIP-44 encrypted `plaintext`.
fn transport_event(
    author: &Keypair,
    to: PublicKey,
    ck: &nip44::ConversationKey,
    plaintext: &str,
) -> Event {
    signer::crypto::with(|c| {
        let content = nip44::encrypt(ck, plaintext, c).expect("fixture plaintext is in range");
        let unsigned = UnsignedEvent {
            created_at: NOW,
            kind: KIND_NOSTR_CONNECT,
            tags: vec![vec!["p".to_owned(), to.to_hex()]],
            content,
        };
        author.sign_event(unsigned, c)
    })
}

/// `len` bytes of printable ASCII (a repeating alphabet), so NIP-04/NIP-44 see plain text.
fn text(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 ";
    (0..len)
        .map(|i| char::from(ALPHABET[i % ALPHABET.len()]))
        .collect()
}

fn sealed(secret: &SecretKey) -> Sealed {
    let key = DataKey::generate();
    let mut sealed = Sealed {
        key,
        record: Vec::new(),
    };
    sealed.record = sealed.key.seal(secret.expose_bytes(), &sealed.binding());
    sealed
}
