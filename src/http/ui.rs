//! The web UI: its settings at `/ui/config`, the built single-page app (`web/dist`,
//! embedded into release builds by `rust-embed`, read from disk by debug builds), and
//! `index.html` for the app's own client-side routes ([`CLIENT_ROUTES`]), so they
//! survive a reload. Every other path is a JSON 404: a mistyped gate URL
//! (`/forwardauth`, `/Auth`) must never answer 2xx, or a proxy pointed at it would let
//! every request through.
//!
//! Every answer carries a strict Content-Security-Policy that the app satisfies: scripts
//! and styles only from this origin (no inline script or style), connections only to
//! this origin and the OIDC issuer. A binary built without the UI serves a short page
//! saying how to build it instead.
//!
//! Under a `base_path` the app is served at `<base_path>/`: `index.html` gets a
//! `<base href>` naming it, so the app's relative asset URLs and its router work there.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde::Serialize;

use crate::app::App;
use crate::config::Config;

#[derive(rust_embed::Embed)]
#[folder = "web/dist/"]
#[allow_missing = true]
struct Assets;

/// What `index.html` says about its base, replaced by the configured one.
const BASE_PLACEHOLDER: &str = r#"<base href="/""#;

/// The app's client-side routes (`web/src/app.tsx`, and the OIDC redirect targets in
/// `web/src/lib/auth.tsx`), without the leading `/`: `*` is one non-empty path segment.
/// Keep in step with the app.
const CLIENT_ROUTES: &[&str] = &[
    "login",
    "callback",
    "silent-callback",
    "keys",
    "keys/*",
    "guide",
    "admin",
    "admin/audit",
    "admin/roles",
    "admin/usage",
    "admin/webhooks",
    "admin/webhooks/*",
    "admin/keys",
    "admin/keys/*",
    "admin/owners",
    "admin/owners/*",
];

/// Whether `path` (without its leading `/`) is one of [`CLIENT_ROUTES`].
fn client_route(path: &str) -> bool {
    CLIENT_ROUTES.iter().any(|route| {
        let (mut r, mut p) = (route.split('/'), path.split('/'));
        loop {
            match (r.next(), p.next()) {
                (None, None) => return true,
                (Some("*"), Some(seg)) if !seg.is_empty() => {}
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
        }
    })
}

/// Shown by a binary built without `web/dist`.
const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><base href=\"/\"><title>keygate</title>
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>
<body><h1>keygate</h1>
<p>This keygate binary was built without its web UI.</p>
<p>Build the UI with <code>make web</code> (Node.js 20.19 or later: it runs
<code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>), then rebuild keygate
(<code>cargo build --release</code>), or simply run <code>make run</code>.</p>
<p>The gate and the management API work without it: see <a href=\"docs/\">the API
reference</a>.</p>
</body></html>
";

/// The answer of `GET /ui/config`.
#[derive(Serialize)]
struct UiConfig {
    app_name: String,
    /// The prefix every route is served under (empty: none).
    base_path: String,
    /// No identity provider and no configured admin key: log in with the generated key.
    single_operator: bool,
    /// Whether the login page offers the admin key.
    admin_key_login: bool,
    /// The OIDC login, when configured: all of these are set, or none.
    oidc_authority: Option<String>,
    oidc_client_id: Option<String>,
    /// Empty: the UI uses `<its URL>callback`.
    oidc_redirect_uri: Option<String>,
    oidc_scope: String,
    oidc_resource: Option<String>,
    /// The operator's HTML for the Docs page (the browser sanitises it).
    docs_html: String,
    api_docs_path: String,
}

/// The UI's routes, and the fallback serving the app for client-side routes.
pub fn router(config: &Config) -> Router<Arc<App>> {
    let headers = Arc::new(UiHeaders::new(config));
    let h = headers.clone();
    let fallback_headers = headers.clone();
    Router::new()
        .route(
            "/ui/config",
            get(move |state: State<Arc<App>>| ui_config(state, h.clone())),
        )
        .route("/", index_route(config))
        .fallback(move |state: State<Arc<App>>, req: Request| {
            fallback(state, req, fallback_headers.clone())
        })
}

/// `GET /`: the app. Under a base path `/prefix` reaches here too (axum's `nest`); the
/// browser is sent on to `/prefix/`, where the app's relative URLs resolve.
pub fn index_route(config: &Config) -> MethodRouter<Arc<App>> {
    let headers = Arc::new(UiHeaders::new(config));
    get(move |state: State<Arc<App>>, uri: OriginalUri| async move {
        if !uri.path().ends_with('/') {
            let to = format!("{}/", uri.path());
            return (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response();
        }
        index(&state.0.config, &headers)
    })
}

/// The Content-Security-Policy and other headers of every UI answer.
struct UiHeaders {
    csp: HeaderValue,
}

impl UiHeaders {
    fn new(config: &Config) -> Self {
        let issuer = origin(config.frontend.authority(&config.oauth))
            .filter(|_| !config.frontend.oidc_client_id.is_empty());
        let extra = issuer.map(|o| format!(" {o}")).unwrap_or_default();
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             font-src 'self'; connect-src 'self'{extra}; frame-src 'self'{extra}; \
             frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'"
        );
        UiHeaders {
            // The origin comes from a validated http(s) URL; fall back to no issuer
            // rather than fail if it somehow is not a header value.
            csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| {
                HeaderValue::from_static(
                    "default-src 'self'; script-src 'self'; style-src 'self'; \
                     frame-ancestors 'self'; base-uri 'self'; object-src 'none'",
                )
            }),
        }
    }

    fn apply(&self, mut r: Response, cache: &'static str) -> Response {
        let h = r.headers_mut();
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        r
    }
}

