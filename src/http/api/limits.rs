//! Owner limits: rate limits and credits shared by all of an owner's keys.
//! `GET /api/me/limits` (one's own), `GET|PUT|DELETE /api/users/{sub}/limits` (admin).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::{ApiError, ErrorBody, body};
use super::keys::owner_from_path;
use super::principal::Principal;
use crate::app::App;
use crate::manage::{LimitsView, OwnerLimitsView};

/// My owner limits: shared by all my keys (set by an administrator or the default).
#[utoipa::path(get, path = "/api/me/limits", tag = "self", security(("bearer" = [])),
    responses((status = 200, body = OwnerLimitsView), (status = 401, body = ErrorBody)))]
pub(super) async fn my_limits(
    State(app): State<Arc<App>>,
    p: Principal,
) -> Result<Json<OwnerLimitsView>, ApiError> {
    Ok(Json(app.keys.owner_limits(&p.subject).await?))
}

/// An owner's limits (admin).
#[utoipa::path(get, path = "/api/users/{sub}/limits", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = OwnerLimitsView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn owner_limits(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
) -> Result<Json<OwnerLimitsView>, ApiError> {
    p.require_admin()?;
    Ok(Json(app.keys.owner_limits(&owner_from_path(sub)?).await?))
}

/// Set an owner's limits, shared by all their keys (admin). `credits.remaining` sets the
/// balance.
#[utoipa::path(put, path = "/api/users/{sub}/limits", tag = "admin", security(("bearer" = [])), request_body = LimitsView,
    responses((status = 200, body = OwnerLimitsView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn set_owner_limits(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
    b: Result<Json<LimitsView>, JsonRejection>,
) -> Result<Json<OwnerLimitsView>, ApiError> {
    p.require_admin()?;
    let owner = owner_from_path(sub)?;
    let v = body(b)?;
    Ok(Json(
        app.keys.set_owner_limits(&owner, &v, &p.actor()).await?,
    ))
}

/// Remove an owner's own limits: the configured default applies again (admin).
#[utoipa::path(delete, path = "/api/users/{sub}/limits", tag = "admin", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn clear_owner_limits(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require_admin()?;
    let owner = owner_from_path(sub)?;
    app.keys.clear_owner_limits(&owner, &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
