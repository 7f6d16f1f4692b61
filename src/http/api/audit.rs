//! The audit log (admin): `GET /api/audit` a page at a time, `GET /api/audit/export` as
//! CSV or JSON.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::App;
use crate::clock::Timestamp;
use crate::store::{AuditEvent, AuditQuery, TokenId};

use super::error::{ApiError, ErrorBody, query};
use super::principal::Principal;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    owner: Option<String>,
    actor: Option<String>,
    token_id: Option<String>,
    /// `create`, `update`, `limits`, `disable`, `enable`, `rotate`, `delete`, `import`,
    /// `owner_limits`, `owner_limits_clear`.
    action: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<Timestamp>,
    /// Only events before this time.
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
    /// Only events older than this `seq` (the `next_before` of the previous page).
    before: Option<u64>,
    /// 1–500, default 50.
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<u64>,
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/api/audit", tag = "admin", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn audit(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    p.require_admin()?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 500"));
    }
    let token_id = match q.token_id {
        Some(t) => {
            Some(TokenId::parse(&t).map_err(|_| ApiError::invalid("token_id", "not a key id"))?)
        }
        None => None,
    };
    let query = AuditQuery {
        owner: q.owner,
        actor: q.actor,
        token_id,
        before: q.before,
        limit: limit + 1,
        action: q.action,
        since: q.since,
        until: q.until,
    };
    let mut events = app.keys.audit_log(&query).await?;
    let more = events.len() > limit;
    events.truncate(limit);
    let next_before = if more {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(AuditPage {
        events,
        next_before,
    }))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditExportParams {
    /// `csv` (default) or `json`.
    format: Option<String>,
    owner: Option<String>,
    actor: Option<String>,
    token_id: Option<String>,
    action: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<Timestamp>,
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
}

/// Every audit event matching the filters (at most all that are kept, 100 000), newest
/// first, as a CSV or JSON download (admin).
#[utoipa::path(get, path = "/api/audit/export", tag = "admin", security(("bearer" = [])), params(AuditExportParams),
    responses((status = 200, description = "text/csv or application/json", content_type = "text/csv"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn audit_export(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<AuditExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    let q = query(q)?;
    let csv = match q.format.as_deref() {
        None | Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(ApiError::invalid("format", "csv or json")),
    };
    let token_id = match q.token_id {
        Some(t) => {
            Some(TokenId::parse(&t).map_err(|_| ApiError::invalid("token_id", "not a key id"))?)
        }
        None => None,
    };
    let events = app
        .keys
        .audit_log(&AuditQuery {
            owner: q.owner,
            actor: q.actor,
            token_id,
            before: None,
            limit: usize::try_from(crate::store::AUDIT_MAX).unwrap_or(usize::MAX),
            action: q.action,
            since: q.since,
            until: q.until,
        })
        .await?;
    let (body, kind, ext) = if csv {
        (audit_csv(&events), "text/csv; charset=utf-8", "csv")
    } else {
        (
            serde_json::to_string(&events).unwrap_or_default(),
            "application/json",
            "json",
        )
    };
    let disposition = format!("attachment; filename=\"keygate-audit.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The audit log as CSV: a header row, one event per row, changes as
/// `field: from → to` joined by `; `. Cells that a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@`, tab, CR first) get a leading `'`.
pub(super) fn audit_csv(events: &[AuditEvent]) -> String {
    fn cell(out: &mut String, v: &str) {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{v}")
        } else {
            v.to_owned()
        };
        if v.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&v);
        }
    }
    let mut out = String::from("seq,at,actor,auth,action,owner,token_id,name,client,changes\r\n");
    for e in events {
        let changes = e
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{}: {} → {}",
                    c.field,
                    c.from.as_deref().unwrap_or("∅"),
                    c.to.as_deref().unwrap_or("∅")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let row = [
            e.seq.to_string(),
            e.at.to_string(),
            e.actor.clone(),
            e.auth.clone(),
            e.action.clone(),
            e.owner.clone(),
            e.token_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            e.name.clone().unwrap_or_default(),
            e.client.clone().unwrap_or_default(),
            changes,
        ];
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            cell(&mut out, v);
        }
        out.push_str("\r\n");
    }
    out
}
