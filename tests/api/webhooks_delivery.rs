//! Webhook delivery under trouble: a keygate restart, a receiver down for a while, slow,
//! redirecting, huge, gone or asking to wait; replays, secret rotation, hostile input,
//! addresses re-checked at delivery, and two replicas on one Valkey delivering each
//! event once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keygate::app::App;
use keygate::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, SALT, TestApp, Valkey, base_config};
use crate::webhooks::{Receiver, api, quick, register, types};

async fn deliveries(t: &TestApp, ep: &str) -> Vec<Value> {
    let (s, page) = api(
        t,
        Method::GET,
        &format!("/api/webhooks/{ep}/deliveries"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    page["deliveries"].as_array().unwrap().clone()
}

/// Waits until `check` holds for the endpoint's deliveries (at most `secs`).
async fn until(t: &TestApp, ep: &str, secs: u64, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let ds = deliveries(t, ep).await;
        if check(&ds) || tokio::time::Instant::now() > deadline {
            return ds;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn deliveries_survive_a_restart_and_a_receiver_that_was_down() {
    let slow_retry = |c: &mut keygate::config::Config| {
        quick(c);
        c.events.retry_schedule = vec!["1s".into(), "1s".into(), "1s".into()];
    };
    let t = TestApp::spawn_with(Backend::Redb, slow_retry).await;
    let rx = Receiver::start(&[]).await;
    let (ep, secret) = register(&t, json!({"url": rx.url("/in")})).await;
    rx.control(json!({"secrets": [secret], "mode": "fail"}))
        .await;
    for name in ["a", "b", "c"] {
        t.create("alice", name, &[]).await;
    }
    // The first attempts fail (503) and are recorded.
    let ds = until(&t, &ep, 10, |ds| {
        ds.len() == 3
            && ds
                .iter()
                .all(|d| d["attempts"].as_array().unwrap().len() == 1)
    })
    .await;
    assert!(
        ds.iter()
            .all(|d| d["state"] == "pending" && d["attempts"][0]["status"] == 503),
        "{ds:#?}"
    );
    let config = t.app.config.clone();
    let (dir, _) = t.stop().await;

    // While keygate is down, the CLI changes a key on the same store: its event waits in
    // the outbox.
    std::fs::write(
        dir.path().join("keygate.toml"),
        format!("data_dir = {:?}\ntoken_salt = \"{SALT}\"\n", dir.path()),
    )
    .unwrap();
    let out = crate::helpers::run_cli(
        dir.path(),
        &["token", "create", "--owner", "carol", "--name", "offline"],
    );
    assert!(out.contains("kg_"), "{out}");
    rx.control(json!({"mode": "ok"})).await;

    let app = Arc::new(App::open(config, Clock::system()).unwrap());
    let t = TestApp::serve(app, dir, None).await;
    let ds = until(&t, &ep, 15, |ds| {
        ds.len() == 4 && ds.iter().all(|d| d["state"] == "delivered")
    })
    .await;
    assert_eq!(ds.len(), 4, "{ds:#?}");
    assert!(ds.iter().all(|d| d["state"] == "delivered"), "{ds:#?}");
    let retried: Vec<&Value> = ds
        .iter()
        .filter(|d| d["attempts"].as_array().unwrap().len() == 2)
        .collect();
    assert_eq!(
        retried.len(),
        3,
        "the three failed before the restart, then succeeded"
    );
    assert!(
        retried
            .iter()
            .all(|d| d["attempts"][0]["status"] == 503 && d["attempts"][1]["status"] == 200)
    );
    let got = rx.received().await;
    let ok: Vec<Value> = got.iter().filter(|r| r["status"] == 200).cloned().collect();
    assert_eq!(ok.len(), 4);
    assert!(ok.iter().all(|r| r["verified"] == true));
    let mut ty = types(&ok);
    ty.dedup();
    assert_eq!(ty, ["key.created"]);
    // The same webhook-id on the failed and the successful attempt of one event.
    let ids: BTreeMap<String, usize> = got.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r["id"].as_str().unwrap().to_owned()).or_default() += 1;
        m
    });
    assert_eq!(ids.len(), 4);
    assert_eq!(ids.values().filter(|n| **n == 2).count(), 3);
}

#[tokio::test]
async fn troublesome_receivers_are_bounded_recorded_and_retried() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        quick(c);
        c.events.timeout_secs = 1;
        c.events.retry_schedule = vec!["1h".into()];
    })
    .await;
    let (slow, redirect, huge, gone, busy) = (
        Receiver::start(&[]).await,
        Receiver::start(&[]).await,
        Receiver::start(&[]).await,
        Receiver::start(&[]).await,
        Receiver::start(&[]).await,
    );
    slow.control(json!({"delay": 3})).await;
    redirect.control(json!({"mode": "redirect"})).await;
    huge.control(json!({"mode": "huge"})).await;
    gone.control(json!({"mode": "gone"})).await;
    busy.control(json!({"mode": "fail", "retry_after": "7200"}))
        .await;
    let mut eps = BTreeMap::new();
    for (name, rx) in [
        ("slow", &slow),
        ("redirect", &redirect),
        ("huge", &huge),
        ("gone", &gone),
        ("busy", &busy),
    ] {
        let (ep, _) = register(&t, json!({"url": rx.url("/in"), "owners": [name]})).await;
        t.create(name, "k", &[]).await;
        eps.insert(name, ep);
    }
    let done = |ds: &[Value]| ds.len() == 1 && !ds[0]["attempts"].as_array().unwrap().is_empty();
    let started = std::time::Instant::now();

    let d = &until(&t, &eps["slow"], 10, done).await[0];
    let a = &d["attempts"][0];
    assert!(a["error"].as_str().unwrap().contains("timed out"), "{d:#}");
    assert!(
        a["duration_ms"].as_u64().unwrap() < 2_500,
        "bounded by events.timeout_secs: {a}"
    );
    assert_eq!(d["state"], "pending", "retried later");

    let d = &until(&t, &eps["redirect"], 10, done).await[0];
    assert_eq!(d["attempts"][0]["status"], 307);
    assert!(
        d["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("redirect"),
        "{d:#}"
    );
    assert_eq!(d["state"], "pending");
    assert_eq!(
        redirect.received().await.len(),
        1,
        "the redirect was not followed"
    );

    let d = &until(&t, &eps["huge"], 10, done).await[0];
    assert_eq!(d["state"], "delivered");
    let excerpt = d["attempts"][0]["response"].as_str().unwrap();
    assert!(
        excerpt.len() <= 512 && excerpt.starts_with("xxx"),
        "{}",
        excerpt.len()
    );

    let d = &until(&t, &eps["gone"], 10, done).await[0];
    assert_eq!(d["state"], "failed", "410 is final");
    let (_, ep) = api(
        &t,
        Method::GET,
        &format!("/api/webhooks/{}", eps["gone"]),
        None,
    )
    .await;
    assert_eq!(ep["disabled"], true, "{ep}");
    assert!(ep["disabled_reason"].as_str().unwrap().contains("410"));
    let (_, audit) = api(&t, Method::GET, "/api/audit?action=webhook_disable", None).await;
    assert_eq!(audit["events"][0]["name"], eps["gone"].as_str(), "{audit}");
    // A disabled endpoint gets nothing more.
    t.create("gone", "k2", &[]).await;

    let d = &until(&t, &eps["busy"], 10, done).await[0];
    assert_eq!(d["attempts"][0]["status"], 503);
    let next = d["next_attempt_at_ms"].as_i64().unwrap();
    let now = Clock::system().now_ms();
    assert!(
        next - now > 7_000_000,
        "Retry-After: 7200 wins over the 1 h schedule: {}",
        next - now
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gone.received().await.len(), 1, "nothing after 410");
    assert_eq!(deliveries(&t, &eps["gone"]).await.len(), 1);
}

