//! User routes: users, their bunker URIs and their sessions (connected clients).
//!
//! Each handler parses the request, calls one admin service of the signer
//! ([`signer::Bunker::admin`]) on the blocking pool, shapes the reply and audits. Key imports
//! (hex, `nsec`, NIP-49) are parsed and decrypted by the signer; this module only carries the
//! strings, zeroized on drop.

use super::tenants::{blocking_admin, path_pubkey};
use super::wire;
use super::{blocking, page, reply, ApiError, Ctx, Reply};
use hyper::StatusCode;
use proto::nip46::nostrconnect::NostrConnectUri;
use proto::nostr::nip49::{self, Ncryptsec, Nip49Error};
use signer::admin::{KeyImport, NewUser, PairOptions};
use signer::directory::{UserRecord, UserUpdate};
use signer::pool::unix_now;
use signer::UriOptions;

pub(super) async fn create(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::UserCreate = ctx.json()?;
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    let new = NewUser {
        name: body.name,
        key: KeyImport {
            secret_key: body.secret_key,
            ncryptsec: body.ncryptsec,
            password: body.password,
            max_log_n: ctx.state.limits.nip49_max_log_n(),
        },
        nip05_name: body.nip05_name,
    };
    // Above the cap, refused here, before any scrypt memory (parsing reads only the header).
    if let Some(encrypted) = &new.key.ncryptsec {
        let cap = new.key.max_log_n;
        if let Err(Nip49Error::LogNTooHigh) = Ncryptsec::parse_capped(encrypted, cap) {
            return Err(ApiError::bad_request(
                "log_n_too_high",
                format!(
                    "ncryptsec: its LOG_N is above this server's nip49_max_log_n ({cap}: {} MiB \
                     of scrypt memory); re-encrypt the key at a lower LOG_N",
                    nip49::scrypt_bytes(cap) >> 20
                ),
            ));
        }
    }
    // NIP-49 imports run one at a time (scrypt memory); the permit is held until the import ends.
    let _import = if new.key.is_nip49() {
        Some(ctx.state.imports.acquire().await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "shutting down",
            )
        })?)
    } else {
        None
    };
    let record = blocking_admin(move || bunker.admin().create_user(&t, new, unix_now())).await?;
    ctx.audit(&tenant, "user.create", Some(&record.id)).await;
    Ok(reply(StatusCode::CREATED, &wire::User::from(&record)))
}

pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let limit = ctx.limit()?;
    let cursor = ctx.query_id("cursor")?;
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
    Ok(page::<_, wire::User>(&users, next))
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
    Ok(reply(StatusCode::OK, &wire::User::from(&load(ctx).await?)))
}

pub(super) async fn update(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::UserUpdate = ctx.json()?;
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let update = UserUpdate {
        name: body.name,
        disabled: body.disabled,
        nip05_name: body.nip05_name,
    };
    let (t, u) = (tenant.clone(), user.clone());
    let record = blocking(move || bunker.admin().update_user(&t, &u, update, unix_now())).await?;
    ctx.audit(&tenant, "user.update", Some(&user)).await;
    Ok(reply(StatusCode::OK, &wire::User::from(&record)))
}

pub(super) async fn delete(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    blocking(move || bunker.admin().delete_user(&t, &u)).await?;
    // The shred the deletion marked: a new data key for the tenant, the old ones destroyed.
    ctx.state.custody.wake();
    ctx.audit(&tenant, "user.delete", Some(&user)).await;
    let deleted = wire::Deleted {
        deleted: wire::DeletedValue::Flag(true),
        id: Some(user),
        users_deleted: None,
    };
    Ok(reply(StatusCode::OK, &deleted))
}

/// NIP-49 export of the user key. The audit record is durable before the `ncryptsec` is answered
/// (no export leaves unaudited); exports share the one-at-a-time scrypt permit with imports.
pub(super) async fn export_key(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::UserKeyExport = ctx.json()?;
    let cap = ctx.state.limits.nip49_max_log_n();
    let log_n = body.log_n.unwrap_or(nip49::MIN_EXPORT_LOG_N);
    if !(nip49::MIN_EXPORT_LOG_N..=cap).contains(&log_n) {
        return Err(ApiError::bad_request(
            "log_n_out_of_range",
            format!(
                "log_n must be {} to this server's nip49_max_log_n ({cap})",
                nip49::MIN_EXPORT_LOG_N
            ),
        ));
    }
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let _scrypt = ctx.state.imports.acquire().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "shutting down",
        )
    })?;
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let (ncryptsec, user_pubkey) = blocking(move || {
        bunker
            .admin()
            .export_user_key(&t, &u, &body.password, log_n)
    })
    .await?;
    let detail = format!("NIP-49 ncryptsec, log_n {log_n}");
    ctx.audit_first(&tenant, "user.key_export", &user, detail)
        .await?;
    let exported = wire::ExportedKey {
        ncryptsec,
        user_pubkey: user_pubkey.to_hex(),
        log_n,
    };
    Ok(reply(StatusCode::OK, &exported))
}

pub(super) async fn rotate(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let record = blocking(move || bunker.admin().rotate_remote_signer(&t, &u, unix_now())).await?;
    ctx.audit(&tenant, "user.rotate_remote_signer", Some(&user))
        .await;
    Ok(reply(StatusCode::OK, &wire::User::from(&record)))
}

