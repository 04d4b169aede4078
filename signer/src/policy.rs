//! Signing policy and NIP-46 permissions (issue 4): what a user's clients may do, and the check run on
//! every request.
//!
//! Three layers, from the admin down to one request:
//!
//! - [`Policy`]: set by an admin per tenant (the default) and per user (an override): allowed
//!   [`Method`]s, which kinds `sign_event` may sign, which [`DANGEROUS_KINDS`] are opened, and the
//!   `created_at` skew bound. Stored as JSON with stable field names.
//! - [`Grant`]: fixed at `connect` as `requested perms ∩ policy` ([`Grant::negotiate`]) and stored
//!   with the session as its canonical perms string ([`Perms`], NIP-46 §"Requested permissions").
//! - [`check`]: the per-request decision. The effective permission of a request is always
//!   `grant ∩ current policy`, so an admin tightening a policy takes effect on the next request of
//!   every session; widening it takes effect at the client's next `connect` (the grant is a snapshot).
//!
//! Five methods are always allowed for a client that has a session: `connect`, `ping`, `logout`,
//! `switch_relays` and `get_public_key` ([`Method::is_always_allowed`]). They reveal nothing beyond
//! the user pubkey the client already addresses and sign nothing, and refusing them breaks clients
//! (they call them unconditionally during the handshake). Whether a client has a session at all is
//! decided before this module is asked.
//!
//! Must not: read a clock (callers pass `now`, Unix seconds), do I/O, log, or allocate on the success
//! path of [`check`] (it runs per request, ~10k requests/s): methods are a `u16` bitmask and kinds a
//! sorted `Vec<u16>` searched by bisection. Refusals carry the missing permission in perms syntax
//! ([`Denied::message`]); `Display` texts of the error types are fixed and never echo input.
//!
//! Main items: [`Method`], [`MethodSet`], [`Perms`], [`Policy`], [`KindSet`], [`SignKinds`],
//! [`Grant`], [`check`], [`Denied`], [`DenyReason`], [`PolicyError`], [`DANGEROUS_KINDS`].

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

/// Longest perms input [`Perms::parse`] looks at, in bytes (4 KiB). Real clients send well under
/// 200 bytes (the NIP-46 `nostrconnect://` example is 76); the bound keeps parsing cheap for a
/// hostile client. Only items that end within this prefix are read, so an item is never cut in two
/// (a cut `sign_event:12` would read as `sign_event:1`).
pub const MAX_PERMS_INPUT_BYTES: usize = 4096;

/// Most non-empty perms items [`Perms::parse`] looks at; later items are ignored. There are ten
/// methods, so only `sign_event:<kind>` lists can be long, and 256 kinds is far beyond any client.
pub const MAX_PERMS_ITEMS: usize = 256;

/// Most kinds a [`Policy`]'s `sign_kinds` list may hold ([`Policy::validate`]). Hand-written kind
/// lists hold tens; the bound keeps a user record small (2 bytes a kind), and every user record is
/// loaded at start.
pub const MAX_POLICY_KINDS: usize = 1024;

/// Largest `max_created_at_skew_secs` [`Policy::validate`] accepts: one year, in seconds. A larger
/// bound protects nothing (use `null` for no bound), and a value this large is usually a unit mistake:
/// any skew of 9 hours or more written in milliseconds exceeds it.
pub const MAX_SKEW_BOUND_SECS: u64 = 365 * 86_400;

/// Default `max_created_at_skew_secs`: 7 days, in seconds.
///
/// Why 7 days: the bound exists so that a hijacked or buggy client cannot post-date an event far into
/// the future (a replaceable event dated next year stays the "newest" one and masks every real update
/// until then) or back-date it into someone else's history. Clock drift between devices is seconds
/// to minutes, but legitimate uses lie further out: scheduled posts signed ahead of time and drafts
/// signed late. A week allows those and caps the harm of a post-dated replaceable event to a week.
pub const DEFAULT_MAX_SKEW_SECS: u64 = 7 * 86_400;

