//! Signing policy and NIP-46 permissions: what a user's clients may do, and the check run on every
//! request.
//!
//! Three layers, from the admin down to one request:
//!
//! - [`Policy`]: set by an admin per tenant (the default) and per user (an override): allowed
//!   [`Method`]s, which kinds `sign_event` may sign, which kinds are closed ([`Policy::deny_kinds`],
//!   by default [`DEFAULT_DENY_KINDS`]: what moves money or hands over control), whether a client's
//!   requested perms narrow its session ([`GrantMode`]), the `created_at` skew bound and the session
//!   lifetime. Stored as JSON with stable field names.
//! - [`Grant`]: what a session carries from its `connect`: the perms the client requested and, when
//!   the bunker URI carried them, the perms an admin pre-approved. Neither is a snapshot of the policy.
//! - [`check`]: the per-request decision, always against the user's *current* policy: an admin
//!   widening or narrowing a policy reaches every live session at its next request.
//!
//! Requested perms are a request, not a cap (NIP-46 calls them a convenience and leaves the decision
//! to the signer): under the default [`GrantMode::Policy`] a session may do what the policy allows,
//! whatever its client asked for, because real clients ask for too little (welshman asks for
//! `sign_event:22242` and the ciphers, then signs notes). A tenant that wants sessions held to what
//! their clients asked for sets [`GrantMode::Requested`]. Perms pre-approved on a bunker URI are the
//! admin's own statement and always cap the session.
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
//! [`GrantMode`], [`Grant`], [`check`], [`Denied`], [`DenyReason`], [`PolicyError`],
//! [`DEFAULT_DENY_KINDS`].
//!
//! Layout: the permission vocabulary ([`Method`], [`MethodSet`], [`KindSet`], [`Perms`],
//! [`Permission`] and the perms input bounds) is in the private `perms` submodule and re-exported
//! here; this file holds the policy, its validation, grants and [`check`].

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

mod perms;

pub use perms::{
    KindSet, Method, MethodSet, Permission, Perms, MAX_PERMS_INPUT_BYTES, MAX_PERMS_ITEMS,
};

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

/// Most kinds a [`Policy`]'s `sign_kinds` or `deny_kinds` list may hold ([`Policy::validate`]).
/// Hand-written kind lists hold tens; the bound keeps a user record small (2 bytes a kind), and
/// every user record is loaded at start.
pub const MAX_POLICY_KINDS: usize = 1024;

/// Largest `max_created_at_skew_secs` [`Policy::validate`] accepts: one year, in seconds. A larger
/// bound protects nothing (use `null` for no bound), and a value this large is usually a unit mistake:
/// any skew of 9 hours or more written in milliseconds exceeds it.
pub const MAX_SKEW_BOUND_SECS: u64 = 365 * 86_400;

/// Largest `session_ttl_secs` [`Policy::validate`] accepts: ten years, in seconds (use `null` for
/// sessions that never expire).
pub const MAX_SESSION_TTL_SECS: u64 = 10 * 365 * 86_400;

/// Default `max_created_at_skew_secs`: 7 days, in seconds.
///
/// Why 7 days: the bound exists so that a hijacked or buggy client cannot post-date an event far into
/// the future (a replaceable event dated next year stays the "newest" one and masks every real update
/// until then) or back-date it into someone else's history. Clock drift between devices is seconds
/// to minutes, but legitimate uses lie further out: scheduled posts signed ahead of time and drafts
/// signed late. A week allows those and caps the harm of a post-dated replaceable event to a week.
pub const DEFAULT_MAX_SKEW_SECS: u64 = 7 * 86_400;

