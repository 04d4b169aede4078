//! User routes: users, their bunker URIs and their sessions (connected clients).

use super::tenants::{double_option, parse_pubkey};
use super::{blocking, page, ApiError, Ctx, Reply};
use hyper::StatusCode;
use serde::Deserialize;
use signer::directory::{UserRecord, UserUpdate};
use signer::nostr::{nip19, SecretKey};
use signer::policy::Policy;
use signer::pool::unix_now;
use signer::UriOptions;
use zeroize::Zeroizing;

fn user_json(u: &UserRecord) -> serde_json::Value {
    serde_json::json!({
        "id": u.id,
        "tenant": u.tenant,
        "name": u.name,
        "user_pubkey": u.user_pubkey,
        "remote_signer_pubkey": u.remote_signer_pubkey,
        "nip05_name": u.nip05_name,
        "disabled": u.disabled,
        "created_at": u.created_at,
        "updated_at": (u.updated_at > 0).then_some(u.updated_at),
    })
}

pub(super) async fn create(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        name: Option<String>,
        /// 64 hex or `nsec1…`.
        #[serde(default)]
        secret_key: Option<Zeroizing<String>>,
        /// NIP-49 `ncryptsec1…`, with `password`.
        #[serde(default)]
        ncryptsec: Option<Zeroizing<String>>,
        #[serde(default)]
        password: Option<Zeroizing<String>>,
        #[serde(default)]
        nip05_name: Option<String>,
    }
    let body: Body = ctx.json()?;
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    // NIP-49 imports run one at a time (scrypt memory); the permit is held until the import ends.
    let _import = match &body.ncryptsec {
        Some(_) => Some(ctx.state.imports.acquire().await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "shutting down",
            )
        })?),
        None => None,
    };
    let record = tokio::task::spawn_blocking(move || -> Result<UserRecord, ApiError> {
        let secret = match (&body.secret_key, &body.ncryptsec, &body.password) {
            (Some(_), Some(_), _) => {
                return Err(ApiError::bad_request(
                    "invalid_input",
                    "give secret_key or ncryptsec, not both",
                ))
            }
            (Some(sk), None, None) => Some(parse_secret_key(sk)?),
            (Some(_), None, Some(_)) => {
                return Err(ApiError::bad_request(
                    "invalid_input",
                    "password goes with ncryptsec only",
                ))
            }
            (None, Some(enc), Some(password)) => Some(
                // scrypt (NIP-49): tens to hundreds of milliseconds, hence the blocking pool.
                signer::nostr::nip49::decrypt(enc.trim(), password)
                    .map_err(|e| ApiError::bad_request(e.code(), format!("ncryptsec: {e}")))?,
            ),
            (None, Some(_), None) => {
                return Err(ApiError::bad_request(
                    "invalid_input",
                    "ncryptsec needs its password",
                ))
            }
            (None, None, Some(_)) => {
                return Err(ApiError::bad_request(
                    "invalid_input",
                    "password goes with ncryptsec only",
                ))
            }
            (None, None, None) => None,
        };
        let directory = bunker.directory();
        let record = directory.create_user(&t, body.name, secret, unix_now())?;
        match body.nip05_name {
            None => Ok(record),
            Some(nip05) => {
                let update = UserUpdate {
                    nip05_name: Some(Some(nip05)),
                    ..UserUpdate::default()
                };
                match directory.update_user(&t, &record.id, update, unix_now()) {
                    Ok(record) => Ok(record),
                    Err(e) => {
                        // Do not leave a half-made user behind a 400.
                        let _ = bunker.delete_user(&t, &record.id);
                        Err(e.into())
                    }
                }
            }
        }
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    })??;
    ctx.audit(&tenant, "user.create", Some(&record.id)).await;
    Ok((StatusCode::CREATED, Some(user_json(&record))))
}

/// Accepts 64 hex characters or a NIP-19 `nsec1…`.
fn parse_secret_key(text: &str) -> Result<SecretKey, ApiError> {
    let text = text.trim();
    let parsed = if text.starts_with("nsec1") || text.starts_with("NSEC1") {
        nip19::decode_nsec(text)
    } else {
        SecretKey::from_hex(&Zeroizing::new(text.to_ascii_lowercase()))
    };
    parsed.map_err(|_| {
        ApiError::bad_request(
            "invalid_secret_key",
            "secret_key must be 64 hex characters or an nsec1 string of a valid secp256k1 key",
        )
    })
}

pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let limit = ctx.limit()?;
    let cursor = ctx.query("cursor");
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let users = blocking(move || {
        bunker
            .directory()
            .list_users(&tenant, cursor.as_deref(), limit)
    })
    .await?;
    let next = (users.len() == limit)
        .then(|| users.last().map(|u| u.id.clone()))
        .flatten();
    let items: Vec<serde_json::Value> = users.iter().map(user_json).collect();
    Ok(page(&items, next))
}

