//! Who is calling the admin API: the operator, or an admin of one tenant.
//!
//! Three credentials (design.md §4, issue 4):
//! - `Authorization: Bearer <operator token>`: every route.
//! - `Authorization: Bearer <tenant admin token>`: routes under `/v1/tenants/{tenant}` of its own
//!   tenant. Tokens are 32 random bytes (64 hex chars), shown once, stored as SHA-256 in the
//!   `admin_tokens` column family and held in memory by hash. A presented token is hashed and looked
//!   up by its digest: comparing digests of 256-bit random values leaks nothing usable through
//!   timing.
//! - `Authorization: Nostr <base64 kind-27235 event>` (NIP-98): routes of the tenant whose registered
//!   admin pubkeys include the event's author; URL, method, payload hash and a ±60 s window are
//!   checked by `signer::nostr::nip98`.
//!
//! A tenant admin asking for another tenant gets `404 tenant_not_found`, exactly as for a tenant
//! that does not exist, so credentials never reveal which tenants exist.

use super::ApiError;
use dashmap::DashMap;
use hyper::StatusCode;
use kms::{Batch, Cf, Durability, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use signer::nostr::PublicKey;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// Holder of the operator token.
    Operator,
    /// Admin of one tenant.
    TenantAdmin {
        /// The tenant id.
        tenant: String,
        /// How: `token:<token id>` or `nip98:<pubkey hex>` (the audit log's `actor`).
        actor: String,
    },
}

impl Principal {
    /// The audit log's `actor` for this caller.
    pub(crate) fn actor(&self) -> String {
        match self {
            Principal::Operator => "operator".to_owned(),
            Principal::TenantAdmin { actor, .. } => actor.clone(),
        }
    }

    /// Whether this caller may act on `tenant`.
    pub(crate) fn may_access(&self, tenant: &str) -> bool {
        match self {
            Principal::Operator => true,
            Principal::TenantAdmin { tenant: own, .. } => own == tenant,
        }
    }
}

/// A tenant admin token's record. The token itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AdminTokenRecord {
    /// Public id (32 hex chars), for listing and revocation.
    pub(crate) id: String,
    /// The tenant it administers.
    pub(crate) tenant: String,
    /// Optional label.
    pub(crate) name: Option<String>,
    /// Unix seconds.
    pub(crate) created_at: u64,
    /// Actor that created it.
    pub(crate) created_by: String,
}

/// The tenant admin tokens, in memory by SHA-256 and in the `admin_tokens` column family.
pub(crate) struct AdminTokens {
    store: Arc<dyn Store>,
    by_hash: DashMap<[u8; 32], AdminTokenRecord>,
}

impl std::fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminTokens")
            .field("count", &self.by_hash.len())
            .finish_non_exhaustive()
    }
}

impl AdminTokens {
    /// Loads every token record.
    pub(crate) fn load(store: Arc<dyn Store>) -> Result<Self, signer::Error> {
        let by_hash = DashMap::new();
        let mut bad = false;
        store.scan_prefix(Cf::AdminTokens, b"", &mut |key, value| {
            match (
                <[u8; 32]>::try_from(key),
                serde_json::from_slice::<AdminTokenRecord>(value),
            ) {
                (Ok(hash), Ok(record)) => drop(by_hash.insert(hash, record)),
                _ => bad = true,
            }
            !bad
        })?;
        if bad {
            return Err(signer::Error::Corrupt("admin token record"));
        }
        Ok(AdminTokens { store, by_hash })
    }

