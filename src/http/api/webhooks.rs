//! Webhook endpoints and their deliveries (admin): `/api/webhooks`, the event catalogue
//! at `/api/webhooks/types`, secret rotation, a test event, every delivery with its
//! attempts, and replay.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, body, query};
use super::principal::Principal;
use crate::app::App;
use crate::events::{Delivery, EndpointPatch, EndpointView, EventsError, NewEndpoint};

impl From<EventsError> for ApiError {
    fn from(e: EventsError) -> Self {
        match e {
            EventsError::Invalid { field, message } => ApiError::invalid(field, message),
            e @ (EventsError::NotFound | EventsError::DeliveryNotFound) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            e @ EventsError::TooMany(_) => {
                ApiError::new(StatusCode::CONFLICT, "too_many_endpoints", e.to_string())
            }
            EventsError::Store(m) => {
                tracing::error!(error = %m, "webhook endpoints");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
            EventsError::Unavailable(e) => e.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    endpoints: Vec<EndpointView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointCreate {
    /// `http` or `https`, no credentials in it; loopback, private and link-local
    /// addresses are refused unless `events.allow_private_addresses`.
    url: String,
    #[serde(default)]
    description: String,
    /// Event types (`key.revoked`) or families (`key.*`); empty or absent: every type.
    #[serde(default)]
    event_types: Vec<String>,
    /// Only events about these owners' keys; empty or absent: every owner.
    #[serde(default)]
    owners: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    owners: Option<Vec<String>>,
    /// `false` enables an endpoint keygate disabled (and forgets that it was failing).
    disabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointSecret {
    endpoint: EndpointView,
    /// The signing secret (`whsec_…`), shown this once.
    secret: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Seconds the previous secret keeps signing beside the new one (0–604800, default
    /// 86400), so receivers can switch without missing a delivery.
    #[serde(default)]
    overlap_secs: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventType {
    #[serde(rename = "type")]
    kind: &'static str,
    description: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypes {
    types: Vec<EventType>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// 1–200, default 50.
    limit: Option<usize>,
    /// The `next_before` of the previous page.
    before: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    deliveries: Vec<Delivery>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<String>,
}

/// The most a rotation's overlap may be.
const MAX_OVERLAP_SECS: u64 = 7 * 86_400;

/// The event types keygate sends (admin).
#[utoipa::path(get, path = "/api/webhooks/types", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = EventTypes), (status = 403, body = ErrorBody)))]
pub(super) async fn event_types(p: Principal) -> Result<Json<EventTypes>, ApiError> {
    p.require_admin()?;
    Ok(Json(EventTypes {
        types: crate::model::event::EVENT_TYPES
            .iter()
            .map(|(kind, description)| EventType { kind, description })
            .collect(),
    }))
}

/// Every webhook endpoint (admin).
#[utoipa::path(get, path = "/api/webhooks", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = EndpointList), (status = 403, body = ErrorBody)))]
pub(super) async fn list_endpoints(
    State(app): State<Arc<App>>,
    p: Principal,
) -> Result<Json<EndpointList>, ApiError> {
    p.require_admin()?;
    Ok(Json(EndpointList {
        endpoints: app.events.endpoints().await?,
    }))
}

/// Register an endpoint (admin); its signing secret is in the answer, this once.
#[utoipa::path(post, path = "/api/webhooks", tag = "admin", security(("bearer" = [])), request_body = EndpointCreate,
    responses((status = 201, body = EndpointSecret), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_endpoint(
    State(app): State<Arc<App>>,
    p: Principal,
    b: Result<Json<EndpointCreate>, JsonRejection>,
) -> Result<(StatusCode, Json<EndpointSecret>), ApiError> {
    p.require_admin()?;
    let req = body(b)?;
    let (endpoint, secret) = app
        .events
        .create(NewEndpoint {
            url: req.url,
            description: req.description,
            event_types: req.event_types,
            owners: req.owners,
        })
        .await?;
    audit(&app, &p, "webhook_create", &endpoint.id).await;
    Ok((
        StatusCode::CREATED,
        Json(EndpointSecret { endpoint, secret }),
    ))
}

/// One endpoint (admin).
#[utoipa::path(get, path = "/api/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = EndpointView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_endpoint(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    p.require_admin()?;
    Ok(Json(app.events.endpoint(&id).await?))
}

/// Change an endpoint (admin).
#[utoipa::path(patch, path = "/api/webhooks/{id}", tag = "admin", security(("bearer" = [])), request_body = EndpointChange,
    responses((status = 200, body = EndpointView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn patch_endpoint(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: Result<Json<EndpointChange>, JsonRejection>,
) -> Result<Json<EndpointView>, ApiError> {
    p.require_admin()?;
    let req = body(b)?;
    let view = app
        .events
        .update(
            &id,
            EndpointPatch {
                url: req.url,
                description: req.description,
                event_types: req.event_types,
                owners: req.owners,
                disabled: req.disabled,
            },
        )
        .await?;
    audit(&app, &p, "webhook_update", &id).await;
    Ok(Json(view))
}

/// Remove an endpoint (admin): nothing more is sent to it.
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_endpoint(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require_admin()?;
    app.events.delete(&id).await?;
    audit(&app, &p, "webhook_delete", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret (admin), shown this once; the previous one keeps signing for
/// `overlap_secs`.
#[utoipa::path(post, path = "/api/webhooks/{id}/rotate-secret", tag = "admin", security(("bearer" = [])), request_body = RotateSecret,
    responses((status = 200, body = EndpointSecret), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn rotate_secret(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    b: Result<Json<RotateSecret>, JsonRejection>,
) -> Result<Json<EndpointSecret>, ApiError> {
    p.require_admin()?;
    // No body at all: the defaults.
    let req = match b {
        Err(JsonRejection::MissingJsonContentType(_)) => RotateSecret::default(),
        b => body(b)?,
    };
    let overlap = req.overlap_secs.unwrap_or(86_400);
    if overlap > MAX_OVERLAP_SECS {
        return Err(ApiError::invalid(
            "overlap_secs",
            format!("at most {MAX_OVERLAP_SECS} (7 days)"),
        ));
    }
    let (endpoint, secret) = app
        .events
        .rotate_secret(&id, Duration::from_secs(overlap))
        .await?;
    audit(&app, &p, "webhook_rotate_secret", &id).await;
    Ok(Json(EndpointSecret { endpoint, secret }))
}

/// Send a `webhook.test` event to this endpoint now (admin).
#[utoipa::path(post, path = "/api/webhooks/{id}/test", tag = "admin", security(("bearer" = [])),
    responses((status = 202, body = Delivery), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn test_endpoint(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    p.require_admin()?;
    Ok((StatusCode::ACCEPTED, Json(app.events.test(&id).await?)))
}

/// An endpoint's deliveries with their attempts, newest first (admin).
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "admin", security(("bearer" = [])), params(DeliveryParams),
    responses((status = 200, body = DeliveryPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn deliveries(
    State(app): State<Arc<App>>,
    p: Principal,
    Path(id): Path<String>,
    q: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Json<DeliveryPage>, ApiError> {
    p.require_admin()?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 200"));
    }
    if q.before.as_ref().is_some_and(|b| b.len() > 200) {
        return Err(ApiError::invalid("before", "not a delivery id"));
    }
    // One more than asked: whether there is a next page at all.
    let mut list = app
        .events
        .deliveries(&id, q.before.as_deref(), limit + 1)
        .await?;
    let more = list.len() > limit;
    list.truncate(limit);
    let next_before = more.then(|| list.last().map(|d| d.id.clone())).flatten();
    Ok(Json(DeliveryPage {
        deliveries: list,
        next_before,
    }))
}

/// One delivery (admin).
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries/{delivery}", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Delivery), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delivery(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Json<Delivery>, ApiError> {
    p.require_admin()?;
    let d = app.events.delivery(&delivery).await?;
    if d.endpoint_id != id {
        return Err(EventsError::DeliveryNotFound.into());
    }
    Ok(Json(d))
}

/// Send a delivery again now, whatever became of it (admin). The same `webhook-id`:
/// receivers that deduplicate see a repeat.
#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{delivery}/replay", tag = "admin", security(("bearer" = [])),
    responses((status = 202, body = Delivery), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn replay(
    State(app): State<Arc<App>>,
    p: Principal,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    p.require_admin()?;
    let d = app.events.delivery(&delivery).await?;
    if d.endpoint_id != id {
        return Err(EventsError::DeliveryNotFound.into());
    }
    let d = app.events.replay(&delivery).await?;
    audit(&app, &p, "webhook_replay", &delivery).await;
    Ok((StatusCode::ACCEPTED, Json(d)))
}

/// Audits a change to the webhooks (who, which endpoint or delivery).
async fn audit(app: &App, p: &Principal, action: &str, what: &str) {
    let actor = p.actor();
    let event = crate::model::AuditEvent {
        seq: 0,
        at: app.clock.now(),
        actor: actor.subject,
        auth: actor.auth.to_owned(),
        action: action.to_owned(),
        owner: String::new(),
        token_id: None,
        client: actor.client,
        name: Some(what.to_owned()),
        changes: Vec::new(),
    };
    if let Err(e) = app.keys.store().append_audit(&event).await {
        tracing::error!(error = %e, action, "could not store the audit event");
    }
}
