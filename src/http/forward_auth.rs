//! The proxy-facing endpoints (DESIGN §5). They differ only in where the original
//! request is described and in what status means "allow":
//!
//! | endpoint | allow | original method / host / URI from |
//! |---|---|---|
//! | `/forward-auth` | 204 | `X-Forwarded-Method` / `-Host` / `-Uri` |
//! | `/auth` | 200 | `X-Original-Method` / `X-Original-URL`'s host / `X-Original-URI` (must agree with `X-Original-URL`'s path when both are sent); only ever 200, 401 or 403 |
//! | `/ext-authz/{*path}` | exactly 200 | this request's method, `Host`, and the path after the prefix |
//! | `/auth-unauthorized` | never | — |

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use super::error::error;
use super::picked::Picked;
use crate::access_log;
use crate::app::App;
use crate::decide::{Asked, Deny, Outcome};
use crate::metrics;
use crate::permissions::{Need, Permission};
use crate::rules::Target;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/forward-auth",
            get(forward_auth).fallback(method_not_allowed),
        )
        .route("/auth", get(nginx_auth).fallback(method_not_allowed))
        .route("/ext-authz", any(ext_authz))
        .route("/ext-authz/{*path}", any(ext_authz))
        .route(
            "/auth-unauthorized",
            get(unauthorized).fallback(method_not_allowed),
        )
}

/// How an endpoint speaks to its proxy.
#[derive(Clone, Copy)]
enum Dialect {
    /// Traefik / Caddy: 204, every denial status.
    ForwardAuth,
    /// nginx `auth_request`: 200, and nothing but 401 or 403 on denial.
    Nginx,
    /// Envoy `ext_authz`: exactly 200.
    Envoy,
}

/// A header's value as text, trimmed; `None` when absent, empty or not text.
fn text(v: Option<&HeaderValue>) -> Option<&str> {
    Some(v?.to_str().ok()?.trim_ascii()).filter(|s| !s.is_empty())
}

/// A header that names the original request's URI. UTF-8 is taken as it is (the path
/// rules judge non-ASCII characters); bytes that are not UTF-8 become [`UNREADABLE`],
/// which no path pattern matches. Treating them as absent would fall back to the path
/// of this request (`/forward-auth`, `/auth`), which a path rule might allow.
fn uri_text(v: Option<&HeaderValue>) -> Option<&str> {
    let s = std::str::from_utf8(v?.as_bytes()).map_or(UNREADABLE, trim);
    (!s.is_empty()).then_some(s)
}

/// `str::trim`, without decoding when the ends are ASCII (as they nearly always are).
fn trim(s: &str) -> &str {
    let t = s.trim_ascii();
    match (t.as_bytes().first(), t.as_bytes().last()) {
        (Some(a), Some(z)) if !a.is_ascii() || !z.is_ascii() => t.trim(),
        _ => t,
    }
}

/// The original path when the proxy sent bytes that are not UTF-8.
const UNREADABLE: &str = "/\u{fffd}";

// The handlers take the request whole and read its parts by reference: extracting a
// `HeaderMap` would copy every header of every request.

/// The headers the gate reads, in one pass.
pub(crate) fn picked<'a>(app: &App, headers: &'a HeaderMap) -> Picked<'a> {
    let s = app.gate.settings();
    super::picked::pick(
        headers,
        s.sources.header.as_ref(),
        app.log_limits.metadata_header.as_ref(),
        s.require_header.as_ref(),
    )
}

async fn forward_auth(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let p = picked(&app, &parts.headers);
    let target = Target {
        method: text(p.forwarded_method).unwrap_or(parts.method.as_str()),
        host: text(p.forwarded_host)
            .or_else(|| text(p.host))
            .unwrap_or(""),
        uri: uri_text(p.forwarded_uri)
            .unwrap_or_else(|| parts.uri.path_and_query().map_or("/", |p| p.as_str())),
        needs: &[],
        cost: 1,
    };
    let request = Seen {
        headers: &parts.headers,
        picked: &p,
        target: &target,
    };
    decide_checked(&app, Dialect::ForwardAuth, &request, false).await
}

async fn nginx_auth(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let p = picked(&app, &parts.headers);
    // ingress-nginx sends the full URL in X-Original-URL: the only place the host is.
    let url = match uri_text(p.original_url) {
        Some(UNREADABLE) => Some(("", UNREADABLE)),
        u => u.and_then(split_url),
    };
    let original_uri = uri_text(p.original_uri);
    // auth_request passes the client's own headers on, so whichever of the two the
    // proxy does not set is the client's to choose: ingress-nginx sets X-Original-URL
    // and forwards a client's X-Original-URI untouched, many nginx configs do the
    // reverse. When both are present they must describe the same request, or a client
    // could name an allowed path while requesting another.
    let conflicting = matches!((url, original_uri), (Some((_, a)), Some(b)) if a != b);
    let target = Target {
        method: text(p.original_method).unwrap_or(parts.method.as_str()),
        host: url
            .map(|(host, _)| host)
            .or_else(|| text(p.forwarded_host))
            .or_else(|| text(p.host))
            .unwrap_or(""),
        uri: original_uri
            .or(url.map(|(_, path)| path))
            .unwrap_or_else(|| parts.uri.path_and_query().map_or("/", |p| p.as_str())),
        needs: &[],
        cost: 1,
    };
    let request = Seen {
        headers: &parts.headers,
        picked: &p,
        target: &target,
    };
    decide_checked(&app, Dialect::Nginx, &request, conflicting).await
}