    /// Creates a token for `tenant`, durably; returns the token (shown once) and its record.
    pub(crate) fn create(
        &self,
        tenant: &str,
        name: Option<String>,
        created_by: String,
        now: u64,
    ) -> Result<(Zeroizing<String>, AdminTokenRecord), signer::Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).expect("OS random source failed");
        let token = Zeroizing::new(hex::encode(bytes.as_ref()));
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let record = AdminTokenRecord {
            id: signer::directory::Directory::new_id(),
            tenant: tenant.to_owned(),
            name,
            created_at: now,
            created_by,
        };
        let mut batch = Batch::new();
        batch.put(
            Cf::AdminTokens,
            hash.to_vec(),
            serde_json::to_vec(&record).expect("records serialize"),
        );
        self.store.write(batch, Durability::Sync)?;
        self.by_hash.insert(hash, record.clone());
        Ok((token, record))
    }

    /// The tokens of a tenant, ordered by creation time.
    pub(crate) fn list(&self, tenant: &str) -> Vec<AdminTokenRecord> {
        let mut list: Vec<AdminTokenRecord> = self
            .by_hash
            .iter()
            .filter(|e| e.value().tenant == tenant)
            .map(|e| e.value().clone())
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }

    /// Revokes the token `id` of `tenant`; `false` if there is none.
    pub(crate) fn revoke(&self, tenant: &str, id: &str) -> Result<bool, signer::Error> {
        let hash = self
            .by_hash
            .iter()
            .find(|e| e.value().tenant == tenant && e.value().id == id)
            .map(|e| *e.key());
        let Some(hash) = hash else {
            return Ok(false);
        };
        let mut batch = Batch::new();
        batch.delete(Cf::AdminTokens, hash.to_vec());
        self.store.write(batch, Durability::Sync)?;
        self.by_hash.remove(&hash);
        Ok(true)
    }

    /// Revokes every token of a deleted tenant.
    pub(crate) fn delete_tenant(&self, tenant: &str) -> Result<usize, signer::Error> {
        let hashes: Vec<[u8; 32]> = self
            .by_hash
            .iter()
            .filter(|e| e.value().tenant == tenant)
            .map(|e| *e.key())
            .collect();
        let mut batch = Batch::new();
        for hash in &hashes {
            batch.delete(Cf::AdminTokens, hash.to_vec());
        }
        self.store.write(batch, Durability::Sync)?;
        for hash in &hashes {
            self.by_hash.remove(hash);
        }
        Ok(hashes.len())
    }

    fn find(&self, hash: &[u8; 32]) -> Option<AdminTokenRecord> {
        self.by_hash.get(hash).map(|r| r.clone())
    }
}

/// What authentication needs from the request.
#[derive(Debug)]
pub(crate) struct Presented<'a> {
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<&'a str>,
    /// The absolute URL the request was made to (for NIP-98's `u` tag).
    pub(crate) url: &'a str,
    /// The HTTP method.
    pub(crate) method: &'a str,
    /// The request body.
    pub(crate) body: &'a [u8],
    /// The tenant the path names, if any (NIP-98 admins are registered per tenant).
    pub(crate) tenant: Option<&'a str>,
}

pub(crate) fn unauthorized(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Authenticates a request, or explains (401) why not.
pub(crate) fn authenticate(
    presented: &Presented<'_>,
    operator_token_hash: &[u8; 32],
    tokens: &AdminTokens,
    bunker: &signer::Bunker,
    now: u64,
) -> Result<Principal, ApiError> {
    let header = presented
        .authorization
        .ok_or_else(|| unauthorized("missing Authorization header (Bearer token or NIP-98)"))?;
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("Bearer") {
        let hash: [u8; 32] = Sha256::digest(rest.trim().as_bytes()).into();
        if bool::from(hash.ct_eq(operator_token_hash)) {
            return Ok(Principal::Operator);
        }
        return tokens
            .find(&hash)
            .map(|record| Principal::TenantAdmin {
                tenant: record.tenant,
                actor: format!("token:{}", record.id),
            })
            .ok_or_else(|| unauthorized("invalid bearer token"));
    }
    if scheme.eq_ignore_ascii_case("Nostr") {
        let tenant = presented
            .tenant
            .ok_or_else(|| unauthorized("NIP-98 auth is accepted on tenant routes only"))?;
        let expected = signer::nostr::nip98::Expected {
            url: presented.url,
            method: presented.method,
            body: presented.body,
            window_secs: signer::nostr::nip98::DEFAULT_WINDOW_SECS,
        };
        let pubkey = signer::nostr::nip98::verify(header, &expected, now).map_err(|e| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("NIP-98: {e}"),
            )
        })?;
        return if is_tenant_admin(bunker, tenant, &pubkey) {
            Ok(Principal::TenantAdmin {
                tenant: tenant.to_owned(),
                actor: format!("nip98:{pubkey}"),
            })
        } else {
            Err(unauthorized(
                "NIP-98: this pubkey is not an admin of this tenant",
            ))
        };
    }
    Err(unauthorized(
        "unsupported Authorization scheme (use Bearer or Nostr)",
    ))
}

fn is_tenant_admin(bunker: &signer::Bunker, tenant: &str, pubkey: &PublicKey) -> bool {
    bunker
        .directory()
        .tenant(tenant)
        .is_some_and(|t| t.admin_pubkeys.iter().any(|a| a.pubkey == *pubkey))
}
