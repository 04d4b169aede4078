//! The admin API's wire shapes: every JSON request and response body, once, as serde types that
//! derive their OpenAPI schema ([`utoipa::ToSchema`]). Handlers build and parse these types,
//! `openapi.rs` takes its component schemas from them ([`schemas`]), and the operator CLI
//! (`crate::cli`) serializes its request bodies and reads the answers it looks into with them.
//! Request bodies, and how strictly they are read, are in `wire/input.rs`; the serde helpers they
//! use in `wire/de.rs`.
//!
//! Field names, their order, which fields are omitted when absent and which are `null` are the
//! contract: changing one changes the API. Storage records of the signer are converted into these
//! types (the `From` impls below) rather than served as they are, so a change to storage cannot
//! change the API by accident.

mod de;
mod input;

pub(crate) use de::object;
pub(crate) use input::{
    parse_policy, AdminPubkeyAdd, AdminTokenCreate, ApprovalApprove, BunkerUriCreate, Input,
    MasterKeyRotate, NostrconnectAccept, TenantCreate, TenantLimits, TenantUpdate, UserCreate,
    UserKeyExport, UserUpdate,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// The error body of every failure: `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    #[schema(inline)]
    pub(crate) error: ErrorDetail,
}

/// The inside of an error body: its stable code and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code, e.g. `tenant_not_found`.
    pub(crate) code: String,
    /// Human-readable text; never echoes a secret.
    pub(crate) message: String,
}

/// `GET /healthz` and `GET /readyz`: `{"status":"ok"}` or `{"status":"ready"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` (liveness) or `ready` (readiness).
    pub(crate) status: String,
}

/// `GET /v1/openapi.json`: the OpenAPI document itself, any JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub(crate) struct OpenApiDocument(pub(crate) serde_json::Value);

/// What a delete answers: `deleted` is `true` for a tenant or user, the number of sessions ended
/// for `POST …/revoke-sessions`; `id` names the tenant or user deleted; `users_deleted` counts a
/// tenant's users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Deleted {
    /// `true`, or how many sessions were ended.
    pub(crate) deleted: DeletedValue,
    /// The tenant or user id deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// How many users a deleted tenant had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) users_deleted: Option<u64>,
}

/// The `deleted` field of a delete's answer: a flag or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum DeletedValue {
    /// A tenant or a user was deleted.
    Flag(bool),
    /// How many sessions were ended.
    Count(u64),
}

/// `GET /v1/keys`: the master key, what it wraps, and the custody jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct KeyCustody {
    /// Provider kind: `file`, `transit`, `pkcs11` or `aws-kms`.
    pub(crate) provider: String,
    /// The key's name in the provider (`""` for the file provider).
    pub(crate) key: String,
    /// The master key version that wraps new data keys.
    pub(crate) current_version: u32,
    /// Every version the provider still holds, ascending.
    pub(crate) versions: Vec<u32>,
    /// Wrapped keys (every tenant data key, and the store's canary) per master key version,
    /// the version as a decimal string.
    pub(crate) wrapped_by_version: std::collections::BTreeMap<String, u64>,
    /// The version a master-key rotation in progress rewraps to.
    pub(crate) rotating_to: Option<u32>,
    /// Whether that rotation destroys the older versions when it ends.
    pub(crate) retire_old: bool,
    /// Tenants whose data-key rotation is in progress.
    pub(crate) tenants_rotating: u64,
    /// User deletions whose shred has not run yet.
    pub(crate) shreds_pending: u64,
    /// Whether a custody run is in progress now.
    pub(crate) running: bool,
    /// Unix seconds at which the last run ended.
    pub(crate) last_run_at: Option<u64>,
    /// Why the last run failed; `null` when it succeeded (it is retried every 30 s).
    pub(crate) last_error: Option<String>,
}

/// `POST /v1/tenants/{tenant}/keys/rotate`: the tenant's data keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct TenantKeys {
    /// Tenant id.
    pub(crate) tenant: String,
    /// Key id of the data key that seals from now on (8 hex digits).
    pub(crate) current_data_key: String,
    /// Data keys the tenant holds: 2 while the rotation re-seals its users, then 1.
    pub(crate) data_keys: u64,
}

