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

use super::paging::{PageParams, record_key};
use super::{ApiError, ErrorBody, Principal, Scope, find, owner_from_path, query};
use crate::analytics::{Counts, OUTCOMES, Step, add, key_slot, owner_slot};
use crate::app::App;
use crate::clock::Timestamp;

/// The most buckets one answer holds.
pub const MAX_POINTS: i64 = 1500;

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

/// Counts per outcome.
#[derive(Serialize, ToSchema, Default, Clone, Copy)]
pub struct OutcomeCounts {
    allowed: u64,
    /// Refused by the key's rules.
    forbidden: u64,
    /// The key was disabled, expired or past its rotation grace.
    refused: u64,
    rate_limited: u64,
    usage_exceeded: u64,
}

impl From<Counts> for OutcomeCounts {
    fn from(c: Counts) -> Self {
        OutcomeCounts {
            allowed: c[0],
            forbidden: c[1],
            refused: c[2],
            rate_limited: c[3],
            usage_exceeded: c[4],
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UsagePoint {
    /// The bucket's start.
    #[schema(value_type = String, format = DateTime)]
    t: Timestamp,
    #[serde(flatten)]
    counts: OutcomeCounts,
}

/// A series: every bucket of the range, empty ones included.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T02:00:00Z", "step": "hour",
    "totals": {"allowed": 1200, "forbidden": 3, "refused": 0, "rate_limited": 41, "usage_exceeded": 0},
    "points": [{"t": "2026-12-01T00:00:00Z", "allowed": 700, "forbidden": 3, "refused": 0, "rate_limited": 41, "usage_exceeded": 0},
               {"t": "2026-12-01T01:00:00Z", "allowed": 500, "forbidden": 0, "refused": 0, "rate_limited": 0, "usage_exceeded": 0}]}))]
pub struct UsageSeries {
    #[schema(value_type = String, format = DateTime)]
    from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    to: Timestamp,
    step: Step,
    totals: OutcomeCounts,
    points: Vec<UsagePoint>,
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
    if from_ms >= to_ms {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    let span = to_ms - from_ms;
    let step = step.unwrap_or(if span <= 6 * 3_600_000 {
        Step::Minute
    } else if span <= 31 * 86_400_000 {
        Step::Hour
    } else {
        Step::Day
    });
    let from = step.bucket(from_ms);
    // The bucket holding the last millisecond before `to` is the last one.
    let to = step.bucket(to_ms - 1) + step.millis();
    if (to - from) / step.millis() > MAX_POINTS {
        return Err(ApiError::invalid(
            "step",
            format!(
                "that range holds more than {MAX_POINTS} {}s; use a coarser step or a shorter range",
                step.name()
            ),
        ));
    }
    Ok(Range { from, to, step })
}

async fn series(app: &App, slot: &str, r: &Range) -> Result<UsageSeries, ApiError> {
    let rows = app
        .keys
        .store()
        .read_usage(slot, r.step, r.from, r.to)
        .await?;
    let mut totals = [0; OUTCOMES];
    let mut rows = rows.into_iter().peekable();
    let mut points = Vec::new();
    let mut t = r.from;
    while t < r.to {
        let mut c = [0; OUTCOMES];
        while let Some((b, _)) = rows.peek() {
            if *b > t {
                break;
            }
            if let Some((b, counts)) = rows.next()
                && b == t
            {
                c = counts;
            }
        }
        add(&mut totals, &c);
        points.push(UsagePoint {
            t: Timestamp::from_unix(t.div_euclid(1000)),
            counts: c.into(),
        });
        t += r.step.millis();
    }
    Ok(UsageSeries {
        from: Timestamp::from_unix(r.from.div_euclid(1000)),
        to: Timestamp::from_unix(r.to.div_euclid(1000)),
        step: r.step,
        totals: totals.into(),
        points,
    })
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
    let coarse = r.step;
    let mut keys = Vec::with_capacity(records.len());
    for rec in &records {
        let rows = app
            .keys
            .store()
            .read_usage(&key_slot(&rec.id), coarse, r.from, r.to)
            .await?;
        let mut t = [0; OUTCOMES];
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
