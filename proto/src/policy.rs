//! Signing policy and NIP-46 permissions: what a user's clients may do, and the check run on every
//! request.
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
//!
//! Layout: the permission vocabulary ([`Method`], [`MethodSet`], [`KindSet`], [`Perms`],
//! [`Permission`] and the perms input bounds) is in the private `perms` submodule and re-exported
//! here; this file holds the policy, its validation, grants and [`check`].

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

mod perms;

pub use perms::{
    KindSet, Method, MethodSet, Permission, Perms, MAX_PERMS_INPUT_BYTES, MAX_PERMS_ITEMS,
};

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

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
/// [`Policy::allow_dangerous_kinds`]. Sorted ascending (checked by a test).
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