/// `POST /v1/backups`: the backup just written on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Backup {
    /// The file's path on the server (`<data-dir>/backups/bunkerd-<unix seconds>-<8 hex>.backup`).
    pub(crate) file: String,
    /// Unix seconds of the point in time the backup holds.
    pub(crate) created_at: u64,
    /// Size of the file, bytes.
    pub(crate) bytes: u64,
    /// Records copied (every column family).
    pub(crate) records: u64,
    /// SHA-256 of the file up to its last 32 bytes (which hold it), 64 lowercase hex.
    pub(crate) sha256: String,
    /// Provider of the master key that wraps the backup's data keys.
    pub(crate) master_key_provider: String,
    /// The master key's name in the provider (`""` for the file provider).
    pub(crate) master_key: String,
    /// The master key versions a restore needs (every version wrapping a data key or the canary).
    pub(crate) master_key_versions: Vec<u32>,
}

/// `POST …/users/{user}/export`: the user key as NIP-49 `ncryptsec`. Shown once; the server keeps
/// no copy and no record of the password.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ExportedKey {
    /// `ncryptsec1…`, 162 lowercase characters: the user key encrypted under the caller's
    /// password (NIP-49 version 2, key-security byte `0x01`).
    #[schema(value_type = String)]
    pub(crate) ncryptsec: Zeroizing<String>,
    /// The user pubkey the key belongs to.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub(crate) user_pubkey: String,
    /// The scrypt cost exponent it was encrypted at.
    pub(crate) log_n: u8,
}

impl std::fmt::Debug for ExportedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedKey")
            .field("ncryptsec", &"<redacted>")
            .field("user_pubkey", &self.user_pubkey)
            .field("log_n", &self.log_n)
            .finish()
    }
}

/// A page of a list route: `{"items":[…],"next_cursor":…}`; `next_cursor` is `null` on the last
/// page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[aliases(
    TenantPage = Page<Tenant>,
    AdminTokenList = Page<AdminToken>,
    AdminPubkeyList = Page<AdminPubkey>,
    UserPage = Page<User>,
    BunkerUriList = Page<BunkerUri>,
    SessionList = Page<Session>,
    AuditPage = Page<AuditRecord>,
    ApprovalList = Page<Approval>
)]
pub(crate) struct Page<T> {
    /// This page's items.
    pub(crate) items: Vec<T>,
    /// Where the next page starts (`cursor` query parameter); `null` when this is the last.
    pub(crate) next_cursor: Option<String>,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Tenant {
    /// 32 lowercase hex characters.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub(crate) id: String,
    /// Display name.
    pub(crate) name: String,
    /// Unix seconds.
    pub(crate) created_at: u64,
    /// Unix seconds of the last update, `null` if never updated.
    pub(crate) updated_at: Option<u64>,
    /// The NIP-05 domain of its users' names.
    pub(crate) nip05_domain: Option<String>,
    /// Its limits.
    pub(crate) limits: TenantLimits,
    /// Whether its users' keys may be exported as NIP-49 `ncryptsec` (set by the operator).
    pub(crate) key_export: bool,
}

impl From<&signer::directory::TenantRecord> for Tenant {
    fn from(t: &signer::directory::TenantRecord) -> Self {
        Tenant {
            id: t.id.clone(),
            name: t.name.clone(),
            created_at: t.created_at,
            updated_at: (t.updated_at > 0).then_some(t.updated_at),
            nip05_domain: t.nip05_domain.clone(),
            limits: t.limits.clone().into(),
            key_export: t.key_export,
        }
    }
}

/// A signing policy as answered (the schema is written out in `wire/input.rs`, with the policy as
/// read).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub(crate) struct Policy(pub(crate) proto::policy::Policy);

/// A user's effective policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserPolicy {
    /// The policy that applies.
    pub(crate) policy: Policy,
    /// `true` when it is the tenant default (the user has none of its own).
    pub(crate) inherited: bool,
}

