//! Tenant routes: tenants themselves, their admin tokens and NIP-98 admin pubkeys.
//!
//! Each handler parses the request, calls one admin service of the signer
//! ([`signer::Bunker::admin`]) on the blocking pool, shapes the reply and audits. The services
//! hold the records' locks; nothing here reads a record to write it back.

use super::auth::Principal;
use super::wire;
use super::{blocking, page, reply, validate, ApiError, Ctx, Reply};
use hyper::StatusCode;
use proto::nostr::{nip19, PublicKey};
use signer::admin::AdminError;
use signer::audit::AuditQuery;
use signer::directory::{TenantRecord, TenantUpdate};
use signer::pool::unix_now;

/// The admin API's answer to a refused admin service: the status for its code, its message.
impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let status = match e {
            // The signer's own errors keep their one mapping (and its logging of 5xx).
            AdminError::Signer(e) => return ApiError::from(e),
            AdminError::Import(_) | AdminError::LabelTooLong => StatusCode::BAD_REQUEST,
            AdminError::AdminPubkeyExists | AdminError::AdminPubkeyLimit => StatusCode::CONFLICT,
            AdminError::AdminPubkeyNotFound | AdminError::AdminTokenNotFound => {
                StatusCode::NOT_FOUND
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Runs an admin service that can refuse with an [`AdminError`] off the reactor (as
/// [`blocking`] does for the others).
pub(super) async fn blocking_admin<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        })?
        .map_err(ApiError::from)
}

pub(super) async fn create(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::TenantCreate = ctx.json()?;
    let bunker = ctx.state.bunker.clone();
    let tenant = blocking(move || bunker.admin().create_tenant(&body.name, unix_now())).await?;
    ctx.audit(&tenant.id, "tenant.create", None).await;
    Ok(reply(StatusCode::CREATED, &wire::Tenant::from(&tenant)))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let limit = ctx.limit()?;
    let cursor = ctx.query_id("cursor")?;
    let tenants = ctx
        .state
        .bunker
        .directory()
        .list_tenants(cursor.as_deref(), limit);
    let next = (tenants.len() == limit)
        .then(|| tenants.last().map(|t| t.id.clone()))
        .flatten();
    Ok(page::<_, wire::Tenant>(&tenants, next))
}

fn existing(ctx: &Ctx<'_>) -> Result<TenantRecord, ApiError> {
    ctx.state
        .bunker
        .directory()
        .tenant(&ctx.tenant())
        .ok_or_else(ApiError::tenant_not_found)
}

pub(super) fn get(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(reply(StatusCode::OK, &wire::Tenant::from(&existing(ctx)?)))
}

pub(super) async fn update(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::TenantUpdate = ctx.json()?;
    if (body.limits.is_some() || body.key_export.is_some()) && ctx.principal != Principal::Operator
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "limits and key_export are set by the operator",
        ));
    }
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let update = TenantUpdate {
        name: body.name,
        nip05_domain: body.nip05_domain,
        limits: body.limits.map(Into::into),
        key_export: body.key_export,
    };
    let t = tenant.clone();
    let record = blocking(move || bunker.admin().update_tenant(&t, update, unix_now())).await?;
    ctx.audit(&tenant, "tenant.update", None).await;
    Ok(reply(StatusCode::OK, &wire::Tenant::from(&record)))
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let tokens = ctx.state.tokens.clone();
    let t = tenant.clone();
    let users = blocking(move || bunker.admin().delete_tenant(&tokens, &t)).await?;
    let deleted = wire::Deleted {
        deleted: wire::DeletedValue::Flag(true),
        id: Some(tenant),
        users_deleted: Some(users as u64),
    };
    Ok(reply(StatusCode::OK, &deleted))
}

pub(super) async fn create_token(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::AdminTokenCreate = ctx.json()?;
    let tenant = ctx.tenant();
    let (bunker, tokens) = (ctx.state.bunker.clone(), ctx.state.tokens.clone());
    let actor = ctx.principal.actor();
    let t = tenant.clone();
    let (token, record) = blocking_admin(move || {
        bunker
            .admin()
            .create_admin_token(&tokens, &t, body.name, actor, unix_now())
    })
    .await?;
    ctx.audit(&tenant, "admin_token.create", None).await;
    let created = wire::AdminTokenCreated {
        id: record.id,
        token: zeroize::Zeroizing::new(token.as_str().to_owned()),
        name: record.name,
        created_at: record.created_at,
    };
    Ok(reply(StatusCode::CREATED, &created))
}

pub(super) fn list_tokens(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    existing(ctx)?;
    let tokens = ctx.state.tokens.list(&ctx.tenant());
    Ok(page::<_, wire::AdminToken>(&tokens, None))
}

pub(super) async fn revoke_token(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant();
    let id = ctx.route.param("token_id").to_owned();
    let (bunker, tokens) = (ctx.state.bunker.clone(), ctx.state.tokens.clone());
    let t = tenant.clone();
    blocking_admin(move || bunker.admin().revoke_admin_token(&tokens, &t, &id)).await?;
    ctx.audit(&tenant, "admin_token.revoke", None).await;
    Ok((StatusCode::NO_CONTENT, None))
}

