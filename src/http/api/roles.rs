//! Roles and grants: `/api/roles` (admin), an owner's roles at
//! `/api/users/{sub}/roles` (admin), what the caller may attach (`/api/me/grants`), and
//! a key's effective permissions with their sources (`…/tokens/{id}/permissions`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, body, query};
use super::keys::{Scope, find, owner_from_path, permission_names, role_names};
use super::principal::Principal;
use crate::app::App;
use crate::manage::{EffectivePermission, Grantable, RolePatch, RoleView};
use crate::permissions::RoleName;

#[derive(Serialize, ToSchema)]
pub struct RoleList {
    roles: Vec<RoleView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleCreate {
    /// 1–64 characters of `A-Z a-z 0-9 _ . : -`, beginning with a letter or digit.
    name: String,
    #[serde(default)]
    description: String,
    /// Permission names (`billing.read`, `docs.*`).
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    description: Option<String>,
    /// Replaces the role's permissions (every key holding the role sees the change).
    permissions: Option<Vec<String>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// Take the role off every key and owner holding it first (else a role in use is
    /// refused, 409 `role_in_use`).
    #[serde(default)]
    detach: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OwnerRoles {
    owner: String,
    roles: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerRolesChange {
    /// Exactly the roles the owner holds from now on (each must exist).
    roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyPermissions {
    /// The key's effective permissions, sorted, each with where it comes from.
    permissions: Vec<EffectivePermission>,
}

fn role_of(raw: &str) -> Result<RoleName, ApiError> {
    RoleName::parse(raw).map_err(|e| ApiError::malformed("name", e))
}

/// Every role (admin).
#[utoipa::path(get, path = "/api/roles", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = RoleList), (status = 403, body = ErrorBody)))]
pub(super) async fn list_roles(
    State(app): State<Arc<App>>,
    p: Principal,
) -> Result<Json<RoleList>, ApiError> {
    p.require_admin()?;
    Ok(Json(RoleList {
        roles: app.keys.roles().await?,
    }))
}

/// Create a role (admin).
#[utoipa::path(post, path = "/api/roles", tag = "admin", security(("bearer" = [])), request_body = RoleCreate,
    responses((status = 201, body = RoleView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_role(
    State(app): State<Arc<App>>,
    p: Principal,
    b: Result<Json<RoleCreate>, JsonRejection>,
) -> Result<(StatusCode, Json<RoleView>), ApiError> {
    p.require_admin()?;
    let req = body(b)?;
    let name = role_of(&req.name)?;
    let permissions = permission_names(&req.permissions)?;
    let role = app
        .keys
        .create_role(name, req.description, permissions, &p.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(role)))
}

/// One role (admin).
#[utoipa::path(get, path = "/api/roles/{name}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = RoleView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_role(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(name): Path<String>,
) -> Result<Json<RoleView>, ApiError> {
    p.require_admin()?;
    Ok(Json(app.keys.role(&role_of(&name)?).await?))
}

/// Change a role's description or permissions (admin): every key holding it, on every
/// replica, is judged by the new set at once.
#[utoipa::path(patch, path = "/api/roles/{name}", tag = "admin", security(("bearer" = [])), request_body = RoleChange,
    responses((status = 200, body = RoleView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn patch_role(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(name): Path<String>,
    b: Result<Json<RoleChange>, JsonRejection>,
) -> Result<Json<RoleView>, ApiError> {
    p.require_admin()?;
    let name = role_of(&name)?;
    let req = body(b)?;
    let patch = RolePatch {
        description: req.description,
        permissions: req
            .permissions
            .as_deref()
            .map(permission_names)
            .transpose()?,
    };
    Ok(Json(app.keys.update_role(&name, patch, &p.actor()).await?))
}

/// Delete a role (admin). Held by keys or owners, it is refused (409 `role_in_use`)
/// unless `detach=true`.
#[utoipa::path(delete, path = "/api/roles/{name}", tag = "admin", security(("bearer" = [])), params(DeleteParams),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn delete_role(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(name): Path<String>,
    q: Result<Query<DeleteParams>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    p.require_admin()?;
    let name = role_of(&name)?;
    let detach = query(q)?.detach;
    app.keys.delete_role(&name, detach, &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The roles granted to an owner: every key of theirs inherits them (admin).
#[utoipa::path(get, path = "/api/users/{sub}/roles", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = OwnerRoles), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn owner_roles(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
) -> Result<Json<OwnerRoles>, ApiError> {
    p.require_admin()?;
    let owner = owner_from_path(sub)?;
    let roles = app.keys.owner_roles(&owner).await?;
    Ok(Json(OwnerRoles {
        owner,
        roles: roles.iter().map(ToString::to_string).collect(),
    }))
}

/// Grant an owner exactly these roles (admin).
#[utoipa::path(put, path = "/api/users/{sub}/roles", tag = "admin", security(("bearer" = [])), request_body = OwnerRolesChange,
    responses((status = 200, body = OwnerRoles), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn set_owner_roles(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
    b: Result<Json<OwnerRolesChange>, JsonRejection>,
) -> Result<Json<OwnerRoles>, ApiError> {
    p.require_admin()?;
    let owner = owner_from_path(sub)?;
    let req = body(b)?;
    let roles = app
        .keys
        .set_owner_roles(&owner, role_names(&req.roles)?, &p.actor())
        .await?;
    Ok(Json(OwnerRoles {
        owner,
        roles: roles.iter().map(ToString::to_string).collect(),
    }))
}

/// What I may attach to my keys: administrators anything, others the roles granted to
/// them and the permissions those cover.
#[utoipa::path(get, path = "/api/me/grants", tag = "self", security(("bearer" = [])),
    responses((status = 200, body = Grantable), (status = 401, body = ErrorBody)))]
pub(super) async fn my_grants(
    State(app): State<Arc<App>>,
    p: Principal,
) -> Result<Json<Grantable>, ApiError> {
    Ok(Json(app.keys.grantable(&p.subject, &p.actor()).await?))
}

async fn permissions_in(
    app: &App,
    scope: &Scope,
    id: &str,
) -> Result<Json<KeyPermissions>, ApiError> {
    let r = find(app, scope, id).await?;
    Ok(Json(KeyPermissions {
        permissions: app.keys.effective(&r).await?,
    }))
}

/// My key's effective permissions and where each comes from.
#[utoipa::path(get, path = "/api/me/tokens/{id}/permissions", tag = "self", security(("bearer" = [])),
    responses((status = 200, body = KeyPermissions), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn my_key_permissions(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyPermissions>, ApiError> {
    permissions_in(&app, &Scope::Owner(p.subject), &id).await
}

/// A user's key's effective permissions (admin).
#[utoipa::path(get, path = "/api/users/{sub}/tokens/{id}/permissions", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = KeyPermissions), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn user_key_permissions(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((sub, id)): Path<(String, String)>,
) -> Result<Json<KeyPermissions>, ApiError> {
    p.require_admin()?;
    permissions_in(&app, &Scope::Owner(owner_from_path(sub)?), &id).await
}

/// Any key's effective permissions (admin).
#[utoipa::path(get, path = "/api/tokens/{id}/permissions", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = KeyPermissions), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn any_key_permissions(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyPermissions>, ApiError> {
    p.require_admin()?;
    permissions_in(&app, &Scope::Any, &id).await
}
