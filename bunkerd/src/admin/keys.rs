//! Key custody routes (operator only): the master key's state, master-key rotation and tenant
//! data-key rotation. Each rotation is recorded synchronously and done by the custody task
//! (`crate::keys`), so the routes answer `202` at once and `GET /v1/keys` shows the progress.

use super::{blocking, reply, wire, ApiError, Ctx, Reply};
use hyper::StatusCode;

pub(super) async fn status(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(reply(StatusCode::OK, &custody_status(ctx).await?))
}

pub(super) async fn rotate_master(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: wire::MasterKeyRotate = ctx.json()?;
    let retire = body.retire_old.unwrap_or(true);
    let bunker = ctx.state.bunker.clone();
    let version = blocking(move || bunker.admin().begin_master_key_rotation(retire)).await?;
    ctx.state.custody.wake();
    tracing::info!(version, retire, "master key rotation started");
    Ok(reply(StatusCode::ACCEPTED, &custody_status(ctx).await?))
}

pub(super) async fn rotate_tenant(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    let (current, all) = blocking(move || {
        bunker.admin().begin_tenant_key_rotation(&t)?;
        Ok(bunker.vault().data_key_ids(&t)?)
    })
    .await?;
    ctx.state.custody.wake();
    ctx.audit(&tenant, "keys.rotate", None).await;
    let keys = wire::TenantKeys {
        tenant,
        current_data_key: format!("{current:08x}"),
        data_keys: all.len() as u64,
    };
    Ok(reply(StatusCode::ACCEPTED, &keys))
}

pub(super) async fn create_backup(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let _one = ctx
        .state
        .backups
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    let bunker = ctx.state.bunker.clone();
    let store = ctx.state.store.clone();
    let dir = ctx.state.backup_dir.clone();
    let now = signer::pool::unix_now();
    let created = tokio::task::spawn_blocking(move || {
        crate::backup::create(store.as_ref(), bunker.vault(), &dir, now)
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| {
        tracing::error!(code = e.code(), "backup failed: {e}");
        ApiError::internal()
    })?;
    tracing::info!(
        file = %created.path.display(),
        records = created.summary.total_records(),
        bytes = created.summary.bytes,
        "backup written"
    );
    let body = wire::Backup {
        file: created.path.display().to_string(),
        created_at: now,
        bytes: created.summary.bytes,
        records: created.summary.total_records(),
        sha256: created.summary.sha256,
        master_key_provider: created.master_key_provider.to_owned(),
        master_key: created.master_key,
        master_key_versions: created.master_key_versions,
    };
    Ok(reply(StatusCode::CREATED, &body))
}

async fn custody_status(ctx: &Ctx<'_>) -> Result<wire::KeyCustody, ApiError> {
    let bunker = ctx.state.bunker.clone();
    let (status, (rotating, shreds)) = blocking(move || {
        let status = bunker.vault().master_status()?;
        Ok((status, bunker.admin().pending_key_custody()?))
    })
    .await?;
    let run = ctx.state.custody.state();
    Ok(wire::KeyCustody {
        provider: status.info.provider.to_owned(),
        key: status.info.key,
        current_version: status.current_version,
        versions: status.versions,
        wrapped_by_version: status
            .wrapped_by_version
            .into_iter()
            .map(|(v, n)| (v.to_string(), n))
            .collect(),
        rotating_to: status.rotating_to,
        retire_old: status.retire,
        tenants_rotating: rotating,
        shreds_pending: shreds,
        running: run.running,
        last_run_at: run.last_run_at,
        last_error: run.last_error,
    })
}