/// Event kinds that `sign_event` refuses unless an admin opens them in
/// [`Policy::allow_dangerous_kinds`] (design.md §4). Sorted ascending (checked by a test).
///
/// Each one either rewrites state that others rely on, destroys data, authenticates as the user, or
/// moves money:
///
/// | kind | event | why dangerous | source |
/// |---|---|---|---|
/// | 0 | user metadata | replaceable: one signature replaces the whole profile, including its `lud16` payment address | NIP-01 |
/// | 3 | follow list | replaceable: one signature replaces the whole follow list | NIP-02 |
/// | 5 | deletion request | asks relays to delete the user's events | NIP-09 |
/// | 62 | request to vanish | asks relays to delete *everything* the user published (our addition: kind 5, but total) | NIP-62 |
/// | 7374 | reserved Cashu wallet tokens (mint quote) | wallet state | NIP-60 |
/// | 7375 | Cashu wallet tokens (unspent proofs) | wallet state: forged or rolled-over proofs | NIP-60 |
/// | 7376 | Cashu wallet spending history | wallet state | NIP-60 |
/// | 10002 | relay list metadata | replaceable: redirects where others read and write the user's events | NIP-65 |
/// | 13194 | wallet service info | Nostr Wallet Connect | NIP-47 |
/// | 17375 | Cashu wallet event | replaceable: replaces the wallet's mints and P2PK key | NIP-60 |
/// | 22242 | client authentication | logs in to relays as the user | NIP-42 |
/// | 23194 | wallet request | Nostr Wallet Connect: payment commands | NIP-47 |
/// | 23195 | wallet response | Nostr Wallet Connect | NIP-47 |
/// | 23196 | wallet notification (NIP-04) | Nostr Wallet Connect | NIP-47 |
/// | 23197 | wallet notification (NIP-44) | Nostr Wallet Connect | NWC-02 |
/// | 27235 | HTTP auth | logs in to HTTP services as the user | NIP-98 |
///
/// Where the wallet kinds were checked: NIP-47 (<https://github.com/nostr-protocol/nips/blob/master/47.md>
/// §"Events", nips commit 00acfb4c) lists 13194, 23194, 23195 and 23196; 23197 is defined in NWC-02
/// "Notifications" §"Transport" (<https://github.com/nostr-wallet-connect/nwc/blob/main/02.md>, commit
/// f8c8200a), the spec that NIP-47's notifications moved to. NIP-60
/// (<https://github.com/nostr-protocol/nips/blob/master/60.md>, nips commit 04131609) defines 17375,
/// 7375, 7376 and 7374. NIP-62 (<https://github.com/nostr-protocol/nips/blob/master/62.md>) defines 62.
pub const DANGEROUS_KINDS: [u16; 16] = [
    0, 3, 5, 62, 7374, 7375, 7376, 10002, 13194, 17375, 22242, 23194, 23195, 23196, 23197, 27235,
];

/// Whether `kind` is one of [`DANGEROUS_KINDS`]. Allocation-free (binary search).
pub fn is_dangerous(kind: u16) -> bool {
    DANGEROUS_KINDS.binary_search(&kind).is_ok()
}

/// A NIP-46 method that a permission can name (NIP-46 §"Methods", protocol.md §1.5).
///
/// Variants are declared in alphabetical order of their wire names, which is the canonical order
/// of a perms string ([`Perms`]'s `Display`). Removed methods (`get_relays`, `create_account`) are
/// not methods here: a permission naming them is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// `connect`: always allowed ([`Method::is_always_allowed`]).
    Connect,
    /// `get_public_key`: always allowed.
    GetPublicKey,
    /// `logout`: always allowed.
    Logout,
    /// `nip04_decrypt`: decrypt a NIP-04 payload with the user key.
    Nip04Decrypt,
    /// `nip04_encrypt`: encrypt a NIP-04 payload with the user key.
    Nip04Encrypt,
    /// `nip44_decrypt`: decrypt a NIP-44 payload with the user key.
    Nip44Decrypt,
    /// `nip44_encrypt`: encrypt a NIP-44 payload with the user key.
    Nip44Encrypt,
    /// `ping`: always allowed.
    Ping,
    /// `sign_event`: sign an event with the user key; its permission parameter is the kind.
    SignEvent,
    /// `switch_relays`: always allowed.
    SwitchRelays,
}

impl Method {
    /// Every method, in canonical (alphabetical) order.
    pub const ALL: [Method; 10] = [
        Method::Connect,
        Method::GetPublicKey,
        Method::Logout,
        Method::Nip04Decrypt,
        Method::Nip04Encrypt,
        Method::Nip44Decrypt,
        Method::Nip44Encrypt,
        Method::Ping,
        Method::SignEvent,
        Method::SwitchRelays,
    ];

