//! Usage analytics (issue 14, server side): counts per key and owner in minute, hour and
//! day buckets, checked against a known number of requests on both stores and across two
//! replicas on Valkey; the API's ranges and bad input; a clean restart keeps the counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keygate::app::App;
use keygate::clock::Clock;
use keygate::config::{Config, Secret};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, TestApp, Valkey, base_config};
use crate::mgmt::Env;

fn fast(c: &mut Config) {
    c.analytics.flush_secs = 1;
    c.admin_key = Some(Secret::new(ADMIN_KEY));
}

async fn get(t: &TestApp, path: &str) -> (u16, Value) {
    let r = t.admin(t.get(path)).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Polls `path` until its `totals` equal `want` (the flush runs every second).
async fn totals_become(t: &TestApp, path: &str, want: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, v) = get(t, path).await;
        assert_eq!(s, 200, "{path}: {v}");
        let totals = v
            .get("totals")
            .or_else(|| v.pointer("/series/totals"))
            .cloned();
        if totals.as_ref() == Some(&want) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: totals {totals:?}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn traffic(t: &TestApp) -> (String, String) {
    // 7 allowed, 2 forbidden by rules, 3 over a rate limit of 7; then disabled: 2 refused.
    let (key, r) = t.create("carol", "counted", &["paths=/v1/*"]).await;
    t.app
        .keys
        .update(
            &r.id,
            keygate::manage::Patch {
                limits: Some(
                    serde_json::from_value(
                        json!({"rate_limits": [{"name": "d", "limit": 7, "window": "1d"}]}),
                    )
                    .unwrap(),
                ),
                ..Default::default()
            },
            &keygate::manage::Actor::cli(),
        )
        .await
        .unwrap();
    let fa = |uri: &'static str| {
        let key = key.clone();
        async move {
            t.get("/forward-auth")
                .bearer_auth(&key)
                .header("X-Forwarded-Uri", uri)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(fa("/v1/items").await);
    }
    for _ in 0..2 {
        seen.push(fa("/admin").await);
    }
    for _ in 0..3 {
        seen.push(fa("/v1/items").await);
    }
    assert_eq!(
        seen,
        [204, 204, 204, 204, 204, 204, 204, 403, 403, 429, 429, 429]
    );
    t.app
        .keys
        .set_disabled(&r.id, true, &keygate::manage::Actor::cli())
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(fa("/v1/items").await, 401);
    }
    // An unknown key is counted nowhere.
    t.forward_auth("kg_unknown").await;
    (key, r.id.to_string())
}

fn expected() -> Value {
    json!({"allowed": 7, "forbidden": 2, "refused": 2, "rate_limited": 3, "usage_exceeded": 0})
}

async fn counted_on(backend: Backend) {
    let t = TestApp::spawn_with(backend, fast).await;
    let (_, id) = traffic(&t).await;
    let v = totals_become(&t, &format!("/api/tokens/{id}/usage"), expected()).await;
    assert_eq!(v["step"], "hour", "24 h default: hourly buckets");
    assert_eq!(v["points"].as_array().unwrap().len(), 25, "{v}");
    // The same counts in every step.
    for step in ["minute", "day"] {
        let from = if step == "minute" { "&from=" } else { "" };
        let path = if step == "minute" {
            let now = time::now_minus(3600);
            format!("/api/tokens/{id}/usage?step=minute{from}{now}")
        } else {
            format!("/api/tokens/{id}/usage?step=day")
        };
        totals_become(&t, &path, expected()).await;
    }
    // The owner's figures are their keys' together.
    let (other, _) = t.create("carol", "other", &[]).await;
    assert_eq!(t.forward_auth(&other).await.status(), 204);
    let mut want = expected();
    want["allowed"] = json!(8);
    let v = totals_become(&t, "/api/users/carol/usage", want).await;
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);
    assert_eq!(v["owner"], "carol");
    let counted = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert_eq!(counted["totals"], expected());
}