/// A new tenant admin token: the token itself is in this answer only. `Debug` omits it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct AdminTokenCreated {
    /// Public id, for listing and revocation.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub(crate) id: String,
    /// The bearer token (64 hex characters), shown once.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub(crate) token: Zeroizing<String>,
    /// Label.
    pub(crate) name: Option<String>,
    /// Unix seconds.
    pub(crate) created_at: u64,
}

/// A tenant admin token as listed (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct AdminToken {
    /// Public id.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub(crate) id: String,
    /// Label.
    pub(crate) name: Option<String>,
    /// Unix seconds.
    pub(crate) created_at: u64,
    /// Who created it: `operator`, `token:<id>` or `nip98:<pubkey hex>`.
    pub(crate) created_by: String,
}

impl From<&signer::admin::AdminTokenRecord> for AdminToken {
    fn from(r: &signer::admin::AdminTokenRecord) -> Self {
        AdminToken {
            id: r.id.clone(),
            name: r.name.clone(),
            created_at: r.created_at,
            created_by: r.created_by.clone(),
        }
    }
}

/// A Nostr pubkey registered as a tenant admin (NIP-98 HTTP auth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct AdminPubkey {
    /// 64 lowercase hex characters.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub(crate) pubkey: String,
    /// Label.
    pub(crate) name: Option<String>,
    /// Unix seconds.
    pub(crate) added_at: u64,
}

impl From<&signer::directory::AdminPubkey> for AdminPubkey {
    fn from(a: &signer::directory::AdminPubkey) -> Self {
        AdminPubkey {
            pubkey: a.pubkey.to_hex(),
            name: a.name.clone(),
            added_at: a.added_at,
        }
    }
}

/// A user (public parts only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct User {
    /// 32 lowercase hex characters.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub(crate) id: String,
    /// Owning tenant id.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub(crate) tenant: String,
    /// Display name.
    pub(crate) name: Option<String>,
    /// The identity key (what `get_public_key` returns), 64 hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub(crate) user_pubkey: String,
    /// The key on the wire (named in `bunker://`), 64 hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub(crate) remote_signer_pubkey: String,
    /// NIP-05 name.
    pub(crate) nip05_name: Option<String>,
    /// Whether its requests are refused.
    pub(crate) disabled: bool,
    /// Unix seconds.
    pub(crate) created_at: u64,
    /// Unix seconds of the last update or key rotation, `null` if never.
    pub(crate) updated_at: Option<u64>,
}

impl From<&signer::directory::UserRecord> for User {
    fn from(u: &signer::directory::UserRecord) -> Self {
        User {
            id: u.id.clone(),
            tenant: u.tenant.clone(),
            name: u.name.clone(),
            user_pubkey: u.user_pubkey.to_hex(),
            remote_signer_pubkey: u.remote_signer_pubkey.to_hex(),
            nip05_name: u.nip05_name.clone(),
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: (u.updated_at > 0).then_some(u.updated_at),
        }
    }
}

/// A new single-use bunker URI: the URI (with its secret) is in this answer only. `Debug` omits it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct BunkerUriCreated {
    /// Id: lowercase hex SHA-256 of the secret.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub(crate) id: String,
    /// `bunker://…`, shown once.
    #[schema(value_type = String)]
    pub(crate) bunker_uri: Zeroizing<String>,
    /// Unix seconds after which it no longer connects.
    pub(crate) expires_at: u64,
}

/// A bunker URI as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct BunkerUri {
    /// Id: lowercase hex SHA-256 of the secret.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub(crate) id: String,
    /// Unix seconds.
    pub(crate) created_at: u64,
    /// Unix seconds after which it no longer connects.
    pub(crate) expires_at: u64,
    /// The client that used it (64 hex), if any.
    pub(crate) consumed_by: Option<String>,
    /// Unix seconds of use.
    pub(crate) consumed_at: Option<u64>,
    /// Pre-approved permissions.
    pub(crate) perms: Option<String>,
}