    /// The wire name, e.g. `"sign_event"` (NIP-46 §"Methods").
    pub const fn name(self) -> &'static str {
        match self {
            Method::Connect => "connect",
            Method::GetPublicKey => "get_public_key",
            Method::Logout => "logout",
            Method::Nip04Decrypt => "nip04_decrypt",
            Method::Nip04Encrypt => "nip04_encrypt",
            Method::Nip44Decrypt => "nip44_decrypt",
            Method::Nip44Encrypt => "nip44_encrypt",
            Method::Ping => "ping",
            Method::SignEvent => "sign_event",
            Method::SwitchRelays => "switch_relays",
        }
    }

    /// The method with this exact (case-sensitive) wire name, or `None` for any other text,
    /// including the removed `get_relays` and `create_account`.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether [`check`] allows this method to any client with a session, whatever its grant and
    /// policy say: `connect`, `ping`, `logout`, `switch_relays` and `get_public_key`. They sign
    /// nothing and reveal only the user pubkey (which `sign_event` results reveal anyway), and
    /// clients call them unconditionally, so refusing them only breaks the client.
    pub const fn is_always_allowed(self) -> bool {
        matches!(
            self,
            Method::Connect
                | Method::Ping
                | Method::Logout
                | Method::SwitchRelays
                | Method::GetPublicKey
        )
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Method {
    /// Accepts exactly the wire names of [`Method::ALL`]; any other string is an error whose text
    /// does not repeat the input.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Method::from_name(&name).ok_or_else(|| de::Error::custom("unknown NIP-46 method name"))
    }
}

/// A set of [`Method`]s, stored as a 10-bit mask. JSON: an array of wire names in canonical order,
/// e.g. `["nip44_encrypt","sign_event"]`; deserializing refuses unknown names and accepts duplicates.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MethodSet(u16);

impl MethodSet {
    /// No method.
    pub const fn empty() -> MethodSet {
        MethodSet(0)
    }

    /// Every method in [`Method::ALL`].
    pub const fn all() -> MethodSet {
        let mut bits = 0;
        let mut i = 0;
        while i < Method::ALL.len() {
            bits |= Method::ALL[i].bit();
            i += 1;
        }
        MethodSet(bits)
    }

    /// Whether `method` is in the set.
    pub const fn contains(self, method: Method) -> bool {
        self.0 & method.bit() != 0
    }

    /// This set plus `method`.
    pub const fn with(self, method: Method) -> MethodSet {
        MethodSet(self.0 | method.bit())
    }

    /// This set without `method`.
    pub const fn without(self, method: Method) -> MethodSet {
        MethodSet(self.0 & !method.bit())
    }

    /// The methods in both sets.
    pub const fn intersection(self, other: MethodSet) -> MethodSet {
        MethodSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The methods in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

impl FromIterator<Method> for MethodSet {
    fn from_iter<I: IntoIterator<Item = Method>>(iter: I) -> MethodSet {
        iter.into_iter().fold(MethodSet::empty(), MethodSet::with)
    }
}

impl fmt::Debug for MethodSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Method::name))
            .finish()
    }
}

impl Serialize for MethodSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for MethodSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Method>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// A set of event kinds (0..=65535, NIP-01), kept sorted and deduplicated whatever order it is built
/// or deserialized in, so that [`KindSet::contains`] is a binary search. JSON: an ascending array of
/// integers, e.g. `[1,7]`; deserializing accepts any order and duplicates, and refuses numbers
/// outside 0..=65535.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct KindSet(Vec<u16>);

impl KindSet {
    /// The empty set.
    pub const fn new() -> KindSet {
        KindSet(Vec::new())
    }

    /// Whether `kind` is in the set. Allocation-free, O(log n).
    pub fn contains(&self, kind: u16) -> bool {
        self.0.binary_search(&kind).is_ok()
    }

    /// Number of kinds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The kinds, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().copied()
    }

    /// The kinds in both sets.
    fn intersection(&self, other: &KindSet) -> KindSet {
        KindSet(self.iter().filter(|k| other.contains(*k)).collect())
    }
}

impl FromIterator<u16> for KindSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> KindSet {
        let mut kinds: Vec<u16> = iter.into_iter().collect();
        kinds.sort_unstable();
        kinds.dedup();
        KindSet(kinds)
    }
}

impl fmt::Debug for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for KindSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for KindSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<u16>::deserialize(deserializer)?.into_iter().collect())
    }
}

