//! Request bodies: what each route reads, how strictly, and the schema the OpenAPI document gives
//! for it.
//!
//! Every body is a JSON object with no unknown field ([`super::de::object`]). Each type's
//! [`Input::check`] makes the checks its schema declares (lengths in characters, patterns, ranges)
//! and answers `400` with the code of the field's kind; what no schema can say (a key on the curve,
//! a bech32 checksum, a password that decrypts, a name another user holds) is the signer's to
//! refuse. Most schemas are derived ([`utoipa::ToSchema`]); the ones a derive cannot express
//! (`oneOf` the key fields of [`UserCreate`], the signing policy) are written out in
//! [`written_schemas`].

use super::de::{self, double_option};
use crate::admin::validate::{self as v, MAX_NAME_CHARS};
use crate::admin::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// A request body: parsed from a JSON object, then checked.
pub(crate) trait Input: serde::de::DeserializeOwned {
    /// The checks the body's schema declares beyond types and unknown fields.
    ///
    /// # Errors
    ///
    /// `400` with the field's code (`invalid_input`, `invalid_pubkey`, …) and a message naming the
    /// field, never its value.
    fn check(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

fn invalid(message: &'static str) -> ApiError {
    ApiError::bad_request("invalid_input", message)
}

/// `name` (if present) has `min..=128` characters.
fn check_name(name: Option<&str>, min: usize, field: &'static str) -> Result<(), ApiError> {
    match name {
        Some(n) if !v::name(n, min) => Err(ApiError::bad_request(
            "invalid_input",
            format!("{field} must be {min} to {MAX_NAME_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

fn check_nip05_name(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        Some(n) if !v::nip05_name(n) => Err(invalid(
            "nip05_name must be 1 to 64 characters of a-z 0-9 - _ .",
        )),
        _ => Ok(()),
    }
}

/// `POST /v1/tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantCreate {
    /// Display name, 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128)]
    pub(crate) name: String,
}

impl Input for TenantCreate {
    fn check(&self) -> Result<(), ApiError> {
        check_name(Some(&self.name), 1, "name")
    }
}

/// `PATCH /v1/tenants/{tenant}`: absent fields are left as they are (so is `null` for `name` and
/// `limits`); `nip05_domain: null` removes the domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantUpdate {
    /// New display name, 1 to 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    pub(crate) name: Option<String>,
    /// New NIP-05 domain (a lowercase DNS name, at most 253 characters); `null` removes it.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, max_length = 253)]
    pub(crate) nip05_domain: Option<Option<String>>,
    /// New limits (operator only; `403 forbidden` for a tenant credential).
    #[serde(
        default,
        deserialize_with = "de::object_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) limits: Option<TenantLimits>,
    /// Allow (`true`) or forbid NIP-49 key export of the tenant's users (operator only; `403
    /// forbidden` for a tenant credential). Off for a new tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) key_export: Option<bool>,
}

impl Input for TenantUpdate {
    fn check(&self) -> Result<(), ApiError> {
        check_name(self.name.as_deref(), 1, "name")?;
        match &self.nip05_domain {
            Some(Some(d)) if !v::domain(d) => Err(invalid(
                "nip05_domain must be a lowercase DNS name of at most 253 characters",
            )),
            _ => Ok(()),
        }
    }
}

/// Per-tenant limits, set by the operator (`null`: no tenant-specific limit). `max_users` is
/// enforced at user creation; request rates by the relay. Each is 0 to 4294967295.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantLimits {
    /// Most users the tenant may have.
    #[serde(default)]
    #[schema(maximum = 4_294_967_295_u32)]
    pub(crate) max_users: Option<u32>,
    /// Sustained NIP-46 requests per second for the whole tenant.
    #[serde(default)]
    #[schema(maximum = 4_294_967_295_u32)]
    pub(crate) requests_per_sec: Option<u32>,
    /// Burst of requests above the sustained rate.
    #[serde(default)]
    #[schema(maximum = 4_294_967_295_u32)]
    pub(crate) burst: Option<u32>,
}

impl From<signer::directory::TenantLimits> for TenantLimits {
    fn from(l: signer::directory::TenantLimits) -> Self {
        TenantLimits {
            max_users: l.max_users,
            requests_per_sec: l.requests_per_sec,
            burst: l.burst,
        }
    }
}

impl From<TenantLimits> for signer::directory::TenantLimits {
    fn from(l: TenantLimits) -> Self {
        signer::directory::TenantLimits {
            max_users: l.max_users,
            requests_per_sec: l.requests_per_sec,
            burst: l.burst,
        }
    }
}

/// `POST /v1/tenants/{tenant}/admin-tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminTokenCreate {
    /// Label, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 128)]
    pub(crate) name: Option<String>,
}

impl Input for AdminTokenCreate {
    fn check(&self) -> Result<(), ApiError> {
        check_name(self.name.as_deref(), 0, "name")
    }
}

/// `POST /v1/tenants/{tenant}/admin-pubkeys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminPubkeyAdd {
    /// 64 hex characters (either case) or `npub1…`, of a valid secp256k1 x-only key.
    pub(crate) pubkey: String,
    /// Label, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 128)]
    pub(crate) name: Option<String>,
}

impl Input for AdminPubkeyAdd {
    fn check(&self) -> Result<(), ApiError> {
        if !v::pubkey_text(&self.pubkey) {
            return Err(ApiError::bad_request(
                "invalid_pubkey",
                "pubkey must be 64 hex characters or an npub1 string",
            ));
        }
        check_name(self.name.as_deref(), 0, "name")
    }
}

/// `POST /v1/tenants/{tenant}/users`: generate a key (no key field), or import one (`secret_key`,
/// or `ncryptsec` with `password`). `Debug` shows only which key fields are present. Its schema
/// is [`user_create_schema`].
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserCreate {
    /// Display name, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// 64 hex or `nsec1…` to import.
    #[serde(
        default,
        deserialize_with = "de::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) secret_key: Option<Zeroizing<String>>,
    /// NIP-49 `ncryptsec1…` to import, with `password`.
    #[serde(
        default,
        deserialize_with = "de::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) ncryptsec: Option<Zeroizing<String>>,
    /// The ncryptsec's password.
    #[serde(
        default,
        deserialize_with = "de::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) password: Option<Zeroizing<String>>,
    /// NIP-05 name (the part before `@`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nip05_name: Option<String>,
}

impl Input for UserCreate {
    fn check(&self) -> Result<(), ApiError> {
        check_name(self.name.as_deref(), 0, "name")?;
        check_nip05_name(self.nip05_name.as_deref())?;
        if self
            .secret_key
            .as_deref()
            .is_some_and(|k| !v::secret_key_text(k))
        {
            return Err(ApiError::bad_request(
                "invalid_secret_key",
                "secret_key must be 64 hex characters or an nsec1 string of a valid secp256k1 key",
            ));
        }
        if self
            .ncryptsec
            .as_deref()
            .is_some_and(|k| !v::ncryptsec_text(k))
        {
            return Err(ApiError::bad_request(
                "invalid_ncryptsec",
                "ncryptsec must be a 162-character lowercase ncryptsec1 string",
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for UserCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCreate")
            .field("name", &self.name)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("ncryptsec", &self.ncryptsec.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("nip05_name", &self.nip05_name)
            .finish()
    }
}

/// `POST …/users/{user}/export`: the password the `ncryptsec` is encrypted under (8 to 256
/// bytes; NFKC-normalised, NIP-49) and the scrypt cost. `Debug` never shows the password.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserKeyExport {
    /// The password to encrypt under, 8 to 256 bytes of UTF-8.
    #[schema(value_type = String, min_length = 8, max_length = 256)]
    pub(crate) password: Zeroizing<String>,
    /// scrypt cost exponent (N = 2^log_n, `2^(log_n + 10)` bytes of memory): 16 (the default)
    /// to this server's `nip49_max_log_n` (18 unless the operator changed it; the schema's
    /// maximum is that default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 16, maximum = 18)]
    pub(crate) log_n: Option<u8>,
}

impl Input for UserKeyExport {
    fn check(&self) -> Result<(), ApiError> {
        if !(8..=256).contains(&self.password.len()) {
            return Err(invalid("password must be 8 to 256 bytes"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for UserKeyExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserKeyExport")
            .field("password", &"<redacted>")
            .field("log_n", &self.log_n)
            .finish()
    }
}

/// `PATCH …/users/{user}`: absent fields are left as they are (so is `disabled: null`); `null`
/// removes a name or NIP-05 name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserUpdate {
    /// New display name, at most 128 characters; `null` removes it.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, max_length = 128)]
    pub(crate) name: Option<Option<String>>,
    /// Disable (`true`) or enable the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) disabled: Option<bool>,
    /// New NIP-05 name; `null` removes it.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub(crate) nip05_name: Option<Option<String>>,
}

impl Input for UserUpdate {
    fn check(&self) -> Result<(), ApiError> {
        check_name(self.name.as_ref().and_then(Option::as_deref), 0, "name")?;
        check_nip05_name(self.nip05_name.as_ref().and_then(Option::as_deref))
    }
}

/// `POST …/users/{user}/bunker-uris`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BunkerUriCreate {
    /// Lifetime, seconds (default 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 31_536_000)]
    pub(crate) ttl_secs: Option<u64>,
    /// Pre-approved NIP-46 permissions, e.g. `sign_event:1,nip44_encrypt`: they cap the session
    /// whatever its client requests. A comma-separated list of methods, `sign_event` with an
    /// optional `:<kind>`, no spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub(crate) perms: Option<String>,
    /// Lifetime of the session this URI creates, seconds from its `connect`; absent: only the
    /// policy's `session_ttl_secs` ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub(crate) session_ttl_secs: Option<u64>,
}

impl Input for BunkerUriCreate {
    fn check(&self) -> Result<(), ApiError> {
        check_perms(self.perms.as_deref())
    }
}

/// `POST …/users/{user}/nostrconnect`: pair the user with the client of a `nostrconnect://` URI.
/// `Debug` leaves the URI out (it carries the client's secret).
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NostrconnectAccept {
    /// The client's `nostrconnect://<client-pubkey>?relay=…&secret=…` URI (NIP-46), as its app
    /// shows it (percent-encoded); at most 8192 bytes.
    #[schema(value_type = String, max_length = 8192, pattern = "^nostrconnect://")]
    pub(crate) uri: Zeroizing<String>,
    /// Pre-approved NIP-46 permissions capping the session whatever the URI's `perms` ask, e.g.
    /// `sign_event:1,nip44_encrypt`; the syntax of a bunker URI's `perms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub(crate) perms: Option<String>,
    /// Lifetime of the session, seconds from now; absent: only the policy's `session_ttl_secs`
    /// ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub(crate) session_ttl_secs: Option<u64>,
}

impl Input for NostrconnectAccept {
    fn check(&self) -> Result<(), ApiError> {
        check_perms(self.perms.as_deref())
    }
}

impl std::fmt::Debug for NostrconnectAccept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NostrconnectAccept")
            .field("perms", &self.perms)
            .field("session_ttl_secs", &self.session_ttl_secs)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/tenants/{tenant}/approvals/{approval_id}/approve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalApprove {
    /// Remember the permission for the request's client: such requests of it no longer ask, and
    /// the client counts as confirmed (the policy's `ask_new_clients`). Default `false`: this
    /// request only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) remember: Option<bool>,
}

impl Input for ApprovalApprove {
    fn check(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// `POST /v1/keys/rotate`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MasterKeyRotate {
    /// Destroy the older master key versions in the provider once every data key is rewrapped
    /// (default `true`). Copies of the store and backups made before then stop opening: keep
    /// `false` while an older backup must stay restorable.
    #[serde(default)]
    pub(crate) retire_old: Option<bool>,
}

impl Input for MasterKeyRotate {}

/// Pre-approved perms, when given, must be in the NIP-46 perms syntax.
fn check_perms(perms: Option<&str>) -> Result<(), ApiError> {
    if perms.is_some_and(|p| !v::perms(p)) {
        return Err(invalid(
            "perms must be a comma-separated list of NIP-46 methods (sign_event:<kind> for one \
             kind), without spaces, at most 1024 characters",
        ));
    }
    Ok(())
}

/// The NIP-46 method names a policy's `methods` may list.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MethodName {
    Connect,
    GetPublicKey,
    Logout,
    Nip04Decrypt,
    Nip04Encrypt,
    Nip44Decrypt,
    Nip44Encrypt,
    Ping,
    SignEvent,
    SwitchRelays,
}

/// `sign_kinds`: `"any"` or a list of kinds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum SignKinds {
    Any(AnyKind),
    Only(Vec<u16>),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AnyKind {
    Any,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Grant {
    Policy,
    Requested,
}

/// The shape of a signing policy as the API reads it ([`policy_schema`]): checked here, then read
/// as a [`proto::policy::Policy`] (which applies the defaults and the older
/// `allow_dangerous_kinds` form) and validated by it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// `methods`, `grant`, `ask_methods` and `ask_new_clients` are read for their shape only.
#[allow(dead_code)]
struct PolicyShape {
    #[serde(default, deserialize_with = "de::non_null")]
    methods: Option<Vec<MethodName>>,
    #[serde(default, deserialize_with = "de::non_null")]
    sign_kinds: Option<SignKinds>,
    #[serde(default, deserialize_with = "de::non_null")]
    deny_kinds: Option<Vec<u16>>,
    #[serde(default, deserialize_with = "de::non_null")]
    allow_dangerous_kinds: Option<Vec<u16>>,
    #[serde(default, deserialize_with = "de::non_null")]
    grant: Option<Grant>,
    #[serde(default, with = "double_option")]
    max_created_at_skew_secs: Option<Option<u64>>,
    #[serde(default, with = "double_option")]
    session_ttl_secs: Option<Option<u64>>,
    #[serde(default, deserialize_with = "de::non_null")]
    ask_methods: Option<Vec<MethodName>>,
    #[serde(default, deserialize_with = "de::non_null")]
    ask_kinds: Option<Vec<u16>>,
    #[serde(default, deserialize_with = "de::non_null")]
    ask_new_clients: Option<bool>,
}

impl PolicyShape {
    fn check(&self) -> Result<(), ApiError> {
        let bad = |message: &'static str| ApiError::bad_request("invalid_policy", message);
        let too_many = |kinds: &Option<Vec<u16>>| {
            kinds
                .as_ref()
                .is_some_and(|k| k.len() > proto::policy::MAX_POLICY_KINDS)
        };
        let only = match &self.sign_kinds {
            Some(SignKinds::Only(kinds)) => Some(kinds.clone()),
            _ => None,
        };
        if too_many(&only)
            || too_many(&self.deny_kinds)
            || too_many(&self.allow_dangerous_kinds)
            || too_many(&self.ask_kinds)
        {
            return Err(bad("a kind list holds more than 1024 kinds"));
        }
        if self.deny_kinds.is_some() && self.allow_dangerous_kinds.is_some() {
            return Err(bad(
                "give deny_kinds or the older allow_dangerous_kinds, not both",
            ));
        }
        if self
            .max_created_at_skew_secs
            .flatten()
            .is_some_and(|s| s > proto::policy::MAX_SKEW_BOUND_SECS)
        {
            return Err(bad(
                "max_created_at_skew_secs must be 0 to 31536000; use null for no bound",
            ));
        }
        if self
            .session_ttl_secs
            .flatten()
            .is_some_and(|t| t == 0 || t > proto::policy::MAX_SESSION_TTL_SECS)
        {
            return Err(bad(
                "session_ttl_secs must be 1 to 315360000; use null for sessions that do not expire",
            ));
        }
        Ok(())
    }
}

/// Reads a policy body (`text`, a JSON object) strictly: its shape ([`PolicyShape`]), then the
/// policy itself.
///
/// # Errors
///
/// `400 invalid_json` for a shape error, `400 invalid_policy` for a value out of its range.
pub(crate) fn parse_policy(text: &[u8]) -> Result<proto::policy::Policy, ApiError> {
    let shape: PolicyShape = crate::admin::parse_object(text)?;
    shape.check()?;
    serde_json::from_slice(text)
        .map_err(|_| ApiError::bad_request("invalid_policy", "the policy does not validate"))
}

/// The schema of a signing policy, as read and as answered.
fn policy_schema() -> Value {
    let kind = json!({"type": "integer", "minimum": 0, "maximum": 65535});
    let kinds = |description: &str| {
        json!({"type": "array", "items": kind, "maxItems": proto::policy::MAX_POLICY_KINDS,
               "description": description})
    };
    let methods: Vec<&str> = proto::policy::Method::ALL
        .iter()
        .map(|m| m.name())
        .collect();
    let mut legacy = kinds(
        "Older form of deny_kinds: the kinds opened among those earlier versions closed. Not \
         with deny_kinds; never answered.",
    );
    legacy["deprecated"] = json!(true);
    json!({
        "type": "object",
        "additionalProperties": false,
        "description": "A signing policy. Every field is optional when writing (an absent one takes \
                        its default); answers carry every field but allow_dangerous_kinds.",
        "properties": {
            "methods": {"type": "array", "items": {"type": "string", "enum": methods},
                        "description": "NIP-46 methods clients may call (default: all)."},
            "sign_kinds": {"oneOf": [
                {"type": "string", "enum": ["any"]},
                kinds("Only these kinds."),
            ], "description": "Kinds sign_event may sign: \"any\" (default) or a list."},
            "deny_kinds": kinds("Kinds sign_event refuses whatever sign_kinds says (default: \
                                 the kinds that move money or hand over control)."),
            "allow_dangerous_kinds": legacy,
            "grant": {"type": "string", "enum": ["policy", "requested"],
                      "description": "Whether requested perms narrow a session (default policy)."},
            "max_created_at_skew_secs": {"type": "integer", "minimum": 0,
                "maximum": proto::policy::MAX_SKEW_BOUND_SECS, "nullable": true,
                "description": "Largest distance of a template's created_at from the signer's \
                                clock, seconds; null: no bound (default 604800)."},
            "session_ttl_secs": {"type": "integer", "minimum": 1,
                "maximum": proto::policy::MAX_SESSION_TTL_SECS, "nullable": true,
                "description": "Sessions end this long after their connect, seconds; null \
                                (default): never."},
            "ask_methods": {"type": "array", "items": {"type": "string", "enum": methods},
                            "description": "Methods whose requests wait for an admin's approval \
                                            (NIP-46 auth_url) unless remembered for the client \
                                            (default: none)."},
            "ask_kinds": kinds("Kinds whose sign_event waits for an admin's approval unless \
                                remembered for the client (default: none)."),
            "ask_new_clients": {"type": "boolean",
                "description": "Every request of a client waits for approval until an admin \
                                approved one with remember (default false)."},
        },
        "not": {"required": ["deny_kinds", "allow_dangerous_kinds"]},
    })
}

/// The schema of [`UserCreate`]: exactly one of generate, import `secret_key`, or import
/// `ncryptsec` with its `password`.
fn user_create_schema() -> Value {
    let common = json!({
        "name": {"type": "string", "maxLength": MAX_NAME_CHARS, "nullable": true,
                 "description": "Display name, at most 128 characters."},
        "nip05_name": {"type": "string", "pattern": v::NIP05_NAME_PATTERN, "nullable": true,
                       "description": "NIP-05 name (the part before @), unique in the tenant."},
    });
    let variant = |extra: Value, required: &[&str], description: &str| {
        let mut properties = common.clone();
        for (k, val) in extra.as_object().expect("an object") {
            properties[k] = val.clone();
        }
        let mut schema = json!({"type": "object", "additionalProperties": false,
                                "properties": properties, "description": description});
        // OpenAPI 3.0 wants a non-empty `required` or none.
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        schema
    };
    json!({
        "description": "A new user: its key generated, or imported as secret_key, or as ncryptsec \
                        with its password (NIP-49; LOG_N at most nip49_max_log_n).",
        "oneOf": [
            variant(json!({}), &[], "Generate a key."),
            variant(
                json!({"secret_key": {"type": "string", "pattern": v::SECRET_KEY_PATTERN,
                       "example": EXAMPLE_SECRET_KEY,
                       "description": "64 hex or nsec1…, of a valid secp256k1 secret key."}}),
                &["secret_key"],
                "Import a secret key.",
            ),
            variant(
                json!({"ncryptsec": {"type": "string", "pattern": v::NCRYPTSEC_PATTERN,
                                     "example": EXAMPLE_NCRYPTSEC,
                                     "description": "NIP-49 ncryptsec1…"},
                       "password": {"type": "string", "example": EXAMPLE_PASSWORD,
                                    "description": "Its password."}}),
                &["ncryptsec", "password"],
                "Import a NIP-49 encrypted key.",
            ),
        ],
    })
}

/// Sets the patterns of derived schemas from [`crate::admin::validate`]'s constants, so that the
/// document and the checks share one text.
pub(crate) fn add_patterns(schemas: &mut [(String, Value)]) {
    let patterns = [
        ("TenantUpdate", "nip05_domain", v::DOMAIN_PATTERN),
        ("AdminPubkeyAdd", "pubkey", v::PUBKEY_PATTERN),
        ("UserUpdate", "nip05_name", v::NIP05_NAME_PATTERN),
        ("BunkerUriCreate", "perms", v::PERMS_PATTERN),
        ("NostrconnectAccept", "perms", v::PERMS_PATTERN),
    ];
    for (schema, field, pattern) in patterns {
        let (_, value) = schemas
            .iter_mut()
            .find(|(name, _)| name == schema)
            .expect("a derived schema");
        value["properties"][field]["pattern"] = json!(pattern);
    }
    // Examples where a value the pattern allows may still be refused (a point off the curve).
    let (_, add) = schemas
        .iter_mut()
        .find(|(name, _)| name == "AdminPubkeyAdd")
        .expect("a derived schema");
    add["properties"]["pubkey"]["example"] = json!(EXAMPLE_PUBKEY);
    let (_, accept) = schemas
        .iter_mut()
        .find(|(name, _)| name == "NostrconnectAccept")
        .expect("a derived schema");
    accept["properties"]["uri"]["example"] = json!(format!(
        "nostrconnect://{EXAMPLE_PUBKEY}?relay=wss%3A%2F%2Frelay.example.com&secret=0b5f7c1e&name=My+App"
    ));
}

/// The document's example of a secret key (hex).
const EXAMPLE_SECRET_KEY: &str = "7e5a39c6f1d2b8a4e0c3f5d7b9a1c2e4f6a8b0c2d4e6f8a1b3c5d7e9f1a3b5c7";
/// The document's example of a public key (that of [`EXAMPLE_SECRET_KEY`]).
const EXAMPLE_PUBKEY: &str = "4f11e817f36c024813e311e2b3160bf0e8e1820b1d3a075347562782acf5c16b";
/// The document's example of an `ncryptsec` ([`EXAMPLE_SECRET_KEY`] at LOG_N 4) and its password.
const EXAMPLE_NCRYPTSEC: &str = "ncryptsec1qgz207rtxfhau9umfpgng3e55sx6hhwvn0lp6zcmrtu0897rvj9tchsalnaxj9w0m7dsr00r9fyq58avgnjr67hdvw2mfgk4ld3r4nkvpgg2r2try7us0rgeqy482j7mzqzv98gzcdyn084j3uqka7dp";
const EXAMPLE_PASSWORD: &str = "correct horse battery staple";

/// The schemas written out rather than derived, by component name.
pub(crate) fn written_schemas() -> Vec<(String, Value)> {
    let policy = policy_schema();
    let mut or_null = policy.clone();
    or_null["nullable"] = json!(true);
    or_null["description"] = json!("A signing policy, or null to use the tenant default.");
    vec![
        ("Policy".to_owned(), policy),
        ("PolicyOrNull".to_owned(), or_null),
        ("UserCreate".to_owned(), user_create_schema()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_are_real_keys() {
        let secret = proto::nostr::SecretKey::from_hex(EXAMPLE_SECRET_KEY).unwrap();
        let decrypted = proto::nostr::nip49::decrypt(EXAMPLE_NCRYPTSEC, EXAMPLE_PASSWORD).unwrap();
        assert_eq!(decrypted.expose_bytes(), secret.expose_bytes());
        assert!(proto::nostr::PublicKey::from_hex(EXAMPLE_PUBKEY).is_ok());
        assert!(v::secret_key_text(EXAMPLE_SECRET_KEY) && v::ncryptsec_text(EXAMPLE_NCRYPTSEC));
        assert!(v::pubkey_text(EXAMPLE_PUBKEY));
    }

    #[test]
    fn bodies_are_objects_and_checked() {
        let parse = |text: &str| crate::admin::parse_object::<BunkerUriCreate>(text.as_bytes());
        assert!(parse("[]").is_err(), "an array of the fields is not a body");
        assert!(parse("{}").is_ok());
        let body = parse(r#"{"perms": "sign_event, ping"}"#).unwrap();
        assert!(body.check().is_err());
        let update: TenantUpdate =
            crate::admin::parse_object(br#"{"limits": null, "name": null}"#).unwrap();
        assert_eq!(update, TenantUpdate::default());
        assert!(crate::admin::parse_object::<TenantUpdate>(br#"{"limits": []}"#).is_err());
        let user: UserCreate = crate::admin::parse_object(br#"{"name": "x"}"#).unwrap();
        assert!(user.check().is_ok());
        assert!(crate::admin::parse_object::<UserCreate>(br#"{"secret_key": null}"#).is_err());
    }

    #[test]
    fn policies_are_read_strictly() {
        assert!(parse_policy(b"{}").is_ok());
        assert!(parse_policy(br#"{"sign_kinds": "any", "deny_kinds": [1, 1]}"#).is_ok());
        for bad in [
            "[]",
            r#"{"methods": null}"#,
            r#"{"deny_kinds": [1], "allow_dangerous_kinds": [0]}"#,
            r#"{"sign_kinds": "some"}"#,
            r#"{"session_ttl_secs": 0}"#,
            r#"{"max_created_at_skew_secs": 31536001}"#,
            r#"{"grant": "all"}"#,
        ] {
            assert!(parse_policy(bad.as_bytes()).is_err(), "{bad}");
        }
        let many = format!(r#"{{"deny_kinds": {:?}}}"#, vec![1u16; 1025]);
        assert!(
            parse_policy(many.as_bytes()).is_err(),
            "over 1024 kinds, duplicates or not"
        );
    }
}
