//! Usage analytics over the API: a key's series, an owner's series with per-key totals.
//!
//! `GET /api/me/tokens/{id}/usage`, `/api/users/{sub}/tokens/{id}/usage`,
//! `/api/tokens/{id}/usage` (a key); `GET /api/me/usage`, `/api/users/{sub}/usage` (an
//! owner: their keys together, and each key's totals, a page of keys at a time). Ranges
//! are `from`/`to` (RFC 3339; default the last 24 h) in buckets of `step` (`minute`,
//! `hour`, `day`; default: minutes up to 6 h, hours up to 31 days, else days), at most
//! [`MAX_POINTS`] buckets. Figures lag by up to `analytics.flush_secs`.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, query};
use super::keys::{Scope, find, owner_from_path};
use super::paging::PageParams;
use super::principal::Principal;
use super::sort::record_key;
use std::collections::HashMap;

use crate::analytics::{
    COUNTS, Counts, OutcomeCounts, Rank, Step, UsageSeries, add, key_slot, owner_slot,
};
use crate::app::App;
use crate::clock::Timestamp;

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// Start (RFC 3339 or a date); default: 24 h before `to`.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<Timestamp>,
    /// End (RFC 3339 or a date); default: now.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<Timestamp>,
    /// `minute`, `hour` or `day`.
    step: Option<Step>,
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OwnerUsageParams {
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<Timestamp>,
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<Timestamp>,
    step: Option<Step>,
    /// Keys per page of per-key totals: 1–500, default 100.
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyTotals {
    id: String,
    name: String,
    totals: OutcomeCounts,
}

/// An owner's keys together, and a page of per-key totals.
#[derive(Serialize, ToSchema)]
pub struct OwnerUsage {
    owner: String,
    series: UsageSeries,
    keys: Vec<KeyTotals>,
    /// Pass as `cursor` for the next page of keys; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// A range checked: bucket-aligned start, exclusive end, step.
struct Range {
    from: i64,
    to: i64,
    step: Step,
}

fn range(
    app: &App,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    step: Option<Step>,
) -> Result<Range, ApiError> {
    let to_ms = to.map_or_else(|| app.clock.now_ms(), |t| t.unix() * 1000);
    let from_ms = from.map_or(to_ms - 86_400_000, |t| t.unix() * 1000);
    let (from, to, step) = crate::analytics::range(from_ms, to_ms, step)
        .map_err(|(field, m)| ApiError::invalid(field, m))?;
    Ok(Range { from, to, step })
}

async fn series(app: &App, slot: &str, r: &Range) -> Result<UsageSeries, ApiError> {
    let rows = app
        .keys
        .store()
        .read_usage(slot, r.step, r.from, r.to)
        .await?;
    Ok(UsageSeries::of(rows, r.from, r.to, r.step))
}

async fn key_usage(
    app: &App,
    scope: &Scope,
    raw_id: &str,
    q: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<UsageSeries>, ApiError> {
    let q = query(q)?;
    let r = range(app, q.from, q.to, q.step)?;
    let record = find(app, scope, raw_id).await?;
    Ok(Json(series(app, &key_slot(&record.id), &r).await?))
}

async fn owner_usage(
    app: &App,
    owner: String,
    q: Result<Query<OwnerUsageParams>, QueryRejection>,
) -> Result<Json<OwnerUsage>, ApiError> {
    let q = query(q)?;
    let r = range(app, q.from, q.to, q.step)?;
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .check()?;
    let s = series(app, &owner_slot(&owner), &r).await?;
    let listing = app.keys.list(Some(&owner)).await?;
    let (records, next_cursor) = page.of(listing.records, record_key);
    // Per-key totals from the buckets of the same step (they cover the range exactly).
    let mut keys = Vec::with_capacity(records.len());
    for rec in &records {
        let rows = app
            .keys
            .store()
            .read_usage(&key_slot(&rec.id), r.step, r.from, r.to)
            .await?;
        let mut t = [0; COUNTS];
        for (_, c) in rows {
            add(&mut t, &c);
        }
        keys.push(KeyTotals {
            id: rec.id.to_string(),
            name: rec.name.clone(),
            totals: t.into(),
        });
    }
    Ok(Json(OwnerUsage {
        owner,
        series: s,
        keys,
        next_cursor,
    }))
}

/// Usage of one of my keys over time, by outcome.
#[utoipa::path(get, path = "/api/me/tokens/{id}/usage", tag = "self", security(("bearer" = [])), params(RangeParams),
    responses((status = 200, body = UsageSeries), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn my_key_usage(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    q: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<UsageSeries>, ApiError> {
    key_usage(&app, &Scope::Owner(p.subject), &id, q).await
}

/// Usage of an owner's key over time (admin).
#[utoipa::path(get, path = "/api/users/{sub}/tokens/{id}/usage", tag = "admin", security(("bearer" = [])), params(RangeParams),
    responses((status = 200, body = UsageSeries), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn user_key_usage(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((sub, id)): Path<(String, String)>,
    q: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<UsageSeries>, ApiError> {
    p.require_admin()?;
    key_usage(&app, &Scope::Owner(owner_from_path(sub)?), &id, q).await
}

/// Usage of any key over time (admin).
#[utoipa::path(get, path = "/api/tokens/{id}/usage", tag = "admin", security(("bearer" = [])), params(RangeParams),
    responses((status = 200, body = UsageSeries), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn any_key_usage(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    q: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<UsageSeries>, ApiError> {
    p.require_admin()?;
    key_usage(&app, &Scope::Any, &id, q).await
}

/// My keys' usage together over time, and each key's totals (a page of keys).
#[utoipa::path(get, path = "/api/me/usage", tag = "self", security(("bearer" = [])), params(OwnerUsageParams),
    responses((status = 200, body = OwnerUsage), (status = 422, body = ErrorBody)))]
pub(super) async fn my_usage(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<OwnerUsageParams>, QueryRejection>,
) -> Result<Json<OwnerUsage>, ApiError> {
    owner_usage(&app, p.subject, q).await
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AllUsageParams {
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<Timestamp>,
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<Timestamp>,
    step: Option<Step>,
    /// How many top keys and owners: 1–50, default 10.
    top: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct TopKey {
    id: String,
    /// Absent when the key was deleted since.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    totals: OutcomeCounts,
}

#[derive(Serialize, ToSchema)]
pub struct TopOwner {
    owner: String,
    totals: OutcomeCounts,
}

/// Everyone's usage over time, and the keys and owners with the most requests and with
/// the most refusals over the range, each with its counts by outcome. The range is the
/// exact one asked for, in buckets of its step (whole days for the day step).
#[derive(Serialize, ToSchema)]
pub struct AllUsage {
    series: UsageSeries,
    /// Most requests first.
    top_keys: Vec<TopKey>,
    top_owners: Vec<TopOwner>,
    /// Most refusals (forbidden, refused, rate limited, usage exceeded) first; only
    /// those refused anything.
    top_refused_keys: Vec<TopKey>,
    top_refused_owners: Vec<TopOwner>,
}

/// Everyone's usage together over time, and the top keys and owners (admin).
#[utoipa::path(get, path = "/api/usage", tag = "admin", security(("bearer" = [])), params(AllUsageParams),
    responses((status = 200, body = AllUsage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn all_usage(
    State(app): State<Arc<App>>,
    p: Principal,
    q: Result<Query<AllUsageParams>, QueryRejection>,
) -> Result<Json<AllUsage>, ApiError> {
    p.require_admin()?;
    let q = query(q)?;
    let top = q.top.unwrap_or(10);
    if !(1..=50).contains(&top) {
        return Err(ApiError::invalid("top", "must be 1 to 50"));
    }
    let r = range(&app, q.from, q.to, q.step)?;
    let series = series(&app, crate::analytics::GLOBAL_SLOT, &r).await?;
    let [keys, refused_keys] = top_of(&app, "k:", &r, top).await?;
    let [busy_owners, refused_owners] = top_of(&app, "o:", &r, top).await?;
    let as_owners = |v: Vec<(String, Counts)>| {
        v.into_iter()
            .map(|(slot, c)| TopOwner {
                owner: slot.trim_start_matches("o:").to_owned(),
                totals: c.into(),
            })
            .collect()
    };
    Ok(Json(AllUsage {
        series,
        top_keys: top_keys(&app, keys).await,
        top_owners: as_owners(busy_owners),
        top_refused_keys: top_keys(&app, refused_keys).await,
        top_refused_owners: as_owners(refused_owners),
    }))
}

/// The `top` slots starting with `prefix` by requests and by refusals over `r`: read by
/// time for minutes and hours; from the day rankings for days.
async fn top_of(
    app: &App,
    prefix: &str,
    r: &Range,
    top: usize,
) -> Result<[Vec<(String, Counts)>; 2], ApiError> {
    let store = app.keys.store();
    if r.step == Step::Day {
        let to = Step::Day.bucket(r.to - 1) + Step::Day.millis();
        return Ok([
            store
                .top_usage(prefix, r.from, to, top, Rank::Requests)
                .await?,
            store
                .top_usage(prefix, r.from, to, top, Rank::Refusals)
                .await?,
        ]);
    }
    let mut sums: HashMap<String, Counts> = HashMap::new();
    for (slot, _, c) in store.usage_in_range(prefix, r.step, r.from, r.to).await? {
        add(sums.entry(slot).or_insert([0; COUNTS]), &c);
    }
    Ok([
        crate::analytics::top(sums.clone(), top, Rank::Requests),
        crate::analytics::top(sums, top, Rank::Refusals),
    ])
}

/// Top keys with their owner and name (absent for a key deleted since).
async fn top_keys(app: &App, v: Vec<(String, Counts)>) -> Vec<TopKey> {
    let store = app.keys.store();
    let mut out = Vec::with_capacity(v.len());
    for (slot, c) in v {
        let id = slot.trim_start_matches("k:").to_owned();
        let record = match crate::store::TokenId::parse(&id) {
            Ok(tid) => store.get(&tid).await.ok().flatten(),
            Err(_) => None,
        };
        out.push(TopKey {
            id,
            owner: record.as_ref().map(|r| r.owner.clone()),
            name: record.map(|r| r.name),
            totals: c.into(),
        });
    }
    out
}

/// An owner's usage over time and per key (admin).
#[utoipa::path(get, path = "/api/users/{sub}/usage", tag = "admin", security(("bearer" = [])), params(OwnerUsageParams),
    responses((status = 200, body = OwnerUsage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn user_usage(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(sub): Path<String>,
    q: Result<Query<OwnerUsageParams>, QueryRejection>,
) -> Result<Json<OwnerUsage>, ApiError> {
    p.require_admin()?;
    owner_usage(&app, owner_from_path(sub)?, q).await
}