/// Which kinds `sign_event` may sign under a [`Policy`]. JSON: the string `"any"` or an array of
/// kinds, e.g. `[1,7,30023]`. Either way, [`DANGEROUS_KINDS`] also need
/// [`Policy::allow_dangerous_kinds`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum SignKinds {
    /// Every kind. Default.
    #[default]
    Any,
    /// Only these kinds.
    Only(KindSet),
}

impl SignKinds {
    /// Whether `kind` is listed (or the list is [`SignKinds::Any`]). Allocation-free.
    pub fn contains(&self, kind: u16) -> bool {
        match self {
            SignKinds::Any => true,
            SignKinds::Only(kinds) => kinds.contains(kind),
        }
    }
}

impl Serialize for SignKinds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SignKinds::Any => serializer.serialize_str("any"),
            SignKinds::Only(kinds) => kinds.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for SignKinds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = SignKinds;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"any\" or an array of event kinds (0..=65535)")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<SignKinds, E> {
                match value {
                    "any" => Ok(SignKinds::Any),
                    _ => Err(E::custom("sign_kinds must be \"any\" or an array of kinds")),
                }
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<SignKinds, A::Error> {
                let mut kinds = Vec::new();
                while let Some(kind) = seq.next_element::<u16>()? {
                    kinds.push(kind);
                }
                Ok(SignKinds::Only(kinds.into_iter().collect()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// What an admin allows a user's clients to do: set per tenant (the default) and per user (an
/// override, which replaces the tenant's policy as a whole).
///
/// JSON, with stable field names; a missing field takes its default, an unknown field is an error:
///
/// ```json
/// {"methods":["connect","get_public_key","logout","nip04_decrypt","nip04_encrypt","nip44_decrypt",
///  "nip44_encrypt","ping","sign_event","switch_relays"],"sign_kinds":"any",
///  "allow_dangerous_kinds":[],"max_created_at_skew_secs":604800}
/// ```
///
/// Deserializing checks shapes only; call [`Policy::validate`] on admin input before storing it.
/// `Default` is the conservative default: every method, any kind except [`DANGEROUS_KINDS`], and a
/// 7-day `created_at` bound ([`DEFAULT_MAX_SKEW_SECS`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Methods the user's clients may call. Default: all of them. The always-allowed methods
    /// ([`Method::is_always_allowed`]) pass [`check`] whether or not they are listed here.
    pub methods: MethodSet,
    /// Kinds `sign_event` may sign. Default: [`SignKinds::Any`].
    pub sign_kinds: SignKinds,
    /// [`DANGEROUS_KINDS`] that are opened. Default: none. A dangerous kind is signable only if
    /// [`Policy::sign_kinds`] allows it **and** it is listed here.
    pub allow_dangerous_kinds: KindSet,
    /// When set, `sign_event` refuses a template whose `created_at` differs from the signer's `now`
    /// by more than this many seconds (either direction). `None` (JSON `null`): no bound.
    /// Default: `Some(`[`DEFAULT_MAX_SKEW_SECS`]`)` (7 days; the reason is documented there).
    /// A template without `created_at` is signed with `now` and always passes.
    pub max_created_at_skew_secs: Option<u64>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            methods: MethodSet::all(),
            sign_kinds: SignKinds::Any,
            allow_dangerous_kinds: KindSet::new(),
            max_created_at_skew_secs: Some(DEFAULT_MAX_SKEW_SECS),
        }
    }
}

impl Policy {
    /// Checks an admin-supplied policy before it is stored.
    ///
    /// # Errors
    ///
    /// - [`PolicyError::SkewTooLarge`]: `max_created_at_skew_secs` is over [`MAX_SKEW_BOUND_SECS`].
    /// - [`PolicyError::TooManyKinds`]: `sign_kinds` lists more than [`MAX_POLICY_KINDS`] kinds.
    /// - [`PolicyError::NotDangerous`]: `allow_dangerous_kinds` lists a kind that is not in
    ///   [`DANGEROUS_KINDS`] (opening it would do nothing; it is most likely a mistake).
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self
            .max_created_at_skew_secs
            .is_some_and(|s| s > MAX_SKEW_BOUND_SECS)
        {
            return Err(PolicyError::SkewTooLarge);
        }
        if let SignKinds::Only(kinds) = &self.sign_kinds {
            if kinds.len() > MAX_POLICY_KINDS {
                return Err(PolicyError::TooManyKinds);
            }
        }
        if self.allow_dangerous_kinds.iter().any(|k| !is_dangerous(k)) {
            return Err(PolicyError::NotDangerous);
        }
        Ok(())
    }

    /// Whether this policy lets `sign_event` sign `kind`: the method is allowed, the kind is in
    /// `sign_kinds`, and a dangerous kind is opened. Allocation-free.
    pub fn allows_kind(&self, kind: u16) -> bool {
        self.sign_denial(kind).is_none()
    }

    /// The policy as a perms value, which is what a `connect` without requested perms is granted.
    /// `sign_kinds: "any"` becomes a bare `sign_event`: perms syntax cannot say "any kind but the
    /// dangerous ones", so that gate stays with the policy and is applied by [`check`]. An explicit
    /// kind list keeps only the kinds [`Policy::allows_kind`] accepts.
    pub fn to_perms(&self) -> Perms {
        let mut full = self.methods.without(Method::SignEvent);
        let mut kinds = KindSet::new();
        if self.methods.contains(Method::SignEvent) {
            match &self.sign_kinds {
                SignKinds::Any => full = full.with(Method::SignEvent),
                SignKinds::Only(list) => kinds = list.iter().filter(|k| self.gate(*k)).collect(),
            }
        }
        Perms { full, kinds }
    }

    /// Why this policy refuses `sign_event` of `kind`, or `None` when it allows it.
    fn sign_denial(&self, kind: u16) -> Option<DenyReason> {
        if !self.methods.contains(Method::SignEvent) || !self.sign_kinds.contains(kind) {
            Some(DenyReason::NotAllowedByPolicy)
        } else if !self.gate(kind) {
            Some(DenyReason::DangerousKind)
        } else {
            None
        }
    }

    /// The dangerous-kind gate alone: `kind` is not dangerous, or it is opened.
    fn gate(&self, kind: u16) -> bool {
        !is_dangerous(kind) || self.allow_dangerous_kinds.contains(kind)
    }
}

