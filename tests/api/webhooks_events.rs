//! The events the gate and the clock make: limit refusals (each once per cooldown, off
//! the answer), low and exhausted credits, and expiry warnings and expiries — each
//! verified at a real receiver.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::webhooks::{Receiver, api, quick, register, types};

fn body(r: &Value) -> Value {
    serde_json::from_str(r["body"].as_str().unwrap()).unwrap()
}

async fn key(t: &TestApp, owner: &str, body: Value) -> String {
    let (s, v) = api(
        t,
        Method::POST,
        &format!("/api/users/{owner}/tokens"),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn limit_refusals_and_low_credits_fire_once_per_cooldown() {
    let t = TestApp::spawn_with(Backend::Redb, |c| {
        quick(c);
        c.events.credits_low = 2;
    })
    .await;
    let rx = Receiver::start(&[]).await;
    let (_, secret) = register(
        &t,
        json!({"url": rx.url("/in"), "event_types": ["ratelimit.*", "owner.*", "credits.*"]}),
    )
    .await;
    rx.control(json!({"secrets": [secret]})).await;

    let limited = key(&t, "alice", json!({"name": "hot", "limits": {"rate_limits": [{"name": "per-hour", "limit": 2, "window": "1h"}]}})).await;
    let metered = key(
        &t,
        "alice",
        json!({"name": "metered", "limits": {"credits": {"remaining": 4}}}),
    )
    .await;
    let (s, _) = api(
        &t,
        Method::PUT,
        "/api/users/bob/limits",
        Some(json!({"rate_limits": [{"name": "shared", "limit": 1, "window": "1h"}]})),
    )
    .await;
    assert_eq!(s, 200);
    let bobs = key(&t, "bob", json!({"name": "b"})).await;

    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.push(t.forward_auth(&limited).await.status().as_u16());
        codes.push(t.forward_auth(&metered).await.status().as_u16());
        codes.push(t.forward_auth(&bobs).await.status().as_u16());
    }
    assert_eq!(
        codes.iter().filter(|c| **c == 204).count(),
        2 + 4 + 1,
        "{codes:?}"
    );
    let got = rx.wait_for(4, 10).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = if got.len() >= 4 {
        rx.received().await
    } else {
        got
    };
    let mut seen = types(&got);
    seen.sort();
    assert_eq!(
        seen,
        [
            "credits.exhausted",
            "credits.low",
            "owner.ratelimit.exceeded",
            "ratelimit.exceeded"
        ],
        "each once, however many refusals: {got:#?}"
    );
    assert!(got.iter().all(|r| r["verified"] == true));
    let by = |kind: &str| got.iter().map(body).find(|b| b["type"] == kind).unwrap();
    let rl = by("ratelimit.exceeded");
    assert_eq!(rl["data"]["key"]["name"], "hot");
    assert_eq!(rl["data"]["limit"], "per-hour");
    assert!(rl["data"]["retry_after_secs"].as_u64().unwrap() > 0);
    let owner = by("owner.ratelimit.exceeded");
    assert_eq!(
        (
            owner["data"]["scope"].as_str(),
            owner["data"]["key"]["owner"].as_str()
        ),
        (Some("owner"), Some("bob"))
    );
    let low = by("credits.low");
    assert_eq!(low["data"]["key"]["name"], "metered");
    assert!(low["data"]["left"].as_u64().unwrap() <= 2, "{low}");
    assert_eq!(by("credits.exhausted")["data"]["key"]["name"], "metered");

    // More refusals within the cooldown: nothing new.
    for _ in 0..20 {
        t.forward_auth(&limited).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().await.len(), 4);
}

#[tokio::test]
async fn expiry_warnings_and_expiries_fire_once_each() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        quick(c);
        c.events.expiry_warnings = vec!["1h".into(), "10m".into()];
        c.events.expiry_scan = "200ms".into();
    })
    .await;
    let rx = Receiver::start(&[]).await;
    let (_, secret) = register(
        &t,
        json!({"url": rx.url("/in"), "event_types": ["key.expiring", "key.expired"]}),
    )
    .await;
    rx.control(json!({"secrets": [secret]})).await;
    let soon = keygate::clock::Clock::system().now().unix() + 3;
    let at = keygate::clock::Timestamp::from_unix(soon).to_string();
    key(&t, "alice", json!({"name": "short", "expires_at": at})).await;
    let later = keygate::clock::Timestamp::from_unix(soon + 5 * 86_400).to_string();
    key(&t, "alice", json!({"name": "long", "expires_at": later})).await;
    key(&t, "alice", json!({"name": "forever"})).await;
    let got = rx.wait_for(2, 15).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = if got.len() >= 2 {
        rx.received().await
    } else {
        got
    };
    assert_eq!(types(&got), ["key.expiring", "key.expired"], "{got:#?}");
    let warn = body(&got[0]);
    assert_eq!(warn["data"]["key"]["name"], "short");
    assert_eq!(
        warn["data"]["warning"], "10m",
        "the nearest warning only, not a late 1h one"
    );
    assert!(warn["data"]["expires_in_secs"].as_i64().unwrap() <= 3);
    assert_eq!(body(&got[1])["data"]["key"]["name"], "short");
    assert!(got.iter().all(|r| r["verified"] == true));
}

/// A credit balance set is audited with the balance it replaced; a save that changes
/// nothing makes no audit entry and no event.
#[tokio::test]
async fn audit_and_events_say_what_changed_and_only_then() {
    let t = TestApp::spawn_with(Backend::Memory, quick).await;
    let rx = Receiver::start(&[]).await;
    let (_, secret) = register(
        &t,
        json!({"url": rx.url("/in"), "event_types": ["key.updated"]}),
    )
    .await;
    rx.control(json!({"secrets": [secret]})).await;
    let (s, v) = api(
        &t,
        Method::POST,
        "/api/users/alice/tokens",
        Some(json!({"name": "metered", "limits": {"credits": {"remaining": 900}}})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["token"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/tokens/{id}");
    let (s, _) = api(
        &t,
        Method::PATCH,
        &path,
        Some(json!({"limits": {"credits": {"remaining": 0}}})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, audit) = api(
        &t,
        Method::GET,
        &format!("/api/audit?token_id={id}&action=limits"),
        None,
    )
    .await;
    let change = audit["events"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "credits.remaining")
        .cloned();
    assert_eq!(
        change,
        Some(json!({"field": "credits.remaining", "from": "900", "to": "0"})),
        "{audit}"
    );
    // The same name again, and an empty patch: nothing changed, nothing said.
    for body in [json!({"name": "metered"}), json!({})] {
        let (s, _) = api(&t, Method::PATCH, &path, Some(body)).await;
        assert_eq!(s, 200);
    }
    let (_, audit) = api(&t, Method::GET, &format!("/api/audit?token_id={id}"), None).await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["limits", "create"],
        "newest first, no empty update"
    );
    let got = rx.wait_for(1, 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.received().await.len(),
        1,
        "one key.updated (the limits), none for the no-op saves: {got:#?}"
    );
}
