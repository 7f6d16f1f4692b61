//! Usage limits (issue 13) in one process: set through the API, enforced by the gate and
//! `POST /verify`, who may raise them, owner limits, bad input, metrics, access log,
//! and credits that survive a restart of the embedded store.

use std::sync::Arc;
use std::time::Duration;

use keygate::app::App;
use keygate::clock::Clock;
use keygate::config::Secret;
use keygate::token::Salt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, SALT, TestApp, base_config};
use crate::mgmt::Env;

/// Creates a key for `owner` as the admin; returns (key, id).
async fn create(e: &Env, owner: &str, body: Value) -> (String, String) {
    let (s, b) = e
        .call(
            Method::POST,
            &format!("/api/users/{owner}/tokens"),
            ADMIN_KEY,
            Some(body),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    (
        b["key"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    )
}

async fn statuses(t: &TestApp, key: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(t.forward_auth(key).await.status().as_u16());
    }
    out
}

async fn enforced_on(backend: Backend) {
    let e = Env::start(backend).await;
    let (key, id) = create(
        &e,
        "alice",
        json!({"name": "partner", "limits": {"rate_limits": [{"name": "per-minute", "limit": 3, "window": "1m"}]}}),
    )
    .await;
    let (s, v) = e
        .call(Method::GET, &format!("/api/tokens/{id}"), ADMIN_KEY, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["limits"],
        json!({"rate_limits": [{"name": "per-minute", "limit": 3, "window": "1m"}], "credits": null})
    );
    assert_eq!(statuses(&e.t, &key, 3).await, [204, 204, 204]);
    let r = e.t.forward_auth(&key).await;
    assert_eq!(r.status(), 429);
    let h = r.headers().clone();
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(h["ratelimit-policy"], "\"per-minute\";q=3;w=60");
    assert_eq!(
        h["ratelimit"].to_str().unwrap(),
        format!("\"per-minute\";r=0;t={retry}")
    );
    assert!(!h.contains_key("x-keygate-denied"), "only /auth needs it");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    // nginx's endpoint says it with a 403 and the header; Envoy's with a 429.
    let r = e.t.get("/auth").bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-keygate-denied"], "rate_limited");
    assert!(r.headers().contains_key("retry-after"));
    let r =
        e.t.get("/ext-authz/x")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 429);

    // Credits: two uses, then none, and the list says so.
    let (key, id) = create(
        &e,
        "alice",
        json!({"name": "metered", "limits": {"credits": {"remaining": 2}}}),
    )
    .await;
    assert_eq!(statuses(&e.t, &key, 2).await, [204, 204]);
    let r = e.t.forward_auth(&key).await;
    assert_eq!(r.status(), 429);
    assert!(
        !r.headers().contains_key("retry-after"),
        "no refill, no retry"
    );
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "usage_exceeded");
    let (_, v) = e
        .call(Method::GET, &format!("/api/tokens/{id}"), ADMIN_KEY, None)
        .await;
    assert_eq!(
        v["limits"]["credits"],
        json!({"remaining": 0, "refill": null})
    );
    // A top-up by an administrator is seen at once by this replica.
    let (s, v) = e
        .call(
            Method::PATCH,
            &format!("/api/tokens/{id}"),
            ADMIN_KEY,
            Some(json!({"limits": {"credits": {"remaining": 1}}})),
        )
        .await;
    assert_eq!((s, &v["limits"]["credits"]["remaining"]), (200, &json!(1)));
    assert_eq!(statuses(&e.t, &key, 2).await, [204, 429]);
    // Removing the quota makes it unlimited.
    let (s, _) = e
        .call(
            Method::PATCH,
            &format!("/api/tokens/{id}"),
            ADMIN_KEY,
            Some(json!({"limits": {"credits": null}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(statuses(&e.t, &key, 3).await, [204, 204, 204]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_enforced_on_the_memory_store() {
    enforced_on(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_enforced_on_the_embedded_store() {
    enforced_on(Backend::Redb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_enforced_on_valkey() {
    enforced_on(Backend::Valkey).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_enforced_on_a_valkey_cluster() {
    enforced_on(Backend::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_may_only_tighten_unless_allowed() {
    let e = Env::start_with(Backend::Memory, |c| {
        c.limits.rate_limits = vec!["10/1m".into()];
        c.limits.credits = 100;
    })
    .await;
    let alice = e.token("alice", &[]);
    let (_, me) = e.call(Method::GET, "/api/me", &alice, None).await;
    assert_eq!(me["may_raise_limits"], false);
    // No limits given: the defaults.
    let (s, b) = e
        .call(
            Method::POST,
            "/api/me/tokens",
            &alice,
            Some(json!({"name": "d"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["token"]["limits"]["rate_limits"][0]["limit"], 10);
    assert_eq!(b["token"]["limits"]["credits"]["remaining"], 100);
    let id = b["id"].as_str().unwrap().to_owned();
    for (body, want) in [
        (
            json!({"rate_limits": [{"name": "m", "limit": 11, "window": "1m"}], "credits": {"remaining": 100}}),
            403,
        ),
        (
            json!({"rate_limits": [], "credits": {"remaining": 100}}),
            403,
        ),
        (
            json!({"rate_limits": [{"name": "m", "limit": 10, "window": "1m"}]}),
            403,
        ),
        (
            json!({"rate_limits": [{"name": "m", "limit": 10, "window": "1m"}], "credits": {"remaining": 101}}),
            403,
        ),
        (
            json!({"rate_limits": [{"name": "m", "limit": 5, "window": "1m"}], "credits": {"remaining": 50}}),
            201,
        ),
    ] {
        let (s, b) = e
            .call(
                Method::POST,
                "/api/me/tokens",
                &alice,
                Some(json!({"name": "x", "limits": body})),
            )
            .await;
        assert_eq!(s, want, "{body}: {b}");
        if s == 403 {
            assert_eq!(b["error"], "limits_locked");
        }
    }
    let path = format!("/api/me/tokens/{id}");
    for (patch, want) in [
        (
            json!({"rate_limits": [{"name": "m", "limit": 20, "window": "1m"}]}),
            403,
        ),
        (json!({"rate_limits": []}), 403),
        (json!({"credits": null}), 403),
        (json!({"credits": {"remaining": 1000}}), 403),
        (
            json!({"credits": {"refill": {"amount": 5, "interval": "daily"}}}),
            403,
        ),
        (
            json!({"rate_limits": [{"name": "m", "limit": 2, "window": "1m"}]}),
            200,
        ),
        (json!({"credits": {"remaining": 7}}), 200),
    ] {
        let (s, b) = e
            .call(Method::PATCH, &path, &alice, Some(json!({"limits": patch})))
            .await;
        assert_eq!(s, want, "{patch}: {b}");
    }
    let (_, v) = e.call(Method::GET, &path, &alice, None).await;
    assert_eq!(v["limits"]["rate_limits"][0]["limit"], 2);
    assert_eq!(v["limits"]["credits"]["remaining"], 7);
    // Administrators may raise them.
    let (s, _) = e
        .call(
            Method::PATCH,
            &format!("/api/tokens/{id}"),
            ADMIN_KEY,
            Some(json!({"limits": {"rate_limits": [], "credits": null}})),
        )
        .await;
    assert_eq!(s, 200);
    // Every limit change is in the audit log.
    let (_, audit) = e
        .call(
            Method::GET,
            &format!("/api/audit?token_id={id}"),
            ADMIN_KEY,
            None,
        )
        .await;
    let limit_events = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| ev["action"] == "limits")
        .count();
    assert_eq!(limit_events, 3, "{audit}");

    let e = Env::start_with(Backend::Memory, |c| c.limits.users_may_raise = true).await;
    let alice = e.token("alice", &[]);
    let (_, me) = e.call(Method::GET, "/api/me", &alice, None).await;
    assert_eq!(me["may_raise_limits"], true);
    let (s, _) = e
        .call(
            Method::POST,
            "/api/me/tokens",
            &alice,
            Some(json!({"name": "x", "limits": {"credits": {"remaining": 1000000}}})),
        )
        .await;
    assert_eq!(s, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_limits_are_shared_by_all_their_keys() {
    let e = Env::start(Backend::Redb).await;
    let (k1, _) = create(&e, "bob", json!({"name": "one"})).await;
    let (k2, _) = create(&e, "bob", json!({"name": "two"})).await;
    let bob = e.token("bob", &[]);
    let (s, v) = e.call(Method::GET, "/api/me/limits", &bob, None).await;
    assert_eq!((s, v["source"].as_str()), (200, Some("none")), "{v}");
    let (s, v) = e
        .call(
            Method::PUT,
            "/api/users/bob/limits",
            ADMIN_KEY,
            Some(json!({"rate_limits": [{"name": "shared", "limit": 4, "window": "1h"}], "credits": {"remaining": 1000}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["source"], "owner");
    let (s, v) = e.call(Method::GET, "/api/me/limits", &bob, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["limits"]["rate_limits"][0]["limit"], 4);
    assert_eq!(v["limits"]["credits"]["remaining"], 1000);
    // A user cannot set their own owner limits.
    let (s, _) = e
        .call(Method::PUT, "/api/users/bob/limits", &bob, Some(json!({})))
        .await;
    assert_eq!(s, 403);
    let mut got = Vec::new();
    for k in [&k1, &k2, &k1, &k2, &k1, &k2] {
        got.push(e.t.forward_auth(k).await.status().as_u16());
    }
    assert_eq!(got, [204, 204, 204, 204, 429, 429]);
    let r = e.t.forward_auth(&k1).await;
    assert_eq!(
        r.headers()["ratelimit-policy"],
        "\"owner.shared\";q=4;w=3600"
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("owner"),
        "{body}"
    );
    // A new key does not buy more traffic.
    let (k3, _) = create(&e, "bob", json!({"name": "three"})).await;
    assert_eq!(e.t.forward_auth(&k3).await.status(), 429);
    // Cleared: bob is unlimited again; both changes are audited.
    let (s, _) = e
        .call(Method::DELETE, "/api/users/bob/limits", ADMIN_KEY, None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(e.t.forward_auth(&k3).await.status(), 204);
    let (_, audit) = e
        .call(Method::GET, "/api/audit?owner=bob", ADMIN_KEY, None)
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ev| ev["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"owner_limits"), "{actions:?}");
    assert!(actions.contains(&"owner_limits_clear"), "{actions:?}");
    // Bad owner limits are refused and change nothing.
    let (s, b) = e
        .call(
            Method::PUT,
            "/api/users/bob/limits",
            ADMIN_KEY,
            Some(json!({"rate_limits": [{"name": "x", "limit": 0, "window": "1m"}]})),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("limits")), "{b}");
    let (_, v) = e
        .call(Method::GET, "/api/users/bob/limits", ADMIN_KEY, None)
        .await;
    assert_eq!(v["source"], "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_owner_limits_apply_to_owners_without_their_own() {
    let e = Env::start_with(Backend::Memory, |c| {
        c.limits.owner.rate_limits = vec!["2/1h".into()];
        c.limits.owner.credits = 50;
    })
    .await;
    let (k1, _) = create(&e, "carol", json!({"name": "one"})).await;
    let (k2, _) = create(&e, "carol", json!({"name": "two"})).await;
    let (other, _) = create(&e, "dave", json!({"name": "d"})).await;
    assert_eq!(e.t.forward_auth(&k1).await.status(), 204);
    assert_eq!(e.t.forward_auth(&k2).await.status(), 204);
    assert_eq!(e.t.forward_auth(&k1).await.status(), 429);
    assert_eq!(e.t.forward_auth(&other).await.status(), 204, "per owner");
    let (_, v) = e
        .call(Method::GET, "/api/users/carol/limits", ADMIN_KEY, None)
        .await;
    assert_eq!(v["source"], "default");
    // Leases held by the replica count as spent until they go back (idle for 2 s).
    let now = v["limits"]["credits"]["remaining"].as_u64().unwrap();
    assert!((46..=48).contains(&now), "{v}");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (_, v) = e
        .call(Method::GET, "/api/users/carol/limits", ADMIN_KEY, None)
        .await;
    assert_eq!(
        v["limits"]["credits"]["remaining"].as_u64().unwrap(),
        48,
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_limits_get_clear_errors_and_write_nothing() {
    let e = Env::start(Backend::Memory).await;
    let rate = |name: &str, limit: Value, window: &str| json!({"rate_limits": [{"name": name, "limit": limit, "window": window}]});
    let nine: Vec<Value> = (0..9)
        .map(|i| json!({"name": format!("l{i}"), "limit": 1, "window": "1m"}))
        .collect();
    let cases = [
        (rate("m", json!(0), "1m"), "limit"),
        (rate("m", json!(-1), "1m"), "limit"),
        (rate("m", json!(1.5), "1m"), "limit"),
        (rate("m", json!(10_000_000_000_000u64), "1m"), "limit"),
        (rate("m", json!(5), "0s"), "1s"),
        (rate("m", json!(5), "1y"), "unit"),
        (rate("m", json!(5), "40d"), "31d"),
        (rate("m", json!(5), "5"), "unit"),
        (rate("m", json!(5), ""), "unit"),
        (rate("bad name", json!(5), "1m"), "name"),
        (rate("", json!(5), "1m"), "name"),
        (json!({"rate_limits": nine}), "at most 8"),
        (
            json!({"rate_limits": [{"name": "a", "limit": 1, "window": "1m"}, {"name": "a", "limit": 2, "window": "1h"}]}),
            "two rate limits",
        ),
        (json!({"credits": {"remaining": -1}}), "remaining"),
        (
            json!({"credits": {"remaining": 2_000_000_000_000_000u64}}),
            "at most",
        ),
        (json!({"credits": {}}), "remaining"),
        (
            json!({"credits": {"remaining": 1, "refill": {"amount": 5, "interval": "yearly"}}}),
            "interval",
        ),
        (
            json!({"credits": {"remaining": 1, "refill": {"amount": 0, "interval": "daily"}}}),
            "amount",
        ),
        (
            json!({"credits": {"remaining": 1, "refill": {"amount": 5, "interval": "10s"}}}),
            "1m",
        ),
        (json!({"rate_limit": []}), "unknown field"),
        (
            json!({"rate_limits": [{"name": "m", "limit": 1}]}),
            "window",
        ),
    ];
    for (limits, says) in cases {
        let (s, b) = e
            .call(
                Method::POST,
                "/api/users/erin/tokens",
                ADMIN_KEY,
                Some(json!({"name": "x", "limits": limits})),
            )
            .await;
        assert_eq!(s, 422, "{limits}: {b}");
        let m = b["message"].as_str().unwrap_or_default();
        assert!(m.contains(says), "{limits}: `{m}` should say {says}");
    }
    let (_, list) = e
        .call(Method::GET, "/api/users/erin/tokens", ADMIN_KEY, None)
        .await;
    assert_eq!(list["tokens"], json!([]), "nothing was written");
    // The same checks on PATCH, which leaves the key as it was.
    let (_, id) = create(
        &e,
        "erin",
        json!({"name": "ok", "limits": {"rate_limits": [{"name": "m", "limit": 5, "window": "1m"}]}}),
    )
    .await;
    for patch in [
        json!({"rate_limits": [{"name": "m", "limit": 0, "window": "1m"}]}),
        json!({"credits": {"refill": {"amount": 5, "interval": "daily"}}}),
        json!({"credits": {"remaining": "many"}}),
    ] {
        let (s, b) = e
            .call(
                Method::PATCH,
                &format!("/api/tokens/{id}"),
                ADMIN_KEY,
                Some(json!({"limits": patch})),
            )
            .await;
        assert_eq!(s, 422, "{patch}: {b}");
    }
    let (_, v) = e
        .call(Method::GET, &format!("/api/tokens/{id}"), ADMIN_KEY, None)
        .await;
    assert_eq!(v["limits"]["rate_limits"][0]["limit"], 5);
    assert_eq!(v["limits"]["credits"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_answers_every_code() {
    let e = Env::start(Backend::Memory).await;
    let t = &e.t;
    let verify = |body: Value| async move {
        let r = t
            .client
            .post(t.url("/verify"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json::<Value>().await.unwrap())
    };
    let (key, id) = create(
        &e,
        "alice",
        json!({"name": "app", "metadata": {"plan": "pro"}, "rules": [{"paths": ["/v1/*"]}],
               "limits": {"rate_limits": [{"name": "m", "limit": 2, "window": "1m"}], "credits": {"remaining": 10}}}),
    )
    .await;
    let (s, v) = verify(json!({"key": key, "path": "/v1/items", "method": "GET"})).await;
    assert_eq!(s, 200);
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(true), Some("valid"))
    );
    assert_eq!(v["key_id"], id.as_str());
    assert_eq!(v["owner"], "alice");
    assert_eq!(v["name"], "app");
    assert_eq!(v["metadata"], json!({"plan": "pro"}));
    assert_eq!(v["ratelimits"][0]["name"], "m");
    assert_eq!(v["ratelimits"][0]["limit"], 2);
    assert_eq!(v["ratelimits"][0]["remaining"], 1);
    assert!(v["ratelimits"][0]["reset"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(v["credits"], 9);
    // Rules: another path, or none named, is forbidden (and spends nothing).
    let (_, v) = verify(json!({"key": key, "path": "/v2/items"})).await;
    assert_eq!(v["code"], "forbidden");
    let (_, v) = verify(json!({"key": key})).await;
    assert_eq!(v["code"], "forbidden");
    let (_, v) = verify(json!({"key": key, "path": "/v1/x"})).await;
    assert_eq!(v["code"], "valid");
    let (_, v) = verify(json!({"key": key, "path": "/v1/x"})).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(false), Some("rate_limited"))
    );
    assert_eq!(v["ratelimits"][0]["remaining"], 0);
    assert_eq!(v["credits"], 8);
    // Unknown, malformed and garbage keys say nothing more.
    let unknown = keygate::token::generate(&Default::default()).unwrap();
    for k in [unknown.expose(), "kg_short", "garbage", ""] {
        let (s, v) = verify(json!({"key": k})).await;
        assert_eq!(s, 200);
        assert_eq!(
            v,
            json!({"valid": false, "code": "not_found", "ratelimits": [], "credits": null}),
            "{k}"
        );
    }
    // Disabled, expired (a rotated key past its grace), out of credits.
    let (k, id) = create(&e, "alice", json!({"name": "off"})).await;
    e.call(
        Method::PATCH,
        &format!("/api/tokens/{id}"),
        ADMIN_KEY,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(verify(json!({"key": k})).await.1["code"], "disabled");
    let (k, id) = create(&e, "alice", json!({"name": "old"})).await;
    let (s, _) = e
        .call(
            Method::POST,
            &format!("/api/tokens/{id}/rotate"),
            ADMIN_KEY,
            Some(json!({"grace_seconds": 1})),
        )
        .await;
    assert_eq!(s, 201);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(verify(json!({"key": k})).await.1["code"], "expired");
    let (k, _) = create(
        &e,
        "alice",
        json!({"name": "c", "limits": {"credits": {"remaining": 1}}}),
    )
    .await;
    assert_eq!(verify(json!({"key": k})).await.1["code"], "valid");
    let (_, v) = verify(json!({"key": k})).await;
    assert_eq!(
        (v["code"].as_str(), v["credits"].as_u64()),
        (Some("usage_exceeded"), Some(0))
    );

    // Malformed bodies: 400 with a clear message; 415, 413, 405.
    for (body, says) in [
        ("not json", "expected"),
        ("{}", "missing field `key`"),
        (r#"{"key": 5}"#, "invalid type"),
        (r#"{"key": "k", "Key": "x"}"#, "unknown field"),
        (r#"{"key": "k", "path": ["/"]}"#, "invalid type"),
        ("[]", "expected"),
    ] {
        let r = t
            .client
            .post(t.url("/verify"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "bad_request");
        assert!(v["message"].as_str().unwrap().contains(says), "{body}: {v}");
    }
    let r = t
        .client
        .post(t.url("/verify"))
        .body(r#"{"key":"k"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let big = json!({"key": "k".repeat(20_000)});
    let r = t
        .client
        .post(t.url("/verify"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = t.get("/verify").send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_shares_the_throttle() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.throttle.enabled = true;
        c.throttle.max_failures = 3;
    })
    .await;
    let mut last = 0;
    for _ in 0..5 {
        let r = t
            .client
            .post(t.url("/verify"))
            .json(&json!({"key": "kg_nothing"}))
            .send()
            .await
            .unwrap();
        last = r.status().as_u16();
    }
    assert_eq!(last, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_the_quota() {
    let e = Env::start(Backend::Memory).await;
    let (key, id) = create(
        &e,
        "alice",
        json!({"name": "r", "limits": {"credits": {"remaining": 3}}}),
    )
    .await;
    assert_eq!(statuses(&e.t, &key, 2).await, [204, 204]);
    let (s, b) = e
        .call(
            Method::POST,
            &format!("/api/tokens/{id}/rotate"),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(b["token"]["limits"]["credits"]["remaining"], 1);
    let new = b["key"].as_str().unwrap().to_owned();
    assert_eq!(statuses(&e.t, &new, 2).await, [204, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_and_logged_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(dir.path());
    config.admin_key = Some(Secret::new(ADMIN_KEY));
    config.limits.upstream_headers = true;
    let mut app = App::memory(config, Clock::system(), Salt::from_hex(SALT).unwrap()).unwrap();
    let out = Captured::default();
    let (sink, flusher) = keygate::logsink::start(out.clone());
    app.access_log = Some(keygate::access_log::AccessLog { sink, json: true });
    let t = TestApp::serve(Arc::new(app), dir, None).await;
    let (key, _) = t.create("alice", "logged", &[]).await;
    let id = t.app.keys.list(Some("alice")).await.unwrap().records[0]
        .id
        .clone();
    t.app
        .keys
        .update(
            &id,
            keygate::manage::Patch {
                limits: Some(
                    serde_json::from_value(json!({"rate_limits": [{"name": "burst", "limit": 1, "window": "1m"}], "credits": {"remaining": 5}}))
                        .unwrap(),
                ),
                ..Default::default()
            },
            &keygate::manage::Actor::cli(),
        )
        .await
        .unwrap();
    let r = t.forward_auth(&key).await;
    assert_eq!(r.status(), 204);
    // Upstream headers, when configured.
    let left = r.headers()["ratelimit"].to_str().unwrap().to_owned();
    assert!(left.starts_with("\"burst\";r=0;t="), "{left}");
    assert_eq!(r.headers()["x-credits-remaining"], "4");
    assert_eq!(r.headers()["ratelimit-policy"], "\"burst\";q=1;w=60");
    assert_eq!(t.forward_auth(&key).await.status(), 429);
    let metrics = t
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("keygate_limit_refusals_total{reason=\"rate_limited\",scope=\"key\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "keygate_decisions_total{endpoint=\"forward_auth\",outcome=\"rate_limited\"} 1"
        )
    );
    drop(flusher);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = out.text();
        if let Some(line) = text.lines().find(|l| l.contains("\"rate_limited\"")) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["limit"], "key:burst", "{line}");
            assert_eq!(v["status"], 429);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_of_the_embedded_store_loses_no_credit() {
    let t = TestApp::spawn(Backend::Redb).await;
    let (key, id) = {
        let (k, r) = t.create("alice", "durable", &[]).await;
        t.app
            .keys
            .update(
                &r.id,
                keygate::manage::Patch {
                    limits: Some(
                        serde_json::from_value(json!({"credits": {"remaining": 1000}})).unwrap(),
                    ),
                    ..Default::default()
                },
                &keygate::manage::Actor::cli(),
            )
            .await
            .unwrap();
        (k, r.id)
    };
    // Enough traffic for leases larger than one.
    for _ in 0..200 {
        assert_eq!(t.forward_auth(&key).await.status(), 204);
    }
    let (dir, _) = t.stop().await;
    let mut config = base_config(dir.path());
    config.admin_key = Some(Secret::new(ADMIN_KEY));
    let app = App::open(config, Clock::system()).unwrap();
    let record = app.keys.get(&id).await.unwrap();
    let left = app.keys.balances(&[record]).await.unwrap()[0];
    assert_eq!(left, Some(800), "every unspent lease went back");
}

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fenced blocks of one language in the README's "Usage limits" section.
fn readme_examples(lang: &str) -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("\n## Usage limits\n")
        .expect("the README has a Usage limits section");
    let end = readme[start + 1..]
        .find("\n## ")
        .map_or(readme.len(), |i| start + 1 + i);
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in readme[start..end].lines() {
        match &mut current {
            None if line.trim() == format!("```{lang}") => current = Some(String::new()),
            Some(b) if line.trim() == "```" => {
                out.push(std::mem::take(b));
                current = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_run() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.admin_key = Some(Secret::new(ADMIN_KEY))
    })
    .await;
    let (key, r) = t.create("partner", "docs", &[]).await;
    t.app
        .keys
        .update(
            &r.id,
            keygate::manage::Patch {
                limits: Some(
                    serde_json::from_value(json!({"rate_limits": [{"name": "per-minute", "limit": 100, "window": "1m"}], "credits": {"remaining": 10000}}))
                        .unwrap(),
                ),
                ..Default::default()
            },
            &keygate::manage::Actor::cli(),
        )
        .await
        .unwrap();
    let base = t.url("");
    let run = |program: &str, args: Vec<String>| {
        let out = std::process::Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("KEYGATE", &base)
            .env("ADMIN_KEY", ADMIN_KEY)
            .env("KEY", &key)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{program}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let mut ran = 0;
    for block in readme_examples("sh") {
        let out = tokio::task::block_in_place(|| {
            run(
                "bash",
                vec!["-euo".into(), "pipefail".into(), "-c".into(), block.clone()],
            )
        });
        if block.contains("/verify") {
            assert!(out.contains("\"valid\":true"), "{block}\n{out}");
        }
        ran += 1;
    }
    for block in readme_examples("python") {
        let out = tokio::task::block_in_place(|| run("python3", vec!["-c".into(), block]));
        assert!(out.starts_with("partner "), "{out}");
        ran += 1;
    }
    for block in readme_examples("js") {
        let out = tokio::task::block_in_place(|| {
            run(
                "node",
                vec!["--input-type=module".into(), "-e".into(), block],
            )
        });
        assert!(out.starts_with("partner "), "{out}");
        ran += 1;
    }
    assert_eq!(ran, 4, "every example of the section ran");
    // What the first example made is there, with its limits.
    let (_, v) = {
        let r = t
            .admin(t.get("/api/users/partner/tokens"))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    let made = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "partner-prod")
        .unwrap();
    assert_eq!(made["limits"]["credits"]["refill"]["interval"], "monthly");
    let owner: Value = t
        .admin(t.get("/api/users/partner/limits"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(owner["limits"]["rate_limits"][0]["limit"], 1000);
}
