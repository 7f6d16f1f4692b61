//! The management API under `/api` (DESIGN §6): self-service routes for the caller's own
//! keys, admin routes for everyone's, and the audit log.
//!
//! Who may call: an OIDC access token (admin when its groups hold `oauth.admin.group`)
//! or an admin key (configured, or generated in single-operator mode). A key the gate
//! accepts is never accepted here. Someone else's key id answers 404, never 403, so ids
//! cannot be probed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::error::error;
use crate::app::App;
use crate::clock::Timestamp;
use crate::manage::{Actor, LimitsPatch, LimitsView, ManageError, NewToken, Patch, TokenView};
use crate::rules::Rule;
use crate::store::{AuditEvent, AuditQuery, StoreError, TokenId, TokenRecord};

mod limits;
mod paging;
use limits::{
    __path_clear_owner_limits, __path_my_limits, __path_owner_limits, __path_set_owner_limits,
    clear_owner_limits, my_limits, owner_limits, set_owner_limits,
};
use paging::{PageParams, record_key};

/// Longest grace period a rotation may give the old key.
pub const MAX_GRACE: Duration = Duration::from_secs(30 * 86_400);

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/me/tokens", get(my_list).post(my_create))
        .route(
            "/api/me/tokens/{id}",
            get(my_get).patch(my_patch).delete(my_delete),
        )
        .route("/api/me/tokens/{id}/rotate", post(my_rotate))
        .route("/api/users", get(users))
        .route("/api/users/{sub}/tokens", get(user_list).post(user_create))
        .route(
            "/api/users/{sub}/tokens/{id}",
            get(user_get).patch(user_patch).delete(user_delete),
        )
        .route("/api/users/{sub}/tokens/{id}/rotate", post(user_rotate))
        .route("/api/tokens", get(all_list))
        .route(
            "/api/tokens/{id}",
            get(any_get).patch(any_patch).delete(any_delete),
        )
        .route("/api/tokens/{id}/rotate", post(any_rotate))
        .route("/api/audit", get(audit))
        .route("/api/me/limits", get(my_limits))
        .route(
            "/api/users/{sub}/limits",
            get(owner_limits)
                .put(set_owner_limits)
                .delete(clear_owner_limits),
        )
}

// ---------------------------------------------------------------- errors

/// The one error shape, with the field named on validation errors.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
    /// Set on 429: seconds for `Retry-After`.
    retry_after: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `unauthorized`, `forbidden`, `not_found`, `invalid`, …
    error: String,
    message: String,
    /// The offending field, on validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
    fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this route is for administrators",
        )
    }
    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such key")
    }
    fn damaged(id: &TokenId) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "damaged",
            format!("the stored record of key {id} is damaged; it can only be deleted"),
        )
    }
    fn invalid(field: &'static str, m: impl Into<String>) -> Self {
        ApiError {
            field: Some(field),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(retry) = self.retry_after {
            return super::error::too_many_failures(self.status, retry);
        }
        if self.field.is_none() {
            return error(self.status, self.code, &self.message);
        }
        let body = ErrorBody {
            error: self.code.into(),
            message: self.message,
            field: self.field.map(Into::into),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid { field, message } => ApiError::invalid(field, message),
            ManageError::NotFound => ApiError::not_found(),
            e @ ManageError::TooManyKeys(_) => {
                ApiError::new(StatusCode::CONFLICT, "too_many_keys", e.to_string())
            }
            e @ ManageError::LimitsLocked => {
                ApiError::new(StatusCode::FORBIDDEN, "limits_locked", e.to_string())
            }
            ManageError::Damaged { id, .. } => ApiError::damaged(&id),
            ManageError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Damaged { id, .. } => ApiError::damaged(&id),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Timeout(_) | StoreError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the key store is unavailable; try again",
            ),
            StoreError::Backend(m) => {
                // Logged once here; the client sees no cause.
                tracing::error!(error = %m, "store error in the management API");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

fn body<T>(r: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match r {
        Ok(Json(t)) => Ok(t),
        Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            e.body_text(),
        )),
        Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            e.body_text(),
        )),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON with `Content-Type: application/json`",
        )),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is too large",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            e.body_text(),
        )),
    }
}

