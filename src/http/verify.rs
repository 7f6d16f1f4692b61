//! `POST /verify`: the decision for applications that are not behind a proxy.
//!
//! The body names the key and, optionally, the request it is for; the answer is always
//! 200 with `valid` and a `code` when the key could be judged (400 for a malformed body,
//! 413 for a large one, 429 for a client that failed too often, 503 when the store
//! cannot be asked). It is the same decision as the proxy endpoints': cache, rules,
//! limits (a valid answer spends one use) and the failed-attempt throttle.
//!
//! An unknown key (or anything that is not a key) answers only `{"valid": false, "code":
//! "not_found"}`. A key with host, path or method rules is `forbidden` unless the body
//! names what those rules judge.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::error;
use crate::access_log;
use crate::app::App;
use crate::clock::Timestamp;
use crate::decide::{Deny, Outcome};
use crate::limits::Exceeded;
use crate::metrics;
use crate::permissions::{Need, Query};
use crate::rules::Target;

/// Largest body `/verify` reads.
pub const MAX_BODY: usize = 8 * 1024;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/verify", post(verify))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The API key as the client presented it.
    key: String,
    /// The host the request is for (without a port is fine).
    #[serde(default)]
    host: Option<String>,
    /// The path (and query) the request is for.
    #[serde(default)]
    path: Option<String>,
    /// The HTTP method of the request.
    #[serde(default)]
    method: Option<String>,
    /// What the key must hold, as a query: `billing.read AND (docs.read OR
    /// docs.write)` (at most 1000 characters, 32 permissions, 8 levels of parentheses).
    #[serde(default)]
    permissions: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    valid: bool,
    /// `valid`, `not_found`, `disabled`, `expired`, `forbidden`,
    /// `insufficient_permissions`, `rate_limited` or `usage_exceeded`.
    code: &'static str,
    /// With `insufficient_permissions`: what the key lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<Vec<String>>,
    /// The key's effective permissions (its own, its roles', its owner's roles'), when
    /// it was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Timestamp>,
    /// Every rate limit of the key and its owner (owner limits are named `owner.<name>`).
    ratelimits: Vec<RateLimitLeft>,
    /// Credits left (the key's quota, else its owner's); `null` without a quota.
    credits: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct RateLimitLeft {
    name: String,
    limit: u64,
    remaining: u64,
    /// When the window ends: Unix milliseconds.
    reset: i64,
}

/// What a path that was not given stands for: no path rule matches it.
const NO_PATH: &str = "/\u{fffd}";

/// Verify a key for an application.
#[utoipa::path(post, path = "/verify", tag = "gate", request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = 400, body = super::api::ErrorBody),
        (status = 413, body = super::api::ErrorBody), (status = 415, body = super::api::ErrorBody),
        (status = 429, body = super::api::ErrorBody), (status = 503, body = super::api::ErrorBody)))]
pub(crate) async fn verify(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    if let Some(refused) = unsupported_encoding(&headers) {
        return refused;
    }
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => return bad_body(e),
    };
    let needs = match req.permissions.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(q) => match Query::parse(q) {
            Ok(q) => Some(Need::new(q)),
            Err(e) => return error(StatusCode::BAD_REQUEST, "invalid", &e.to_string()),
        },
    };
    let needs = needs.as_ref();
    let started = tokio::time::Instant::now();
    let client = app.gate.client_address(super::peer().ip(), &headers);
    let target = Target {
        needs: needs.as_slice(),
        cost: 1,
        method: req.method.as_deref().unwrap_or(""),
        host: req.host.as_deref().unwrap_or(""),
        uri: req
            .path
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(NO_PATH),
    };
    let decision = app.gate.decide_key(&req.key, &target, client).await;
    drop(req.key);
    let limit = match decision.outcome {
        Outcome::Deny(Deny::Limited(e)) => Some(e),
        _ => None,
    };
    let (response, outcome) = match &decision.outcome {
        Outcome::Deny(Deny::Throttled(retry)) => (
            super::error::too_many_failures(StatusCode::TOO_MANY_REQUESTS, *retry),
            metrics::Outcome::Throttled,
        ),
        Outcome::Deny(Deny::Unavailable) => (
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the key store is unavailable; try again",
            ),
            metrics::Outcome::Unavailable,
        ),
        o => {
            let (code, label) = match o {
                Outcome::Allow(_) => ("valid", metrics::Outcome::Allowed),
                Outcome::Deny(d @ Deny::Unauthenticated(_)) => {
                    let code = match &decision.key {
                        None => "not_found",
                        Some(k) if k.record.disabled => "disabled",
                        Some(_) => "expired",
                    };
                    (code, super::forward_auth::deny_outcome(*d))
                }
                Outcome::Deny(d @ Deny::Limited(e)) => {
                    app.gate.metrics().limit_refusal(*e);
                    (e.code(), super::forward_auth::deny_outcome(*d))
                }
                Outcome::Deny(d @ Deny::Insufficient) => (
                    "insufficient_permissions",
                    super::forward_auth::deny_outcome(*d),
                ),
                Outcome::Deny(d) => ("forbidden", super::forward_auth::deny_outcome(*d)),
            };
            (
                Json(answer(&app, &decision, code, limit)).into_response(),
                label,
            )
        }
    };
    let took = started.elapsed();
    app.gate
        .metrics()
        .decision(metrics::Endpoint::Verify, outcome, took);
    if let Some(log) = &app.access_log {
        access_log::decision(
            log,
            &app.log_limits,
            &access_log::Line {
                endpoint: metrics::Endpoint::Verify,
                outcome,
                status: response.status().as_u16(),
                key: decision.key.as_deref(),
                target: &target,
                forwarded_for: headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
                metadata: app
                    .log_limits
                    .metadata_header
                    .as_ref()
                    .and_then(|h| headers.get(h))
                    .and_then(|v| v.to_str().ok()),
                client,
                took,
                now_ms: decision.now_ms,
                limit,
                upstream: None,
            },
        );
    }
    response
}