mod time {
    /// An RFC 3339 time `secs` ago, for query strings.
    pub fn now_minus(secs: u64) -> String {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
        humantime::format_rfc3339_seconds(t).to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_the_requests_on_the_embedded_store() {
    counted_on(Backend::Redb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_the_requests_on_valkey() {
    counted_on(Backend::Valkey).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_the_requests_on_a_valkey_cluster() {
    counted_on(Backend::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_add_into_the_same_buckets() {
    let v = Valkey::start();
    let mut rs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut c = base_config(dir.path());
        c.valkey_url = Some(v.url());
        c.store_timeout_ms = 2000;
        fast(&mut c);
        let app = App::open(c, Clock::system()).unwrap();
        rs.push(Arc::new(TestApp::serve(Arc::new(app), dir, None).await));
    }
    let (key, r) = rs[0].create("dave", "shared", &[]).await;
    for i in 0..40 {
        assert_eq!(rs[i % 2].forward_auth(&key).await.status(), 204);
    }
    let want = json!({"allowed": 40, "forbidden": 0, "refused": 0, "rate_limited": 0, "usage_exceeded": 0});
    totals_become(&rs[1], &format!("/api/tokens/{}/usage", r.id), want.clone()).await;
    totals_become(&rs[0], "/api/users/dave/usage", want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_keeps_the_counts() {
    let t = TestApp::spawn_with(Backend::Redb, |c| {
        fast(c);
        c.analytics.flush_secs = 3600;
    })
    .await;
    let (key, r) = t.create("erin", "durable", &[]).await;
    for _ in 0..5 {
        assert_eq!(t.forward_auth(&key).await.status(), 204);
    }
    let (dir, _) = t.stop().await;
    let mut c = base_config(dir.path());
    fast(&mut c);
    let app = App::open(c, Clock::system()).unwrap();
    let t = TestApp::serve(Arc::new(app), dir, None).await;
    let (_, v) = get(&t, &format!("/api/tokens/{}/usage", r.id)).await;
    assert_eq!(v["totals"]["allowed"], 5, "flushed at shutdown: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_bad_input() {
    let e = Env::start_with(Backend::Memory, fast).await;
    let (_, r) = e.t.create("alice", "k", &[]).await;
    let alice = e.token("alice", &[]);
    let bob = e.token("bob", &[]);
    let id = r.id.to_string();
    let (s, v) = e
        .call(
            Method::GET,
            &format!("/api/me/tokens/{id}/usage?from=2026-01-01&to=2026-01-03"),
            &alice,
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["step"], "hour");
    assert_eq!(v["points"].as_array().unwrap().len(), 48);
    assert_eq!(v["points"][0]["t"], "2026-01-01T00:00:00Z");
    let (s, v) = e
        .call(
            Method::GET,
            &format!("/api/me/tokens/{id}/usage?from=2025-01-01&to=2026-01-01"),
            &alice,
            None,
        )
        .await;
    assert_eq!((s, v["step"].as_str()), (200, Some("day")));
    for (q, status, says) in [
        ("?from=2026-01-03&to=2026-01-01", 422, "before"),
        ("?from=2026-01-01&to=2026-01-01", 422, "before"),
        ("?from=2025-01-01&to=2026-01-01&step=minute", 422, "coarser"),
        ("?step=second", 400, "unknown variant"),
        ("?from=yesterday", 400, "date-time"),
        ("?limit=5", 400, "unknown field"),
    ] {
        let (s, v) = e
            .call(
                Method::GET,
                &format!("/api/me/tokens/{id}/usage{q}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(s, status, "{q}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{q}: {v}");
    }
    // Someone else's key is as unknown as any other; admin routes are for admins.
    let (s, _) = e
        .call(
            Method::GET,
            &format!("/api/me/tokens/{id}/usage"),
            &bob,
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = e
        .call(Method::GET, "/api/users/alice/usage", &bob, None)
        .await;
    assert_eq!(s, 403);
    let (s, v) = e
        .call(Method::GET, "/api/me/usage?limit=1", &alice, None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    let (s, _) = e
        .call(Method::GET, "/api/me/usage?limit=0", &alice, None)
        .await;
    assert_eq!(s, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_can_be_turned_off() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        fast(c);
        c.analytics.enabled = false;
    })
    .await;
    let (key, r) = t.create("frank", "quiet", &[]).await;
    assert_eq!(t.forward_auth(&key).await.status(), 204);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, v) = get(&t, &format!("/api/tokens/{}/usage", r.id)).await;
    assert_eq!(v["totals"]["allowed"], 0);
    assert!(t.app.gate.tally().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_draws_and_exports_usage() {
    let t = TestApp::spawn_with(Backend::Redb, fast).await;
    let (key, r) = t.create("gina", "charted", &[]).await;
    for _ in 0..6 {
        assert_eq!(t.forward_auth(&key).await.status(), 204);
    }
    let id = r.id.to_string();
    let want =
        json!({"allowed": 6, "forbidden": 0, "refused": 0, "rate_limited": 0, "usage_exceeded": 0});
    totals_become(&t, &format!("/api/tokens/{id}/usage"), want.clone()).await;
    // Through the running server's API.
    let server = t.url("");
    let remote = tokio::task::block_in_place(|| {
        crate::helpers::run_cli(
            std::path::Path::new("/"),
            &[
                "usage",
                "--key",
                &id,
                "--since",
                "2h",
                "--server",
                &server,
                "--admin-key",
                ADMIN_KEY,
                "--json",
            ],
        )
    });
    let v: Value = serde_json::from_str(&remote).unwrap();
    assert_eq!(v["totals"], want);
    assert_eq!(v["step"], "minute");
    let chart = tokio::task::block_in_place(|| {
        crate::helpers::run_cli(
            std::path::Path::new("/"),
            &[
                "usage",
                "--owner",
                "gina",
                "--server",
                &server,
                "--admin-key",
                ADMIN_KEY,
            ],
        )
    });
    assert!(chart.starts_with("owner gina: "), "{chart}");
    let allowed = chart.lines().find(|l| l.starts_with("allowed")).unwrap();
    assert!(allowed.contains(" 6 ") && allowed.contains('█'), "{chart}");
    // From the store, once the server is gone.
    let (dir, _) = t.stop().await;
    let d = dir.path().display().to_string();
    let local = crate::helpers::run_cli(
        dir.path(),
        &[
            "usage",
            "--data-dir",
            &d,
            "--token-salt",
            crate::helpers::SALT,
            "--json",
            "--since",
            "7d",
        ],
    );
    let v: Value = serde_json::from_str(&local).unwrap();
    assert_eq!(v["totals"]["allowed"], 6, "everyone's usage: {v}");
    assert_eq!(v["step"], "hour");
    // Bad input: a clear error, nothing read.
    for (args, says) in [
        (vec!["usage", "--since", "0s"], "--since"),
        (vec!["usage", "--since", "yesterday"], "--since"),
        (vec!["usage", "--since", "1000d"], "2 years"),
        (vec!["usage", "--step", "second"], "--step"),
        (
            vec!["usage", "--since", "30d", "--step", "minute"],
            "coarser",
        ),
        (vec!["usage", "--key", "no such id!"], "key id"),
        (vec!["usage", "--key", "AAAAAAAAAAAAAAAA"], "no key"),
    ] {
        let mut full = args.clone();
        full.extend(["--data-dir", &d, "--token-salt", crate::helpers::SALT]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(&full)
            .env_clear()
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
}

async fn overview_on(backend: Backend) {
    let t = TestApp::spawn_with(backend, fast).await;
    let (busy, rb) = t.create("hana", "busy", &[]).await;
    let (quiet, _) = t.create("ivan", "quiet", &[]).await;
    let (other, _) = t.create("hana", "other", &[]).await;
    for _ in 0..5 {
        t.forward_auth(&busy).await;
    }
    for _ in 0..2 {
        t.forward_auth(&quiet).await;
    }
    t.forward_auth(&other).await;
    let want =
        json!({"allowed": 8, "forbidden": 0, "refused": 0, "rate_limited": 0, "usage_exceeded": 0});
    let v = totals_become(&t, "/api/usage?top=2", want).await;
    let keys = v["top_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{v}");
    assert_eq!(keys[0]["id"], rb.id.as_str());
    assert_eq!(
        (keys[0]["name"].as_str(), keys[0]["owner"].as_str()),
        (Some("busy"), Some("hana"))
    );
    assert_eq!(keys[0]["totals"]["allowed"], 5);
    assert_eq!(keys[1]["totals"]["allowed"], 2);
    let owners = v["top_owners"].as_array().unwrap();
    assert_eq!(
        owners[0],
        json!({"owner": "hana", "totals": {"allowed": 6, "forbidden": 0, "refused": 0, "rate_limited": 0, "usage_exceeded": 0}})
    );
    assert_eq!(owners[1]["owner"], "ivan");
    let (s, v) = get(&t, "/api/usage?top=0").await;
    assert_eq!((s, v["field"].as_str()), (422, Some("top")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_overview_ranks_keys_and_owners() {
    overview_on(Backend::Memory).await;
    overview_on(Backend::Redb).await;
    overview_on(Backend::Valkey).await;
}

/// With the cache off every request builds a new cached entry for the key: its uses in
/// one minute still make one pending tally (memory grows with keys, not requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tally_per_key_and_minute_with_the_cache_off() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.cache.ttl_secs = 0;
        c.analytics.flush_secs = 3600;
    })
    .await;
    let (key, _) = t.create("grace", "uncached", &[]).await;
    let (other, _) = t.create("grace", "second", &[]).await;
    for _ in 0..5 {
        assert_eq!(t.forward_auth(&key).await.status(), 204);
    }
    assert_eq!(t.forward_auth(&other).await.status(), 204);
    let tally = t.app.gate.tally().unwrap();
    // Two keys; a minute boundary between two requests makes at most two more.
    assert!((2..=4).contains(&tally.pending()), "{}", tally.pending());
}