/// `https://idp.example.com:8443/realms/x` → `https://idp.example.com:8443`.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let ok = matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    ok.then(|| format!("{scheme}://{host}"))
}

async fn ui_config(State(app): State<Arc<App>>, headers: Arc<UiHeaders>) -> Response {
    let c = &app.config;
    let f = &c.frontend;
    let docs_html = match &f.docs_html_file {
        // Read on each request, so the operator can edit it without a restart.
        Some(path) => match read_file(path.clone()).await {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read frontend.docs_html_file");
                String::new()
            }
        },
        None => f.docs_html.clone(),
    };
    let oidc = !f.oidc_client_id.is_empty();
    let some = |s: &str| (oidc && !s.is_empty()).then(|| s.to_owned());
    let api_docs_path = if f.api_docs_path.starts_with('/') {
        format!("{}{}", c.base_path, f.api_docs_path)
    } else {
        f.api_docs_path.clone()
    };
    let body = UiConfig {
        app_name: f.app_name.clone(),
        base_path: c.base_path.clone(),
        single_operator: app.single_operator(),
        admin_key_login: app.single_operator() || (!oidc && app.has_admin_key()),
        oidc_authority: some(f.authority(&c.oauth)),
        oidc_client_id: some(&f.oidc_client_id),
        oidc_redirect_uri: some(&f.oidc_redirect_uri),
        oidc_scope: f.oidc_scope.clone(),
        oidc_resource: some(&f.oidc_resource),
        docs_html,
        api_docs_path,
    };
    headers.apply(axum::Json(body).into_response(), "no-store")
}

async fn read_file(path: std::path::PathBuf) -> std::io::Result<String> {
    tokio::task::spawn_blocking(move || std::fs::read_to_string(path))
        .await
        .map_err(std::io::Error::other)?
}

fn index(config: &Config, headers: &UiHeaders) -> Response {
    let html = match Assets::get("index.html") {
        Some(file) => with_base(&String::from_utf8_lossy(&file.data), &config.base_path),
        None => with_base(NOT_BUILT, &config.base_path),
    };
    let r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    headers.apply(r, "no-cache")
}

/// Points the app's `<base href>` at `base_path`.
fn with_base(html: &str, base_path: &str) -> String {
    html.replacen(
        BASE_PLACEHOLDER,
        &format!(r#"<base href="{base_path}/""#),
        1,
    )
}

async fn fallback(State(app): State<Arc<App>>, req: Request, headers: Arc<UiHeaders>) -> Response {
    let not_found = || super::error::error(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return not_found();
    }
    let path = req.uri().path().trim_start_matches('/');
    if path.is_empty() {
        return index(&app.config, &headers);
    }
    if let Some(file) = Assets::get(path).filter(|_| path != "index.html") {
        let cache = if path.starts_with("assets/") {
            // Vite names these by content hash.
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let r = Response::builder()
            .header(header::CONTENT_TYPE, content_type(path))
            .body(Body::from(file.data.into_owned()))
            .unwrap_or_else(|_| not_found());
        return headers.apply(r, cache);
    }
    if client_route(path) {
        return index(&app.config, &headers);
    }
    not_found()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_routes() {
        for ok in [
            "keys",
            "keys/AbCdEfGh12345678",
            "admin",
            "admin/usage",
            "admin/keys",
            "admin/keys/AbCdEfGh12345678",
            "admin/owners",
            "admin/owners/a%40b",
            "login",
            "admin/audit",
            "admin/roles",
            "admin/webhooks",
            "admin/webhooks/ep_AbCdEfGh12345678",
        ] {
            assert!(client_route(ok), "{ok}");
        }
        for no in [
            "",
            "keys/",
            "keys/x/y",
            "Keys",
            "admin/owners/",
            "admin/keys/",
            "admin/owners/a/b",
            "forwardauth",
            "auth",
            "admin/auditx",
            "roles",
            "admin/roles/x",
            "admin/webhooks/",
            "admin/webhooks/ep_x/deliveries",
        ] {
            assert!(!client_route(no), "{no}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://idp.example.com/realms/x").as_deref(),
            Some("https://idp.example.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:9000").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(origin("idp.example.com"), None);
        assert_eq!(origin("javascript://x"), None);
        assert_eq!(origin("https://a b/"), None);
        assert_eq!(origin("https://x'; script-src *"), None);
    }

    #[test]
    fn base_href_follows_base_path() {
        let html = r#"<head><base href="/" /><script type="module" src="./assets/a.js"></script>"#;
        assert!(with_base(html, "").contains(r#"<base href="/" />"#));
        assert!(with_base(html, "/keygate").contains(r#"<base href="/keygate/" />"#));
    }

    #[test]
    fn csp_names_the_issuer_only_with_an_oidc_client() {
        let mut c = Config::default();
        c.oauth.issuer_url = "https://idp.example.com/realms/x".into();
        let csp = UiHeaders::new(&c).csp;
        assert!(!csp.to_str().unwrap().contains("idp.example.com"));
        c.frontend.oidc_client_id = "ui".into();
        let csp = UiHeaders::new(&c).csp;
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' https://idp.example.com;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
    }
}
