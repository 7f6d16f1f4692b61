//! What the operator's console asks of the API (issue 28): every key filtered by a
//! query of several terms, and each key's effective state — refused now, and why.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::webhooks::{api, quick};

async fn make(t: &TestApp, owner: &str, body: Value) -> String {
    let (s, v) = api(
        t,
        Method::POST,
        &format!("/api/users/{owner}/tokens"),
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v["token"]["id"].as_str().unwrap().to_owned()
}

async fn names(t: &TestApp, q: &str) -> Vec<String> {
    let url = format!(
        "/api/tokens?q={}",
        q.replace(' ', "%20")
            .replace('"', "%22")
            .replace('=', "%3D")
    );
    let (s, v) = api(t, Method::GET, &url, None).await;
    assert_eq!(s, 200, "{q}: {v}");
    let mut out: Vec<String> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn keys_are_found_by_several_terms_and_fields() {
    let t = TestApp::spawn_with(Backend::Redb, quick).await;
    make(
        &t,
        "payments-bot",
        json!({"name": "prod deploy", "metadata": {"team": "payments", "env": "prod"}}),
    )
    .await;
    make(
        &t,
        "payments-bot",
        json!({"name": "staging deploy", "metadata": {"team": "payments"}}),
    )
    .await;
    make(
        &t,
        "ops",
        json!({"name": "prod backup", "metadata": {"team": "ops"}}),
    )
    .await;
    let off = make(&t, "ops", json!({"name": "old cron"})).await;
    api(
        &t,
        Method::PATCH,
        &format!("/api/tokens/{off}"),
        Some(json!({"disabled": true})),
    )
    .await;

    assert_eq!(
        names(&t, "team=payments prod").await,
        ["prod deploy"],
        "AND, with a metadata term"
    );
    assert_eq!(names(&t, "prod").await, ["prod backup", "prod deploy"]);
    assert_eq!(
        names(&t, "owner:ops -status:disabled").await,
        ["prod backup"]
    );
    assert_eq!(names(&t, "status:disabled").await, ["old cron"]);
    assert_eq!(
        names(&t, "name:\"staging deploy\"").await,
        ["staging deploy"]
    );
    assert_eq!(
        names(&t, "DEPLOY team=payments").await.len(),
        2,
        "case ignored in words"
    );
    assert!(names(&t, "unused:1d").await.is_empty(), "all made just now");
    assert!(
        names(&t, "team=Payments").await.is_empty(),
        "metadata values exactly"
    );
    for bad in [
        "colour:red",
        "status:gone",
        "name:\"open",
        "unused:soon",
        "refused:maybe",
    ] {
        let url = format!(
            "/api/tokens?q={}",
            bad.replace(' ', "%20").replace('"', "%22")
        );
        let (s, e) = api(&t, Method::GET, &url, None).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("q")), "{bad}: {e}");
    }
    let long = "a".repeat(600);
    assert_eq!(
        api(&t, Method::GET, &format!("/api/tokens?q={long}"), None)
            .await
            .0,
        400
    );
    // An owner's own list takes the same query.
    let (s, v) = api(&t, Method::GET, "/api/users/ops/tokens?q=backup", None).await;
    assert_eq!((s, v["tokens"].as_array().unwrap().len()), (200, 1));
}

