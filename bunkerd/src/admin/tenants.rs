//! Tenant routes: tenants themselves, their admin tokens and NIP-98 admin pubkeys.
//!
//! Each handler parses the request, calls one admin service of the signer
//! ([`signer::Bunker::admin`]) on the blocking pool, shapes the reply and audits. The services
//! hold the records' locks; nothing here reads a record to write it back.

use super::auth::Principal;
use super::wire;
use super::{blocking, page, reply, ApiError, Ctx, Reply};
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
            AdminError::Import(_) | AdminError::LabelTooLong | AdminError::AdminPubkeyLimit => {
                StatusCode::BAD_REQUEST
            }
            AdminError::AdminPubkeyExists => StatusCode::CONFLICT,
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
    let cursor = ctx.query("cursor");
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
    if body.limits.is_some() && ctx.principal != Principal::Operator {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "limits are set by the operator",
        ));
    }
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let update = TenantUpdate {
        name: body.name,
        nip05_domain: body
            .nip05_domain
            .map(|d| d.map(|d| d.trim().to_ascii_lowercase())),
        limits: body.limits.map(Into::into),
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

/// Accepts 64 lowercase hex or `npub1…`.
pub(super) fn parse_pubkey(text: &str) -> Result<PublicKey, ApiError> {
    let text = text.trim();
    let parsed = if text.starts_with("npub1") {
        nip19::decode_npub(text).ok()
    } else {
        PublicKey::from_hex(&text.to_ascii_lowercase()).ok()
    };
    parsed.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_pubkey",
            "pubkey must be 64 hex characters or an npub1 string",
        )
    })
}

pub(super) async fn add_pubkey(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::AdminPubkeyAdd = ctx.json()?;
    let pubkey = parse_pubkey(&body.pubkey)?;
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
    let pubkey = parse_pubkey(ctx.route.param("pubkey"))?;
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
    let wire::Policy(policy) = ctx.json()?;
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    let record = blocking(move || bunker.admin().set_tenant_policy(&t, policy, unix_now())).await?;
    ctx.audit(&tenant, "tenant.policy.set", None).await;
    Ok(reply(StatusCode::OK, &wire::Policy(record.policy)))
}

pub(super) async fn query_audit(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    existing(ctx)?;
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        ctx.query(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_input",
                        format!("{name} must be unix milliseconds"),
                    )
                })
            })
            .transpose()
    };
    let query = AuditQuery {
        from_ms: number("from")?,
        to_ms: number("to")?,
        user: ctx.query("user"),
        action: ctx.query("method"),
        limit: Some(u32::try_from(ctx.limit()?).unwrap_or(100)),
        cursor: ctx.query("cursor"),
        newest_first: false,
    };
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    // Flushed first, so a request answered before this query is in it.
    let page_ = blocking(move || {
        bunker.audit().flush()?;
        bunker.audit().query(&tenant, &query)
    })
    .await?;
    Ok(page::<_, wire::AuditRecord>(
        &page_.records,
        page_.next_cursor,
    ))
}
