//! HTTP: one router per concern, merged here; one shared [`App`].

pub mod admin;
pub mod api;
pub mod docs;
pub mod error;
pub mod forward_auth;
pub mod limited;
pub mod operate;
pub(crate) mod picked;
pub mod ui;
pub mod verify;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use tokio::net::TcpListener;

use crate::app::App;
use crate::listen;

pub fn router(app: Arc<App>) -> Router {
    let mut api = api::router()
        .merge(docs::router())
        .layer(DefaultBodyLimit::max(app.config.api_max_body_bytes))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn_with_state(app.clone(), count_api));
    if let Some(cors) = cors_layer(&app.config.cors) {
        api = api.layer(cors);
    }
    let base_path = app.config.base_path.clone();
    // The gate's routes answer unknown methods themselves (a per-route fallback), so
    // their requests pass through no extra layer; the others get JSON 405s.
    let rest = Router::new()
        .merge(operate::router(
            app.config.metrics_enabled && app.config.metrics_address.is_empty(),
        ))
        .merge(admin::router(app.config.load_max_bytes))
        .merge(verify::router())
        .merge(api)
        .layer(axum::middleware::map_response(json_405));
    // The UI router brings the fallback: the app for its client-side routes, a JSON
    // 404 for anything else.
    let routes = Router::new()
        .merge(forward_auth::router())
        .merge(rest)
        .merge(ui::router(&app.config));
    let routes = if base_path.is_empty() {
        routes
    } else {
        // Every route under the prefix, nothing outside it. `nest` sends `/prefix` to
        // the nested `/` (which redirects to `/prefix/`) but not `/prefix/` itself.
        Router::new()
            .route(&format!("{base_path}/"), ui::index_route(&app.config))
            .nest(&base_path, routes)
            .fallback(|| async { not_found() })
    };
    routes.with_state(app)
}

tokio::task_local! {
    /// The peer of the connection a request came in on.
    static PEER: SocketAddr;
}

/// The peer address of the current request's connection (set by [`serve`] for the
/// request's whole handling, without a per-request allocation).
pub fn peer() -> SocketAddr {
    PEER.try_with(|p| *p)
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

fn not_found() -> Response {
    error::error(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    )
}

/// Headers for the API and its docs: no sniffing, no framing, no caching of answers
/// that may hold a key, and a strict Content-Security-Policy.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    set(
        h,
        "content-security-policy",
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    r
}

/// CORS for `/api` when `[cors] enabled`.
fn cors_layer(c: &crate::config::CorsConfig) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if !c.enabled {
        return None;
    }
    let origin = if c.allow_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            c.allow_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Route templates of the management API, the only values the `route` label takes.
const API_ROUTES: &[&str] = &[
    "/api/me",
    "/api/me/tokens",
    "/api/me/tokens/{id}",
    "/api/me/tokens/{id}/rotate",
    "/api/users",
    "/api/users/{sub}/tokens",
    "/api/users/{sub}/tokens/{id}",
    "/api/users/{sub}/tokens/{id}/rotate",
    "/api/tokens",
    "/api/tokens/{id}",
    "/api/tokens/{id}/rotate",
    "/api/audit",
    "/api/audit/export",
    "/api/me/limits",
    "/api/users/{sub}/limits",
    "/api/me/usage",
    "/api/usage",
    "/api/me/tokens/{id}/usage",
    "/api/users/{sub}/usage",
    "/api/users/{sub}/tokens/{id}/usage",
    "/api/tokens/{id}/usage",
    "/openapi.json",
    "/docs",
    "/docs/",
    "/docs/docs.js",
    "/docs/docs.css",
];

async fn count_api(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let route = API_ROUTES
        .iter()
        .find(|t| template_matches(t, path))
        .copied()
        .unwrap_or("other");
    let r = next.run(req).await;
    app.gate.metrics().api_request(route, r.status().as_u16());
    r
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

/// Serves until `shutdown` completes, then lets in-flight requests finish and drains the
/// app's background tasks ([`crate::app::tasks`]: last-used times and analytics still in
/// memory are written, leases given back). Also serves `/metrics` on
/// `metrics_address` when one is set.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Every background task of the app (flushers, sweepers, watchers), with one drain.
    let mut background = crate::app::tasks::Background::start(&app);
    let limits = listen::Limits::new(&app.config);
    let result = serve_in(listener, app, limits, &mut background, shutdown).await;
    background.drain().await;
    result
}

/// [`serve`] for a caller that runs the background tasks (and other listeners sharing
/// `limits`) itself: the metrics listener, when it has its own address, is added to
/// `background`.
pub async fn serve_in(
    listener: TcpListener,
    app: Arc<App>,
    limits: listen::Limits,
    background: &mut crate::app::tasks::Background,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
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
        // The same timeouts, and slots from the same cap.
        let limits = limits.clone();
        background.add(tokio::spawn(async move {
            let forever = std::future::pending::<()>();
            let serve = move |io, peer, conn| http1(io, peer, conn, None, metrics.clone());
            if let Err(e) = listen::accept_loop(metrics_listener, limits, serve, forever).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        }));
    }
    let routes = router(app.clone());
    let serve = move |io, peer, conn| http1(io, peer, conn, Some(app.clone()), routes.clone());
    listen::accept_loop(listener, limits, serve, shutdown).await
}

/// HTTP/1.1 on one connection (what proxies speak to an auth server), with the peer
/// address in [`PEER`].
///
/// `gate`: the main listener's app, whose gate endpoints skip the router (routing costs
/// more than the whole decision); `None` for the metrics listener.
fn http1(
    io: listen::Counted,
    peer: SocketAddr,
    conn: listen::Conn,
    gate: Option<Arc<App>>,
    router: Router,
) -> impl Future<Output = ()> + Send + 'static {
    let busy_of = conn.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let busy = busy_of.busy();
        let mut router = router.clone();
        let gate = gate.clone();
        PEER.scope(peer, async move {
            let _busy = busy;
            let req = req.map(axum::body::Body::new);
            // Under a `base_path` everything goes through the router, which strips the
            // prefix.
            let fast = gate
                .filter(|app| app.config.base_path.is_empty())
                .and_then(|app| forward_auth::fast_path(&req).map(|e| (e, app)));
            match fast {
                Some((endpoint, app)) => Ok(forward_auth::handle(endpoint, app, req).await),
                None => {
                    use tower::Service;
                    router.call(req).await
                }
            }
        })
    });
    // No timer for hyper: the watchman times the head (crate::listen).
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    async move { conn.drive(served).await }
}

/// `/api/me/tokens/{id}` matches `/api/me/tokens/abc`.
fn template_matches(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b || (a.starts_with('{') && !b.is_empty()) => {}
            _ => return false,
        }
    }
}
