//! Tenant routes: tenants themselves, their admin tokens and NIP-98 admin pubkeys.

use super::auth::Principal;
use super::{blocking, page, ApiError, Ctx, Reply};
use hyper::StatusCode;
use serde::Deserialize;
use signer::audit::AuditQuery;
use signer::directory::{AdminPubkey, TenantLimits, TenantRecord, TenantUpdate};
use signer::nostr::{nip19, PublicKey};
use signer::policy::Policy;
use signer::pool::unix_now;

/// Most NIP-98 admin pubkeys per tenant.
const MAX_ADMIN_PUBKEYS: usize = 64;

fn tenant_json(t: &TenantRecord) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "name": t.name,
        "created_at": t.created_at,
        "updated_at": (t.updated_at > 0).then_some(t.updated_at),
        "nip05_domain": t.nip05_domain,
        "limits": t.limits,
    })
}

pub(super) async fn create(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
    }
    let body: Body = ctx.json()?;
    let bunker = ctx.state.bunker.clone();
    let tenant = blocking(move || bunker.directory().create_tenant(&body.name, unix_now())).await?;
    ctx.audit(&tenant.id, "tenant.create", None).await;
    Ok((StatusCode::CREATED, Some(tenant_json(&tenant))))
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
    let items: Vec<serde_json::Value> = tenants.iter().map(tenant_json).collect();
    Ok(page(&items, next))
}

fn existing(ctx: &Ctx<'_>) -> Result<TenantRecord, ApiError> {
    ctx.state
        .bunker
        .directory()
        .tenant(&ctx.tenant())
        .ok_or_else(ApiError::tenant_not_found)
}

pub(super) fn get(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Ok((StatusCode::OK, Some(tenant_json(&existing(ctx)?))))
}

pub(super) async fn update(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        name: Option<String>,
        #[serde(default, with = "double_option")]
        nip05_domain: Option<Option<String>>,
        #[serde(default)]
        limits: Option<TenantLimits>,
    }
    let body: Body = ctx.json()?;
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
        limits: body.limits,
    };
    let t = tenant.clone();
    let record = blocking(move || bunker.directory().update_tenant(&t, update, unix_now())).await?;
    ctx.audit(&tenant, "tenant.update", None).await;
    Ok((StatusCode::OK, Some(tenant_json(&record))))
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let tokens = ctx.state.tokens.clone();
    let t = tenant.clone();
    let users = blocking(move || {
        let users = bunker.delete_tenant(&t)?;
        tokens.delete_tenant(&t)?;
        bunker.audit().delete_tenant(&t)?;
        Ok(users)
    })
    .await?;
    Ok((
        StatusCode::OK,
        Some(serde_json::json!({"deleted": true, "id": tenant, "users_deleted": users})),
    ))
}

pub(super) async fn create_token(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        name: Option<String>,
    }
    let body: Body = ctx.json()?;
    if body.name.as_ref().is_some_and(|n| n.len() > 128) {
        return Err(ApiError::bad_request(
            "invalid_input",
            "name must be at most 128 bytes",
        ));
    }
    existing(ctx)?;
    let tenant = ctx.tenant();
    let tokens = ctx.state.tokens.clone();
    let actor = ctx.principal.actor();
    let t = tenant.clone();
    let (token, record) = blocking(move || tokens.create(&t, body.name, actor, unix_now())).await?;
    ctx.audit(&tenant, "admin_token.create", None).await;
    Ok((
        StatusCode::CREATED,
        Some(serde_json::json!({
            "id": record.id,
            "token": token.as_str(),
            "name": record.name,
            "created_at": record.created_at,
        })),
    ))
}

pub(super) fn list_tokens(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    existing(ctx)?;
    let items: Vec<serde_json::Value> = ctx
        .state
        .tokens
        .list(&ctx.tenant())
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "name": r.name, "created_at": r.created_at, "created_by": r.created_by,
            })
        })
        .collect();
    Ok(page(&items, None))
}