// ---------------------------------------------------------------- who is calling

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    Oidc,
    AdminKey,
}

/// The authenticated caller of a management route.
#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: String,
    pub admin: bool,
    pub method: AuthMethod,
    pub name: Option<String>,
    pub client: Option<String>,
    /// Administrators, or everyone with `limits.users_may_raise`.
    pub may_raise_limits: bool,
}

impl Principal {
    fn actor(&self) -> Actor {
        Actor {
            subject: self.subject.clone(),
            auth: match self.method {
                AuthMethod::Oidc => "oidc",
                AuthMethod::AdminKey => "admin-key",
            },
            client: self.client.clone(),
            may_raise_limits: self.may_raise_limits,
        }
    }

    fn require_admin(&self) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl FromRequestParts<Arc<App>> for Principal {
    type Rejection = ApiError;

    /// A client over the failed-attempt limit is refused before its credential is
    /// looked at; a credential that is presented and refused counts as a failure (one
    /// table with the gate and `/status`, `/load`).
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let address = app.gate.client_address(super::peer().ip(), &parts.headers);
        if let Some(retry) = app.gate.throttled(address) {
            return Err(ApiError {
                retry_after: Some(retry),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_failures",
                    "too many failed attempts from this address; try again later",
                )
            });
        }
        let principal = Self::authenticate(parts, app, address).await.map(|mut p| {
            p.may_raise_limits = p.admin || app.config.limits.users_may_raise;
            p
        });
        if let Err(e) = &principal
            && e.status == StatusCode::UNAUTHORIZED
            && parts.headers.contains_key(header::AUTHORIZATION)
        {
            app.gate.failed(address);
        }
        principal
    }
}

impl Principal {
    async fn authenticate(
        parts: &Parts,
        app: &Arc<App>,
        address: std::net::IpAddr,
    ) -> Result<Self, ApiError> {
        let client = Some(address.to_string());
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "send `Authorization: Bearer` with an access token or the admin key",
                )
            })?;
        if app.is_admin_key(token) {
            return Ok(Principal {
                subject: "admin".into(),
                admin: true,
                method: AuthMethod::AdminKey,
                name: None,
                client,
                may_raise_limits: true,
            });
        }
        if token.split('.').count() == 3
            && let Some(v) = &app.verifier
        {
            return match v.verify(token).await {
                Ok(c) => Ok(Principal {
                    subject: c.subject,
                    admin: c.admin,
                    method: AuthMethod::Oidc,
                    name: c.name,
                    client,
                    may_raise_limits: false,
                }),
                Err(crate::oidc::OidcError::NotReady) => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the identity provider's keys are not loaded yet; try again",
                )),
                Err(crate::oidc::OidcError::Invalid(m)) => Err(ApiError::unauthorized(m)),
            };
        }
        if app
            .gate
            .settings()
            .policy
            .check(token)
            .is_ok_and(|s| s == crate::token::Shape::Ours)
        {
            return Err(ApiError::unauthorized(
                "an API key cannot be used to manage keys; log in instead",
            ));
        }
        Err(ApiError::unauthorized("invalid credentials"))
    }
}

// ---------------------------------------------------------------- bodies

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// 1–100 characters. (`description` is accepted too, as rusty-valkey-forward-auth sends it.)
    #[serde(alias = "description")]
    name: String,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Timestamp>,
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// Rate limits and credits; absent: the configured defaults for new keys.
    #[serde(default)]
    limits: Option<LimitsView>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    name: Option<String>,
    /// A date-time, or `null` to remove the expiry.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<Timestamp>>,
    rules: Option<Vec<Rule>>,
    metadata: Option<BTreeMap<String, String>>,
    disabled: Option<bool>,
    /// Absent fields stay as they are; `credits: null` removes the quota.
    limits: Option<LimitsPatch>,
}

/// Tells a field that is present (even as `null`) from one that is absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old key keeps working; 0 (the default) revokes it at once.
    #[serde(default)]
    grace_seconds: u64,
}

