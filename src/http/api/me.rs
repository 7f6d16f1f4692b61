//! Self-service routes: the caller and the caller's own keys (`/api/me`, `/api/me/tokens`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::manage::TokenView;

use super::error::{ApiError, ErrorBody, body};
use super::keys::{
    CreateRequest, Created, PatchRequest, RotateRequest, Scope, TokenPage, create_in, delete_in,
    find, list_in, patch_in, rotate_body, rotate_in, view,
};
use super::paging::ListParams;
use super::principal::{AuthMethod, Principal};

#[derive(Serialize, ToSchema)]
pub struct Me {
    subject: String,
    admin: bool,
    auth: AuthMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// True when keygate runs without an identity provider, on its own admin key.
    single_operator: bool,
    /// Whether this caller may loosen usage limits (else only tighten them).
    may_raise_limits: bool,
}

/// Who am I.
#[utoipa::path(get, path = "/api/me", tag = "self", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub(super) async fn me(State(app): State<Arc<App>>, p: Principal) -> Json<Me> {
    Json(Me {
        subject: p.subject,
        admin: p.admin,
        auth: p.method,
        name: p.name,
        single_operator: app.single_operator(),
        may_raise_limits: p.may_raise_limits,
    })
}

/// My keys, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/me/tokens", tag = "self", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = TokenPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn my_list(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<TokenPage>, ApiError> {
    list_in(&app, &Scope::Owner(p.subject), q).await
}

/// Create a key for myself; the answer holds the key, shown this once.
#[utoipa::path(post, path = "/api/me/tokens", tag = "self", security(("bearer" = [])), request_body = CreateRequest,
    responses((status = 201, body = Created), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn my_create(
    State(app): State<Arc<App>>,
    p: Principal,
    b: Result<Json<CreateRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let req = body(b)?;
    create_in(&app, p.subject.clone(), &p, req).await
}

/// One of my keys.
#[utoipa::path(get, path = "/api/me/tokens/{id}", tag = "self", security(("bearer" = [])),
    responses((status = 200, body = TokenView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn my_get(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(
        view(&app, &find(&app, &Scope::Owner(p.subject), &id).await?).await?,
    ))
}

/// Change name, expiry, rules, metadata or disabled.
#[utoipa::path(patch, path = "/api/me/tokens/{id}", tag = "self", security(("bearer" = [])), request_body = PatchRequest,
    responses((status = 200, body = TokenView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn my_patch(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: Result<Json<PatchRequest>, JsonRejection>,
) -> Result<Json<TokenView>, ApiError> {
    let req = body(b)?;
    patch_in(&app, &Scope::Owner(p.subject.clone()), &id, &p, req).await
}

/// Revoke one of my keys.
#[utoipa::path(delete, path = "/api/me/tokens/{id}", tag = "self", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn my_delete(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_in(&app, &Scope::Owner(p.subject.clone()), &id, &p).await
}

/// Rotate one of my keys: a new key with the same settings; the old one keeps working for `grace_seconds`.
#[utoipa::path(post, path = "/api/me/tokens/{id}/rotate", tag = "self", security(("bearer" = [])), request_body = RotateRequest,
    responses((status = 201, body = Created), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn my_rotate(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: axum::body::Bytes,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let req = rotate_body(&b)?;
    rotate_in(&app, &Scope::Owner(p.subject.clone()), &id, &p, req).await
}