/// Why [`Policy::validate`] refused a policy. `Display` texts are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `max_created_at_skew_secs` is over [`MAX_SKEW_BOUND_SECS`].
    #[error("max_created_at_skew_secs is over one year (31536000 seconds); use null for no bound")]
    SkewTooLarge,
    /// `sign_kinds` lists more than [`MAX_POLICY_KINDS`] kinds.
    #[error("sign_kinds lists more than 1024 kinds")]
    TooManyKinds,
    /// `allow_dangerous_kinds` lists a kind that is not in [`DANGEROUS_KINDS`].
    #[error("allow_dangerous_kinds lists a kind that is not a dangerous kind")]
    NotDangerous,
}

impl PolicyError {
    /// Stable snake_case code for the admin API's error body and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::SkewTooLarge => "skew_too_large",
            PolicyError::TooManyKinds => "too_many_kinds",
            PolicyError::NotDangerous => "not_dangerous",
        }
    }
}

/// A parsed NIP-46 permission list (NIP-46 §"Requested permissions",
/// <https://github.com/nostr-protocol/nips/blob/master/46.md#requested-permissions>; protocol.md §1.6):
/// comma-separated `method[:param]`, e.g. `nip44_encrypt,sign_event:4`.
///
/// Only `sign_event` has a defined parameter, the event kind (0..=65535); a bare `sign_event` means
/// any kind. `Display` renders the canonical form: methods in alphabetical order, `sign_event:<kind>`
/// items by ascending kind, no duplicates, and a bare `sign_event` replacing any `sign_event:<kind>`
/// items. That string is what is stored and shown to admins; parsing it gives back an equal value.
///
/// This is plain set semantics: [`Perms::allows`] does not apply the always-allowed methods or the
/// dangerous-kind gate; [`check`] does.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Perms {
    /// Methods granted without a parameter; `sign_event` here means any kind.
    full: MethodSet,
    /// `sign_event` kinds; empty whenever `full` contains `sign_event`.
    kinds: KindSet,
}

impl Perms {
    /// Parses a perms string leniently, the way real clients need it: whitespace around items, names
    /// and params is trimmed; empty items are skipped; unknown methods (including the removed
    /// `get_relays`/`create_account`) and items with a bad or undefined param (`sign_event:abc`,
    /// `sign_event:70000`, `nip44_encrypt:x`) are left out, not an error. An item with an undefined
    /// param is dropped rather than read without it, since a param can only narrow a permission.
    ///
    /// Bounded: only the first [`MAX_PERMS_INPUT_BYTES`] bytes (items that end within them) and the
    /// first [`MAX_PERMS_ITEMS`] non-empty items are looked at.
    pub fn parse(input: &str) -> Perms {
        let mut full = MethodSet::empty();
        let mut kinds = Vec::new();
        let items = bounded(input)
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .take(MAX_PERMS_ITEMS);
        for item in items {
            match parse_item(item) {
                Some((method, None)) => full = full.with(method),
                Some((_, Some(kind))) => kinds.push(kind),
                None => {}
            }
        }
        Perms::normalized(full, kinds.into_iter().collect())
    }