/// The kinds a new [`Policy`] closes ([`Policy::deny_kinds`]'s default). Sorted ascending (checked
/// by a test). Everything else is signable by default, including what everyday clients need:
/// profile (0), follows (3), deletions (5), relay lists (10002, the NIP-51 lists), DMs (13, 14,
/// 1059), relay AUTH (22242), NIP-98 HTTP auth (27235) and Blossom auth (24242).
///
/// What stays closed is what moves money or hands over control, or cannot be undone:
///
/// | kind | event | why closed | source |
/// |---|---|---|---|
/// | 62 | request to vanish | asks relays to delete *everything* the user ever published; cannot be undone | NIP-62 |
/// | 7374 | reserved Cashu wallet tokens (mint quote) | wallet state | NIP-60 |
/// | 7375 | Cashu wallet tokens (unspent proofs) | wallet state: forged or rolled-over proofs | NIP-60 |
/// | 7376 | Cashu wallet spending history | wallet state | NIP-60 |
/// | 9321 | nutzap | sends ecash | NIP-61 |
/// | 10019 | nutzap informational event | replaceable: names the mints and key that receive the user's nutzaps | NIP-61 |
/// | 13194 | wallet service info | Nostr Wallet Connect: advertises a wallet service as the user | NIP-47 |
/// | 17375 | Cashu wallet event | replaceable: replaces the wallet's mints and P2PK key | NIP-60 |
/// | 23194 | wallet request | Nostr Wallet Connect: payment commands | NIP-47 |
/// | 23195 | wallet response | Nostr Wallet Connect | NIP-47 |
/// | 23196 | wallet notification (NIP-04) | Nostr Wallet Connect | NIP-47 |
/// | 23197 | wallet notification (NIP-44) | Nostr Wallet Connect | NWC-02 |
/// | 24133 | NIP-46 message | signed with the user key, it lets a client act as this user's remote signer toward other apps (answer their `nostrconnect://` pairing) | NIP-46 |
///
/// Where the kinds were checked: NIP-47 (<https://github.com/nostr-protocol/nips/blob/master/47.md>
/// §"Events") lists 13194, 23194, 23195 and 23196; 23197 is defined in NWC-02 "Notifications"
/// (<https://github.com/nostr-wallet-connect/nwc/blob/main/02.md>), the spec that NIP-47's
/// notifications moved to. NIP-60 (<https://github.com/nostr-protocol/nips/blob/master/60.md>)
/// defines 17375, 7375, 7376 and 7374; NIP-61 (<https://github.com/nostr-protocol/nips/blob/master/61.md>)
/// 9321 and 10019; NIP-62 (<https://github.com/nostr-protocol/nips/blob/master/62.md>) 62.
pub const DEFAULT_DENY_KINDS: [u16; 13] = [
    62, 7374, 7375, 7376, 9321, 10019, 13194, 17375, 23194, 23195, 23196, 23197, 24133,
];

/// The kinds that policies stored before [`Policy::deny_kinds`] existed kept closed unless listed in
/// their `allow_dangerous_kinds`. A stored policy in that form keeps exactly what it closed: reading
/// it gives `deny_kinds` = these kinds minus the ones it opened.
const LEGACY_GATED_KINDS: [u16; 16] = [
    0, 3, 5, 62, 7374, 7375, 7376, 10002, 13194, 17375, 22242, 23194, 23195, 23196, 23197, 27235,
];

/// Which kinds `sign_event` may sign under a [`Policy`]. JSON: the string `"any"` or an array of
/// kinds, e.g. `[1,7,30023]`. Either way, [`Policy::deny_kinds`] are refused.
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

/// Whether the perms a client requests at `connect` narrow its session. JSON: `"policy"` or
/// `"requested"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantMode {
    /// A session may do what the policy allows; requested perms are recorded, not enforced.
    /// Default: mainstream clients request less than they use.
    #[default]
    Policy,
    /// A session may do only what its client requested (∩ the policy). A `connect` that requested
    /// nothing recognisable (absent or `""` perms) is held to the policy alone: most clients send
    /// no perms, and granting them nothing would refuse every request.
    Requested,
}