/// A new key: the only time it is shown.
#[derive(Serialize, ToSchema)]
pub struct Created {
    key: String,
    id: String,
    hint: String,
    token: TokenView,
    /// After a rotation: the old key, in its grace period (absent if revoked at once).
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced: Option<TokenView>,
}

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

#[derive(Serialize, ToSchema)]
pub struct Owner {
    owner: String,
    keys: usize,
}

/// A page of owners, by name.
#[derive(Serialize, ToSchema)]
pub struct OwnerPage {
    owners: Vec<Owner>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// A page of keys, oldest first.
#[derive(Serialize, ToSchema)]
pub struct TokenPage {
    tokens: Vec<TokenView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    /// Keys in this listing whose stored record is damaged (it cannot be read or used,
    /// only deleted); repeated on every page.
    damaged: Vec<DamagedKey>,
}

#[derive(Serialize, ToSchema)]
pub struct DamagedKey {
    id: String,
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
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    owner: Option<String>,
    actor: Option<String>,
    token_id: Option<String>,
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

// ---------------------------------------------------------------- shared logic

/// Whose keys a route may touch.
enum Scope {
    Owner(String),
    Any,
}

/// Keys as shown, with their credit balances (one store call for all of them).
async fn views(app: &App, records: &[TokenRecord]) -> Result<Vec<TokenView>, ApiError> {
    let balances = app.keys.balances(records).await?;
    let now = app.clock.now();
    Ok(records
        .iter()
        .zip(balances)
        .map(|(r, b)| TokenView::of(r, now, b))
        .collect())
}

async fn view(app: &App, r: &TokenRecord) -> Result<TokenView, ApiError> {
    let b = app
        .keys
        .balances(std::slice::from_ref(r))
        .await?
        .pop()
        .flatten();
    Ok(TokenView::of(r, app.clock.now(), b))
}

fn id_of(raw: &str) -> Result<TokenId, ApiError> {
    TokenId::parse(raw).map_err(|_| ApiError::not_found())
}

impl Scope {
    /// Whether a record of `owner` (`None`: unknown, from a damaged record) is in scope.
    fn holds(&self, owner: Option<&str>) -> bool {
        match self {
            Scope::Owner(o) => owner == Some(o.as_str()),
            Scope::Any => true,
        }
    }
}

async fn find(app: &App, scope: &Scope, raw_id: &str) -> Result<TokenRecord, ApiError> {
    match app.keys.get(&id_of(raw_id)?).await {
        Ok(r) if scope.holds(Some(&r.owner)) => Ok(r),
        Ok(_) => Err(ApiError::not_found()),
        // A damaged record outside the scope is as unknown as any other key there.
        Err(ManageError::Damaged { owner, .. }) if !scope.holds(owner.as_deref()) => {
            Err(ApiError::not_found())
        }
        Err(e) => Err(e.into()),
    }
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))
}