    /// No permission at all (the empty string).
    pub fn none() -> Perms {
        Perms::default()
    }

    /// Every method, `sign_event` of any kind.
    pub fn all() -> Perms {
        Perms {
            full: MethodSet::all(),
            kinds: KindSet::new(),
        }
    }

    /// Whether nothing is permitted (what an absent or `""` perms param parses to).
    pub fn is_empty(&self) -> bool {
        self.full.is_empty() && self.kinds.is_empty()
    }

    /// Whether `method` is permitted. For `sign_event`, `kind: Some(k)` asks about kind `k` and
    /// `None` about every kind (only a bare `sign_event` allows that); `kind` is ignored for other
    /// methods. Allocation-free.
    pub fn allows(&self, method: Method, kind: Option<u16>) -> bool {
        if self.full.contains(method) {
            return true;
        }
        match (method, kind) {
            (Method::SignEvent, Some(kind)) => self.kinds.contains(kind),
            _ => false,
        }
    }

    /// Methods with any permission at all (`sign_event` is in it when any kind is permitted).
    pub fn methods(&self) -> MethodSet {
        if self.kinds.is_empty() {
            self.full
        } else {
            self.full.with(Method::SignEvent)
        }
    }

    /// The permitted `sign_event` kinds: [`SignKinds::Any`] for a bare `sign_event`, otherwise the
    /// listed kinds (empty when `sign_event` is not permitted).
    pub fn sign_kinds(&self) -> SignKinds {
        if self.full.contains(Method::SignEvent) {
            SignKinds::Any
        } else {
            SignKinds::Only(self.kinds.clone())
        }
    }

    /// The permissions in both: `allows(m, k)` on the result holds exactly when it holds on both.
    pub fn intersect(&self, other: &Perms) -> Perms {
        let any_self = self.full.contains(Method::SignEvent);
        let any_other = other.full.contains(Method::SignEvent);
        let kinds = match (any_self, any_other) {
            (true, true) => KindSet::new(),
            (true, false) => other.kinds.clone(),
            (false, true) => self.kinds.clone(),
            (false, false) => self.kinds.intersection(&other.kinds),
        };
        Perms {
            full: self.full.intersection(other.full),
            kinds,
        }
    }

    /// Restores the invariant: a bare `sign_event` absorbs the kind list.
    fn normalized(full: MethodSet, kinds: KindSet) -> Perms {
        let kinds = if full.contains(Method::SignEvent) {
            KindSet::new()
        } else {
            kinds
        };
        Perms { full, kinds }
    }
}

/// The part of `input` that [`Perms::parse`] reads: all of it up to [`MAX_PERMS_INPUT_BYTES`],
/// otherwise the items that end within that many bytes (cut at the last comma).
fn bounded(input: &str) -> &str {
    if input.len() <= MAX_PERMS_INPUT_BYTES {
        return input;
    }
    // Look one byte further: a comma right after the limit means the last item ended in time.
    let head = &input.as_bytes()[..=MAX_PERMS_INPUT_BYTES];
    match head.iter().rposition(|&b| b == b',') {
        // A comma is ASCII, so its index is a char boundary.
        Some(comma) => &input[..comma],
        None => "",
    }
}

/// One trimmed, non-empty item: its method and, for `sign_event:<kind>`, the kind.
fn parse_item(item: &str) -> Option<(Method, Option<u16>)> {
    let (name, param) = match item.split_once(':') {
        Some((name, param)) => (name.trim_end(), Some(param.trim_start())),
        None => (item, None),
    };
    let method = Method::from_name(name)?;
    match param {
        None => Some((method, None)),
        Some(param) if method == Method::SignEvent => Some((method, Some(parse_kind(param)?))),
        // NIP-46 defines no params for other methods yet ("to be defined later").
        Some(_) => None,
    }
}

