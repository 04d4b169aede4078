//! Audit queries: [`AuditQuery`] and [`AuditPage`], a query checked and turned into a key range
//! ([`Plan`]), and [`AuditLog::query`], which scans one tenant's rows a page at a time. Row keys
//! and cursors are encoded by the parent module, which re-exports the public items here.

use super::{
    check_tenant, decode_cursor, decode_row, encode_cursor, is_action, is_id, row_key, tenant_end,
    AuditLog, AuditRecord, KEY_LEN,
};
use crate::Error;
use serde::{Deserialize, Serialize};
use store::Cf;

/// [`AuditQuery::limit`] when none is given.
pub const DEFAULT_LIMIT: u32 = 100;

/// Largest [`AuditQuery::limit`] accepted.
pub const MAX_LIMIT: u32 = 1000;

/// A query over one tenant's records ([`AuditLog::query`]). Every field is optional; the default
/// is the first [`DEFAULT_LIMIT`] records of all time, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    /// Earliest `time_ms` included (Unix milliseconds, inclusive). Default: 0.
    pub from_ms: Option<u64>,
    /// `time_ms` bound (Unix milliseconds, **exclusive**). Default: no bound.
    pub to_ms: Option<u64>,
    /// Only records of this user id (exact match, 32 lowercase hex characters).
    pub user: Option<String>,
    /// Only records of this action (exact match, e.g. `sign_event`).
    pub action: Option<String>,
    /// Most records per page, 1 to [`MAX_LIMIT`]. Default: [`DEFAULT_LIMIT`].
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page of the same query, to continue after it.
    pub cursor: Option<String>,
    /// Newest first instead of oldest first. Default: false (oldest first).
    pub newest_first: bool,
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// Matching records, oldest first (newest first with [`AuditQuery::newest_first`]).
    pub records: Vec<AuditRecord>,
    /// Pass as [`AuditQuery::cursor`] to continue; `None` when the range is exhausted. A page may
    /// hold fewer than `limit` records (even none) and still have a cursor, when the scan stopped
    /// at [`AuditConfig::max_examined`] rows.
    ///
    /// [`AuditConfig::max_examined`]: super::AuditConfig::max_examined
    pub next_cursor: Option<String>,
}

impl AuditLog {
    /// One page of `tenant`'s records in `[from_ms, to_ms)` matching `user` and `action`, oldest
    /// first (newest first with [`AuditQuery::newest_first`]); within one millisecond, in the
    /// order they were recorded. Reads at most [`AuditConfig::max_examined`] rows.
    ///
    /// Records still queued are not seen ([`AuditLog::flush`] first where that matters); a record
    /// written later with a time before the cursor is not seen by the following pages.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a tenant or `user` that is not a 32-character lowercase hex
    /// id, a malformed `action`, `from_ms > to_ms`, a `limit` outside 1..=[`MAX_LIMIT`], or a
    /// cursor that is malformed, of another tenant, or of the other order; [`Error::Store`] on a
    /// store failure; [`Error::Corrupt`] for a row that does not decode or does not match its
    /// key.
    ///
    /// [`AuditConfig::max_examined`]: super::AuditConfig::max_examined
    pub fn query(&self, tenant: &str, q: &AuditQuery) -> Result<AuditPage, Error> {
        let plan = Plan::new(tenant, q)?;
        let mut records = Vec::new();
        let (mut examined, mut more, mut last) = (0usize, false, [0u8; KEY_LEN]);
        let mut failure = None;
        let mut visit = |key: &[u8], value: &[u8]| {
            if records.len() == plan.limit || examined == self.max_examined {
                more = true;
                return false;
            }
            examined += 1;
            match decode_row(tenant, key, value) {
                Ok(rec) => {
                    if plan.matches(&rec) {
                        records.push(rec);
                    }
                    last.copy_from_slice(key);
                    true
                }
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        };
        if q.newest_first {
            self.store
                .scan_range_rev(Cf::Audit, &plan.start, &plan.end, &mut visit)?;
        } else {
            self.store
                .scan_range(Cf::Audit, &plan.start, &plan.end, &mut visit)?;
        }
        if let Some(error) = failure {
            return Err(error);
        }
        let next_cursor = more.then(|| encode_cursor(q.newest_first, &last));
        Ok(AuditPage {
            records,
            next_cursor,
        })
    }
}

/// A validated query: its key range and filters.
struct Plan<'q> {
    start: Vec<u8>,
    end: Vec<u8>,
    limit: usize,
    user: Option<&'q str>,
    action: Option<&'q str>,
}

impl<'q> Plan<'q> {
    fn new(tenant: &str, q: &'q AuditQuery) -> Result<Plan<'q>, Error> {
        check_tenant(tenant)?;
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::InvalidInput("limit must be 1 to 1000"));
        }
        if q.user.as_deref().is_some_and(|u| !is_id(u)) {
            return Err(Error::InvalidInput(
                "user must be a 32-character lowercase hex id",
            ));
        }
        if q.action.as_deref().is_some_and(|a| !is_action(a)) {
            return Err(Error::InvalidInput(
                "action must be 1 to 64 characters of a-z 0-9 _ . : -",
            ));
        }
        let from = q.from_ms.unwrap_or(0);
        if q.to_ms.is_some_and(|to| to < from) {
            return Err(Error::InvalidInput("from_ms must not exceed to_ms"));
        }
        let mut start = row_key(tenant, from, 0).to_vec();
        let mut end = match q.to_ms {
            // The least key of `to_ms`: every row of that millisecond is excluded.
            Some(to) => row_key(tenant, to, 0).to_vec(),
            None => tenant_end(tenant),
        };
        if let Some(cursor) = &q.cursor {
            let key = decode_cursor(cursor, tenant, q.newest_first)?;
            // Clamping alone would already keep the scan inside the tenant's range; the cursor's
            // tenant is checked in `decode_cursor` so misuse is an error, not an empty page.
            if q.newest_first {
                end = end.min(key.to_vec());
            } else {
                start = start.max([key.as_slice(), &[0]].concat());
            }
        }
        Ok(Plan {
            start,
            end,
            limit: limit as usize,
            user: q.user.as_deref(),
            action: q.action.as_deref(),
        })
    }

    fn matches(&self, rec: &AuditRecord) -> bool {
        self.user.is_none_or(|u| rec.user.as_deref() == Some(u))
            && self.action.is_none_or(|a| rec.action == a)
    }
}