impl From<&signer::directory::TokenInfo> for BunkerUri {
    fn from(t: &signer::directory::TokenInfo) -> Self {
        BunkerUri {
            id: t.id.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            consumed_by: t.consumed_by.map(|p| p.to_hex()),
            consumed_at: t.consumed_at,
            perms: t.perms.clone(),
        }
    }
}

/// A connected client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Session {
    /// The client pubkey, 64 hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub(crate) client_pubkey: String,
    /// The remote-signer pubkey it talks to, 64 hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub(crate) remote_signer_pubkey: String,
    /// Unauthenticated display metadata the client sent with `connect`.
    pub(crate) metadata: Option<ClientMetadata>,
    /// What the session may do under the user's current policy (NIP-46 perms syntax; kinds the
    /// policy's `deny_kinds` close stay closed under a bare `sign_event`).
    pub(crate) perms: String,
    /// What the client requested at `connect` (`""`: nothing).
    pub(crate) requested_perms: String,
    /// What its bunker URI pre-approved, if it carried perms.
    pub(crate) approved_perms: Option<String>,
    /// Unix seconds at which the session ends; `null`: it does not expire.
    pub(crate) expires_at: Option<u64>,
    /// Transport encryption of its `connect`.
    pub(crate) scheme: Scheme,
    /// Unix seconds of the `connect`.
    pub(crate) created_at: u64,
    /// Unix seconds of the last request since the server started, if any.
    pub(crate) last_used_at: Option<u64>,
    /// Requests answered since the server started.
    pub(crate) requests: u64,
    /// The relays its client named in its `nostrconnect://` URI, where bunkerd serves it (empty:
    /// bunkerd's own relays, where it was paired or has moved with `switch_relays`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) relays: Vec<String>,
}

/// A request held for an admin's approval (NIP-46 `auth_url`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Approval {
    /// 32 lowercase hex.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub(crate) id: String,
    /// The user id.
    pub(crate) user: String,
    /// The client pubkey, 64 hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub(crate) client_pubkey: String,
    /// The permission it needs (NIP-46 perms syntax, e.g. `sign_event:0`).
    pub(crate) permission: String,
    /// `pending`, `approved`, `remembered`, `denied` or `expired`.
    pub(crate) status: ApprovalStatus,
    /// The foreign relay it came from, if not bunkerd's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<String>,
    /// Unix seconds it was held.
    pub(crate) created_at: u64,
    /// Unix seconds it expires unanswered.
    pub(crate) expires_at: u64,
    /// Unix seconds of the decision or expiry.
    pub(crate) decided_at: Option<u64>,
    /// Who decided (`operator`, `token:<id>`, `npub1…`, or `expiry`).
    pub(crate) decided_by: Option<String>,
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApprovalStatus {
    /// Waiting for an admin.
    Pending,
    /// Approved once.
    Approved,
    /// Approved and remembered for its client.
    Remembered,
    /// Denied.
    Denied,
    /// Nobody decided in time.
    Expired,
}

impl From<signer::approvals::ApprovalStatus> for ApprovalStatus {
    fn from(s: signer::approvals::ApprovalStatus) -> Self {
        use signer::approvals::ApprovalStatus as S;
        match s {
            S::Pending => ApprovalStatus::Pending,
            S::Approved => ApprovalStatus::Approved,
            S::Remembered => ApprovalStatus::Remembered,
            S::Denied => ApprovalStatus::Denied,
            S::Expired => ApprovalStatus::Expired,
        }
    }
}

impl From<&signer::approvals::ApprovalRecord> for Approval {
    fn from(r: &signer::approvals::ApprovalRecord) -> Self {
        Approval {
            id: r.id.clone(),
            user: r.user.clone(),
            client_pubkey: r.client.to_hex(),
            permission: r.permission.clone(),
            status: r.status.into(),
            origin: r.origin.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            decided_at: r.decided_at,
            decided_by: r.decided_by.clone(),
        }
    }
}

