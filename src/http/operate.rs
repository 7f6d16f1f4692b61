//! Health endpoints: `/health/live` (the process answers), `/health/ready` (the store
//! answers) and `/health` (AKAS's path, same as live); `/.well-known/jwks.json`, the key
//! the inline proxy's identity assertions are signed with.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::App;

/// Health, and `/metrics` too unless it has its own listener.
pub fn router(with_metrics: bool) -> Router<Arc<App>> {
    let r = Router::new()
        .route("/health", get(live))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/.well-known/jwks.json", get(jwks));
    if with_metrics {
        r.merge(metrics_router())
    } else {
        r
    }
}

/// The public key of the inline proxy's identity assertions (404 when they are off).
async fn jwks(State(app): State<Arc<App>>) -> Response {
    match app.assertion.get() {
        Some(s) => {
            let mut r = Json(s.jwks()).into_response();
            r.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("public, max-age=300"),
            );
            r
        }
        None => super::error::error(
            StatusCode::NOT_FOUND,
            "not_found",
            "identity assertions are not enabled (proxy.assertion.enabled)",
        ),
    }
}

pub fn metrics_router() -> Router<Arc<App>> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let sources: Vec<(String, usize)> = app
        .gate
        .keysets()
        .status()
        .into_iter()
        .map(|s| (s.source, s.key_count))
        .collect();
    let timeout = app.gate.settings().store_timeout;
    let store_keys = tokio::time::timeout(timeout, app.keys.store().count())
        .await
        .ok()
        .and_then(Result::ok);
    let outbox = tokio::time::timeout(timeout, app.events.backlog())
        .await
        .ok()
        .and_then(Result::ok);
    let mut body = app
        .gate
        .metrics()
        .render(&sources, store_keys, app.gate.cache_size());
    app.events.counters.render(&mut body, outbox);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    let timeout = app.gate.settings().store_timeout;
    let kind = app.keys.store().kind();
    let result = match tokio::time::timeout(timeout, app.keys.store().ping()).await {
        Ok(r) => r,
        Err(_) => Err(crate::store::StoreError::Timeout(
            u64::try_from(timeout.as_millis()).unwrap_or(0),
        )),
    };
    match result {
        Ok(()) => Json(json!({"status": "ready", "store": kind})).into_response(),
        Err(e) => {
            tracing::warn!(store = kind, error = %e, "not ready: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "store": kind, "error": "store unreachable"})),
            )
                .into_response()
        }
    }
}
