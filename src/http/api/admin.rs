//! Admin routes: owners (`/api/users`), an owner's keys, and every key (`/api/tokens`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;
use crate::manage::TokenView;

use super::error::{ApiError, ErrorBody, body, query};
use super::keys::{
    CreateRequest, Created, PatchRequest, RotateRequest, Scope, TokenPage, create_in, delete_in,
    find, list_in, owner_from_path, patch_in, rotate_body, rotate_in, view,
};
use super::paging::{ListParams, PageParams};
use super::principal::Principal;

#[derive(Serialize, ToSchema)]
pub struct Owner {
    owner: String,
    keys: usize,
    /// Their keys' last 24 hours together; absent when they asked nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    activity: Option<crate::analytics::Activity>,
}

/// The order of the owners list.
#[derive(Deserialize, ToSchema, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OwnerSort {
    /// By name (the default).
    #[default]
    Name,
    /// Most requests in the last 24 hours first.
    Requests,
    /// Most refusals in the last 24 hours first.
    Refusals,
}

/// A page of owners, by name.
#[derive(Serialize, ToSchema)]
pub struct OwnerPage {
    owners: Vec<Owner>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OwnersQuery {
    /// Only owners containing this (case-insensitive).
    q: Option<String>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `name` (default), `requests` or `refusals` (the last 24 hours, most first).
    sort: Option<OwnerSort>,
}

/// Every owner with their number of keys and their last 24 hours, by name or by
/// activity, a page at a time (admin).
#[utoipa::path(get, path = "/api/users", tag = "admin", security(("bearer" = [])), params(OwnersQuery),
    responses((status = 200, body = OwnerPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn users(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<OwnersQuery>, QueryRejection>,
) -> Result<Json<OwnerPage>, ApiError> {
    p.require_admin()?;
    let q = query(q)?;
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .check()?;
    let needle = q.q.unwrap_or_default().to_lowercase();
    let mut activity = super::activity::all(&app, "o:").await?;
    let mut owners: Vec<Owner> = app
        .keys
        .owners()
        .await?
        .into_iter()
        .filter(|(o, _)| o.to_lowercase().contains(&needle))
        .map(|(owner, keys)| Owner {
            activity: activity.remove(&crate::analytics::owner_slot(&owner)),
            owner,
            keys,
        })
        .collect();
    let sort = q.sort.unwrap_or_default();
    let key = |o: &Owner| {
        let n = match sort {
            OwnerSort::Name => return o.owner.clone(),
            OwnerSort::Requests => o.activity.as_ref().map_or(0, |a| a.requests),
            OwnerSort::Refusals => o.activity.as_ref().map_or(0, |a| a.refusals),
        };
        format!("{:020}:{}", u64::MAX - n, o.owner)
    };
    if sort != OwnerSort::Name {
        owners.sort_by_cached_key(key);
    }
    let (owners, next_cursor) = page.of(owners, key);
    Ok(Json(OwnerPage {
        owners,
        next_cursor,
    }))
}

/// One owner's keys, a page at a time (admin).
#[utoipa::path(get, path = "/api/users/{sub}/tokens", tag = "admin", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = TokenPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn user_list(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<TokenPage>, ApiError> {
    p.require_admin()?;
    list_in(&app, &Scope::Owner(owner_from_path(sub)?), q).await
}

/// Create a key for an owner (admin).
#[utoipa::path(post, path = "/api/users/{sub}/tokens", tag = "admin", security(("bearer" = [])), request_body = CreateRequest,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn user_create(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
    b: Result<Json<CreateRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    p.require_admin()?;
    let owner = owner_from_path(sub)?;
    let req = body(b)?;
    create_in(&app, owner, &p, req).await
}

#[utoipa::path(get, path = "/api/users/{sub}/tokens/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = TokenView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn user_get(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((sub, id)): Path<(String, String)>,
) -> Result<Json<TokenView>, ApiError> {
    p.require_admin()?;
    Ok(Json(
        view(&app, &find(&app, &Scope::Owner(sub), &id).await?).await?,
    ))
}

#[utoipa::path(patch, path = "/api/users/{sub}/tokens/{id}", tag = "admin", security(("bearer" = [])), request_body = PatchRequest,
    responses((status = 200, body = TokenView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn user_patch(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((sub, id)): Path<(String, String)>,
    b: Result<Json<PatchRequest>, JsonRejection>,
) -> Result<Json<TokenView>, ApiError> {
    p.require_admin()?;
    let req = body(b)?;
    patch_in(&app, &Scope::Owner(sub), &id, &p, req).await
}

#[utoipa::path(delete, path = "/api/users/{sub}/tokens/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn user_delete(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((sub, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require_admin()?;
    delete_in(&app, &Scope::Owner(sub), &id, &p).await
}

#[utoipa::path(post, path = "/api/users/{sub}/tokens/{id}/rotate", tag = "admin", security(("bearer" = [])), request_body = RotateRequest,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn user_rotate(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((sub, id)): Path<(String, String)>,
    b: axum::body::Bytes,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    p.require_admin()?;
    let req = rotate_body(&b)?;
    rotate_in(&app, &Scope::Owner(sub), &id, &p, req).await
}

/// Every key, a page at a time (admin).
#[utoipa::path(get, path = "/api/tokens", tag = "admin", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = TokenPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn all_list(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<TokenPage>, ApiError> {
    p.require_admin()?;
    list_in(&app, &Scope::Any, q).await
}

/// Any key by id (admin).
#[utoipa::path(get, path = "/api/tokens/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = TokenView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn any_get(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    p.require_admin()?;
    Ok(Json(
        view(&app, &find(&app, &Scope::Any, &id).await?).await?,
    ))
}

#[utoipa::path(patch, path = "/api/tokens/{id}", tag = "admin", security(("bearer" = [])), request_body = PatchRequest,
    responses((status = 200, body = TokenView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn any_patch(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: Result<Json<PatchRequest>, JsonRejection>,
) -> Result<Json<TokenView>, ApiError> {
    p.require_admin()?;
    let req = body(b)?;
    patch_in(&app, &Scope::Any, &id, &p, req).await
}

#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn any_delete(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require_admin()?;
    delete_in(&app, &Scope::Any, &id, &p).await
}

#[utoipa::path(post, path = "/api/tokens/{id}/rotate", tag = "admin", security(("bearer" = [])), request_body = RotateRequest,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn any_rotate(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: axum::body::Bytes,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    p.require_admin()?;
    let req = rotate_body(&b)?;
    rotate_in(&app, &Scope::Any, &id, &p, req).await
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCredits {
    /// Credits to add to the key's balance (1 to 10^15).
    add: u64,
}

/// Add credits to a key's balance (admin): a top-up without the whole limits form. The
/// audit log records the balance before and after.
#[utoipa::path(post, path = "/api/tokens/{id}/credits", tag = "admin", security(("bearer" = [])), request_body = AddCredits,
    responses((status = 200, body = TokenView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn any_add_credits(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: Result<Json<AddCredits>, JsonRejection>,
) -> Result<Json<TokenView>, ApiError> {
    p.require_admin()?;
    let req = body(b)?;
    if req.add == 0 {
        return Err(ApiError::invalid("add", "add at least 1 credit"));
    }
    let r = find(&app, &Scope::Any, &id).await?;
    let r = app.keys.add_credits(&r.id, req.add, &p.actor()).await?;
    Ok(Json(view(&app, &r).await?))
}
