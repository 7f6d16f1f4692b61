//! A key's recent requests (issue 28): the last decisions made with it — time, outcome,
//! method, host, path without its query, client — newest first, bounded per key, written
//! off the request path, on every store; none kept when the operator says so.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use keygate::manage::Actor;
use keygate::model::RecentRequest;

use crate::helpers::{Backend, TestApp};
use crate::webhooks::{api, quick};

async fn ask(t: &TestApp, key: &str, method: &str, host: &str, uri: &str) -> u16 {
    t.get("/forward-auth")
        .bearer_auth(key)
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", uri)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until the key's recent requests number `n` (they are written every second).
async fn recent_become(t: &TestApp, path: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = api(t, Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        if v["requests"].as_array().map(Vec::len) == Some(n) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path}: {v}, want {n} requests");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn recent_on(backend: Backend) {
    let t = TestApp::spawn_with(backend, |c| {
        quick(c);
        c.analytics.recent_requests = 5;
    })
    .await;
    let (key, rec) = t.create("hana", "watched", &["paths=/v1/*"]).await;
    let (other, quiet) = t.create("hana", "quiet", &[]).await;
    assert_eq!(
        ask(
            &t,
            &key,
            "POST",
            "api.example.com",
            "/v1/orders?api_key=hunter2"
        )
        .await,
        204
    );
    assert_eq!(
        ask(&t, &key, "GET", "api.example.com:8443", "/admin").await,
        403
    );
    assert_eq!(ask(&t, &other, "GET", "other.example.com", "/").await, 204);
    let path = format!("/api/tokens/{}/recent", rec.id);
    let v = recent_become(&t, &path, 2).await;
    assert_eq!(v["kept"], 5);
    let newest = &v["requests"][0];
    assert_eq!(
        (
            newest["outcome"].as_str(),
            newest["method"].as_str(),
            newest["host"].as_str(),
            newest["path"].as_str()
        ),
        (
            Some("forbidden"),
            Some("GET"),
            Some("api.example.com:8443"),
            Some("/admin")
        )
    );
    let first = &v["requests"][1];
    assert_eq!(
        (first["outcome"].as_str(), first["path"].as_str()),
        (Some("allowed"), Some("/v1/orders"))
    );
    assert!(
        !v.to_string().contains("hunter2"),
        "the query string is not kept: {v}"
    );
    assert_eq!(first["client"], "127.0.0.1");
    let now = t.app.clock.now_ms();
    assert!(
        (now - 10_000..=now).contains(&first["at_ms"].as_i64().unwrap()),
        "{first}"
    );

    // Bounded per key: the newest five of eight stay, newest first; an 8 KiB path is cut.
    let long = format!("/v1/{}", "é".repeat(4096));
    for i in 0..7 {
        let uri = if i == 6 {
            long.clone()
        } else {
            format!("/v1/n{i}")
        };
        ask(&t, &key, "GET", "api.example.com", &uri).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        let v = recent_become(&t, &path, 5).await;
        if v["requests"][0]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/v1/é"))
        {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let paths: Vec<&str> = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(&paths[1..], ["/v1/n5", "/v1/n4", "/v1/n3", "/v1/n2"]);
    assert!(paths[0].len() <= 256, "{}", paths[0].len());
    let (_, v) = api(&t, Method::GET, &format!("{path}?limit=2"), None).await;
    assert_eq!(v["requests"].as_array().unwrap().len(), 2);

    // The other routes; hostile input.
    let (s, v) = api(
        &t,
        Method::GET,
        &format!("/api/users/hana/tokens/{}/recent", rec.id),
        None,
    )
    .await;
    assert_eq!((s, v["requests"].as_array().map(Vec::len)), (200, Some(5)));
    let (s, _) = api(
        &t,
        Method::GET,
        &format!("/api/users/ivan/tokens/{}/recent", rec.id),
        None,
    )
    .await;
    assert_eq!(s, 404, "another owner's path");
    for bad in ["?limit=0", "?limit=501", "?limit=x", "?colour=red"] {
        let (s, v) = api(&t, Method::GET, &format!("{path}{bad}"), None).await;
        assert!((400..=422).contains(&s), "{bad}: {s} {v}");
    }
    let (s, _) = api(&t, Method::GET, "/api/tokens/not-an-id/recent", None).await;
    assert!(s == 404 || s == 400, "{s}");

    // A deleted key's recent requests go with it (they name its paths and callers), and
    // requests noted before the delete but written after it are not kept; a live key's are.
    let store = t.app.keys.store().clone();
    t.app.keys.revoke(&rec.id, &Actor::cli()).await.unwrap();
    assert_eq!(store.recent(&rec.id, 500).await.unwrap(), []);
    let late = RecentRequest {
        id: rec.id.clone(),
        at_ms: t.app.clock.now_ms(),
        outcome: "allowed".into(),
        method: "GET".into(),
        host: "api.example.com".into(),
        path: "/v1/late".into(),
        client: "127.0.0.1".into(),
    };
    let live = RecentRequest {
        id: quiet.id.clone(),
        ..late.clone()
    };
    store.add_recent(&[late, live], 5).await.unwrap();
    assert_eq!(store.recent(&rec.id, 500).await.unwrap(), []);
    let kept: Vec<String> = store
        .recent(&quiet.id, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(kept, ["/v1/late", "/"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_requests_memory() {
    recent_on(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_requests_redb() {
    recent_on(Backend::Redb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_requests_valkey() {
    recent_on(Backend::Valkey).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_are_kept_when_the_operator_says_so() {
    let t = TestApp::spawn_with(Backend::Redb, |c| {
        quick(c);
        c.analytics.recent_requests = 0;
    })
    .await;
    let (key, rec) = t.create("hana", "private", &[]).await;
    assert_eq!(ask(&t, &key, "GET", "api.example.com", "/").await, 204);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, v) = api(
        &t,
        Method::GET,
        &format!("/api/tokens/{}/recent", rec.id),
        None,
    )
    .await;
    assert_eq!((s, v["kept"].as_u64()), (200, Some(0)));
    assert_eq!(v["requests"], serde_json::json!([]));
    let mut c = crate::helpers::base_config(std::path::Path::new("/tmp"));
    c.analytics.recent_requests = 501;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("analytics.recent_requests"), "{e}");
}
