//! The decision endpoints against a real server, on the embedded store and on Valkey.

use std::time::Duration;

use base64::Engine;
use keygate::manage::NewToken;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::helpers::{Backend, TestApp};

#[derive(Clone, Copy, Debug)]
enum Ep {
    ForwardAuth,
    Nginx,
    Envoy,
}

const ALL: [Ep; 3] = [Ep::ForwardAuth, Ep::Nginx, Ep::Envoy];

impl Ep {
    fn allow(self) -> u16 {
        match self {
            Ep::ForwardAuth => 204,
            Ep::Nginx | Ep::Envoy => 200,
        }
    }

    /// A request describing the original `method host uri` the way this endpoint's
    /// proxy does.
    fn request(self, t: &TestApp, method: &str, host: &str, uri: &str) -> reqwest::RequestBuilder {
        match self {
            Ep::ForwardAuth => t
                .get("/forward-auth")
                .header("X-Forwarded-Method", method)
                .header("X-Forwarded-Host", host)
                .header("X-Forwarded-Uri", uri)
                .header("X-Forwarded-Proto", "https"),
            Ep::Nginx => t
                .get("/auth")
                .header("X-Original-Method", method)
                .header("X-Original-URI", uri)
                .header("X-Original-URL", format!("https://{host}{uri}")),
            Ep::Envoy => t
                .client
                .request(method.parse().unwrap(), t.url(&format!("/ext-authz{uri}")))
                .header("Host", host),
        }
    }
}

struct Case {
    name: &'static str,
    headers: HeaderMap,
    method: &'static str,
    host: &'static str,
    uri: &'static str,
    /// None: the endpoint's allow status.
    status: Option<u16>,
}

fn bearer(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    );
    h
}

fn raw_auth(value: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_bytes(value).unwrap());
    h
}

fn basic(userpass: &str) -> HeaderMap {
    raw_auth(
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(userpass)
        )
        .as_bytes(),
    )
}

async fn check(t: &TestApp, ep: Ep, c: &Case) {
    let resp = ep
        .request(t, c.method, c.host, c.uri)
        .headers(c.headers.clone())
        .send()
        .await
        .unwrap();
    let want = c.status.unwrap_or(ep.allow());
    let status = resp.status().as_u16();
    assert_eq!(status, want, "{ep:?} / {}", c.name);
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    if want == ep.allow() {
        assert_eq!(
            headers["x-authenticated-user"], "alice",
            "{ep:?} / {}",
            c.name
        );
        assert!(headers.contains_key("x-authenticated-token-id"));
        assert!(headers.contains_key("x-authenticated-token-name"));
        assert!(body.is_empty() || ep.allow() != 204);
    } else {
        assert!(
            !headers.contains_key("x-authenticated-user"),
            "{ep:?} / {}",
            c.name
        );
        let json: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{ep:?} / {}: body is not JSON ({e}): {body:?}", c.name));
        assert!(
            json["error"].is_string() && json["message"].is_string(),
            "{json}"
        );
        assert_eq!(headers["content-type"], "application/json");
        if want == 401 {
            assert_eq!(
                headers["www-authenticate"],
                r#"Bearer realm="keygate", error="invalid_token""#
            );
        } else {
            assert!(!headers.contains_key("www-authenticate"));
        }
    }
}