/// Decodes a public key whose text is well formed ([`validate::pubkey_text`]): 64 hex (either
/// case) or `npub1…`. `None` when it is not a key: an x coordinate off the curve, or an npub
/// whose checksum fails.
fn decode_pubkey(text: &str) -> Option<PublicKey> {
    if text.starts_with("npub1") {
        nip19::decode_npub(text).ok()
    } else {
        PublicKey::from_hex(&text.to_ascii_lowercase()).ok()
    }
}

/// The public key of a request body (its text was checked by [`wire::Input::check`]).
///
/// # Errors
///
/// `400 invalid_pubkey` when it is not a key.
fn body_pubkey(text: &str) -> Result<PublicKey, ApiError> {
    decode_pubkey(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_pubkey",
            "pubkey is not a valid secp256k1 public key (or its npub checksum fails)",
        )
    })
}

/// The public key a path names (`{pubkey}`, `{client}`): `400 invalid_pubkey` when the text is not
/// 64 hex or `npub1…`; `404 not_found` when it is, but names no key (so nothing registered under
/// it either).
pub(super) fn path_pubkey(text: &str) -> Result<PublicKey, ApiError> {
    if !validate::pubkey_text(text) {
        return Err(ApiError::bad_request(
            "invalid_pubkey",
            "pubkey must be 64 hex characters or an npub1 string",
        ));
    }
    decode_pubkey(text)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such public key"))
}

pub(super) async fn add_pubkey(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::AdminPubkeyAdd = ctx.json()?;
    let pubkey = body_pubkey(&body.pubkey)?;
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    let added = blocking_admin(move || {
        bunker
            .admin()
            .add_admin_pubkey(&t, pubkey, body.name, unix_now())
    })
    .await?;
    ctx.audit(&tenant, "admin_pubkey.add", None).await;
    Ok(reply(StatusCode::CREATED, &wire::AdminPubkey::from(&added)))
}

pub(super) fn list_pubkeys(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let record = existing(ctx)?;
    Ok(page::<_, wire::AdminPubkey>(&record.admin_pubkeys, None))
}

pub(super) async fn remove_pubkey(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let pubkey = path_pubkey(ctx.route.param("pubkey"))?;
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    blocking_admin(move || bunker.admin().remove_admin_pubkey(&t, &pubkey, unix_now())).await?;
    ctx.audit(&tenant, "admin_pubkey.remove", None).await;
    Ok((StatusCode::NO_CONTENT, None))
}

pub(super) fn get_policy(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let record = existing(ctx)?;
    Ok(reply(StatusCode::OK, &wire::Policy(record.policy)))
}

pub(super) async fn put_policy(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let policy = ctx.policy()?;
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    let record = blocking(move || bunker.admin().set_tenant_policy(&t, policy, unix_now())).await?;
    ctx.audit(&tenant, "tenant.policy.set", None).await;
    Ok(reply(StatusCode::OK, &wire::Policy(record.policy)))
}

/// `GET …/audit`: the admin API's cursor is the position (`time_ms`, `seq`) of the last record
/// examined, as 32 lowercase hex characters (16 each); any such value is a position to continue
/// after. A `to` below `from` is an empty range: an empty last page.
pub(super) async fn query_audit(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    existing(ctx)?;
    let from_ms = ctx.query_millis("from")?;
    let to_ms = ctx.query_millis("to")?;
    let user = ctx.query_id("user")?;
    let action = ctx.query_checked(
        "method",
        validate::action,
        "1 to 64 characters of a-z 0-9 _ . : -",
    )?;
    let limit = u32::try_from(ctx.limit()?).unwrap_or(100);
    let position = ctx.query_checked("cursor", validate::id, "a next_cursor of this route")?;
    if let (Some(from), Some(to)) = (from_ms, to_ms) {
        if to < from {
            return Ok(page::<signer::audit::AuditRecord, wire::AuditRecord>(
                &[],
                None,
            ));
        }
    }
    let tenant = ctx.tenant();
    let cursor = position
        .map(|p| {
            let number = |hex: &str| u64::from_str_radix(hex, 16).unwrap_or(0);
            signer::audit::cursor_after(&tenant, false, number(&p[..16]), number(&p[16..]))
        })
        .transpose()?;
    let query = AuditQuery {
        from_ms,
        to_ms,
        user,
        action,
        limit: Some(limit),
        cursor,
        newest_first: false,
    };
    let bunker = ctx.state.bunker.clone();
    // Flushed first, so a request answered before this query is in it.
    let page_ = blocking(move || {
        bunker.audit().flush()?;
        bunker.audit().query(&tenant, &query)
    })
    .await?;
    let next = page_
        .next_cursor
        .as_deref()
        .and_then(signer::audit::cursor_position)
        .map(|(time_ms, seq)| format!("{time_ms:016x}{seq:016x}"));
    Ok(page::<_, wire::AuditRecord>(&page_.records, next))
}
