//! Who is calling the admin API: the operator, or an admin of one tenant.
//!
//! Three credentials:
//! - `Authorization: Bearer <operator token>`: every route.
//! - `Authorization: Bearer <tenant admin token>`: routes under `/v1/tenants/{tenant}` of its own
//!   tenant. Tokens are 32 random bytes (64 hex chars), shown once, stored as SHA-256 in the
//!   `admin_tokens` column family and held in memory by hash ([`AdminTokens`], kept by the
//!   signer's admin services). A presented token is hashed and looked up by its digest: comparing
//!   digests of 256-bit random values leaks nothing usable through timing.
//! - `Authorization: Nostr <base64 kind-27235 event>` (NIP-98): routes of the tenant whose registered
//!   admin pubkeys include the event's author; URL (on the configured `admin_public_url`: without
//!   one, NIP-98 is refused `401 nip98_not_configured`), method, payload hash and a ±60 s window
//!   are checked by `proto::nostr::nip98`.
//!
//! A tenant admin asking for another tenant gets `404 tenant_not_found`, exactly as for a tenant
//! that does not exist, so credentials never reveal which tenants exist.

use super::ApiError;
use hyper::StatusCode;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub(crate) use signer::admin::AdminTokens;

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

/// What authentication needs from the request.
#[derive(Debug)]
pub(crate) struct Presented<'a> {
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<&'a str>,
    /// The absolute URL the request was made to, on the configured admin public URL (for NIP-98's
    /// `u` tag); `None` when none is configured, and then NIP-98 is refused.
    pub(crate) url: Option<&'a str>,
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

/// The `scheme` label of a refused credential (`crate::metrics::AUTH_FAILURE_SCHEMES`): `missing`,
/// `bearer`, `nip98` or `other`. Reads only the scheme word, never the credential.
pub(crate) fn scheme_label(authorization: Option<&str>) -> &'static str {
    let Some(header) = authorization else {
        return "missing";
    };
    let scheme = header.split_once(' ').map_or(header, |(s, _)| s);
    if scheme.eq_ignore_ascii_case("Bearer") {
        "bearer"
    } else if scheme.eq_ignore_ascii_case("Nostr") {
        "nip98"
    } else {
        "other"
    }
}

/// Authenticates a request, or explains (401) why not.
pub(crate) fn authenticate(
    presented: &Presented<'_>,
    operator_token_hash: &[u8; 32],
    tokens: &AdminTokens,
    bunker: &signer::Bunker,
    replays: &Nip98Replays,
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
        // The `u` tag is checked against the configured public URL only: the `Host` header is the
        // client's to choose, so a URL built from it would prove nothing.
        let url = presented.url.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "nip98_not_configured",
                "NIP-98 is not accepted: the server has no admin_public_url \
                 (--admin-public-url) to check the event's u tag against",
            )
        })?;
        let expected = proto::nostr::nip98::Expected {
            url,
            method: presented.method,
            body: presented.body,
            window_secs: proto::nostr::nip98::DEFAULT_WINDOW_SECS,
        };
        let (pubkey, id, created_at) = proto::nostr::nip98::verify_event(header, &expected, now)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    format!("NIP-98: {e}"),
                )
            })?;
        if !bunker.directory().is_tenant_admin(tenant, &pubkey) {
            return Err(unauthorized(
                "NIP-98: this pubkey is not an admin of this tenant",
            ));
        }
        let valid_until = created_at.saturating_add(expected.window_secs);
        return match replays.first_use(id, valid_until, now) {
            Ok(()) => Ok(Principal::TenantAdmin {
                tenant: tenant.to_owned(),
                actor: format!("nip98:{pubkey}"),
            }),
            Err(Replay::Seen) => Err(unauthorized(
                "NIP-98: this authorization event was already used; sign a new one",
            )),
            Err(Replay::Full) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many NIP-98 authorizations in the last minute; retry",
            )),
        };
    }
    Err(unauthorized(
        "unsupported Authorization scheme (use Bearer or Nostr)",
    ))
}

/// Most NIP-98 event ids remembered at once: far above any admin's request rate over one window
/// (60 s), and 64 bytes an entry.
pub(crate) const MAX_NIP98_IDS: usize = 65_536;

/// The ids of NIP-98 authorization events already accepted, each kept until its window ends, so
/// a captured `Authorization: Nostr …` header works once (NIP-98 leaves replay protection to the
/// server). Bounded by [`MAX_NIP98_IDS`]; expired ids are dropped when it fills.
#[derive(Debug, Default)]
pub(crate) struct Nip98Replays {
    ids: std::sync::Mutex<std::collections::HashMap<[u8; 32], u64>>,
}

/// Why [`Nip98Replays::first_use`] refused an id.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// The id was accepted before, within its window.
    Seen,
    /// [`MAX_NIP98_IDS`] unexpired ids are held: nothing can be remembered, so nothing is accepted.
    Full,
}

impl Nip98Replays {
    /// Records `id` as used until `valid_until` (Unix seconds), or says why it cannot be used.
    pub(crate) fn first_use(&self, id: [u8; 32], valid_until: u64, now: u64) -> Result<(), Replay> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.get(&id).is_some_and(|until| *until >= now) {
            return Err(Replay::Seen);
        }
        if ids.len() >= MAX_NIP98_IDS {
            ids.retain(|_, until| *until >= now);
            if ids.len() >= MAX_NIP98_IDS {
                return Err(Replay::Full);
            }
        }
        ids.insert(id, valid_until);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_accepted_once_within_its_window_and_the_cache_is_bounded() {
        let replays = Nip98Replays::default();
        assert_eq!(replays.first_use([1; 32], 160, 100), Ok(()));
        assert_eq!(replays.first_use([1; 32], 160, 150), Err(Replay::Seen));
        assert_eq!(replays.first_use([2; 32], 160, 100), Ok(()));
        // Fill it: expired ids make room, unexpired ones do not.
        for i in 0..MAX_NIP98_IDS - 2 {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            id[31] = 9;
            assert_eq!(replays.first_use(id, 200, 100), Ok(()));
        }
        assert_eq!(replays.first_use([3; 32], 160, 100), Err(Replay::Full));
        assert_eq!(
            replays.first_use([3; 32], 300, 201),
            Ok(()),
            "the old ids expired"
        );
    }
}