pub(crate) async fn matrix(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (good, good_rec) = t.create("alice", "laptop", &[]).await;
    let (ruled, _) = t
        .create(
            "alice",
            "ruled",
            &["hosts=api.example.com;paths=/v1/*;methods=GET,POST"],
        )
        .await;
    let (disabled, disabled_rec) = t.create("alice", "off", &[]).await;
    t.app
        .keys
        .set_disabled(&disabled_rec.id, true, &keygate::manage::Actor::cli())
        .await
        .unwrap();
    let (expiring, _) = {
        let exp = t.app.clock.now().plus(Duration::from_secs(60));
        let (k, r) = t
            .app
            .keys
            .create(
                NewToken {
                    owner: "alice".into(),
                    name: "short".into(),
                    expires_at: Some(exp),
                    ..Default::default()
                },
                &keygate::manage::Actor::cli(),
            )
            .await
            .unwrap();
        (k.expose().to_owned(), r)
    };

    // a well-formed key nobody created, and one with a broken checksum
    let unknown = keygate::token::generate(&keygate::token::KeyPrefix::default()).unwrap();
    let mut broken = good.clone().into_bytes();
    let last = broken.len() - 1;
    broken[last] = if broken[last] == b'A' { b'B' } else { b'A' };
    let broken = String::from_utf8(broken).unwrap();
    let foreign = good.replacen("kg_", "xx_", 1);
    let huge = format!("Bearer {}", "a".repeat(64 * 1024));

    let mut api_key = HeaderMap::new();
    api_key.insert("x-api-key", HeaderValue::from_str(&good).unwrap());
    let mut spoofed = bearer(&good);
    spoofed.insert("x-authenticated-user", HeaderValue::from_static("mallory"));

    let get = |name, headers, status| Case {
        name,
        headers,
        method: "GET",
        host: "api.example.com",
        uri: "/v1/users?page=2",
        status,
    };
    let cases = vec![
        get("valid", bearer(&good), None),
        get("valid, spoofed identity header", spoofed, None),
        get("basic user:key", basic(&format!("me:{good}")), None),
        get("basic key:", basic(&format!("{good}:")), None),
        get("X-API-Key header", api_key, None),
        get("unknown key", bearer(unknown.expose()), Some(401)),
        get("wrong checksum", bearer(&broken), Some(401)),
        get("wrong prefix", bearer(&foreign), Some(401)),
        get("missing header", HeaderMap::new(), Some(401)),
        get(
            "bearer with nothing after it",
            raw_auth(b"Bearer "),
            Some(401),
        ),
        get(
            "non-UTF-8 header",
            raw_auth(b"Bearer \xff\xfe\xfd"),
            Some(401),
        ),
        get("64 KiB header", raw_auth(huge.as_bytes()), Some(401)),
        get(
            "bad base64 in Basic",
            raw_auth(b"Basic ***not base64***"),
            Some(401),
        ),
        get("disabled", bearer(&disabled), Some(401)),
        get("ruled key, allowed request", bearer(&ruled), None),
        Case {
            name: "ruled key, POST allowed",
            headers: bearer(&ruled),
            method: "POST",
            host: "api.example.com",
            uri: "/v1/x",
            status: None,
        },
        Case {
            name: "rule mismatch on host",
            headers: bearer(&ruled),
            method: "GET",
            host: "admin.example.com",
            uri: "/v1/users",
            status: Some(403),
        },
        Case {
            name: "rule mismatch on host (port ignored, case folded)",
            headers: bearer(&ruled),
            method: "GET",
            host: "API.example.com:8443",
            uri: "/v1/users",
            status: None,
        },
        Case {
            name: "rule mismatch on path",
            headers: bearer(&ruled),
            method: "GET",
            host: "api.example.com",
            uri: "/v2/users",
            status: Some(403),
        },
        Case {
            name: "rule mismatch on path via dot-segments",
            headers: bearer(&ruled),
            method: "GET",
            host: "api.example.com",
            uri: "/v1/../admin",
            status: Some(403),
        },
        Case {
            name: "rule mismatch on method",
            headers: bearer(&ruled),
            method: "DELETE",
            host: "api.example.com",
            uri: "/v1/users",
            status: Some(403),
        },
    ];
    for ep in ALL {
        for c in &cases {
            check(&t, ep, c).await;
        }
    }

    // The allow carries the owner, the public id and the name.
    let r = t
        .get("/forward-auth")
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-authenticated-token-id"],
        good_rec.id.as_str()
    );
    assert_eq!(r.headers()["x-authenticated-token-name"], "laptop");

    // HEAD works as GET does.
    let r = t
        .client
        .head(t.url("/forward-auth"))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // /auth-unauthorized refuses even a good key.
    let r = t
        .get("/auth-unauthorized")
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Expiry: the key works, then the clock passes its expiry and it fails everywhere.
    for ep in ALL {
        check(&t, ep, &get("before expiry", bearer(&expiring), None)).await;
    }
    t.app.clock.advance(Duration::from_secs(61));
    for ep in ALL {
        check(&t, ep, &get("expired", bearer(&expiring), Some(401))).await;
    }

    // A local write drops the cached answer at once.
    t.app
        .keys
        .set_disabled(&good_rec.id, true, &keygate::manage::Actor::cli())
        .await
        .unwrap();
    check(
        &t,
        Ep::ForwardAuth,
        &get("disabled while cached", bearer(&good), Some(401)),
    )
    .await;
    t.app
        .keys
        .set_disabled(&good_rec.id, false, &keygate::manage::Actor::cli())
        .await
        .unwrap();
    check(
        &t,
        Ep::ForwardAuth,
        &get("enabled again", bearer(&good), None),
    )
    .await;
    t.app
        .keys
        .revoke(&good_rec.id, &keygate::manage::Actor::cli())
        .await
        .unwrap();
    check(
        &t,
        Ep::ForwardAuth,
        &get("revoked while cached", bearer(&good), Some(401)),
    )
    .await;
}