/// What an admin allows a user's clients to do: set per tenant (the default) and per user (an
/// override, which replaces the tenant's policy as a whole).
///
/// JSON, with stable field names; a missing field takes its default, an unknown field is an error:
///
/// ```json
/// {"methods":["connect","get_public_key","logout","nip04_decrypt","nip04_encrypt","nip44_decrypt",
///  "nip44_encrypt","ping","sign_event","switch_relays"],"sign_kinds":"any",
///  "deny_kinds":[62,7374,7375,7376,9321,10019,13194,17375,23194,23195,23196,23197,24133],
///  "grant":"policy","max_created_at_skew_secs":604800,"session_ttl_secs":null,
///  "ask_methods":[],"ask_kinds":[],"ask_new_clients":false}
/// ```
///
/// Reading also accepts the earlier form with `allow_dangerous_kinds` instead of `deny_kinds` (and
/// keeps what it closed, see `LEGACY_GATED_KINDS` in the source); giving both is an error. Writing
/// always uses `deny_kinds`.
///
/// Deserializing checks shapes only; call [`Policy::validate`] on admin input before storing it.
/// `Default`: every method, any kind except [`DEFAULT_DENY_KINDS`], requested perms not enforced
/// ([`GrantMode::Policy`]), a 7-day `created_at` bound ([`DEFAULT_MAX_SKEW_SECS`]), sessions that do
/// not expire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyWire")]
pub struct Policy {
    /// Methods the user's clients may call. Default: all of them. The always-allowed methods
    /// ([`Method::is_always_allowed`]) pass [`check`] whether or not they are listed here.
    pub methods: MethodSet,
    /// Kinds `sign_event` may sign. Default: [`SignKinds::Any`].
    pub sign_kinds: SignKinds,
    /// Kinds `sign_event` refuses whatever `sign_kinds` says. Default: [`DEFAULT_DENY_KINDS`];
    /// `[]` closes nothing. Any kind may be listed.
    pub deny_kinds: KindSet,
    /// Whether requested perms narrow a session. Default: [`GrantMode::Policy`].
    pub grant: GrantMode,
    /// When set, `sign_event` refuses a template whose `created_at` differs from the signer's `now`
    /// by more than this many seconds (either direction). `None` (JSON `null`): no bound.
    /// Default: `Some(`[`DEFAULT_MAX_SKEW_SECS`]`)` (7 days; the reason is documented there).
    /// A template without `created_at` is signed with `now` and always passes.
    pub max_created_at_skew_secs: Option<u64>,
    /// When set, a session ends this many seconds after its `connect`: its next request is answered
    /// `unauthorized: session expired` and the client needs a new bunker URI. Applies to live
    /// sessions too (measured from their `connect`). `None` (JSON `null`, the default): no expiry.
    pub session_ttl_secs: Option<u64>,
    /// Methods whose requests wait for an admin's approval (NIP-46 `auth_url`) unless the
    /// session's client was told to be remembered for them. Default: none.
    pub ask_methods: MethodSet,
    /// Kinds whose `sign_event` waits for an admin's approval, as [`Policy::ask_methods`]. Default:
    /// none.
    pub ask_kinds: KindSet,
    /// Whether every request of a client (but the always-allowed methods) waits for approval
    /// until an admin approved one of its requests with "remember": a new client is confirmed by
    /// a person before it signs anything. Default: `false`.
    pub ask_new_clients: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            methods: MethodSet::all(),
            sign_kinds: SignKinds::Any,
            deny_kinds: DEFAULT_DENY_KINDS.into_iter().collect(),
            grant: GrantMode::Policy,
            max_created_at_skew_secs: Some(DEFAULT_MAX_SKEW_SECS),
            session_ttl_secs: None,
            ask_methods: MethodSet::empty(),
            ask_kinds: KindSet::new(),
            ask_new_clients: false,
        }
    }
}

/// The JSON form [`Policy`] is read from: today's fields plus the legacy `allow_dangerous_kinds`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyWire {
    #[serde(default = "MethodSet::all")]
    methods: MethodSet,
    #[serde(default)]
    sign_kinds: SignKinds,
    #[serde(default)]
    deny_kinds: Option<KindSet>,
    #[serde(default)]
    allow_dangerous_kinds: Option<KindSet>,
    #[serde(default)]
    grant: GrantMode,
    #[serde(default = "default_skew")]
    max_created_at_skew_secs: Option<u64>,
    #[serde(default)]
    session_ttl_secs: Option<u64>,
    #[serde(default)]
    ask_methods: MethodSet,
    #[serde(default)]
    ask_kinds: KindSet,
    #[serde(default)]
    ask_new_clients: bool,
}

fn default_skew() -> Option<u64> {
    Some(DEFAULT_MAX_SKEW_SECS)
}

impl TryFrom<PolicyWire> for Policy {
    type Error = &'static str;

    fn try_from(wire: PolicyWire) -> Result<Policy, Self::Error> {
        let deny_kinds = match (wire.deny_kinds, wire.allow_dangerous_kinds) {
            (Some(_), Some(_)) => {
                return Err("give deny_kinds or the older allow_dangerous_kinds, not both")
            }
            (Some(deny), None) => deny,
            (None, Some(opened)) => LEGACY_GATED_KINDS
                .into_iter()
                .filter(|k| !opened.contains(*k))
                .collect(),
            (None, None) => DEFAULT_DENY_KINDS.into_iter().collect(),
        };
        Ok(Policy {
            methods: wire.methods,
            sign_kinds: wire.sign_kinds,
            deny_kinds,
            grant: wire.grant,
            max_created_at_skew_secs: wire.max_created_at_skew_secs,
            session_ttl_secs: wire.session_ttl_secs,
            ask_methods: wire.ask_methods,
            ask_kinds: wire.ask_kinds,
            ask_new_clients: wire.ask_new_clients,
        })
    }
}

