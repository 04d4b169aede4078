//! The sweeper keeps approval records a week after their decision, and drops those of a deleted
//! user at once, with their indexes.

use crate::approvals::{self, ApprovalRecord, ApprovalStatus, DECIDED_RETENTION_SECS};
use crate::{Bunker, BunkerConfig};
use kms::MemMasterKey;
use std::sync::Arc;
use store::{Batch, Durability, MemStore, Store};

fn record(
    tenant: &str,
    user: &str,
    id: &str,
    token: &str,
    decided_at: Option<u64>,
) -> ApprovalRecord {
    let key = crate::crypto::with(proto::nostr::Keypair::generate).public_key();
    ApprovalRecord {
        id: id.to_owned(),
        tenant: tenant.to_owned(),
        user: user.to_owned(),
        remote_signer: key,
        client: key,
        permission: "sign_event:0".to_owned(),
        request: "{}".to_owned(),
        origin: None,
        created_at: 1000,
        expires_at: 1600,
        status: if decided_at.is_some() {
            ApprovalStatus::Denied
        } else {
            ApprovalStatus::Pending
        },
        decided_at,
        decided_by: decided_at.map(|_| "operator".to_owned()),
        token_key: hex::encode(approvals::token_key(token)),
    }
}

#[test]
fn decided_approvals_go_after_a_week_and_a_deleted_users_at_once() {
    let store = Arc::new(MemStore::new());
    let bunker = Bunker::open(
        store.clone(),
        Arc::new(MemMasterKey::generate()),
        BunkerConfig::new("ws://127.0.0.1:7447"),
    )
    .unwrap();
    let admin = bunker.admin();
    let tenant = admin.create_tenant("acme", 1).unwrap().id;
    let user = admin
        .create_user(&tenant, crate::admin::tests::with_key(None, None), 1)
        .unwrap()
        .id;
    let decided = record(&tenant, &user, &"1".repeat(32), "token-1", Some(1000));
    let pending = record(&tenant, &user, &"2".repeat(32), "token-2", None);
    let mut batch = Batch::new();
    approvals::put_new(&mut batch, &decided, "token-1");
    approvals::put_new(&mut batch, &pending, "token-2");
    approvals::put(&mut batch, &decided);
    store.write(batch, Durability::Sync).unwrap();

    let week = 1000 + DECIDED_RETENTION_SECS;
    assert_eq!(admin.sweep(week - 1).unwrap().approvals, 0);
    assert_eq!(admin.sweep(week).unwrap().approvals, 1);
    assert!(approvals::by_token(&*store, "token-1").unwrap().is_none());
    assert!(approvals::by_token(&*store, "token-2").unwrap().is_some());

    admin.delete_user(&tenant, &user).unwrap();
    assert_eq!(admin.sweep(week).unwrap().approvals, 1);
    let mut left = 0;
    store
        .scan_prefix(store::Cf::Approvals, b"", &mut |_, _| {
            left += 1;
            true
        })
        .unwrap();
    assert_eq!(left, 0, "records and both indexes are gone");
}