/// A kind written in decimal digits only (no sign, no spaces inside), 0..=65535.
fn parse_kind(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let result = if first { Ok(()) } else { f.write_str(",") };
            first = false;
            result
        };
        for method in Method::ALL {
            if self.full.contains(method) {
                sep(f)?;
                f.write_str(method.name())?;
            } else if method == Method::SignEvent {
                for kind in self.kinds.iter() {
                    sep(f)?;
                    write!(f, "sign_event:{kind}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Perms({:?})", self.to_string())
    }
}

impl FromStr for Perms {
    type Err = std::convert::Infallible;

    /// [`Perms::parse`]; never fails.
    fn from_str(s: &str) -> Result<Perms, Self::Err> {
        Ok(Perms::parse(s))
    }
}

impl Serialize for Perms {
    /// The canonical perms string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Perms {
    /// A JSON string, read with [`Perms::parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Perms::parse(&text))
    }
}

/// What a session was granted at `connect`: `requested perms ∩ policy`. Stored with the session as
/// the canonical perms string (`Display`/`FromStr`/serde), e.g. `"nip44_encrypt,sign_event:1"`.
///
/// A grant never widens on its own: [`check`] intersects it with the *current* policy on every
/// request, and [`Grant::narrow`] rewrites a stored grant when an admin tightens a policy. Widening a
/// policy reaches a session at its client's next `connect`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Grant(Perms);

impl Grant {
    /// The grant for a `connect` that requested `requested` (param 2 or the `nostrconnect://`
    /// `perms`, parsed with [`Perms::parse`]) under `policy`: `requested ∩ policy`, with explicitly
    /// requested dangerous kinds kept only if the policy opens them.
    ///
    /// Empty requested perms (absent, `""`, or nothing we recognise) grant the policy itself
    /// ([`Policy::to_perms`]). Most real clients send no perms (nostr-tools and Amethyst often omit
    /// them), and granting them nothing would break them; NIP-46 calls requested perms a "user
    /// convenience" and leaves the decision to the signer, and the policy is the admin's statement
    /// of what this user's clients may do.
    pub fn negotiate(requested: &Perms, policy: &Policy) -> Grant {
        if requested.is_empty() {
            Grant(policy.to_perms())
        } else {
            Grant(restrict(requested, policy))
        }
    }

    /// This grant restricted to `policy`, for when an admin tightens a user's policy: the result
    /// never allows more than `self` or `policy`. An empty grant stays empty.
    pub fn narrow(&self, policy: &Policy) -> Grant {
        Grant(restrict(&self.0, policy))
    }

    /// The granted permissions.
    pub fn perms(&self) -> &Perms {
        &self.0
    }
}

/// `perms ∩ policy`, without the listed kinds that the policy's dangerous-kind gate closes (a bare
/// `sign_event` in the policy would otherwise let them through the intersection).
fn restrict(perms: &Perms, policy: &Policy) -> Perms {
    let mut result = perms.intersect(&policy.to_perms());
    if result.kinds.iter().any(|k| !policy.gate(k)) {
        result.kinds = result.kinds.iter().filter(|k| policy.gate(*k)).collect();
    }
    result
}

impl From<Perms> for Grant {
    /// A grant of exactly `perms`, e.g. one read back from a session record.
    fn from(perms: Perms) -> Grant {
        Grant(perms)
    }
}

impl fmt::Display for Grant {
    /// The canonical perms string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Grant({:?})", self.0.to_string())
    }
}

impl FromStr for Grant {
    type Err = std::convert::Infallible;

    /// Reads a stored grant with [`Perms::parse`]; never fails. Unlike [`Grant::negotiate`], an
    /// empty string is an empty grant.
    fn from_str(s: &str) -> Result<Grant, Self::Err> {
        Ok(Grant(Perms::parse(s)))
    }
}

impl Serialize for Grant {
    /// The canonical perms string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Grant {
    /// A JSON string, read as [`Grant::from_str`] does.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Perms::deserialize(deserializer).map(Grant)
    }
}

/// One permission in perms syntax: a method and, for `sign_event`, the kind. `Display`:
/// `nip44_decrypt`, `sign_event:0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    /// The method.
    pub method: Method,
    /// The `sign_event` kind; `None` for other methods.
    pub kind: Option<u16>,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Some(kind) => write!(f, "{}:{kind}", self.method.name()),
            None => f.write_str(self.method.name()),
        }
    }
}

