//! Approval routes: list the requests held for a tenant admin's decision, approve one (once or
//! remembered for its client), deny one. The decision is the signer's ([`signer::admin::Admin`]);
//! this module delivers the held request's reply where its client listens ([`deliver`]) and audits.

use super::wire;
use super::{blocking, page, reply, AdminState, ApiError, Ctx, Reply};
use hyper::StatusCode;
use signer::admin::{Decided, Decision};
use signer::approvals::ApprovalStatus;
use signer::pool::unix_now;

pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let status = ctx.query_checked(
        "status",
        |v| super::openapi::APPROVAL_STATES.contains(&v),
        "one of pending, approved, remembered, denied, expired",
    )?;
    let status = status.as_deref().map(|s| match s {
        "pending" => ApprovalStatus::Pending,
        "approved" => ApprovalStatus::Approved,
        "remembered" => ApprovalStatus::Remembered,
        "denied" => ApprovalStatus::Denied,
        _ => ApprovalStatus::Expired,
    });
    let tenant = ctx.tenant();
    let bunker = ctx.state.bunker.clone();
    let found = blocking(move || bunker.admin().list_approvals(&tenant, status)).await?;
    Ok(page::<_, wire::Approval>(&found, None))
}

pub(super) async fn get(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (tenant, id) = (ctx.tenant(), ctx.route.param("approval_id").to_owned());
    let bunker = ctx.state.bunker.clone();
    let record = blocking(move || bunker.admin().approval(&tenant, &id)).await?;
    Ok(reply(StatusCode::OK, &wire::Approval::from(&record)))
}

/// `approve`: approves (remembered when the body says so); otherwise denies.
pub(super) async fn decide(ctx: &Ctx<'_>, approve: bool) -> Result<Reply, ApiError> {
    let decision = if approve {
        let body: wire::ApprovalApprove = ctx.json()?;
        Decision::Approve {
            remember: body.remember.unwrap_or(false),
        }
    } else {
        Decision::Deny
    };
    let (tenant, id) = (ctx.tenant(), ctx.route.param("approval_id").to_owned());
    let actor = ctx.principal.actor();
    let bunker = ctx.state.bunker.clone();
    let t = tenant.clone();
    let decided = blocking(move || {
        bunker
            .admin()
            .decide_approval(&t, &id, decision, &actor, unix_now())
    })
    .await?;
    deliver(ctx.state, &decided);
    let action = match decision {
        Decision::Approve { remember: true } => "approval.approve_remember",
        Decision::Approve { remember: false } => "approval.approve",
        Decision::Deny => "approval.deny",
    };
    ctx.audit(&tenant, action, Some(&decided.record.user)).await;
    Ok(reply(
        StatusCode::OK,
        &wire::Approval::from(&decided.record),
    ))
}

/// Publishes a decided request's reply where its client listens: the foreign relay it came from
/// (if any) and bunkerd's own relay.
pub(crate) fn deliver(state: &AdminState, decided: &Decided) {
    let Some(response) = &decided.response else {
        return;
    };
    if let Some(origin) = &decided.record.origin {
        state
            .foreign
            .publish(std::slice::from_ref(origin), response.clone());
    }
    state.hub.publish(response.clone(), unix_now());
}