impl Policy {
    /// Checks an admin-supplied policy before it is stored.
    ///
    /// # Errors
    ///
    /// - [`PolicyError::SkewTooLarge`]: `max_created_at_skew_secs` is over [`MAX_SKEW_BOUND_SECS`].
    /// - [`PolicyError::TooManyKinds`]: `sign_kinds`, `deny_kinds` or `ask_kinds` lists more
    ///   than [`MAX_POLICY_KINDS`] kinds.
    /// - [`PolicyError::SessionTtlOutOfRange`]: `session_ttl_secs` is 0 or over
    ///   [`MAX_SESSION_TTL_SECS`].
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self
            .max_created_at_skew_secs
            .is_some_and(|s| s > MAX_SKEW_BOUND_SECS)
        {
            return Err(PolicyError::SkewTooLarge);
        }
        let listed = match &self.sign_kinds {
            SignKinds::Only(kinds) => kinds.len(),
            SignKinds::Any => 0,
        };
        if listed > MAX_POLICY_KINDS
            || self.deny_kinds.len() > MAX_POLICY_KINDS
            || self.ask_kinds.len() > MAX_POLICY_KINDS
        {
            return Err(PolicyError::TooManyKinds);
        }
        if self
            .session_ttl_secs
            .is_some_and(|t| t == 0 || t > MAX_SESSION_TTL_SECS)
        {
            return Err(PolicyError::SessionTtlOutOfRange);
        }
        Ok(())
    }

    /// Whether a request that [`check`] allowed and that needs `permission` waits for an admin's
    /// approval: with [`Policy::ask_new_clients`] when its client is not `confirmed` yet; else when
    /// its method is in [`Policy::ask_methods`] or its `sign_event` kind in [`Policy::ask_kinds`],
    /// and `remembered` (what admins approved for this client with "remember") does not allow
    /// it. The always-allowed methods never wait. Allocation-free.
    pub fn asks(&self, permission: Permission, remembered: &Perms, confirmed: bool) -> bool {
        let Permission { method, kind } = permission;
        if method.is_always_allowed() {
            return false;
        }
        if self.ask_new_clients && !confirmed {
            return true;
        }
        let listed = self.ask_methods.contains(method)
            || (method == Method::SignEvent && kind.is_some_and(|k| self.ask_kinds.contains(k)));
        listed && !remembered.allows(method, kind)
    }

    /// Whether this policy lets `sign_event` sign `kind`: the method is allowed, the kind is in
    /// `sign_kinds` and not in `deny_kinds`. Allocation-free.
    pub fn allows_kind(&self, kind: u16) -> bool {
        self.sign_denial(kind).is_none()
    }

    /// The policy as a perms value (what a session may do when nothing else narrows it), for
    /// display. `sign_kinds: "any"` becomes a bare `sign_event`: perms syntax cannot say "any kind
    /// but these", so `deny_kinds` stay with the policy and are applied by [`check`]. An explicit
    /// kind list keeps only the kinds [`Policy::allows_kind`] accepts.
    pub fn to_perms(&self) -> Perms {
        let mut full = self.methods.without(Method::SignEvent);
        let mut kinds = KindSet::new();
        if self.methods.contains(Method::SignEvent) {
            match &self.sign_kinds {
                SignKinds::Any => full = full.with(Method::SignEvent),
                SignKinds::Only(list) => {
                    kinds = list
                        .iter()
                        .filter(|k| !self.deny_kinds.contains(*k))
                        .collect()
                }
            }
        }
        Perms { full, kinds }
    }

    /// When a session that connected at `connected_at` (Unix seconds) ends under this policy, given
    /// the expiry its bunker URI set (`uri_expiry`, Unix seconds): the earlier of the two, `None`
    /// when neither bounds it.
    pub fn session_expiry(&self, connected_at: u64, uri_expiry: Option<u64>) -> Option<u64> {
        let by_policy = self
            .session_ttl_secs
            .map(|ttl| connected_at.saturating_add(ttl));
        match (by_policy, uri_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Why this policy refuses `sign_event` of `kind`, or `None` when it allows it.
    fn sign_denial(&self, kind: u16) -> Option<DenyReason> {
        if !self.methods.contains(Method::SignEvent) || !self.sign_kinds.contains(kind) {
            Some(DenyReason::NotAllowedByPolicy)
        } else if self.deny_kinds.contains(kind) {
            Some(DenyReason::KindDenied)
        } else {
            None
        }
    }
}

/// Why [`Policy::validate`] refused a policy. `Display` texts are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `max_created_at_skew_secs` is over [`MAX_SKEW_BOUND_SECS`].
    #[error("max_created_at_skew_secs is over one year (31536000 seconds); use null for no bound")]
    SkewTooLarge,
    /// `sign_kinds`, `deny_kinds` or `ask_kinds` lists more than [`MAX_POLICY_KINDS`] kinds.
    #[error("sign_kinds, deny_kinds or ask_kinds lists more than 1024 kinds")]
    TooManyKinds,
    /// `session_ttl_secs` is 0 or over [`MAX_SESSION_TTL_SECS`].
    #[error(
        "session_ttl_secs must be 1..=315360000 seconds; use null for sessions that do not expire"
    )]
    SessionTtlOutOfRange,
}