/// Client display metadata (NIP-46 `connect`): absent fields are omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct ClientMetadata {
    /// App name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// App URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    /// App image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) image: Option<String>,
}

/// A session's transport encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scheme {
    /// NIP-44 version 2.
    Nip44,
    /// NIP-04 (legacy).
    Nip04,
}

impl From<&signer::SessionInfo> for Session {
    fn from(s: &signer::SessionInfo) -> Self {
        Session {
            client_pubkey: s.client_pubkey.to_hex(),
            remote_signer_pubkey: s.remote_signer_pubkey.to_hex(),
            metadata: s.metadata.as_ref().map(|m| ClientMetadata {
                name: m.name.clone(),
                url: m.url.clone(),
                image: m.image.clone(),
            }),
            perms: s.perms.clone(),
            requested_perms: s.requested_perms.clone(),
            approved_perms: s.approved_perms.clone(),
            expires_at: s.expires_at,
            scheme: match s.scheme {
                proto::nip46::Scheme::Nip44 => Scheme::Nip44,
                proto::nip46::Scheme::Nip04 => Scheme::Nip04,
            },
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            requests: s.requests,
            relays: s.relays.clone(),
        }
    }
}

/// One audit record: absent fields are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct AuditRecord {
    /// Unix milliseconds.
    pub(crate) time_ms: u64,
    /// Order among records of the same millisecond.
    pub(crate) seq: u64,
    /// Tenant id.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub(crate) tenant: String,
    /// User id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
    /// The client pubkey of a NIP-46 request, 64 hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client: Option<String>,
    /// Who did an admin action: `operator`, `token:<id>`, `nip98:<pubkey hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) actor: Option<String>,
    /// NIP-46 method or admin action, e.g. `sign_event` or `user.create`.
    pub(crate) action: String,
    /// The kind of the event signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<u16>,
    /// The id of the event signed, 64 hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) event_id: Option<String>,
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// A fixed, non-secret reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}

/// How an audited request or action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    /// Done as asked.
    Ok,
    /// Refused by policy, authentication or a limit.
    Refused,
    /// Failed on the server's side.
    Error,
}

impl From<&signer::audit::AuditRecord> for AuditRecord {
    fn from(r: &signer::audit::AuditRecord) -> Self {
        AuditRecord {
            time_ms: r.time_ms,
            seq: r.seq,
            tenant: r.tenant.clone(),
            user: r.user.clone(),
            client: r.client.map(|c| c.to_hex()),
            actor: r.actor.clone(),
            action: r.action.clone(),
            kind: r.kind,
            event_id: r.event_id.clone(),
            outcome: match r.outcome {
                signer::audit::Outcome::Ok => Outcome::Ok,
                signer::audit::Outcome::Refused => Outcome::Refused,
                signer::audit::Outcome::Error => Outcome::Error,
            },
            detail: r.detail.clone(),
        }
    }
}

/// The component schemas of every wire type, by name (pages under their alias names): derived, and
/// those written out ([`input::written_schemas`]).
pub(crate) fn schemas() -> Vec<(String, Value)> {
    let components = utoipa::openapi::ComponentsBuilder::new()
        .schema_from::<ErrorBody>()
        .schema_from::<Health>()
        .schema_from::<OpenApiDocument>()
        .schema_from::<Deleted>()
        .schema_from::<KeyCustody>()
        .schema_from::<MasterKeyRotate>()
        .schema_from::<TenantKeys>()
        .schema_from::<Backup>()
        .schema_from::<ExportedKey>()
        .schema_from::<UserKeyExport>()
        .schema_from::<DeletedValue>()
        .schema_from::<Page<Tenant>>()
        .schema_from::<TenantCreate>()
        .schema_from::<TenantUpdate>()
        .schema_from::<TenantLimits>()
        .schema_from::<Tenant>()
        .schema_from::<UserPolicy>()
        .schema_from::<AdminTokenCreate>()
        .schema_from::<AdminTokenCreated>()
        .schema_from::<AdminToken>()
        .schema_from::<AdminPubkeyAdd>()
        .schema_from::<AdminPubkey>()
        .schema_from::<UserUpdate>()
        .schema_from::<User>()
        .schema_from::<BunkerUriCreate>()
        .schema_from::<BunkerUriCreated>()
        .schema_from::<BunkerUri>()
        .schema_from::<NostrconnectAccept>()
        .schema_from::<ApprovalApprove>()
        .schema_from::<Approval>()
        .schema_from::<ApprovalStatus>()
        .schema_from::<Page<Approval>>()
        .schema_from::<Session>()
        .schema_from::<ClientMetadata>()
        .schema_from::<Scheme>()
        .schema_from::<AuditRecord>()
        .schema_from::<Outcome>()
        .build();
    let mut derived: Vec<(String, Value)> = components
        .schemas
        .into_iter()
        .map(|(name, schema)| {
            let schema = serde_json::to_value(schema).expect("a schema serializes");
            (name, schema)
        })
        .collect();
    input::add_patterns(&mut derived);
    derived.extend(input::written_schemas());
    derived
}