async fn list_in(
    app: &App,
    scope: &Scope,
    q: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<TokenPage>, ApiError> {
    let page = query(q)?.check()?;
    let owner = match scope {
        Scope::Owner(o) => Some(o.as_str()),
        Scope::Any => None,
    };
    let listing = app.keys.list(owner).await?;
    let (records, next_cursor) = page.of(listing.records, record_key);
    Ok(Json(TokenPage {
        tokens: views(app, &records).await?,
        next_cursor,
        damaged: listing
            .damaged
            .iter()
            .map(|id| DamagedKey { id: id.to_string() })
            .collect(),
    }))
}

async fn create_in(
    app: &App,
    owner: String,
    p: &Principal,
    req: CreateRequest,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let t = NewToken {
        owner,
        name: req.name,
        expires_at: req.expires_at,
        rules: req.rules,
        metadata: req.metadata,
        limits: req.limits,
    };
    let (key, r) = app.keys.create(t, &p.actor()).await?;
    let created = Created {
        key: key.expose().to_owned(),
        id: r.id.to_string(),
        hint: r.hint.clone(),
        token: view(app, &r).await?,
        replaced: None,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

async fn patch_in(
    app: &App,
    scope: &Scope,
    raw_id: &str,
    p: &Principal,
    req: PatchRequest,
) -> Result<Json<TokenView>, ApiError> {
    let r = find(app, scope, raw_id).await?;
    let patch = Patch {
        name: req.name,
        expires_at: req.expires_at,
        rules: req.rules,
        metadata: req.metadata,
        disabled: req.disabled,
        limits: req.limits,
    };
    let r = app.keys.update(&r.id, patch, &p.actor()).await?;
    Ok(Json(view(app, &r).await?))
}

async fn delete_in(
    app: &App,
    scope: &Scope,
    raw_id: &str,
    p: &Principal,
) -> Result<StatusCode, ApiError> {
    let id = match find(app, scope, raw_id).await {
        Ok(r) => r.id,
        // In scope and damaged: deleting is the one thing it can still be.
        Err(e) if e.code == "damaged" => id_of(raw_id)?,
        Err(e) => return Err(e),
    };
    app.keys.revoke(&id, &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_in(
    app: &App,
    scope: &Scope,
    raw_id: &str,
    p: &Principal,
    req: RotateRequest,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let grace = Duration::from_secs(req.grace_seconds);
    if grace > MAX_GRACE {
        return Err(ApiError::invalid(
            "grace_seconds",
            format!("at most {} (30 days)", MAX_GRACE.as_secs()),
        ));
    }
    let r = find(app, scope, raw_id).await?;
    let rot = app.keys.rotate(&r.id, grace, &p.actor()).await?;
    let created = Created {
        key: rot.key.expose().to_owned(),
        id: rot.new.id.to_string(),
        hint: rot.new.hint.clone(),
        token: view(app, &rot.new).await?,
        replaced: match &rot.old {
            Some(o) => Some(view(app, o).await?),
            None => None,
        },
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// A rotate body is optional: no body means "no grace period".
fn rotate_body(b: &[u8]) -> Result<RotateRequest, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(RotateRequest::default());
    }
    serde_json::from_slice(b).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("malformed JSON: {e}"),
            )
        } else {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        }
    })
}

fn owner_from_path(sub: String) -> Result<String, ApiError> {
    crate::manage::validate_owner(&sub)
        .map_err(|_| ApiError::invalid("sub", "not a valid owner"))?;
    Ok(sub)
}

// ---------------------------------------------------------------- handlers

/// Who am I.
#[utoipa::path(get, path = "/api/me", tag = "self", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(State(app): State<Arc<App>>, p: Principal) -> Json<Me> {
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
#[utoipa::path(get, path = "/api/me/tokens", tag = "self", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = TokenPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn my_list(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<TokenPage>, ApiError> {
    list_in(&app, &Scope::Owner(p.subject), q).await
}