async fn ext_authz(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    // The raw URI, so percent-encoding stays as the client sent it.
    let raw = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let original = raw.strip_prefix("/ext-authz").unwrap_or(raw);
    let owned;
    let uri = if original.is_empty() {
        "/"
    } else if original.starts_with('?') {
        owned = format!("/{original}");
        &owned
    } else {
        original
    };
    let p = picked(&app, &parts.headers);
    let target = Target {
        method: parts.method.as_str(),
        host: text(p.host).unwrap_or(""),
        uri,
        needs: &[],
        cost: 1,
    };
    let request = Seen {
        headers: &parts.headers,
        picked: &p,
        target: &target,
    };
    decide_checked(&app, Dialect::Envoy, &request, false).await
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

async fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this route is switched off",
    )
}

/// `https://host:port/path?q` → (`host:port`, `/path?q`).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.split_once("://")?.1;
    Some(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

/// A gate request as its endpoint read it.
struct Seen<'a> {
    headers: &'a HeaderMap,
    picked: &'a Picked<'a>,
    target: &'a Target<'a>,
}

/// Decides, turning an allow into 403 when the proxy's description of the original
/// request contradicts itself (`conflicting`); refusals keep their own status.
async fn decide_checked(
    app: &App,
    dialect: Dialect,
    request: &Seen<'_>,
    conflicting: bool,
) -> Response {
    let started = tokio::time::Instant::now();
    let Seen {
        headers,
        picked,
        target,
    } = *request;
    let peer = super::peer().ip();
    let client = picked.with_forwarded(headers, |f| app.gate.client_of(peer, f));
    // What the request requires: the configured entry that matches it, and what a
    // trusted proxy named in the header.
    let asked = app.gate.asked(picked.require, peer);
    let asked = match &asked {
        Asked::Nothing => None,
        Asked::Query(q) => Some(&**q),
        Asked::Invalid(why) => {
            tracing::error!(error = %why, "a trusted proxy sent a permissions requirement that does not parse; refusing the request");
            return super::error::refusal(
                StatusCode::FORBIDDEN,
                "invalid_requirement",
                "the proxy's permissions requirement does not parse; its configuration must be fixed",
            );
        }
    };
    let both: [&Need; 2];
    let needs: &[&Need] = match (app.gate.route_needs(target), asked) {
        (Some(a), Some(b)) => {
            both = [a, b];
            &both
        }
        (Some(a), None) | (None, Some(a)) => {
            both = [a, a];
            &both[..1]
        }
        (None, None) => &[],
    };
    let target = &Target { needs, ..*target };
    let mut decision = app.gate.decide(&picked.presented(), target, client).await;
    if conflicting && let Outcome::Allow(known) = &decision.outcome {
        decision.key = Some(known.clone());
        decision.outcome = Outcome::Deny(Deny::Forbidden);
    }
    let limit = match decision.outcome {
        Outcome::Deny(Deny::Limited(e)) => Some(e),
        _ => None,
    };
    let (response, outcome_label) = match decision.outcome {
        Outcome::Allow(known) => {
            let status = match dialect {
                Dialect::ForwardAuth => StatusCode::NO_CONTENT,
                Dialect::Nginx | Dialect::Envoy => StatusCode::OK,
            };
            let mut r = status.into_response();
            let h = r.headers_mut();
            h.clone_from(&known.headers);
            if let Some(report) = &decision.report {
                super::limited::upstream(h, &known, report, decision.now_ms);
            }
            (r, metrics::Outcome::Allowed)
        }
        Outcome::Deny(Deny::Limited(e)) => {
            app.gate.metrics().limit_refusal(e);
            let nginx = matches!(dialect, Dialect::Nginx);
            (
                super::limited::refusal(nginx, e, decision.key.as_deref()),
                deny_outcome(Deny::Limited(e)),
            )
        }
        Outcome::Deny(Deny::Insufficient) => {
            (insufficient(&decision.missing), metrics::Outcome::Forbidden)
        }
        Outcome::Deny(d) => (deny(dialect, d), deny_outcome(d)),
    };
    let took = started.elapsed();
    app.gate
        .metrics()
        .decision(dialect.endpoint(), outcome_label, took);
    if let Some(log) = &app.access_log {
        access_log::decision(
            log,
            &app.log_limits,
            &access_log::Line {
                endpoint: dialect.endpoint(),
                outcome: outcome_label,
                status: response.status().as_u16(),
                key: decision.key.as_deref(),
                target,
                forwarded_for: text(picked.forwarded_for).unwrap_or(""),
                metadata: picked.metadata.and_then(|v| v.to_str().ok()),
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

/// 403 `insufficient_permissions`, naming what the key lacks.
pub fn insufficient(missing: &[Permission]) -> Response {
    let names: Vec<&str> = missing.iter().map(Permission::as_str).collect();
    let body = serde_json::json!({
        "error": "insufficient_permissions",
        "message": format!("this key lacks permissions this request requires: {}", names.join(", ")),
        "missing": names,
    });
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

/// A refusal as the proxy-facing endpoints say it to a client (the inline proxy's
/// answer): the status, body and headers `/forward-auth` gives Traefik and Caddy.
pub fn client_refusal(
    app: &App,
    d: Deny,
    key: Option<&crate::decide::Known>,
    missing: &[Permission],
) -> Response {
    match d {
        Deny::Insufficient => insufficient(missing),
        Deny::Limited(e) => {
            app.gate.metrics().limit_refusal(e);
            super::limited::refusal(false, e, key)
        }
        d => deny(Dialect::ForwardAuth, d),
    }
}

pub fn deny_outcome(d: Deny) -> metrics::Outcome {
    match d {
        Deny::Unauthenticated(_) => metrics::Outcome::Unauthenticated,
        Deny::Forbidden | Deny::Insufficient => metrics::Outcome::Forbidden,
        Deny::Throttled(_) => metrics::Outcome::Throttled,
        Deny::Unavailable => metrics::Outcome::Unavailable,
        Deny::Limited(crate::limits::Exceeded::Rate { .. }) => metrics::Outcome::RateLimited,
        Deny::Limited(crate::limits::Exceeded::Credits { .. }) => metrics::Outcome::UsageExceeded,
    }
}

impl Dialect {
    fn endpoint(self) -> metrics::Endpoint {
        match self {
            Dialect::ForwardAuth => metrics::Endpoint::ForwardAuth,
            Dialect::Nginx => metrics::Endpoint::Auth,
            Dialect::Envoy => metrics::Endpoint::ExtAuthz,
        }
    }
}

fn deny(dialect: Dialect, d: Deny) -> Response {
    match d {
        Deny::Unauthenticated(message) => {
            super::error::refusal(StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
        Deny::Forbidden => super::error::refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this key may not be used for this request",
        ),
        Deny::Insufficient => insufficient(&[]),
        // nginx turns anything but 401/403 into a 500 for the client: refuse with 403.
        Deny::Throttled(retry) => {
            let status = match dialect {
                Dialect::Nginx => StatusCode::FORBIDDEN,
                _ => StatusCode::TOO_MANY_REQUESTS,
            };
            super::error::too_many_failures(status, retry)
        }
        Deny::Limited(e) => super::limited::refusal(matches!(dialect, Dialect::Nginx), e, None),
        Deny::Unavailable => match dialect {
            Dialect::Nginx => super::error::refusal(
                StatusCode::FORBIDDEN,
                "unavailable",
                "the key store is unavailable; try again",
            ),
            _ => super::error::refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the key store is unavailable; try again",
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn splits_original_urls() {
        assert_eq!(
            split_url("https://api.example.com/v1/x?y=1"),
            Some(("api.example.com", "/v1/x?y=1"))
        );
        assert_eq!(split_url("http://h:8080"), Some(("h:8080", "/")));
        assert_eq!(split_url("not a url"), None);
    }
}

/// Which gate endpoint a request is for, when it can skip the router: the exact path
/// and an accepted method (anything else goes through the router, which answers 404 or
/// 405 as usual).
#[derive(Clone, Copy, Debug)]
pub enum FastPath {
    ForwardAuth,
    Nginx,
    Envoy,
}

pub fn fast_path(req: &Request) -> Option<FastPath> {
    let path = req.uri().path();
    let get = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    match path {
        "/forward-auth" if get => Some(FastPath::ForwardAuth),
        "/auth" if get => Some(FastPath::Nginx),
        "/ext-authz" => Some(FastPath::Envoy),
        p if p.starts_with("/ext-authz/") => Some(FastPath::Envoy),
        _ => None,
    }
}

pub async fn handle(endpoint: FastPath, app: Arc<App>, req: Request) -> Response {
    match endpoint {
        FastPath::ForwardAuth => forward_auth(State(app), req).await,
        FastPath::Nginx => nginx_auth(State(app), req).await,
        FastPath::Envoy => ext_authz(State(app), req).await,
    }
}