pub(super) async fn create_uri(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::BunkerUriCreate = ctx.json()?;
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let options = UriOptions {
        ttl_secs: body.ttl_secs,
        perms: body.perms,
        session_ttl_secs: body.session_ttl_secs,
    };
    let issued =
        blocking(move || bunker.admin().issue_bunker_uri(&t, &u, unix_now(), options)).await?;
    ctx.audit(&tenant, "bunker_uri.create", Some(&user)).await;
    let created = wire::BunkerUriCreated {
        id: issued.id.clone(),
        bunker_uri: zeroize::Zeroizing::new(issued.uri.as_str().to_owned()),
        expires_at: issued.expires_at,
    };
    Ok(reply(StatusCode::CREATED, &created))
}

/// Pairs a user with the client of a `nostrconnect://` URI: the URI is parsed here (`400` with
/// its `uri_*` code naming the bad part), the session is attached to the client's foreign relays
/// first (`409` with a `foreign_*` code when a bound refuses it), then created by the signer, and
/// the `connect` response is published where the client listens.
pub(super) async fn accept_nostrconnect(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::NostrconnectAccept = ctx.json()?;
    let uri = NostrConnectUri::parse(&body.uri)
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let record = blocking(move || bunker.directory().user(&t, &u)).await?;
    let remote_signer = *record.remote_signer_pubkey.as_bytes();
    let client = *uri.client.as_bytes();
    let foreign = ctx.state.foreign.clone();
    foreign
        .attach(&tenant, remote_signer, client, &uri.relays)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string()))?;
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let options = PairOptions {
        perms: body.perms,
        session_ttl_secs: body.session_ttl_secs,
    };
    let paired = blocking(move || {
        let pairing = bunker
            .admin()
            .accept_nostrconnect(&t, &u, &uri, options, unix_now())?;
        let info = bunker
            .list_sessions(&t, &u)?
            .into_iter()
            .find(|s| s.client_pubkey == pairing.session.client);
        Ok((pairing, info))
    })
    .await;
    let (pairing, info) = match paired {
        Ok(paired) => paired,
        Err(e) => {
            // Undo the attachment; a session this client already had is attached again by the
            // next reconciliation.
            foreign.detach(remote_signer, client);
            foreign.resync();
            return Err(e);
        }
    };
    foreign.publish_pairing(&pairing.session.relays, pairing.response);
    foreign.nudge();
    ctx.audit(&tenant, "nostrconnect.accept", Some(&user)).await;
    let info = info.ok_or_else(ApiError::internal)?;
    Ok(reply(StatusCode::CREATED, &wire::Session::from(&info)))
}

pub(super) async fn list_uris(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let pending = ctx.query_checked("pending", |v| v == "true" || v == "false", "true or false")?;
    let pending_only = pending.as_deref() == Some("true");
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let mut tokens = blocking(move || bunker.directory().list_tokens(&tenant, &user)).await?;
    if pending_only {
        let now = unix_now();
        tokens.retain(|t| t.consumed_by.is_none() && t.expires_at > now);
    }
    Ok(page::<_, wire::BunkerUri>(&tokens, None))
}

pub(super) async fn revoke_uri(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let id = ctx.route.param("uri_id").to_owned();
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    blocking(move || bunker.admin().revoke_bunker_uri(&t, &u, &id)).await?;
    ctx.audit(&tenant, "bunker_uri.revoke", Some(&user)).await;
    Ok((StatusCode::NO_CONTENT, None))
}

pub(super) async fn list_sessions(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let sessions = blocking(move || bunker.list_sessions(&tenant, &user)).await?;
    Ok(page::<_, wire::Session>(&sessions, None))
}

pub(super) async fn revoke_session(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let client = path_pubkey(ctx.route.param("client"))?;
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    blocking(move || bunker.admin().revoke_sessions(&t, &u, Some(&client))).await?;
    ctx.audit(&tenant, "session.revoke", Some(&user)).await;
    Ok((StatusCode::NO_CONTENT, None))
}

pub(super) async fn revoke_all_sessions(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let ended = blocking(move || bunker.admin().revoke_sessions(&t, &u, None)).await?;
    ctx.audit(&tenant, "session.revoke_all", Some(&user)).await;
    let deleted = wire::Deleted {
        deleted: wire::DeletedValue::Count(ended as u64),
        id: None,
        users_deleted: None,
    };
    Ok(reply(StatusCode::OK, &deleted))
}

pub(super) async fn get_policy(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (policy, inherited) =
        blocking(move || bunker.directory().effective_policy(&tenant, &user)).await?;
    Ok(reply(
        StatusCode::OK,
        &wire::UserPolicy {
            policy: wire::Policy(policy),
            inherited,
        },
    ))
}

pub(super) async fn put_policy(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let policy = ctx.policy_or_null()?;
    let (tenant, user) = (ctx.tenant(), ctx.user());
    let bunker = ctx.state.bunker.clone();
    let (t, u) = (tenant.clone(), user.clone());
    let (policy, inherited) =
        blocking(move || bunker.admin().set_user_policy(&t, &u, policy, unix_now())).await?;
    ctx.audit(&tenant, "user.policy.set", Some(&user)).await;
    Ok(reply(
        StatusCode::OK,
        &wire::UserPolicy {
            policy: wire::Policy(policy),
            inherited,
        },
    ))
}