/// Create a key for myself; the answer holds the key, shown this once.
#[utoipa::path(post, path = "/api/me/tokens", tag = "self", security(("bearer" = [])), request_body = CreateRequest,
    responses((status = 201, body = Created), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn my_create(
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
async fn my_get(
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
async fn my_patch(
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
async fn my_delete(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_in(&app, &Scope::Owner(p.subject.clone()), &id, &p).await
}

/// Rotate one of my keys: a new key with the same settings; the old one keeps working for `grace_seconds`.
#[utoipa::path(post, path = "/api/me/tokens/{id}/rotate", tag = "self", security(("bearer" = [])), request_body = RotateRequest,
    responses((status = 201, body = Created), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn my_rotate(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: axum::body::Bytes,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let req = rotate_body(&b)?;
    rotate_in(&app, &Scope::Owner(p.subject.clone()), &id, &p, req).await
}

/// Every owner with their number of keys, by name, a page at a time (admin).
#[utoipa::path(get, path = "/api/users", tag = "admin", security(("bearer" = [])), params(OwnersQuery),
    responses((status = 200, body = OwnerPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn users(
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
    let owners: Vec<Owner> = app
        .keys
        .owners()
        .await?
        .into_iter()
        .filter(|(o, _)| o.to_lowercase().contains(&needle))
        .map(|(owner, keys)| Owner { owner, keys })
        .collect();
    let (owners, next_cursor) = page.of(owners, |o| o.owner.clone());
    Ok(Json(OwnerPage {
        owners,
        next_cursor,
    }))
}

/// One owner's keys, a page at a time (admin).
#[utoipa::path(get, path = "/api/users/{sub}/tokens", tag = "admin", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = TokenPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn user_list(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
    q: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<TokenPage>, ApiError> {
    p.require_admin()?;
    list_in(&app, &Scope::Owner(owner_from_path(sub)?), q).await
}

/// Create a key for an owner (admin).
#[utoipa::path(post, path = "/api/users/{sub}/tokens", tag = "admin", security(("bearer" = [])), request_body = CreateRequest,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn user_create(
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
async fn user_get(
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
async fn user_patch(
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
async fn user_delete(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((sub, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require_admin()?;
    delete_in(&app, &Scope::Owner(sub), &id, &p).await
}

#[utoipa::path(post, path = "/api/users/{sub}/tokens/{id}/rotate", tag = "admin", security(("bearer" = [])), request_body = RotateRequest,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn user_rotate(
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
#[utoipa::path(get, path = "/api/tokens", tag = "admin", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = TokenPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn all_list(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<TokenPage>, ApiError> {
    p.require_admin()?;
    list_in(&app, &Scope::Any, q).await
}

/// Any key by id (admin).
#[utoipa::path(get, path = "/api/tokens/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = TokenView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn any_get(
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
async fn any_patch(
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
async fn any_delete(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require_admin()?;
    delete_in(&app, &Scope::Any, &id, &p).await
}

#[utoipa::path(post, path = "/api/tokens/{id}/rotate", tag = "admin", security(("bearer" = [])), request_body = RotateRequest,
    responses((status = 201, body = Created), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn any_rotate(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: axum::body::Bytes,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    p.require_admin()?;
    let req = rotate_body(&b)?;
    rotate_in(&app, &Scope::Any, &id, &p, req).await
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/api/audit", tag = "admin", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn audit(
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

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "keygate", description = "Manage API keys. Authenticate with an OIDC access token or the admin key as `Authorization: Bearer`."),
    paths(me, my_list, my_create, my_get, my_patch, my_delete, my_rotate, users, user_list, user_create, user_get,
          user_patch, user_delete, user_rotate, all_list, any_get, any_patch, any_delete, any_rotate, audit,
          my_limits, owner_limits, set_owner_limits, clear_owner_limits, crate::http::verify::verify),
    components(schemas(TokenView, TokenPage, DamagedKey, Rule, Created, CreateRequest, PatchRequest, RotateRequest, Me, Owner, OwnerPage, AuditEvent, AuditPage, ErrorBody, AuthMethod,
        LimitsView, LimitsPatch, crate::manage::CreditsView, crate::manage::CreditsPatch, crate::manage::OwnerLimitsView,
        crate::limits::RateLimit, crate::limits::Refill, crate::http::verify::VerifyRequest, crate::http::verify::VerifyResponse, crate::http::verify::RateLimitLeft)),
    modifiers(&BearerScheme, &Throttled),
    tags((name = "self", description = "The caller's own keys"), (name = "admin", description = "Everyone's keys and the audit log (administrators)"),
         (name = "gate", description = "Verifying keys (applications not behind a proxy); no `Authorization`"))
)]
pub struct ApiDoc;

struct BearerScheme;

/// Every operation may answer 429: the client failed too often (the failed-attempt
/// throttle, shared with the gate).
struct Throttled;

impl utoipa::Modify for Throttled {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, HeaderBuilder, Ref, ResponseBuilder};
        let response = ResponseBuilder::new()
            .description(
                "Too many failed attempts from this client; try again after `Retry-After` seconds.",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::Integer),
                    )
                    .build(),
            )
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .insert("429".into(), response.clone().into());
            }
        }
    }
}

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An OIDC access token (JWT) from the configured issuer — administrators are members of `oauth.admin.group` — or the admin key (`admin_key`, or the key generated in single-operator mode). Keys checked by the gate are never accepted.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}