async fn load(ctx: &Ctx<'_>) -> Result<UserRecord, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    blocking(move || {
        if bunker.directory().tenant(&tenant).is_none() {
            return Err(signer::Error::TenantNotFound);
        }
        bunker.directory().user(&tenant, &user)
    })
    .await
}

pub(super) async fn get(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Ok((StatusCode::OK, Some(user_json(&load(ctx).await?))))
}

pub(super) async fn update(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default, with = "double_option")]
        name: Option<Option<String>>,
        #[serde(default)]
        disabled: Option<bool>,
        #[serde(default, with = "double_option")]
        nip05_name: Option<Option<String>>,
    }
    let body: Body = ctx.json()?;
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let update = UserUpdate {
        name: body.name,
        disabled: body.disabled,
        nip05_name: body.nip05_name,
    };
    let (t, u) = (tenant.clone(), user.clone());
    let record =
        blocking(move || bunker.directory().update_user(&t, &u, update, unix_now())).await?;
    ctx.audit(&tenant, "user.update", Some(&user)).await;
    Ok((StatusCode::OK, Some(user_json(&record))))
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    blocking(move || bunker.delete_user(&t, &u)).await?;
    ctx.audit(&tenant, "user.delete", Some(&user)).await;
    Ok((
        StatusCode::OK,
        Some(serde_json::json!({"deleted": true, "id": user})),
    ))
}

pub(super) async fn rotate(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let record = blocking(move || bunker.rotate_remote_signer(&t, &u, unix_now())).await?;
    ctx.audit(&tenant, "user.rotate_remote_signer", Some(&user))
        .await;
    Ok((StatusCode::OK, Some(user_json(&record))))
}

pub(super) async fn create_uri(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        ttl_secs: Option<u64>,
        #[serde(default)]
        perms: Option<String>,
    }
    let body: Body = ctx.json()?;
    if body
        .perms
        .as_ref()
        .is_some_and(|p| p.len() > signer::bunker::MAX_URI_PERMS_BYTES)
    {
        return Err(ApiError::bad_request(
            "invalid_input",
            "perms must be at most 1024 bytes",
        ));
    }
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let options = UriOptions {
        ttl_secs: body.ttl_secs,
        perms: body.perms,
    };
    let issued = blocking(move || bunker.issue_bunker_uri(&t, &u, unix_now(), options)).await?;
    ctx.audit(&tenant, "bunker_uri.create", Some(&user)).await;
    Ok((
        StatusCode::CREATED,
        Some(serde_json::json!({
            "id": issued.id,
            "bunker_uri": issued.uri.as_str(),
            "expires_at": issued.expires_at,
        })),
    ))
}

pub(super) async fn list_uris(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let pending_only = match ctx.query("pending").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_input",
                "pending must be true or false",
            ))
        }
    };
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let mut tokens = blocking(move || bunker.directory().list_tokens(&tenant, &user)).await?;
    if pending_only {
        let now = unix_now();
        tokens.retain(|t| t.consumed_by.is_none() && t.expires_at > now);
    }
    Ok(page(&tokens, None))
}

pub(super) async fn revoke_uri(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let id = ctx.route.param("uri_id").to_owned();
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    blocking(move || bunker.directory().revoke_token(&t, &u, &id)).await?;
    ctx.audit(&tenant, "bunker_uri.revoke", Some(&user)).await;
    Ok((StatusCode::NO_CONTENT, None))
}

pub(super) async fn list_sessions(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let sessions = blocking(move || bunker.list_sessions(&tenant, &user)).await?;
    Ok(page(&sessions, None))
}

pub(super) async fn revoke_session(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let client = parse_pubkey(ctx.route.param("client"))?;
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    blocking(move || bunker.revoke_sessions(&t, &u, Some(&client))).await?;
    ctx.audit(&tenant, "session.revoke", Some(&user)).await;
    Ok((StatusCode::NO_CONTENT, None))
}

pub(super) async fn revoke_all_sessions(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let ended = blocking(move || bunker.revoke_sessions(&t, &u, None)).await?;
    ctx.audit(&tenant, "session.revoke_all", Some(&user)).await;
    Ok((StatusCode::OK, Some(serde_json::json!({"deleted": ended}))))
}

pub(super) async fn get_policy(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (policy, inherited) =
        blocking(move || bunker.directory().effective_policy(&tenant, &user)).await?;
    Ok((
        StatusCode::OK,
        Some(serde_json::json!({"policy": policy, "inherited": inherited})),
    ))
}

pub(super) async fn put_policy(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let policy: Option<Policy> = if ctx.body_is_null() {
        None
    } else {
        Some(ctx.json()?)
    };
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let (policy, inherited) = blocking(move || {
        bunker
            .directory()
            .set_user_policy(&t, &u, policy, unix_now())?;
        bunker.directory().effective_policy(&t, &u)
    })
    .await?;
    ctx.audit(&tenant, "user.policy.set", Some(&user)).await;
    Ok((
        StatusCode::OK,
        Some(serde_json::json!({"policy": policy, "inherited": inherited})),
    ))
}