#[tokio::test]
async fn decision_matrix_on_the_embedded_store() {
    matrix(Backend::Redb).await;
}

#[tokio::test]
async fn decision_matrix_on_valkey() {
    matrix(Backend::Valkey).await;
}

#[tokio::test]
async fn query_parameter_only_when_enabled() {
    let off = TestApp::spawn(Backend::Memory).await;
    let (key, _) = off.create("alice", "q", &[]).await;
    let uri = format!("/x?api_key={key}");
    let r = off
        .get("/forward-auth")
        .header("X-Forwarded-Uri", &uri)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let on = TestApp::spawn_with(Backend::Memory, |c| c.query_param = "api_key".into()).await;
    let (key, _) = on.create("alice", "q", &[]).await;
    let uri = format!("/x?a=1&api_key={key}");
    let r = on
        .get("/forward-auth")
        .header("X-Forwarded-Uri", &uri)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Envoy and Caddy put the original query on the auth request itself.
    let r = on
        .get(&format!("/ext-authz/x?api_key={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn identity_header_names_are_configurable() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.headers.user = "Remote-User".into();
        c.headers.token_name = String::new();
    })
    .await;
    let (key, _) = t.create("svc-billing", "n", &[]).await;
    let r = t
        .get("/forward-auth")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["remote-user"], "svc-billing");
    assert!(!r.headers().contains_key("x-authenticated-user"));
    assert!(!r.headers().contains_key("x-authenticated-token-name"));
    assert!(r.headers().contains_key("x-authenticated-token-id"));
}

#[tokio::test]
async fn foreign_keys_can_be_refused_at_the_precheck() {
    let t = TestApp::spawn_with(Backend::Memory, |c| c.accept_foreign_keys = false).await;
    let r = t
        .get("/forward-auth")
        .bearer_auth("legacy-key-1234567890")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("prefix"),
        "{body}"
    );
}

#[tokio::test]
async fn health_endpoints_and_unknown_paths() {
    let t = TestApp::spawn(Backend::Redb).await;
    for p in ["/health", "/health/live", "/health/ready"] {
        assert_eq!(t.get(p).send().await.unwrap().status(), 200, "{p}");
    }
    // Unknown paths under keygate's endpoints, and anything but GET elsewhere (a GET
    // elsewhere is the web UI's client-side route: see ui.rs).
    for r in [
        t.get("/health/nope"),
        t.get("/api/nope"),
        t.client.post(t.url("/nope")),
    ] {
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 404);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
    }
    let r = t.client.post(t.url("/forward-auth")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn last_used_is_recorded_off_the_hot_path() {
    for backend in [Backend::Memory, Backend::Redb, Backend::Valkey] {
        let t = TestApp::spawn(backend).await;
        let (key, rec) = t.create("alice", "used", &[]).await;
        assert!(
            t.app
                .keys
                .get(&rec.id)
                .await
                .unwrap()
                .last_used_at
                .is_none()
        );
        for _ in 0..3 {
            assert_eq!(
                t.get("/forward-auth")
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap()
                    .status(),
                204
            );
        }
        // Nothing is written per request; the flush writes it once.
        assert_eq!(t.app.gate.flush_usage().await.unwrap(), 1, "{backend:?}");
        let used = t.app.keys.get(&rec.id).await.unwrap().last_used_at;
        let used = used.unwrap_or_else(|| panic!("{backend:?}: no last-used time"));
        assert!(
            rec.created_at <= used && used <= t.app.clock.now(),
            "{backend:?}"
        );
        assert_eq!(
            t.app.gate.flush_usage().await.unwrap(),
            0,
            "nothing new to write"
        );
    }
}