impl PolicyError {
    /// Stable snake_case code for the admin API's error body and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::SkewTooLarge => "skew_too_large",
            PolicyError::TooManyKinds => "too_many_kinds",
            PolicyError::SessionTtlOutOfRange => "session_ttl_out_of_range",
        }
    }
}

/// What a session carries from its `connect`: the perms its client requested and, when its bunker
/// URI carried them, the perms an admin pre-approved. [`check`] reads them against the user's
/// current policy on every request; neither is a copy of the policy, so policy changes reach the
/// session at its next request.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Grant {
    requested: Perms,
    approved: Option<Perms>,
}

impl Grant {
    /// The grant of a session whose client requested `requested` (param 2 of `connect` or the
    /// `nostrconnect://` `perms`, parsed with [`Perms::parse`]) over a bunker URI that pre-approved
    /// `approved` (`None`: the URI carried no perms).
    pub fn new(requested: Perms, approved: Option<Perms>) -> Grant {
        Grant {
            requested,
            approved,
        }
    }

    /// What the client requested.
    pub fn requested(&self) -> &Perms {
        &self.requested
    }

    /// What the bunker URI pre-approved, if it carried perms.
    pub fn approved(&self) -> Option<&Perms> {
        self.approved.as_ref()
    }

    /// What this session may do under `policy`, as perms (for display; [`check`] decides). Kinds
    /// in `deny_kinds` stay closed even where the result says a bare `sign_event`.
    pub fn effective(&self, policy: &Policy) -> Perms {
        let mut perms = policy.to_perms();
        if let Some(approved) = &self.approved {
            perms = perms.intersect(approved);
        }
        if self.enforces_requested(policy) {
            perms = perms.intersect(&self.requested);
        }
        perms.kinds = perms
            .kinds
            .iter()
            .filter(|k| !policy.deny_kinds.contains(*k))
            .collect();
        perms
    }

    /// Whether `method` (and `kind`) is within what this grant lets the policy give.
    fn allows(&self, policy: &Policy, method: Method, kind: Option<u16>) -> bool {
        let approved = self
            .approved
            .as_ref()
            .is_none_or(|a| a.allows(method, kind));
        approved && (!self.enforces_requested(policy) || self.requested.allows(method, kind))
    }

    fn enforces_requested(&self, policy: &Policy) -> bool {
        policy.grant == GrantMode::Requested && !self.requested.is_empty()
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("requested", &self.requested.to_string())
            .field("approved", &self.approved.as_ref().map(Perms::to_string))
            .finish()
    }
}

/// Why [`check`] refused a request. `Display` texts are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenyReason {
    /// The session's grant does not include the permission: the bunker URI's pre-approved perms
    /// do not, or the policy's [`GrantMode::Requested`] holds the session to what its client
    /// requested and it did not request it.
    #[error("not granted to this session")]
    NotGranted,
    /// The user's current policy does not allow the method or the kind.
    #[error("not allowed by this user's policy")]
    NotAllowedByPolicy,
    /// The kind is in the policy's [`Policy::deny_kinds`].
    #[error("kind closed by this user's policy")]
    KindDenied,
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
            DenyReason::KindDenied => "kind_denied",
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

    /// The NIP-46 error reply text, e.g. `permission denied: sign_event:23194 (kind closed by this
    /// user's policy)`. It names only the method, the kind the client itself sent, and the policy's
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
/// for `sign_event` the kind, which must not be in `deny_kinds`); the grant allows it (the URI's
/// pre-approved perms, and the requested perms under [`GrantMode::Requested`]); the `created_at`
/// skew is within the policy's bound. Allocation-free on success.
///
/// # Errors
///
/// [`Denied`] naming the missing permission (`sign_event:<kind>` for `sign_event`, the method name
/// otherwise) and a [`DenyReason`]: [`DenyReason::NotAllowedByPolicy`], [`DenyReason::KindDenied`],
/// [`DenyReason::NotGranted`] or [`DenyReason::CreatedAtOutOfBounds`]. A `sign_event` check with
/// `kind: None` is refused as `sign_event`, not allowed by policy: without a kind, neither the kind
/// list nor `deny_kinds` can be applied.
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
    if !grant.allows(policy, method, permission.kind) {
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