pub(super) async fn revoke_token(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    existing(ctx)?;
    let tenant = ctx.tenant();
    let id = ctx.route.param("token_id").to_owned();
    let tokens = ctx.state.tokens.clone();
    let t = tenant.clone();
    if !blocking(move || tokens.revoke(&t, &id)).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "admin token not found",
        ));
    }
    ctx.audit(&tenant, "admin_token.revoke", None).await;
    Ok((StatusCode::NO_CONTENT, None))
}

/// Accepts 64 lowercase hex or `npub1…`.
pub(super) fn parse_pubkey(text: &str) -> Result<PublicKey, ApiError> {
    let text = text.trim();
    let parsed = if text.starts_with("npub1") {
        nip19::decode_npub(text)
    } else {
        PublicKey::from_hex(&text.to_ascii_lowercase())
    };
    parsed.map_err(|_| {
        ApiError::bad_request(
            "invalid_pubkey",
            "pubkey must be 64 hex characters or an npub1 string",
        )
    })
}

pub(super) async fn add_pubkey(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        pubkey: String,
        #[serde(default)]
        name: Option<String>,
    }
    let body: Body = ctx.json()?;
    let pubkey = parse_pubkey(&body.pubkey)?;
    if body.name.as_ref().is_some_and(|n| n.len() > 128) {
        return Err(ApiError::bad_request(
            "invalid_input",
            "name must be at most 128 bytes",
        ));
    }
    let mut record = existing(ctx)?;
    if record.admin_pubkeys.iter().any(|a| a.pubkey == pubkey) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            "this pubkey is already an admin of this tenant",
        ));
    }
    if record.admin_pubkeys.len() >= MAX_ADMIN_PUBKEYS {
        return Err(ApiError::bad_request(
            "limit_reached",
            "a tenant has at most 64 admin pubkeys",
        ));
    }
    let added = AdminPubkey {
        pubkey,
        name: body.name,
        added_at: unix_now(),
    };
    record.admin_pubkeys.push(added.clone());
    record.updated_at = added.added_at;
    let bunker = ctx.state.bunker.clone();
    blocking(move || bunker.directory().put_tenant(record)).await?;
    ctx.audit(&ctx.tenant(), "admin_pubkey.add", None).await;
    Ok((
        StatusCode::CREATED,
        Some(serde_json::to_value(added).expect("serializable")),
    ))
}

pub(super) fn list_pubkeys(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let record = existing(ctx)?;
    Ok(page(&record.admin_pubkeys, None))
}

pub(super) async fn remove_pubkey(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let pubkey = parse_pubkey(ctx.route.param("pubkey"))?;
    let mut record = existing(ctx)?;
    let before = record.admin_pubkeys.len();
    record.admin_pubkeys.retain(|a| a.pubkey != pubkey);
    if record.admin_pubkeys.len() == before {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this pubkey is not an admin of this tenant",
        ));
    }
    record.updated_at = unix_now();
    let bunker = ctx.state.bunker.clone();
    blocking(move || bunker.directory().put_tenant(record)).await?;
    ctx.audit(&ctx.tenant(), "admin_pubkey.remove", None).await;
    Ok((StatusCode::NO_CONTENT, None))
}

pub(super) fn get_policy(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let record = existing(ctx)?;
    Ok((
        StatusCode::OK,
        Some(serde_json::to_value(&record.policy).expect("serializable")),
    ))
}

pub(super) async fn put_policy(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let policy: Policy = ctx.json()?;
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    let record =
        blocking(move || bunker.directory().set_tenant_policy(&t, policy, unix_now())).await?;
    ctx.audit(&tenant, "tenant.policy.set", None).await;
    Ok((
        StatusCode::OK,
        Some(serde_json::to_value(&record.policy).expect("serializable")),
    ))
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
    Ok(page(&page_.records, page_.next_cursor))
}

/// `Option<Option<T>>` for PATCH bodies: absent → `None` (leave), `null` → `Some(None)` (clear),
/// value → `Some(Some(v))`.
pub(super) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub(in crate::admin) fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}
