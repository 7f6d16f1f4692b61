//! HTTP: one router per concern, merged here; one shared [`App`].

pub mod access_log;
pub mod admin;
pub mod error;
pub mod forward_auth;
pub mod operate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(forward_auth::router())
        .merge(operate::router(
            app.config.metrics_enabled && app.config.metrics_address.is_empty(),
        ))
        .merge(admin::router(app.config.load_max_bytes))
        .fallback(|| async {
            error::error(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint",
            )
        })
        .with_state(app)
        .layer(axum::middleware::map_response(json_405))
}

/// axum answers a known path with an unknown method by an empty 405; give it the JSON
/// error shape like every other refusal (the `Allow` header is kept).
async fn json_405(r: axum::response::Response) -> axum::response::Response {
    if r.status() != axum::http::StatusCode::METHOD_NOT_ALLOWED {
        return r;
    }
    let allow = r.headers().get(axum::http::header::ALLOW).cloned();
    let mut json = error::error(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    );
    if let Some(a) = allow {
        json.headers_mut().insert(axum::http::header::ALLOW, a);
    }
    json
}

/// Serves until `shutdown` completes, then lets in-flight requests finish and writes the
/// last-used times still in memory. Also serves `/metrics` on `metrics_address` when
/// one is set, and keeps the key sources current.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut background = vec![
        tokio::spawn(flush_usage(app.clone())),
        tokio::spawn(crate::sources::watch(app.clone())),
    ];
    if app.config.metrics_enabled && !app.config.metrics_address.is_empty() {
        let addr = &app.config.metrics_address;
        let metrics_listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on metrics_address {addr}: {e}"),
            )
        })?;
        tracing::info!(address = %addr, "metrics on http://{addr}/metrics");
        let metrics = operate::metrics_router().with_state(app.clone());
        background.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics_listener, metrics).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        }));
    }
    let service = router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await;
    for task in background {
        task.abort();
    }
    if let Err(e) = app.gate.flush_usage().await {
        tracing::warn!(error = %e, "could not write last-used times at shutdown");
    }
    result
}

async fn flush_usage(app: Arc<App>) {
    let every = Duration::from_secs(app.config.last_used_flush_secs);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = app.gate.flush_usage().await {
            tracing::debug!(error = %e, "last-used flush failed; will retry");
        }
    }
}