fn answer(
    app: &App,
    d: &crate::decide::Decision,
    code: &'static str,
    limit: Option<Exceeded>,
) -> VerifyResponse {
    let Some(k) = d.key.as_deref() else {
        return VerifyResponse {
            valid: false,
            code,
            missing: None,
            permissions: None,
            key_id: None,
            owner: None,
            name: None,
            metadata: None,
            expires_at: None,
            ratelimits: Vec::new(),
            credits: None,
        };
    };
    let report = d.report.clone().unwrap_or_else(|| {
        app.gate
            .limits()
            .peek([k.slots[0].as_ref(), k.slots[1].as_ref()])
    });
    let ratelimits = report
        .rates
        .iter()
        .map(|r| RateLimitLeft {
            name: match r.scope {
                crate::limits::Scope::Key => r.name.clone(),
                crate::limits::Scope::Owner => format!("owner.{}", r.name),
            },
            limit: r.limit,
            remaining: r.remaining,
            reset: r.reset_ms,
        })
        .collect();
    let credits = match limit {
        Some(Exceeded::Credits { .. }) => Some(0),
        _ => report.credits,
    };
    let names = |v: &[crate::permissions::Permission]| v.iter().map(ToString::to_string).collect();
    VerifyResponse {
        valid: code == "valid",
        code,
        missing: (!d.missing.is_empty()).then(|| names(&d.missing)),
        permissions: Some(names(k.granted.list())),
        key_id: Some(k.record.id.to_string()),
        owner: Some(k.record.owner.clone()),
        name: Some(crate::decide::upstream_name(&k.record.name).into_owned()),
        metadata: Some(k.record.metadata.clone()),
        expires_at: k.record.expires_at,
        ratelimits,
        credits,
    }
}

/// A body keygate would misread is refused (415) instead of being read as if it were
/// plain UTF-8 JSON: any `Content-Encoding` but `identity` (none is decoded), and a
/// `charset` other than UTF-8 (JSON is UTF-8, RFC 8259).
fn unsupported_encoding(headers: &HeaderMap) -> Option<Response> {
    let refuse = |msg: &str| {
        Some(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            msg,
        ))
    };
    for v in headers.get_all(axum::http::header::CONTENT_ENCODING) {
        let ok = v.to_str().is_ok_and(|s| {
            s.split(',')
                .all(|c| c.trim().is_empty() || c.trim().eq_ignore_ascii_case("identity"))
        });
        if !ok {
            return refuse(
                "send the body uncompressed: /verify does not decode a Content-Encoding",
            );
        }
    }
    if let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE) {
        let Ok(ct) = ct.to_str() else {
            return refuse("the Content-Type is not readable text");
        };
        for param in ct.split(';').skip(1) {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("charset") {
                let value = value.trim().trim_matches('"');
                if !value.eq_ignore_ascii_case("utf-8") && !value.eq_ignore_ascii_case("utf8") {
                    return refuse("send the body as UTF-8 JSON (charset=utf-8 or none)");
                }
            }
        }
    }
    None
}

fn bad_body(e: JsonRejection) -> Response {
    match e {
        JsonRejection::MissingJsonContentType(_) => error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!("the body is over {MAX_BODY} bytes"),
        ),
        e => {
            // serde's message names the field or the position; no key material is
            // echoed beyond what serde quotes of an unknown field name.
            let msg: String = e.body_text().chars().take(300).collect();
            error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!(
                    "{msg} (expected {{\"key\": \"…\", \"host\"?, \"path\"?, \"method\"?, \"permissions\"?}})"
                ),
            )
        }
    }
}
