//! Request and answer bodies about keys, and the logic the self-service and admin routes
//! share: whose keys a route may touch (`Scope`), list, create, patch, delete, rotate.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::app::App;
use crate::clock::Timestamp;
use crate::manage::{
    GrantsPatch, KeyGrants, LimitsPatch, LimitsView, ManageError, NewToken, Patch, TokenView,
};
use crate::permissions::{Permission, RoleName};
use crate::rules::Rule;
use crate::store::{TokenId, TokenRecord};

use super::MAX_GRACE;
use super::error::{ApiError, query};
use super::paging::ListParams;
use super::principal::Principal;
use crate::manage::search::KeyQuery;

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
    /// Roles the key holds itself (administrators: any; others: roles granted to them).
    #[serde(default)]
    roles: Vec<String>,
    /// Permissions attached to the key itself (others than administrators: only what
    /// their roles cover).
    #[serde(default)]
    permissions: Vec<String>,
    /// Whether the key also holds its owner's roles (default `true`).
    #[serde(default)]
    inherit_owner_roles: Option<bool>,
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
    /// Replaces the key's roles.
    roles: Option<Vec<String>>,
    /// Replaces the permissions attached to the key.
    permissions: Option<Vec<String>>,
    inherit_owner_roles: Option<bool>,
}

/// Tells a field that is present (even as `null`) from one that is absent.
pub(super) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
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
    /// The new key's expiry: absent keeps the old key's (refused, 422, when that has
    /// passed); `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<Timestamp>>,
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