// Redacted `Debug` for the bodies that carry a secret: the derive would print it.

impl std::fmt::Debug for AdminTokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminTokenCreated")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for BunkerUriCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BunkerUriCreated")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_secret() {
        let create = UserCreate {
            secret_key: Some(Zeroizing::new("nsec1secretvalue".into())),
            ncryptsec: Some(Zeroizing::new("ncryptsec1secretvalue".into())),
            password: Some(Zeroizing::new("hunter2secretvalue".into())),
            ..UserCreate::default()
        };
        let token = AdminTokenCreated {
            id: "ab".into(),
            token: Zeroizing::new("secretvalue".into()),
            name: None,
            created_at: 1,
        };
        let uri = BunkerUriCreated {
            id: "cd".into(),
            bunker_uri: Zeroizing::new("bunker://x?secret=secretvalue".into()),
            expires_at: 2,
        };
        for text in [
            format!("{create:?}"),
            format!("{token:?}"),
            format!("{uri:?}"),
        ] {
            assert!(!text.contains("secretvalue"), "{text}");
        }
    }
    use serde_json::json;

    #[test]
    fn deletes_answer_a_flag_or_a_count_and_omit_absent_fields() {
        let tenant = Deleted {
            deleted: DeletedValue::Flag(true),
            id: Some("t".into()),
            users_deleted: Some(2),
        };
        assert_eq!(
            serde_json::to_value(tenant).unwrap(),
            json!({"deleted": true, "id": "t", "users_deleted": 2})
        );
        let sessions = Deleted {
            deleted: DeletedValue::Count(3),
            id: None,
            users_deleted: None,
        };
        assert_eq!(
            serde_json::to_value(sessions).unwrap(),
            json!({"deleted": 3})
        );
    }

    #[test]
    fn patch_bodies_tell_absent_from_null() {
        let body: UserUpdate = serde_json::from_str(r#"{"name": null}"#).unwrap();
        assert_eq!(
            (body.name.clone(), body.nip05_name.clone()),
            (Some(None), None)
        );
        assert_eq!(serde_json::to_value(&body).unwrap(), json!({"name": null}));
        let body: TenantUpdate = serde_json::from_str(r#"{"nip05_domain": "x.org"}"#).unwrap();
        assert_eq!(body.nip05_domain, Some(Some("x.org".into())));
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"nip05_domain": "x.org"})
        );
        let e = serde_json::from_str::<TenantUpdate>(r#"{"limits": {"max": 1}}"#).unwrap_err();
        assert!(e.to_string().starts_with("unknown field `max`"), "{e}");
    }

    #[test]
    fn every_wire_type_has_a_named_schema() {
        let names: Vec<String> = schemas().into_iter().map(|(name, _)| name).collect();
        for name in [
            "Error",
            "Health",
            "TenantPage",
            "AuditPage",
            "Policy",
            "PolicyOrNull",
            "UserCreate",
        ] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
    }
}
