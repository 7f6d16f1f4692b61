//! A key's recent requests (`GET …/tokens/{id}/recent`): the last decisions made with
//! it — time, outcome, method, host, path, client address — newest first, as the gate
//! noted them (written every second; `analytics.recent_requests` per key).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, query};
use super::keys::{Scope, find, owner_from_path};
use super::principal::Principal;
use crate::app::App;
use crate::model::RecentRequest;

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecentParams {
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// A key's recent requests, newest first.
#[derive(Serialize, ToSchema)]
pub struct RecentPage {
    requests: Vec<RecentRequest>,
    /// How many requests are kept per key (`analytics.recent_requests`; 0: none).
    kept: usize,
}

async fn recent_in(
    app: &App,
    scope: &Scope,
    id: &str,
    q: Result<Query<RecentParams>, QueryRejection>,
) -> Result<Json<RecentPage>, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 500"));
    }
    let record = find(app, scope, id).await?;
    let kept = if app.gate.recent().is_some() {
        app.config.analytics.recent_requests
    } else {
        0
    };
    Ok(Json(RecentPage {
        requests: app.keys.store().recent(&record.id, limit).await?,
        kept,
    }))
}

/// One of my keys' recent requests.
#[utoipa::path(get, path = "/api/me/tokens/{id}/recent", tag = "self", security(("bearer" = [])), params(RecentParams),
    responses((status = 200, body = RecentPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn my_key_recent(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    q: Result<Query<RecentParams>, QueryRejection>,
) -> Result<Json<RecentPage>, ApiError> {
    recent_in(&app, &Scope::Owner(p.subject), &id, q).await
}

/// An owner's key's recent requests (admin).
#[utoipa::path(get, path = "/api/users/{sub}/tokens/{id}/recent", tag = "admin", security(("bearer" = [])), params(RecentParams),
    responses((status = 200, body = RecentPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn user_key_recent(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((sub, id)): Path<(String, String)>,
    q: Result<Query<RecentParams>, QueryRejection>,
) -> Result<Json<RecentPage>, ApiError> {
    p.require_admin()?;
    recent_in(&app, &Scope::Owner(owner_from_path(sub)?), &id, q).await
}

/// Any key's recent requests (admin).
#[utoipa::path(get, path = "/api/tokens/{id}/recent", tag = "admin", security(("bearer" = [])), params(RecentParams),
    responses((status = 200, body = RecentPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn any_key_recent(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    q: Result<Query<RecentParams>, QueryRejection>,
) -> Result<Json<RecentPage>, ApiError> {
    p.require_admin()?;
    recent_in(&app, &Scope::Any, &id, q).await
}