#[tokio::test]
async fn a_key_refused_by_its_owners_credits_says_so() {
    let t = TestApp::spawn_with(Backend::Redb, quick).await;
    // bob's shared credits: 1, then used up.
    let (s, _) = api(
        &t,
        Method::PUT,
        "/api/users/bob/limits",
        Some(json!({"credits": {"remaining": 1}})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = api(
        &t,
        Method::POST,
        "/api/users/bob/tokens",
        Some(json!({"name": "shared"})),
    )
    .await;
    let (bob_key, bob_id) = (
        v["key"].as_str().unwrap().to_owned(),
        v["token"]["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(t.forward_auth(&bob_key).await.status(), 204);
    assert_eq!(t.forward_auth(&bob_key).await.status(), 429);
    let own = make(
        &t,
        "carol",
        json!({"name": "own-empty", "limits": {"credits": {"remaining": 0}}}),
    )
    .await;
    let off = make(&t, "carol", json!({"name": "off"})).await;
    api(
        &t,
        Method::PATCH,
        &format!("/api/tokens/{off}"),
        Some(json!({"disabled": true})),
    )
    .await;
    make(&t, "carol", json!({"name": "fine"})).await;

    let (_, v) = api(&t, Method::GET, &format!("/api/tokens/{bob_id}"), None).await;
    assert_eq!(v["status"], "active", "active as a record…");
    assert_eq!(
        v["refused_now"],
        json!({"code": "usage_exceeded", "scope": "owner", "reason": "bob's shared credits are used up"}),
        "…but refused: {v}"
    );
    let (_, v) = api(&t, Method::GET, &format!("/api/tokens/{own}"), None).await;
    assert_eq!(
        (
            v["refused_now"]["code"].as_str(),
            v["refused_now"]["scope"].as_str()
        ),
        (Some("usage_exceeded"), Some("key"))
    );
    let (_, v) = api(&t, Method::GET, &format!("/api/tokens/{off}"), None).await;
    assert_eq!(v["refused_now"]["code"], "unauthorized");
    assert_eq!(
        names(&t, "refused:yes").await,
        ["off", "own-empty", "shared"]
    );
    assert_eq!(names(&t, "refused:no").await, ["fine"]);
    assert_eq!(
        names(&t, "owner:carol refused:yes").await,
        ["off", "own-empty"]
    );
    // The owner sees it on their own list too.
    let (_, v) = api(&t, Method::GET, "/api/users/bob/tokens", None).await;
    assert_eq!(v["tokens"][0]["refused_now"]["scope"], "owner");
}

#[tokio::test]
async fn administrators_top_up_credits_in_one_step() {
    let t = TestApp::spawn_with(Backend::Redb, quick).await;
    let (_, v) = api(
        &t,
        Method::POST,
        "/api/users/alice/tokens",
        Some(json!({"name": "metered", "limits": {"credits": {"remaining": 5}}})),
    )
    .await;
    let (key, id) = (
        v["key"].as_str().unwrap().to_owned(),
        v["token"]["id"].as_str().unwrap().to_owned(),
    );
    for _ in 0..2 {
        assert_eq!(t.forward_auth(&key).await.status(), 204);
    }
    let path = format!("/api/tokens/{id}/credits");
    let (s, v) = api(&t, Method::POST, &path, Some(json!({"add": 10}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["limits"]["credits"]["remaining"], 13,
        "5 - 2 spent + 10: {v}"
    );
    let (_, audit) = api(
        &t,
        Method::GET,
        &format!("/api/audit?token_id={id}&action=limits"),
        None,
    )
    .await;
    assert_eq!(
        audit["events"][0]["changes"][0],
        json!({"field": "credits.remaining", "from": "3", "to": "13"}),
        "{audit}"
    );
    for _ in 0..13 {
        assert_eq!(t.forward_auth(&key).await.status(), 204);
    }
    assert_eq!(t.forward_auth(&key).await.status(), 429, "exactly 13 more");

    let plain = make(&t, "alice", json!({"name": "plain"})).await;
    for (p, body, status, field) in [
        (
            format!("/api/tokens/{plain}/credits"),
            json!({"add": 5}),
            422,
            Some("add"),
        ),
        (path.clone(), json!({"add": 0}), 422, Some("add")),
        (
            path.clone(),
            json!({"add": 1_000_000_000_000_001u64}),
            422,
            Some("add"),
        ),
        (path.clone(), json!({"add": -1}), 422, None),
        (path.clone(), json!({"set": 1}), 422, None),
        (
            "/api/tokens/AAAAAAAAAAAAAAAA/credits".to_owned(),
            json!({"add": 1}),
            404,
            None,
        ),
    ] {
        let (s, e) = api(&t, Method::POST, &p, Some(body.clone())).await;
        assert_eq!(s, status, "{p} {body}: {e}");
        if let Some(f) = field {
            assert_eq!(e["field"], f, "{e}");
        }
    }
    let r = t
        .client
        .post(t.url(&path))
        .json(&json!({"add": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
