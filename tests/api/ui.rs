//! The web UI's server side: `/ui/config`, the app (or the page saying how to build it)
//! with its Content-Security-Policy, the `index.html` fallback that leaves keygate's own
//! endpoints alone, and everything under `base_path`.

use std::path::Path;

use keygate::config::Secret;
use serde_json::Value;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

fn built() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("web/dist/index.html")
        .is_file()
}

async fn html(t: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = t.get(path).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

#[tokio::test]
async fn single_operator_config_app_and_fallback() {
    let t = TestApp::spawn(Backend::Memory).await;
    let r = t.get("/ui/config").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["app_name"], "keygate");
    assert_eq!(c["base_path"], "");
    assert_eq!(c["single_operator"], true);
    assert_eq!(c["admin_key_login"], true);
    assert_eq!(c["oidc_client_id"], Value::Null);
    assert_eq!(c["oidc_authority"], Value::Null);
    assert_eq!(c["api_docs_path"], "/docs");

    // The app at / and at any client-side route, with a CSP that allows no inline code.
    for path in [
        "/",
        "/keys",
        "/keys/AbCdEfGh12345678",
        "/admin/owners/alice%40example.com",
        "/admin/owners",
        "/admin/keys",
        "/admin/usage",
        "/guide",
    ] {
        let (s, body, h) = html(&t, path).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(h["content-type"], "text/html; charset=utf-8", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("style-src 'self';"), "{csp}");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        if built() {
            assert!(body.contains(r#"<base href="/""#), "{body}");
            assert!(body.contains("<div id=\"root\">"), "{body}");
        } else {
            assert!(body.contains("make web"), "{body}");
        }
    }

    // keygate's own endpoints answer as before, never with the app.
    for path in [
        "/api/nope",
        "/api",
        "/health/nope",
        "/docs/nope",
        "/assets/nope.js",
        "/ui/nope",
        "/forward-auth/x",
    ] {
        let r = t.get(path).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
    assert_eq!(t.get("/health").send().await.unwrap().status(), 200);
    assert_eq!(t.get("/forward-auth").send().await.unwrap().status(), 401);
    let (s, body, _) = html(&t, "/docs/").await;
    assert_eq!(s, 200);
    assert!(
        body.contains("docs.js"),
        "the API reference is still at /docs/"
    );
    // Only GET and HEAD reach the app.
    let r = t.client.post(t.url("/keys")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = t.client.head(t.url("/keys")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn base_path_prefixes_every_route_and_oidc_settings_reach_the_ui() {
    let docs = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(docs.path(), "<h2>Ask #platform for access</h2>").unwrap();
    let docs_path = docs.path().to_path_buf();
    let t = TestApp::spawn_with(Backend::Memory, move |c| {
        c.base_path = "/keygate".into();
        c.admin_key = Some(Secret::new(ADMIN_KEY));
        // Nothing listens there: the UI settings do not need the issuer to answer.
        c.oauth.issuer_url = "http://127.0.0.1:9/realms/main".into();
        c.oauth.audiences = vec!["keygate".into()];
        c.frontend.oidc_client_id = "keygate-ui".into();
        c.frontend.oidc_resource = "urn:keygate".into();
        c.frontend.app_name = "Acme keys".into();
        c.frontend.docs_html_file = Some(docs_path);
    })
    .await;

    let r = t.get("/keygate/ui/config").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("connect-src 'self' http://127.0.0.1:9;"),
        "the issuer's origin, and only it, may be reached: {csp}"
    );
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["app_name"], "Acme keys");
    assert_eq!(c["base_path"], "/keygate");
    assert_eq!(c["single_operator"], false);
    assert_eq!(
        c["admin_key_login"], false,
        "OIDC is how people log in here"
    );
    assert_eq!(c["oidc_authority"], "http://127.0.0.1:9/realms/main");
    assert_eq!(c["oidc_client_id"], "keygate-ui");
    assert_eq!(c["oidc_redirect_uri"], Value::Null);
    assert_eq!(c["oidc_scope"], "openid profile email");
    assert_eq!(c["oidc_resource"], "urn:keygate");
    assert_eq!(c["docs_html"], "<h2>Ask #platform for access</h2>");
    assert_eq!(c["api_docs_path"], "/keygate/docs");

    // `/keygate` goes to `/keygate/`, where the app's relative URLs resolve.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(t.url("/keygate"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/keygate/");
    for path in ["/keygate/", "/keygate/keys", "/keygate/admin/owners/abc"] {
        let (s, body, _) = html(&t, path).await;
        assert_eq!(s, 200, "{path}");
        if built() {
            assert!(body.contains(r#"<base href="/keygate/""#), "{body}");
        } else {
            assert!(body.contains("make web"), "{body}");
        }
    }

    // Every endpoint moved under the prefix, the gate included; nothing answers outside.
    let (key, _) = t.create("alice", "ci", &[]).await;
    let r = t
        .get("/keygate/forward-auth")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for path in [
        "/forward-auth",
        "/health",
        "/",
        "/keys",
        "/api/me",
        "/ui/config",
    ] {
        let r = t.get(path).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = t.admin(t.get("/keygate/api/me")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.get("/keygate/health").send().await.unwrap().status(), 200);
    assert_eq!(t.get("/keygate/docs/").send().await.unwrap().status(), 200);
    let r = t.get("/keygate/api/nope").send().await.unwrap();
    assert_eq!(r.status(), 404);
    // The API's metrics still name its routes without the prefix.
    let metrics = t
        .get("/keygate/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"route="/api/me",status="200""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_missing_docs_file_stops_the_start() {
    let data = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::base_config(data.path());
    config.frontend.docs_html_file = Some("/nonexistent/docs.html".into());
    let app = keygate::app::App::memory(
        config,
        keygate::clock::Clock::system(),
        keygate::token::Salt::from_hex(crate::helpers::SALT).unwrap(),
    )
    .unwrap();
    let e = app.prepare().await.unwrap_err().to_string();
    assert!(e.contains("frontend.docs_html_file"), "{e}");
}

/// A mistyped gate URL must never answer 2xx: a proxy pointed at it would let every
/// request through. Only the UI's own client-side routes get the app.
#[tokio::test]
async fn near_miss_paths_never_answer_2xx() {
    const NEAR_MISSES: &[&str] = &[
        "/forwardauth",
        "/forward_auth",
        "/forward-auth/",
        "/forward-auth/x",
        "/forward-auth;x",
        "/Forward-Auth",
        "/FORWARD-AUTH",
        "/forward-auth%20",
        "/Auth",
        "/AUTH",
        "/auth/",
        "/auth;x",
        "/authz",
        "/auth-request",
        "/ext_authz",
        "/extauthz",
        "/Ext-Authz",
        "/verify/x",
        "/verifyx",
        "/validate",
        "/check",
        "/oauth2/auth",
        "/keys/",
        "/keys/x/y",
        "/keysx",
        "/admin/owners/",
        "/admin/keysx",
        "/admin/owners/a/b",
        "/admin/x",
        "/login/x",
        "/index.html",
        "/favicon.ico",
        "/.env",
        "/x",
    ];
    for base in ["", "/kg"] {
        let t = TestApp::spawn_with(Backend::Memory, move |c| c.base_path = base.into()).await;
        let (key, _) = t.create("alice", "k", &[]).await;
        for path in NEAR_MISSES {
            let url = t.url(&format!("{base}{path}"));
            for method in [
                reqwest::Method::GET,
                reqwest::Method::HEAD,
                reqwest::Method::POST,
            ] {
                // With and without a valid key: neither may get through.
                for auth in [false, true] {
                    let mut req = t.client.request(method.clone(), &url);
                    if auth {
                        req = req.bearer_auth(&key);
                    }
                    let r = req.send().await.unwrap();
                    let s = r.status();
                    assert!(
                        !s.is_success() && !s.is_redirection(),
                        "{method} {base}{path}: {s}"
                    );
                    if method != reqwest::Method::HEAD {
                        assert_eq!(s, 404, "{method} {base}{path}");
                        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
                        assert_eq!(ct, "application/json", "{method} {base}{path}");
                        let body: Value = r.json().await.unwrap();
                        assert_eq!(body["error"], "not_found", "{method} {base}{path}");
                    } else {
                        assert_eq!(s, 404, "{method} {base}{path}");
                    }
                }
            }
        }
        // The real gate endpoints refuse without a key and allow with one.
        for path in ["/forward-auth", "/auth", "/ext-authz", "/ext-authz/x"] {
            let url = t.url(&format!("{base}{path}"));
            let r = t.client.get(&url).send().await.unwrap();
            assert!(
                matches!(r.status().as_u16(), 401 | 403),
                "{path}: {}",
                r.status()
            );
            let r = t.client.get(&url).bearer_auth(&key).send().await.unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
        }
        // The UI's own routes still get the app, with GET and HEAD.
        for path in [
            "/",
            "/login",
            "/callback",
            "/silent-callback",
            "/keys",
            "/guide",
            "/admin",
            "/admin/audit",
            "/admin/owners/alice%40example.com",
        ] {
            let url = t.url(&format!("{base}{path}"));
            for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
                let r = t.client.request(method.clone(), &url).send().await.unwrap();
                assert_eq!(r.status(), 200, "{method} {base}{path}");
                assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
            }
            let r = t.client.post(&url).send().await.unwrap();
            assert!(
                matches!(r.status().as_u16(), 404 | 405),
                "POST {base}{path}: {}",
                r.status()
            );
        }
    }
}