#[tokio::test]
async fn replay_test_events_and_secret_rotation() {
    let t = TestApp::spawn_with(Backend::Memory, quick).await;
    let rx = Receiver::start(&[]).await;
    let (ep, old) = register(&t, json!({"url": rx.url("/in")})).await;
    rx.control(json!({"secrets": [old]})).await;
    let (s, d) = api(&t, Method::POST, &format!("/api/webhooks/{ep}/test"), None).await;
    assert_eq!(s, 202, "{d}");
    let got = rx.wait_for(1, 10).await;
    assert_eq!(types(&got), ["webhook.test"]);
    assert_eq!(got[0]["verified"], true);

    // Replay: the same event again, same webhook-id.
    let id = d["id"].as_str().unwrap();
    until(&t, &ep, 10, |ds| {
        ds.first().is_some_and(|d| d["state"] == "delivered")
    })
    .await;
    let (s, _) = api(
        &t,
        Method::POST,
        &format!("/api/webhooks/{ep}/deliveries/{id}/replay"),
        None,
    )
    .await;
    assert_eq!(s, 202);
    let got = rx.wait_for(2, 10).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["id"], got[1]["id"]);
    assert_eq!(got[0]["body"], got[1]["body"]);
    let ds = until(&t, &ep, 10, |ds| {
        ds[0]["attempts"].as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(ds[0]["attempts"][1]["replay"], true);
    assert_eq!(ds[0]["replays"], 1);
    let (s, one) = api(
        &t,
        Method::GET,
        &format!("/api/webhooks/{ep}/deliveries/{id}"),
        None,
    )
    .await;
    assert_eq!((s, one["id"].as_str()), (200, Some(id)));

    // Rotation with an overlap: both secrets sign, so a receiver on either verifies.
    let (s, rotated) = api(
        &t,
        Method::POST,
        &format!("/api/webhooks/{ep}/rotate-secret"),
        Some(json!({"overlap_secs": 3600})),
    )
    .await;
    assert_eq!(s, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated["endpoint"]["signing_secrets"], 2);
    assert!(
        rotated["endpoint"]["previous_secret_until"].is_string(),
        "{rotated}"
    );
    t.create("alice", "after-rotation", &[]).await;
    let got = rx.wait_for(3, 10).await;
    assert_eq!(got[2]["verified"], true, "the old secret still verifies");
    assert_eq!(got[2]["signature"].as_str().unwrap().split(' ').count(), 2);
    rx.control(json!({"secrets": [new]})).await;
    t.create("alice", "new-secret", &[]).await;
    assert_eq!(
        rx.wait_for(4, 10).await[3]["verified"],
        true,
        "the new one too"
    );
    // Without an overlap, the old secret stops at once.
    let (_, rotated) = api(
        &t,
        Method::POST,
        &format!("/api/webhooks/{ep}/rotate-secret"),
        Some(json!({"overlap_secs": 0})),
    )
    .await;
    assert_eq!(rotated["endpoint"]["signing_secrets"], 1);
    assert!(rotated["endpoint"]["previous_secret_until"].is_null());
    t.create("alice", "third-secret", &[]).await;
    let got = rx.wait_for(5, 10).await;
    assert_eq!(
        got[4]["verified"], false,
        "the replaced secret no longer signs"
    );
    assert_eq!(got[4]["signature"].as_str().unwrap().split(' ').count(), 1);
}

#[tokio::test]
async fn hostile_endpoint_input_is_refused_and_nothing_is_stored() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.admin_key = Some(keygate::config::Secret::new(ADMIN_KEY));
        c.events.max_endpoints = 2;
    })
    .await;
    let long = format!("https://example.com/{}", "a".repeat(3000));
    for (body, status, field) in [
        (json!({"url": "ftp://example.com/in"}), 422, "url"),
        (json!({"url": "https://user:pw@example.com/in"}), 422, "url"),
        (json!({"url": "https://token@example.com/in"}), 422, "url"),
        (json!({"url": "http://127.0.0.1:9/in"}), 422, "url"),
        (json!({"url": "http://[::1]:9/in"}), 422, "url"),
        (json!({"url": "http://localhost/in"}), 422, "url"),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data/"}),
            422,
            "url",
        ),
        (json!({"url": "http://10.0.0.1/"}), 422, "url"),
        (json!({"url": "http://[::ffff:192.168.0.1]/"}), 422, "url"),
        (json!({"url": "file:///etc/passwd"}), 422, "url"),
        (json!({"url": "javascript:alert(1)"}), 422, "url"),
        (json!({"url": "not a url"}), 422, "url"),
        (json!({"url": long}), 422, "url"),
        (
            json!({"url": "https://example.com/", "event_types": ["key.exploded"]}),
            422,
            "event_types",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["*"]}),
            422,
            "event_types",
        ),
        (
            json!({"url": "https://example.com/", "owners": ["a\u{202e}b"]}),
            422,
            "owners",
        ),
        (
            json!({"url": "https://example.com/", "description": "x".repeat(501)}),
            422,
            "description",
        ),
    ] {
        let (s, e) = api(&t, Method::POST, "/api/webhooks", Some(body.clone())).await;
        assert_eq!(s, status, "{body}: {e}");
        assert_eq!(e["field"], field, "{body}: {e}");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    for (raw, status) in [
        ("{", 400),
        ("[]", 422),
        (r#"{"url": 5}"#, 422),
        (r#"{"url": "https://example.com/", "secret": "mine"}"#, 422),
    ] {
        let r = t
            .admin(t.client.post(t.url("/api/webhooks")))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{raw}");
    }
    let big = "x".repeat(3 << 20);
    let r = t
        .admin(t.client.post(t.url("/api/webhooks")))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"url": "https://example.com/", "description": "{big}"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 413 || r.status() == 422, "{}", r.status());
    let (_, list) = api(&t, Method::GET, "/api/webhooks", None).await;
    assert_eq!(
        list["endpoints"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );

    // Not an admin: nothing.
    let r = t.client.get(t.url("/api/webhooks")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // At most events.max_endpoints.
    let mut secrets = Vec::new();
    for _ in 0..2 {
        secrets.push(
            register(&t, json!({"url": "https://example.com/in"}))
                .await
                .1,
        );
    }
    let (s, e) = api(
        &t,
        Method::POST,
        "/api/webhooks",
        Some(json!({"url": "https://example.com/in"})),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("too_many_endpoints")));
    let (_, list) = api(&t, Method::GET, "/api/webhooks", None).await;
    let ep = list["endpoints"][0]["id"].as_str().unwrap().to_owned();
    for secret in &secrets {
        assert!(
            !list.to_string().contains(secret.as_str()),
            "a secret is shown once, never listed"
        );
    }
    for (method, path, body, status) in [
        (Method::GET, "/api/webhooks/ep_nope".to_owned(), None, 404),
        (
            Method::GET,
            format!("/api/webhooks/{ep}/deliveries?limit=0"),
            None,
            422,
        ),
        (
            Method::GET,
            format!("/api/webhooks/{ep}/deliveries?limit=x"),
            None,
            400,
        ),
        (
            Method::GET,
            format!("/api/webhooks/{ep}/deliveries?bogus=1"),
            None,
            400,
        ),
        (
            Method::GET,
            format!("/api/webhooks/{ep}/deliveries?before=nope"),
            None,
            404,
        ),
        (
            Method::GET,
            format!("/api/webhooks/{ep}/deliveries/nope"),
            None,
            404,
        ),
        (
            Method::POST,
            format!("/api/webhooks/{ep}/deliveries/nope/replay"),
            None,
            404,
        ),
        (
            Method::POST,
            format!("/api/webhooks/{ep}/rotate-secret"),
            Some(json!({"overlap_secs": 999999999})),
            422,
        ),
        (
            Method::POST,
            format!("/api/webhooks/{ep}/rotate-secret"),
            Some(json!({"overlap_secs": -1})),
            422,
        ),
        (
            Method::PATCH,
            format!("/api/webhooks/{ep}"),
            Some(json!({"url": "gopher://x"})),
            422,
        ),
        (
            Method::PATCH,
            format!("/api/webhooks/{ep}"),
            Some(json!({"colour": "red"})),
            422,
        ),
        (
            Method::PATCH,
            "/api/webhooks/ep_nope".to_owned(),
            Some(json!({"description": "x"})),
            404,
        ),
        (
            Method::DELETE,
            "/api/webhooks/ep_nope".to_owned(),
            None,
            404,
        ),
    ] {
        let (s, e) = api(&t, method.clone(), &path, body).await;
        assert_eq!(s, status, "{method} {path}: {e}");
    }
    let (_, after) = api(&t, Method::GET, &format!("/api/webhooks/{ep}"), None).await;
    assert_eq!(
        after["url"], "https://example.com/in",
        "a refused change changed nothing"
    );
    let (s, _) = api(&t, Method::DELETE, &format!("/api/webhooks/{ep}"), None).await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn addresses_are_checked_again_when_delivering() {
    // Registered while private addresses were allowed; refused once they are not.
    let t = TestApp::spawn_with(Backend::Redb, quick).await;
    let rx = Receiver::start(&[]).await;
    let (ep, _) = register(&t, json!({"url": rx.url("/in")})).await;
    let mut config = t.app.config.clone();
    let (dir, _) = t.stop().await;
    config.events.allow_private_addresses = false;
    let t = TestApp::serve(
        Arc::new(App::open(config, Clock::system()).unwrap()),
        dir,
        None,
    )
    .await;
    t.create("alice", "k", &[]).await;
    let ds = until(&t, &ep, 10, |ds| {
        ds.first()
            .is_some_and(|d| !d["attempts"].as_array().unwrap().is_empty())
    })
    .await;
    let err = ds[0]["attempts"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("not sent") && err.contains("127.0.0.1"),
        "{err}"
    );
    assert!(
        rx.received().await.is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn two_replicas_on_valkey_deliver_each_event_once() {
    let v = Valkey::start();
    let rx = Receiver::start(&[]).await;
    let replica = |v: &Valkey| {
        let dir = tempfile::tempdir().unwrap();
        let mut c = base_config(dir.path());
        c.valkey_url = Some(v.url());
        quick(&mut c);
        // This test counts deliveries, not the store timeout: with the suite running on
        // two cores, a key's multi-command write on Valkey can take over 300 ms.
        c.store_timeout_ms = 2000;
        (App::open(c, Clock::system()).unwrap(), dir)
    };
    let (a, da) = replica(&v);
    let (b, db) = replica(&v);
    let a = TestApp::serve(Arc::new(a), da, None).await;
    let b = TestApp::serve(Arc::new(b), db, None).await;
    let (_, secret) = register(&a, json!({"url": rx.url("/in")})).await;
    rx.control(json!({"secrets": [secret]})).await;
    const N: usize = 120;
    for i in 0..N {
        let t = if i % 2 == 0 { &a } else { &b };
        t.create(&format!("owner{}", i % 7), &format!("k{i}"), &[])
            .await;
    }
    let got = rx.wait_for(N, 30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if got.len() >= N {
        rx.received().await
    } else {
        got
    };
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for r in &got {
        assert_eq!(r["verified"], true);
        *per_id
            .entry(r["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let duplicates = got.len() - per_id.len();
    println!(
        "two replicas: {} events, {} deliveries, {duplicates} duplicates",
        per_id.len(),
        got.len()
    );
    assert_eq!(per_id.len(), N, "every event delivered");
    assert_eq!(
        duplicates, 0,
        "each event once (no replica stopped, so no lease ran out)"
    );
}