/// Why [`check`] refused a request. `Display` texts are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenyReason {
    /// The session's grant does not include the permission (it was not requested at `connect`,
    /// or the policy did not allow it then).
    #[error("not granted to this session")]
    NotGranted,
    /// The user's current policy does not allow the method or the kind.
    #[error("not allowed by this user's policy")]
    NotAllowedByPolicy,
    /// The kind is one of [`DANGEROUS_KINDS`] and the policy has not opened it.
    #[error("dangerous kind; an admin must allow it")]
    DangerousKind,
    /// The template's `created_at` differs from `now` by more than the policy's bound.
    #[error("created_at too far from the signer's clock")]
    CreatedAtOutOfBounds {
        /// The policy's bound, in seconds.
        max_skew_secs: u64,
    },
}

impl DenyReason {
    /// Stable snake_case code for audit records and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            DenyReason::NotGranted => "not_granted",
            DenyReason::NotAllowedByPolicy => "not_allowed_by_policy",
            DenyReason::DangerousKind => "dangerous_kind",
            DenyReason::CreatedAtOutOfBounds { .. } => "created_at_out_of_bounds",
        }
    }
}

/// A refused request: the missing permission and why. `Display` is fixed text without the
/// permission; [`Denied::message`] is the text for the NIP-46 error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("permission denied: {reason}")]
pub struct Denied {
    permission: Permission,
    reason: DenyReason,
}

impl Denied {
    /// The permission the request needed, e.g. `sign_event:0` or `nip44_decrypt`.
    pub fn permission(&self) -> Permission {
        self.permission
    }

    /// Why it was refused.
    pub fn reason(&self) -> DenyReason {
        self.reason
    }

    /// Stable snake_case code: [`DenyReason::code`].
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }

    /// The NIP-46 error reply text, e.g. `permission denied: sign_event:0 (dangerous kind; an admin
    /// must allow it)`. It names only the method, the kind the client itself sent, and the policy's
    /// skew bound.
    pub fn message(&self) -> String {
        let why = match self.reason {
            DenyReason::CreatedAtOutOfBounds { max_skew_secs } => {
                format!("created_at more than {max_skew_secs} s from the signer's clock")
            }
            other => other.to_string(),
        };
        format!("permission denied: {} ({why})", self.permission)
    }
}

/// The per-request decision: may this session call `method` now?
///
/// - `kind`: the `sign_event` template's kind; ignored for other methods.
/// - `created_at`: the template's `created_at` in Unix seconds, `None` when the template has none
///   (the signer then uses `now`); ignored for other methods.
/// - `now`: the signer's clock, Unix seconds.
///
/// Always-allowed methods ([`Method::is_always_allowed`]) pass. Otherwise the checks run in this
/// order, so that the refusal names the most fundamental obstacle: the policy allows the method (and
/// for `sign_event` the kind); a dangerous kind is opened; the grant includes the permission; the
/// `created_at` skew is within the policy's bound. Allocation-free on success.
///
/// # Errors
///
/// [`Denied`] naming the missing permission (`sign_event:<kind>` for `sign_event`, the method name
/// otherwise) and a [`DenyReason`]: [`DenyReason::NotAllowedByPolicy`],
/// [`DenyReason::DangerousKind`], [`DenyReason::NotGranted`] or
/// [`DenyReason::CreatedAtOutOfBounds`]. A `sign_event` check with `kind: None` is refused as
/// `sign_event`, not allowed by policy: without a kind, neither the kind list nor the dangerous-kind
/// gate can be applied.
pub fn check(
    grant: &Grant,
    policy: &Policy,
    method: Method,
    kind: Option<u16>,
    created_at: Option<u64>,
    now: u64,
) -> Result<(), Denied> {
    if method.is_always_allowed() {
        return Ok(());
    }
    let signing = method == Method::SignEvent;
    let permission = Permission {
        method,
        kind: if signing { kind } else { None },
    };
    let deny = |reason| Err(Denied { permission, reason });
    if !policy.methods.contains(method) {
        return deny(DenyReason::NotAllowedByPolicy);
    }
    if signing {
        let Some(kind) = kind else {
            return deny(DenyReason::NotAllowedByPolicy);
        };
        if let Some(reason) = policy.sign_denial(kind) {
            return deny(reason);
        }
    }
    if !grant.0.allows(method, permission.kind) {
        return deny(DenyReason::NotGranted);
    }
    if signing {
        if let (Some(max_skew_secs), Some(created_at)) =
            (policy.max_created_at_skew_secs, created_at)
        {
            if created_at.abs_diff(now) > max_skew_secs {
                return deny(DenyReason::CreatedAtOutOfBounds { max_skew_secs });
            }
        }
    }
    Ok(())
}