/// A page of keys, oldest first.
#[derive(Serialize, ToSchema)]
pub struct TokenPage {
    tokens: Vec<TokenView>,
    /// How many keys match (every page together).
    total: usize,
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

/// Whose keys a route may touch.
pub(super) enum Scope {
    Owner(String),
    Any,
}

/// Keys as shown, with their credit balances (one store call for all of them).
pub(super) async fn views(app: &App, records: &[TokenRecord]) -> Result<Vec<TokenView>, ApiError> {
    let balances = app.keys.balances(records).await?;
    let now = app.clock.now();
    // What is left of each owner's shared credits (one read per owner on the page).
    let mut owners: std::collections::BTreeMap<&str, Option<u64>> = Default::default();
    for r in records {
        if !owners.contains_key(r.owner.as_str()) {
            let left = match app.keys.owner_limits(&r.owner).await {
                Ok(v) => v.limits.credits.map(|c| c.remaining),
                Err(crate::manage::ManageError::Store(e)) => return Err(e.into()),
                Err(_) => None,
            };
            owners.insert(&r.owner, left);
        }
    }
    Ok(records
        .iter()
        .zip(balances)
        .map(|(r, b)| {
            TokenView::of(r, now, b)
                .with_owner_credits(owners.get(r.owner.as_str()).copied().flatten())
        })
        .collect())
}

pub(super) async fn view(app: &App, r: &TokenRecord) -> Result<TokenView, ApiError> {
    Ok(views(app, std::slice::from_ref(r)).await?.remove(0))
}

pub(super) fn id_of(raw: &str) -> Result<TokenId, ApiError> {
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

pub(super) async fn find(app: &App, scope: &Scope, raw_id: &str) -> Result<TokenRecord, ApiError> {
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

pub(super) async fn list_in(
    app: &App,
    scope: &Scope,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<TokenPage>, ApiError> {
    let params = query(q)?;
    let page = params.page().check()?;
    let filter = match params.q.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => {
            Some(KeyQuery::parse(text).map_err(|m| ApiError::malformed("q", m))?)
        }
        _ => None,
    };
    let owner = match scope {
        Scope::Owner(o) => Some(o.as_str()),
        Scope::Any => None,
    };
    let sort = params.sort.unwrap_or_default();
    // Everyone's keys come from the copy kept for the console's searches.
    let listing = match owner {
        Some(o) => std::sync::Arc::new(app.keys.list(Some(o)).await?),
        None => app.keys.everyone().await?,
    };
    // Every key's last 24 hours when the order or the filter asks about them.
    let activity = if sort.needs_activity() || filter.as_ref().is_some_and(KeyQuery::needs_activity)
    {
        Some(super::activity::all(app, "k:").await?)
    } else {
        None
    };
    let of = |r: &TokenRecord| {
        activity
            .as_ref()
            .and_then(|a| a.get(&crate::analytics::key_slot(&r.id)))
    };
    let now = app.clock.now();
    let mut found: Vec<&TokenRecord> = listing.records.iter().collect();
    if let Some(f) = &filter {
        found.retain(|r| f.matches(r, crate::manage::status_of(r, now), now, of(r)));
        if let Some(want) = f.refused() {
            // Whether the gate refuses a key needs its balances: read for the keys left.
            let left: Vec<TokenRecord> = found.iter().map(|r| (*r).clone()).collect();
            let seen = views(app, &left).await?;
            let mut refused = seen.iter().map(|v| v.refused_now.is_some());
            found.retain(|_| refused.next() == Some(want));
        }
    }
    let total = found.len();
    let mut keyed: Vec<(String, &TokenRecord)> = found
        .into_iter()
        .map(|r| (sort.key(r, crate::manage::status_of(r, now), of(r)), r))
        .collect();
    if !sort.is_stored_order() {
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    let (keyed, next_cursor) = page.of(keyed, |(k, _)| k.clone());
    let records: Vec<TokenRecord> = keyed.into_iter().map(|(_, r)| r.clone()).collect();
    let mut tokens = views(app, &records).await?;
    let page_activity = match &activity {
        Some(_) => records.iter().map(|r| of(r).cloned()).collect(),
        None => super::activity::of_keys(app, &records).await?,
    };
    for (v, a) in tokens.iter_mut().zip(page_activity) {
        v.activity = a;
    }
    Ok(Json(TokenPage {
        tokens,
        total,
        next_cursor,
        damaged: listing
            .damaged
            .iter()
            .map(|id| DamagedKey { id: id.to_string() })
            .collect(),
    }))
}

pub(super) async fn create_in(
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
        grants: KeyGrants {
            roles: role_names(&req.roles)?,
            permissions: permission_names(&req.permissions)?,
            inherit_owner_roles: req.inherit_owner_roles.unwrap_or(true),
        },
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

pub(super) async fn patch_in(
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
        grants: Some(GrantsPatch {
            roles: req.roles.as_deref().map(role_names).transpose()?,
            permissions: req
                .permissions
                .as_deref()
                .map(permission_names)
                .transpose()?,
            inherit_owner_roles: req.inherit_owner_roles,
        }),
    };
    let r = app.keys.update(&r.id, patch, &p.actor()).await?;
    Ok(Json(view(app, &r).await?))
}

pub(super) async fn delete_in(
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

pub(super) async fn rotate_in(
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
    let rot = app
        .keys
        .rotate_with(&r.id, grace, req.expires_at, &p.actor())
        .await?;
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
pub(super) fn rotate_body(b: &[u8]) -> Result<RotateRequest, ApiError> {
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

/// Role names from a body: a malformed one is a 400 naming it.
pub(super) fn role_names(v: &[String]) -> Result<Vec<RoleName>, ApiError> {
    v.iter()
        .map(|s| RoleName::parse(s).map_err(|e| ApiError::malformed("roles", e)))
        .collect()
}

/// Permission names from a body: a malformed one is a 400 naming it and the position.
pub(super) fn permission_names(v: &[String]) -> Result<Vec<Permission>, ApiError> {
    v.iter()
        .map(|s| Permission::parse(s).map_err(|e| ApiError::malformed("permissions", e)))
        .collect()
}

pub(super) fn owner_from_path(sub: String) -> Result<String, ApiError> {
    crate::manage::validate_owner(&sub)
        .map_err(|_| ApiError::invalid("sub", "not a valid owner"))?;
    Ok(sub)
}
