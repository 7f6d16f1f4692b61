//! The management API: OIDC tokens (and attacks on them), the admin key, CRUD and
//! rotation for users and admins, cross-user isolation, bad input, audit, OpenAPI, CORS.

use std::time::{Duration, Instant};

use keygate::config::Secret;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, TestApp};
use crate::jwt::{Issuer, SigningKey};

pub(crate) struct Env {
    pub(crate) t: TestApp,
    idp: Issuer,
    key: SigningKey,
}

impl Env {
    pub(crate) async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub(crate) async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut keygate::config::Config),
    ) -> Self {
        let key = SigningKey::generate("k1");
        let idp = Issuer::start(&[&key]).await;
        let url = idp.url.clone();
        let t = TestApp::spawn_with(backend, move |c| {
            c.oauth.issuer_url = url;
            c.oauth.audiences = vec!["keygate".into()];
            c.admin_key = Some(Secret::new(ADMIN_KEY));
            tweak(c);
        })
        .await;
        let env = Env { t, idp, key };
        // The verifier fetches the keys in the background: wait until it has them.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (s, _) = env
                .call(Method::GET, "/api/me", &env.token("alice", &[]), None)
                .await;
            if s != 503 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the identity provider's keys never loaded"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        env
    }

    pub(crate) fn token(&self, sub: &str, groups: &[&str]) -> String {
        self.key.sign(&self.idp.claims(sub, groups))
    }

    pub(crate) async fn call(
        &self,
        m: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .t
            .client
            .request(m, self.t.url(path))
            .bearer_auth(bearer);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let s = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            s,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        )
    }

    pub(crate) async fn gate(&self, key: &str) -> u16 {
        self.t.forward_auth(key).await.status().as_u16()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_crud_and_rotation() {
    let e = Env::start(Backend::Redb).await;
    let alice = e.token("alice", &["users"]);
    let (s, me) = e.call(Method::GET, "/api/me", &alice, None).await;
    assert_eq!(s, 200);
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["admin"], false);
    assert_eq!(me["auth"], "oidc");

    let body = json!({"name": "ci", "expires_at": "2099-01-01T00:00:00Z",
        "rules": [{"hosts": ["api.example.com"], "paths": ["/v1/*"], "methods": ["GET"]}], "metadata": {"team": "core"}});
    let (s, created) = e
        .call(Method::POST, "/api/me/tokens", &alice, Some(body))
        .await;
    assert_eq!(s, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("kg_") && created["hint"].as_str().unwrap().starts_with("kg_"));
    assert_eq!(created["token"]["owner"], "alice");
    assert_eq!(created["token"]["created_by"], "alice");
    assert!(created["token"].get("hash").is_none());
    let r =
        e.t.get("/forward-auth")
            .header("X-Forwarded-Host", "api.example.com")
            .header("X-Forwarded-Uri", "/v1/x")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["x-authenticated-user"], "alice");

    let (s, list) = e.call(Method::GET, "/api/me/tokens", &alice, None).await;
    assert_eq!(s, 200);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(list["damaged"], json!([]));
    assert!(list.get("next_cursor").is_none(), "{list}");
    assert!(
        list["tokens"][0].get("key").is_none(),
        "the key is shown only once"
    );
    let (s, one) = e
        .call(Method::GET, &format!("/api/me/tokens/{id}"), &alice, None)
        .await;
    assert_eq!((s, one["name"].as_str()), (200, Some("ci")));

    // PATCH: rename, disable, then enable and drop the rules and the expiry.
    let (s, p) = e
        .call(
            Method::PATCH,
            &format!("/api/me/tokens/{id}"),
            &alice,
            Some(json!({"name": "ci-2", "disabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        (p["name"].as_str(), p["status"].as_str()),
        (Some("ci-2"), Some("disabled"))
    );
    assert_eq!(e.gate(&key).await, 401);
    let (s, p) = e
        .call(
            Method::PATCH,
            &format!("/api/me/tokens/{id}"),
            &alice,
            Some(json!({"disabled": false, "rules": [], "expires_at": null})),
        )
        .await;
    assert_eq!(s, 200);
    assert!(p["expires_at"].is_null() && p["rules"].as_array().unwrap().is_empty());
    assert_eq!(e.gate(&key).await, 204);

    // Rotate with a grace period: both work, the old one points at the new one.
    let (s, rot) = e
        .call(
            Method::POST,
            &format!("/api/me/tokens/{id}/rotate"),
            &alice,
            Some(json!({"grace_seconds": 60})),
        )
        .await;
    assert_eq!(s, 201, "{rot}");
    let new_key = rot["key"].as_str().unwrap().to_owned();
    let new_id = rot["id"].as_str().unwrap().to_owned();
    assert_eq!(rot["replaced"]["status"], "rotating");
    assert_eq!(rot["replaced"]["replaced_by"], new_id.as_str());
    assert_eq!(rot["token"]["replaces"], id.as_str());
    assert_eq!(rot["token"]["name"], "ci-2");
    assert_eq!((e.gate(&key).await, e.gate(&new_key).await), (204, 204));
    // …until the grace period is over.
    e.t.app.clock.advance(Duration::from_secs(61));
    assert_eq!((e.gate(&key).await, e.gate(&new_key).await), (401, 204));
    // A key already rotated cannot be rotated again.
    let (s, _) = e
        .call(
            Method::POST,
            &format!("/api/me/tokens/{id}/rotate"),
            &alice,
            None,
        )
        .await;
    assert_eq!(s, 422);

    // Rotate without grace: the old key is gone at once.
    let (s, rot2) = e
        .call(
            Method::POST,
            &format!("/api/me/tokens/{new_id}/rotate"),
            &alice,
            None,
        )
        .await;
    assert_eq!(s, 201);
    assert!(rot2.get("replaced").is_none());
    assert_eq!(e.gate(&new_key).await, 401);
    let newest = rot2["key"].as_str().unwrap().to_owned();
    let newest_id = rot2["id"].as_str().unwrap().to_owned();
    assert_eq!(e.gate(&newest).await, 204);

    let (s, _) = e
        .call(
            Method::DELETE,
            &format!("/api/me/tokens/{newest_id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(e.gate(&newest).await, 401);
    let (s, _) = e
        .call(
            Method::DELETE,
            &format!("/api/me/tokens/{newest_id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Every change is in the audit log, newest first, with who, how and from where.
    let (s, audit) = e
        .call(Method::GET, "/api/audit?owner=alice", ADMIN_KEY, None)
        .await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["delete", "rotate", "rotate", "update", "update", "create"]
    );
    let first = &audit["events"][5];
    assert_eq!(
        (first["actor"].as_str(), first["auth"].as_str()),
        (Some("alice"), Some("oidc"))
    );
    assert_eq!(first["client"], "127.0.0.1");
    assert_eq!(first["token_id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_and_audit_paging() {
    let e = Env::start(Backend::Valkey).await;
    let admin = e.token("root", &["Admin"]); // group match is case-insensitive by default
    let (_, me) = e.call(Method::GET, "/api/me", &admin, None).await;
    assert_eq!(me["admin"], true);
    let alice = e.token("alice", &[]);
    e.call(
        Method::POST,
        "/api/me/tokens",
        &alice,
        Some(json!({"name": "mine"})),
    )
    .await;

    let (s, created) = e
        .call(
            Method::POST,
            "/api/users/svc%2Fbilling/tokens",
            &admin,
            Some(json!({"description": "rvfa-style body"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let bkey = created["key"].as_str().unwrap().to_owned();
    let bid = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["token"]["owner"], "svc/billing");
    assert_eq!(created["token"]["created_by"], "root");
    assert_eq!(e.gate(&bkey).await, 204);

    let (_, users) = e.call(Method::GET, "/api/users", &admin, None).await;
    assert_eq!(
        users,
        json!({"owners": [{"owner": "alice", "keys": 1}, {"owner": "svc/billing", "keys": 1}]})
    );
    let (_, filtered) = e.call(Method::GET, "/api/users?q=BILL", &admin, None).await;
    assert_eq!(filtered["owners"].as_array().unwrap().len(), 1);
    let (_, theirs) = e
        .call(Method::GET, "/api/users/svc%2Fbilling/tokens", &admin, None)
        .await;
    assert_eq!(theirs["tokens"].as_array().unwrap().len(), 1);
    let (_, all) = e.call(Method::GET, "/api/tokens", &admin, None).await;
    assert_eq!(all["tokens"].as_array().unwrap().len(), 2);

    // The owner in the path must match the key's owner.
    let (s, _) = e
        .call(
            Method::GET,
            &format!("/api/users/alice/tokens/{bid}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, p) = e
        .call(
            Method::PATCH,
            &format!("/api/users/svc%2Fbilling/tokens/{bid}"),
            &admin,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!((s, p["status"].as_str()), (200, Some("disabled")));
    assert_eq!(e.gate(&bkey).await, 401);
    let (s, rot) = e
        .call(
            Method::POST,
            &format!("/api/tokens/{bid}/rotate"),
            &admin,
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = e
        .call(
            Method::DELETE,
            &format!("/api/tokens/{}", rot["id"].as_str().unwrap()),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 204);

    // The admin key works on every route too.
    let (s, me) = e.call(Method::GET, "/api/me", ADMIN_KEY, None).await;
    assert_eq!(
        (s, me["auth"].as_str(), me["admin"].as_bool()),
        (200, Some("admin-key"), Some(true))
    );

    // Audit: filters and paging.
    let (_, by_actor) = e
        .call(Method::GET, "/api/audit?actor=root", &admin, None)
        .await;
    let actions: Vec<&str> = by_actor["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "rotate", "disable", "create"]);
    let (_, by_id) = e
        .call(
            Method::GET,
            &format!("/api/audit?token_id={bid}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        by_id["events"].as_array().unwrap().len(),
        2,
        "create and disable of that id"
    );
    let (_, page1) = e
        .call(Method::GET, "/api/audit?limit=2", &admin, None)
        .await;
    assert_eq!(page1["events"].as_array().unwrap().len(), 2);
    let before = page1["next_before"].as_u64().unwrap();
    let (_, page2) = e
        .call(
            Method::GET,
            &format!("/api/audit?limit=2&before={before}"),
            &admin,
            None,
        )
        .await;
    let (_, page3) = e
        .call(
            Method::GET,
            &format!("/api/audit?limit=2&before={}", page2["next_before"]),
            &admin,
            None,
        )
        .await;
    assert_eq!(page3["events"].as_array().unwrap().len(), 1);
    assert!(page3.get("next_before").is_none());
    let seqs: Vec<u64> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| {
            p["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap())
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    for bad in [
        "/api/audit?limit=0",
        "/api/audit?limit=501",
        "/api/audit?token_id=../x",
        "/api/audit?colour=red",
    ] {
        let (s, _) = e.call(Method::GET, bad, &admin, None).await;
        assert!(s == 400 || s == 422, "{bad}: {s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_cannot_reach_each_other_or_admin_routes() {
    let e = Env::start(Backend::Memory).await;
    let alice = e.token("alice", &["users"]);
    let bob = e.token("bob", &["users"]);
    let (_, c) = e
        .call(
            Method::POST,
            "/api/me/tokens",
            &alice,
            Some(json!({"name": "a"})),
        )
        .await;
    let (akey, aid) = (
        c["key"].as_str().unwrap().to_owned(),
        c["id"].as_str().unwrap().to_owned(),
    );
    for (m, path, body) in [
        (Method::GET, format!("/api/me/tokens/{aid}"), None),
        (
            Method::PATCH,
            format!("/api/me/tokens/{aid}"),
            Some(json!({"disabled": true})),
        ),
        (Method::DELETE, format!("/api/me/tokens/{aid}"), None),
        (
            Method::POST,
            format!("/api/me/tokens/{aid}/rotate"),
            Some(json!({"grace_seconds": 0})),
        ),
    ] {
        let (s, b) = e.call(m.clone(), &path, &bob, body).await;
        assert_eq!(s, 404, "{m} {path}: {b}");
    }
    let (_, bobs) = e.call(Method::GET, "/api/me/tokens", &bob, None).await;
    assert_eq!(bobs, json!({"tokens": [], "damaged": [], "total": 0}));
    assert_eq!(e.gate(&akey).await, 204, "alice's key is untouched");
    let (_, mine) = e
        .call(Method::GET, &format!("/api/me/tokens/{aid}"), &alice, None)
        .await;
    assert_eq!(
        (mine["status"].as_str(), mine["name"].as_str()),
        (Some("active"), Some("a"))
    );

    for (m, path) in [
        (Method::GET, "/api/users".to_owned()),
        (Method::GET, "/api/users/alice/tokens".into()),
        (Method::POST, "/api/users/alice/tokens".into()),
        (Method::GET, format!("/api/users/alice/tokens/{aid}")),
        (Method::PATCH, format!("/api/users/alice/tokens/{aid}")),
        (Method::DELETE, format!("/api/users/alice/tokens/{aid}")),
        (
            Method::POST,
            format!("/api/users/alice/tokens/{aid}/rotate"),
        ),
        (Method::GET, "/api/tokens".into()),
        (Method::GET, format!("/api/tokens/{aid}")),
        (Method::PATCH, format!("/api/tokens/{aid}")),
        (Method::DELETE, format!("/api/tokens/{aid}")),
        (Method::POST, format!("/api/tokens/{aid}/rotate")),
        (Method::GET, "/api/audit".into()),
    ] {
        let (s, _) = e
            .call(m.clone(), &path, &bob, Some(json!({"name": "x"})))
            .await;
        assert_eq!(s, 403, "{m} {path}");
    }
    assert_eq!(e.gate(&akey).await, 204);

    // A gate key is never accepted on /api, and nothing is accepted without credentials.
    let (s, b) = e.call(Method::GET, "/api/me/tokens", &akey, None).await;
    assert_eq!(s, 401);
    assert!(b["message"].as_str().unwrap().contains("API key"), "{b}");
    let r = e.t.get("/api/me").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_attacks_are_refused() {
    let e = Env::start(Backend::Memory).await;
    let good = e.idp.claims("mallory", &["admin"]);
    let b64 = |v: &Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let valid = e.key.sign(&good);
    let (s, _) = e.call(Method::GET, "/api/me", &valid, None).await;
    assert_eq!(s, 200, "the control token is accepted");

    // alg: none
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&good)
    );
    // HS256 signed with the issuer's public key as the secret
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("k1".into());
    let hs = jsonwebtoken::encode(
        &h,
        &good,
        &jsonwebtoken::EncodingKey::from_secret(&e.key.public_pem),
    )
    .unwrap();
    let now = good["iat"].as_u64().unwrap();
    let expired = e.key.sign(&with(&|c| {
        c["exp"] = json!(now - 3600);
        c["iat"] = json!(now - 7200);
        c["nbf"] = json!(now - 7200);
    }));
    let not_yet = e.key.sign(&with(&|c| c["nbf"] = json!(now + 3600)));
    let wrong_iss = e
        .key
        .sign(&with(&|c| c["iss"] = json!("http://evil.example")));
    let wrong_aud = e.key.sign(&with(&|c| c["aud"] = json!("someone-else")));
    let no_exp = e.key.sign(&with(&|c| {
        c.as_object_mut().unwrap().retain(|k, _| k != "exp")
    }));
    let unknown_kid = {
        let other = SigningKey::generate("k-unknown");
        other.sign(&good)
    };
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64(&with(&|c| c["sub"] = json!("root"))),
            parts[2]
        )
    };
    let second_issuer = {
        let k2 = SigningKey::generate("k1"); // even the same kid
        let other = Issuer::start(&[&k2]).await;
        k2.sign(&other.claims("mallory", &["admin"]))
    };
    for (name, token) in [
        ("alg none", none),
        ("HS256 with the public key", hs),
        ("expired", expired),
        ("not yet valid", not_yet),
        ("wrong issuer", wrong_iss),
        ("wrong audience", wrong_aud),
        ("no exp", no_exp),
        ("unknown kid", unknown_kid),
        ("tampered payload", tampered),
        ("second issuer", second_issuer),
        ("garbage", "a.b.c".into()),
    ] {
        let (s, b) = e.call(Method::GET, "/api/me", &token, None).await;
        assert_eq!(s, 401, "{name}: {b}");
        let (s, _) = e
            .call(
                Method::POST,
                "/api/me/tokens",
                &token,
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(s, 401, "{name}");
    }
    let (_, list) = e.call(Method::GET, "/api/tokens", ADMIN_KEY, None).await;
    assert_eq!(
        list["tokens"],
        json!([]),
        "nothing was created by a refused token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_key_rotation_is_picked_up_without_restart() {
    let e = Env::start(Backend::Memory).await;
    let k2 = SigningKey::generate("k2");
    let t2 = k2.sign(&e.idp.claims("alice", &[]));
    let (s, _) = e.call(Method::GET, "/api/me", &t2, None).await;
    assert_eq!(s, 401, "not published yet");
    e.idp.keys.lock().unwrap().push(k2.jwk.clone());
    // An unknown kid makes keygate refetch (at most every few seconds).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, _) = e.call(Method::GET, "/api/me", &t2, None).await;
        if s == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new signing key was never picked up"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_writes_nothing() {
    let e = Env::start(Backend::Memory).await;
    let alice = e.token("alice", &[]);
    let raw = |body: &'static str, ct: &'static str| {
        e.t.client
            .post(e.t.url("/api/me/tokens"))
            .bearer_auth(&alice)
            .header("content-type", ct)
            .body(body)
    };
    for (req, want, needle) in [
        (raw("{not json", "application/json"), 400, ""),
        (raw("{\"name\": 5}", "application/json"), 422, "name"),
        (
            raw("{\"name\": \"x\", \"colour\": \"red\"}", "application/json"),
            422,
            "colour",
        ),
        (raw("{\"name\": \"x\"}", "text/plain"), 415, ""),
        (raw("[]", "application/json"), 422, ""),
    ] {
        let r = req.send().await.unwrap();
        let s = r.status().as_u16();
        let b: Value = r.json().await.unwrap();
        assert_eq!(s, want, "{b}");
        assert!(b["message"].as_str().unwrap().contains(needle), "{b}");
    }
    let huge = json!({"name": "x", "metadata": {"k": "v".repeat(100_000)}});
    let (s, _) = e
        .call(Method::POST, "/api/me/tokens", &alice, Some(huge))
        .await;
    assert_eq!(s, 413);
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "n".repeat(101)}), "name"),
        (json!({"name": "bad\ncontrol"}), "name"),
        (
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "metadata": {"bad key": "v"}}),
            "metadata",
        ),
        (json!({"name": "x", "rules": [{}]}), "rules"),
    ] {
        let (s, b) = e
            .call(Method::POST, "/api/me/tokens", &alice, Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["field"], field, "{body}: {b}");
    }
    for body in [
        json!({"name": "x", "rules": [{"paths": ["no-slash"]}]}),
        json!({"name": "x", "rules": [{"methods": ["G3T"]}]}),
        json!({"name": "x", "expires_at": "tomorrow"}),
    ] {
        let (s, b) = e
            .call(Method::POST, "/api/me/tokens", &alice, Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body}: {b}");
    }
    let (_, list) = e.call(Method::GET, "/api/me/tokens", &alice, None).await;
    assert_eq!(list["tokens"], json!([]), "nothing was written");

    let (_, c) = e
        .call(
            Method::POST,
            "/api/me/tokens",
            &alice,
            Some(json!({"name": "ok"})),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    for body in [
        json!({"name": ""}),
        json!({"owner": "bob"}),
        json!({"disabled": "yes"}),
        json!({"expires_at": "2001-01-01"}),
    ] {
        let (s, _) = e
            .call(
                Method::PATCH,
                &format!("/api/me/tokens/{id}"),
                &alice,
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body}");
    }
    let (s, _) = e
        .call(
            Method::POST,
            &format!("/api/me/tokens/{id}/rotate"),
            &alice,
            Some(json!({"grace_seconds": 99_999_999})),
        )
        .await;
    assert_eq!(s, 422);
    let (_, after) = e
        .call(Method::GET, &format!("/api/me/tokens/{id}"), &alice, None)
        .await;
    assert_eq!(
        (after["name"].as_str(), after["status"].as_str()),
        (Some("ok"), Some("active"))
    );
    for path in [
        "/api/me/tokens/..%2F..",
        "/api/me/tokens/%00",
        &format!("/api/me/tokens/{}", "x".repeat(300)),
    ] {
        let (s, _) = e.call(Method::GET, path, &alice, None).await;
        assert_eq!(s, 404, "{path}");
    }
}

#[tokio::test]
async fn openapi_docs_cors_and_security_headers() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.cors.enabled = true;
        c.cors.allow_origins = vec!["https://ui.example.com".into()];
    })
    .await;
    let r = t.get("/openapi.json").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let spec: Value = r.json().await.unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    for p in [
        "/api/me",
        "/api/me/tokens",
        "/api/me/tokens/{id}/rotate",
        "/api/users/{sub}/tokens",
        "/api/audit",
    ] {
        assert!(spec["paths"].get(p).is_some(), "{p} missing");
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let r = t.client.get(t.url("/docs")).send().await.unwrap(); // follows the redirect to /docs/
    assert_eq!(r.status(), 200);
    assert!(r.url().path().ends_with("/docs/"));
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("docs.js") && !html.contains("<script>"),
        "no inline script"
    );
    assert_eq!(t.get("/docs/docs.js").send().await.unwrap().status(), 200);

    // CORS preflight from the allowed origin, and none for another.
    let pre = |origin: &'static str| {
        t.client
            .request(Method::OPTIONS, t.url("/api/me/tokens"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = pre("https://ui.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://ui.example.com"
    );
    let other = pre("https://evil.example.com").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    // The gate endpoints carry no CORS headers.
    let r = t
        .get("/forward-auth")
        .header("Origin", "https://ui.example.com")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn gate_serves_while_the_issuer_is_unreachable() {
    let port = crate::helpers::free_port(); // nothing listens there
    let t = TestApp::spawn_with(Backend::Memory, move |c| {
        c.oauth.issuer_url = format!("http://127.0.0.1:{port}")
    })
    .await;
    let (key, _) = t.create("alice", "k", &[]).await;
    assert_eq!(
        t.get("/forward-auth")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let k = SigningKey::generate("k1");
    let token = k.sign(
        &json!({"iss": format!("http://127.0.0.1:{port}"), "sub": "a", "exp": 9_999_999_999u64}),
    );
    let r = t.get("/api/me").bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        t.get("/health/ready").send().await.unwrap().status(),
        200,
        "readiness is about the store"
    );
}

/// Rotation keeps the old key's expiry; an expired key's successor needs its expiry said
/// (issue 14: it used to become a key that never expires).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_or_asks_for_the_expiry() {
    let e = Env::start(Backend::Memory).await;
    let alice = e.token("alice", &[]);
    let soon = || {
        keygate::clock::Timestamp::from_unix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                + 2,
        )
    };
    let later = "2099-01-01T00:00:00Z";
    let create = |exp: String| {
        let alice = alice.clone();
        let e = &e;
        async move {
            let (s, b) = e
                .call(
                    Method::POST,
                    "/api/me/tokens",
                    &alice,
                    Some(json!({"name": "r", "expires_at": exp})),
                )
                .await;
            assert_eq!(s, 201, "{b}");
            b["id"].as_str().unwrap().to_owned()
        }
    };
    // In the future: kept.
    let id = create(later.into()).await;
    let (s, b) = e
        .call(
            Method::POST,
            &format!("/api/me/tokens/{id}/rotate"),
            &alice,
            None,
        )
        .await;
    assert_eq!(
        (s, b["token"]["expires_at"].as_str()),
        (201, Some(later)),
        "{b}"
    );
    // Expired: refused until the successor's expiry is said.
    let id = create(soon().to_string()).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let path = format!("/api/me/tokens/{id}/rotate");
    let (s, b) = e.call(Method::POST, &path, &alice, None).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("expires_at")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("expired at"), "{b}");
    let (s, b) = e
        .call(
            Method::POST,
            &path,
            &alice,
            Some(json!({"expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (422, Some("expires_at")),
        "a past expiry: {b}"
    );
    let (s, b) = e
        .call(
            Method::POST,
            &path,
            &alice,
            Some(json!({"expires_at": later})),
        )
        .await;
    assert_eq!(
        (s, b["token"]["expires_at"].as_str()),
        (201, Some(later)),
        "{b}"
    );
    let id = create(soon().to_string()).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (s, b) = e
        .call(
            Method::POST,
            &format!("/api/me/tokens/{id}/rotate"),
            &alice,
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(
        (s, &b["token"]["expires_at"]),
        (201, &Value::Null),
        "never, on purpose: {b}"
    );
}

/// The audit log names the key, says what changed, filters by action and time, and
/// exports as CSV or JSON (issue 14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_says_what_changed_and_exports() {
    let e = Env::start(Backend::Memory).await;
    let (s, b) = e
        .call(
            Method::POST,
            "/api/users/alice/tokens",
            ADMIN_KEY,
            Some(json!({"name": "=cmd|' /C calc'!A0", "rules": [{"methods": ["GET"]}]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().unwrap().to_owned();
    let (s, _) = e
        .call(
            Method::PATCH,
            &format!("/api/tokens/{id}"),
            ADMIN_KEY,
            Some(
                json!({"name": "ci, deploys", "rules": [{"methods": ["GET", "POST"]}],
                        "limits": {"credits": {"remaining": 5}}}),
            ),
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = e
        .call(
            Method::GET,
            &format!("/api/audit?token_id={id}&action=update"),
            ADMIN_KEY,
            None,
        )
        .await;
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    let ev = &events[0];
    assert_eq!(ev["name"], "ci, deploys");
    let changes = ev["changes"].as_array().unwrap();
    assert!(
        changes
            .contains(&json!({"field": "name", "from": "=cmd|' /C calc'!A0", "to": "ci, deploys"})),
        "{ev}"
    );
    assert!(
        changes
            .contains(&json!({"field": "rules", "from": "methods=GET", "to": "methods=GET,POST"})),
        "{ev}"
    );
    let (_, v) = e
        .call(
            Method::GET,
            &format!("/api/audit?token_id={id}&action=limits"),
            ADMIN_KEY,
            None,
        )
        .await;
    let limits = &v["events"][0]["changes"];
    assert!(
        limits
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "credits.remaining" && c["to"] == "5"),
        "{v}"
    );
    // Time filters.
    let (_, v) = e
        .call(
            Method::GET,
            "/api/audit?since=2099-01-01T00:00:00Z",
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(v["events"], json!([]));
    let (_, v) = e
        .call(
            Method::GET,
            "/api/audit?until=2099-01-01T00:00:00Z&action=create",
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(v["events"][0]["name"], "=cmd|' /C calc'!A0");
    // Export: CSV (formula cells neutralised, commas quoted) and JSON.
    let r =
        e.t.admin(e.t.get(&format!("/api/audit/export?token_id={id}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("keygate-audit.csv")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "seq,at,actor,auth,action,owner,token_id,name,client,changes"
    );
    assert_eq!(lines.len(), 4, "create, update, limits: {csv}");
    assert!(csv.contains("'=cmd|' /C calc'!A0"), "{csv}");
    assert!(csv.contains("\"ci, deploys\""), "{csv}");
    let r =
        e.t.admin(e.t.get("/api/audit/export?format=json&action=create"))
            .send()
            .await
            .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    for q in [
        "format=xml",
        "token_id=bad%20id",
        "since=yesterday",
        "colour=red",
    ] {
        let r =
            e.t.admin(e.t.get(&format!("/api/audit/export?{q}")))
                .send()
                .await
                .unwrap();
        assert!(
            matches!(r.status().as_u16(), 400 | 422),
            "{q}: {}",
            r.status()
        );
    }
    let alice = e.token("alice", &[]);
    let (s, _) = e.call(Method::GET, "/api/audit/export", &alice, None).await;
    assert_eq!(s, 403);
}
