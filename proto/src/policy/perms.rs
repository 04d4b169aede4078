//! The NIP-46 permission vocabulary: the [`Method`]s a permission can name, the sets
//! [`MethodSet`] and [`KindSet`], and [`Perms`], a permission list parsed from and rendered to its
//! canonical perms string, with [`Permission`], one item of it.
//!
//! Plain set semantics only: the always-allowed methods and the policy's closed kinds belong to the
//! parent module ([`Policy`](super::Policy) and [`check`](super::check)), which re-exports every
//! public item here.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::SignKinds;

/// Longest perms input [`Perms::parse`] looks at, in bytes (4 KiB). Real clients send well under
/// 200 bytes (the NIP-46 `nostrconnect://` example is 76); the bound keeps parsing cheap for a
/// hostile client. Only items that end within this prefix are read, so an item is never cut in two
/// (a cut `sign_event:12` would read as `sign_event:1`).
pub const MAX_PERMS_INPUT_BYTES: usize = 4096;

/// Most non-empty perms items [`Perms::parse`] looks at; later items are ignored. There are ten
/// methods, so only `sign_event:<kind>` lists can be long, and 256 kinds is far beyond any client.
pub const MAX_PERMS_ITEMS: usize = 256;

/// A NIP-46 method that a permission can name (NIP-46 §"Methods", `docs/protocol-notes.md` §4).
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

    /// Whether [`check`](super::check) allows this method to any client with a session, whatever
    /// its grant and policy say: `connect`, `ping`, `logout`, `switch_relays` and `get_public_key`.
    /// They sign nothing and reveal only the user pubkey (which `sign_event` results reveal anyway),
    /// and clients call them unconditionally, so refusing them only breaks the client.
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

/// A parsed NIP-46 permission list (NIP-46 §"Requested permissions",
/// <https://github.com/nostr-protocol/nips/blob/master/46.md#requested-permissions>;
/// `docs/protocol-notes.md` §5):
/// comma-separated `method[:param]`, e.g. `nip44_encrypt,sign_event:4`.
///
/// Only `sign_event` has a defined parameter, the event kind (0..=65535); a bare `sign_event` means
/// any kind. `Display` renders the canonical form: methods in alphabetical order, `sign_event:<kind>`
/// items by ascending kind, no duplicates, and a bare `sign_event` replacing any `sign_event:<kind>`
/// items. That string is what is stored and shown to admins; parsing it gives back an equal value.
///
/// This is plain set semantics: [`Perms::allows`] does not apply the always-allowed methods or the
/// policy's closed kinds; [`check`](super::check) does.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Perms {
    /// Methods granted without a parameter; `sign_event` here means any kind.
    pub(super) full: MethodSet,
    /// `sign_event` kinds; empty whenever `full` contains `sign_event`.
    pub(super) kinds: KindSet,
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
