//! Leaked keys: GitHub's secret-scanning partner contract, signed by a stand-in for
//! GitHub that uses the `cryptography` library (tests/support/github_scanning.py), and
//! administrators' reports from an internal scanner.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::webhooks::{Receiver, api, quick, register};

struct Github {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl Github {
    fn start() -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/github_scanning.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Github {
            child,
            port: line.trim().parse().unwrap(),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }
    fn url(&self, p: &str) -> String {
        format!("http://127.0.0.1:{}{p}", self.port)
    }
    async fn sign(&self, body: &str, with: &str) -> String {
        self.http
            .post(self.url(with))
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
    async fn json(&self, p: &str) -> Value {
        self.http
            .get(self.url(p))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Github {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs a report to /api/leaks/github with the given key id and signature.
async fn report(t: &TestApp, body: &str, key_id: Option<&str>, sig: Option<&str>) -> (u16, Value) {
    let mut req = t
        .client
        .post(t.url("/api/leaks/github"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(k) = key_id {
        req = req.header("Github-Public-Key-Identifier", k);
    }
    if let Some(s) = sig {
        req = req.header("Github-Public-Key-Signature", s);
    }
    let r = req.send().await.unwrap();
    let s = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A well-formed key (right checksum) that no store holds.
fn stranger() -> String {
    keygate::token::generate(&keygate::token::KeyPrefix::default())
        .unwrap()
        .expose()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_reports_are_verified_answered_and_acted_on() {
    let gh = Github::start();
    let keys_url = gh.url("/keys");
    let t = TestApp::spawn_with(Backend::Redb, move |c| {
        quick(c);
        c.leaks.github_enabled = true;
        c.leaks.github_keys_url = keys_url;
        c.leaks.max_entries = 6000;
    })
    .await;
    let rx = Receiver::start(&[]).await;
    let (_, secret) = register(
        &t,
        json!({"url": rx.url("/in"), "event_types": ["key.leaked"]}),
    )
    .await;
    rx.control(json!({"secrets": [secret]})).await;
    let key_id: String = serde_json::from_value(gh.json("/key-id").await).unwrap();

    let (live, rec) = t.create("alice", "leaky", &[]).await;
    let (other, _) = t.create("bob", "safe", &[]).await;
    let mut broken = live.clone();
    let last = broken.pop().unwrap();
    broken.push(if last == 'A' { 'B' } else { 'A' });
    let unknown = stranger();
    let body = json!([
        {"token": live, "type": "keygate_api_key", "url": "https://github.com/octo/repo/blob/abc/config.py", "source": "content"},
        {"token": broken, "type": "keygate_api_key", "url": "https://github.com/octo/repo/blob/abc/x", "source": "content"},
        {"token": unknown, "type": "keygate_api_key", "url": "https://gist.github.com/octo/1", "source": "gist"},
        {"token": "kg_not-a-key", "type": "keygate_api_key", "url": "", "source": "content"},
    ])
    .to_string();

    // Refused before anything is read: no headers, a signature by another key, an
    // unknown key id, a signature that is not base64, a body changed after signing.
    let good = gh.sign(&body, "/sign").await;
    let forged = gh.sign(&body, "/sign-other").await;
    for (kid, sig, what) in [
        (None, None, "no headers"),
        (Some(key_id.as_str()), None, "no signature"),
        (
            Some(key_id.as_str()),
            Some(forged.as_str()),
            "another key's signature",
        ),
        (Some("made-up-id"), Some(good.as_str()), "an unknown key id"),
        (Some(key_id.as_str()), Some("%%%"), "not base64"),
    ] {
        let (s, e) = report(&t, &body, kid, sig).await;
        assert_eq!(s, 401, "{what}: {e}");
        assert_eq!(e["error"], "bad_signature", "{what}");
    }
    let tampered = body.replace("config.py", "other.py");
    assert_eq!(
        report(&t, &tampered, Some(&key_id), Some(&good)).await.0,
        401,
        "the body changed"
    );
    assert_eq!(
        t.forward_auth(&live).await.status(),
        204,
        "nothing was acted on"
    );

    // Unknown key ids do not hammer GitHub: one fetch for the first report, at most one
    // more for the flood.
    for _ in 0..20 {
        report(&t, &body, Some("another-made-up-id"), Some(&good)).await;
    }
    let fetches: u64 = serde_json::from_value(gh.json("/fetches").await).unwrap();
    assert!(fetches <= 2, "{fetches} fetches");

    // The real report.
    let (s, labels) = report(&t, &body, Some(&key_id), Some(&good)).await;
    assert_eq!(s, 200, "{labels}");
    let labels = labels.as_array().unwrap();
    let got: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| {
            (
                l["token_hash"].as_str().unwrap(),
                l["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (sha256(&live).as_str(), "true_positive"),
            (sha256(&broken).as_str(), "false_positive"),
            (sha256(&unknown).as_str(), "false_positive"),
            (sha256("kg_not-a-key").as_str(), "false_positive"),
        ]
    );
    assert!(labels.iter().all(|l| l["token_type"] == "keygate_api_key"));
    assert!(
        !labels.iter().any(|l| l.to_string().contains(&live)),
        "the key is never echoed"
    );
    assert_eq!(
        t.forward_auth(&live).await.status(),
        401,
        "leaks.action = disable"
    );
    assert_eq!(t.forward_auth(&other).await.status(), 204);
    let (_, audit) = api(
        &t,
        Method::GET,
        &format!("/api/audit?action=leak&token_id={}", rec.id),
        None,
    )
    .await;
    let e = &audit["events"][0];
    assert_eq!(e["actor"], "github");
    assert_eq!(
        e["changes"][0]["to"],
        "https://github.com/octo/repo/blob/abc/config.py"
    );
    let got = rx.wait_for(1, 10).await;
    let leaked: Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(leaked["type"], "key.leaked");
    assert_eq!(leaked["data"]["key"]["id"], rec.id.to_string());
    assert_eq!(
        leaked["data"]["found"]["url"],
        "https://github.com/octo/repo/blob/abc/config.py"
    );
    assert_eq!(leaked["data"]["action"], "disable");
    assert_eq!(got[0]["verified"], true);

    // Malformed bodies, signed: refused, nothing done.
    for bad in [
        "not json",
        "{\"token\": \"x\"}",
        "[{\"type\": \"t\"}]",
        "[1, 2]",
    ] {
        let sig = gh.sign(bad, "/sign").await;
        let (s, e) = report(&t, bad, Some(&key_id), Some(&sig)).await;
        assert_eq!(s, 400, "{bad}: {e}");
    }

    // Thousands of entries: answered in one go, each labelled.
    let (late, _) = t.create("carol", "late", &[]).await;
    let mut many: Vec<Value> = (0..5000)
        .map(|i| json!({"token": stranger(), "type": "keygate_api_key", "url": format!("https://github.com/o/r/blob/x/{i}"), "source": "content"}))
        .collect();
    many.push(json!({"token": late, "type": "keygate_api_key", "url": "https://github.com/o/r/blob/x/late", "source": "content"}));
    let big = Value::Array(many.clone()).to_string();
    let sig = gh.sign(&big, "/sign").await;
    let started = std::time::Instant::now();
    let (s, labels) = report(&t, &big, Some(&key_id), Some(&sig)).await;
    let took = started.elapsed();
    println!(
        "a report of 5001 tokens answered in {took:?} ({} bytes)",
        big.len()
    );
    assert_eq!(s, 200);
    let labels = labels.as_array().unwrap();
    assert_eq!(labels.len(), 5001);
    assert_eq!(
        labels
            .iter()
            .filter(|l| l["label"] == "true_positive")
            .count(),
        1
    );
    assert_eq!(labels[5000]["label"], "true_positive");
    assert!(took < Duration::from_secs(30), "{took:?}");
    // More than leaks.max_entries: refused whole.
    let (fresh, _) = t.create("dave", "fresh", &[]).await;
    many.extend((0..999).map(|_| json!({"token": stranger(), "type": "t"})));
    many.push(json!({"token": fresh, "type": "t"}));
    let huge = Value::Array(many).to_string();
    let sig = gh.sign(&huge, "/sign").await;
    let (s, e) = report(&t, &huge, Some(&key_id), Some(&sig)).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (413, Some("too_many_entries")),
        "{e}"
    );
    assert_eq!(
        t.forward_auth(&fresh).await.status(),
        204,
        "nothing in a refused report is acted on"
    );

    // GitHub's key server down: the keys held are used.
    gh.http
        .post(gh.url("/control"))
        .json(&json!({"down": true}))
        .send()
        .await
        .unwrap();
    let body = json!([{"token": fresh, "type": "t", "url": "u", "source": "s"}]).to_string();
    let sig = gh.sign(&body, "/sign").await;
    let (s, labels) = report(&t, &body, Some(&key_id), Some(&sig)).await;
    assert_eq!(
        (s, labels[0]["label"].as_str()),
        (200, Some("true_positive"))
    );
}

#[tokio::test]
async fn administrators_report_keys_from_their_own_scanners() {
    let t = TestApp::spawn_with(Backend::Memory, quick).await;
    let (live, rec) = t.create("alice", "k", &[]).await;
    let (notify_only, _) = t.create("alice", "n", &[]).await;
    let (s, a) = api(&t, Method::POST, "/api/leaks", Some(json!({"key": live, "found_at": "s3://logs/2026-12-07.gz", "source": "trufflehog", "action": "revoke"}))).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(
        (a["label"].as_str(), a["action"].as_str()),
        (Some("true_positive"), Some("revoke"))
    );
    assert_eq!(a["key_id"], rec.id.to_string());
    assert_eq!(t.forward_auth(&live).await.status(), 401);
    let (_, a) = api(
        &t,
        Method::POST,
        "/api/leaks",
        Some(json!({"key": notify_only, "found_at": "a ticket", "action": "notify"})),
    )
    .await;
    assert_eq!(a["action"], "notify");
    assert_eq!(
        t.forward_auth(&notify_only).await.status(),
        204,
        "notify only"
    );
    let (_, a) = api(
        &t,
        Method::POST,
        "/api/leaks",
        Some(json!({"key": stranger(), "found_at": "x"})),
    )
    .await;
    assert_eq!(
        (a["label"].as_str(), a["action"].as_str()),
        (Some("false_positive"), Some("none"))
    );
    let (_, a) = api(
        &t,
        Method::POST,
        "/api/leaks",
        Some(json!({"key": "garbage with spaces", "found_at": "x"})),
    )
    .await;
    assert_eq!(a["label"], "false_positive");
    for (body, status) in [
        (json!({"key": stranger(), "found_at": " "}), 422),
        (json!({"key": stranger()}), 422),
        (
            json!({"key": stranger(), "found_at": "x", "action": "explode"}),
            422,
        ),
        (json!({"key": stranger(), "found_at": "x", "extra": 1}), 422),
    ] {
        assert_eq!(
            api(&t, Method::POST, "/api/leaks", Some(body.clone()))
                .await
                .0,
            status,
            "{body}"
        );
    }
    let r = t
        .client
        .post(t.url("/api/leaks"))
        .json(&json!({"key": "x", "found_at": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "administrators only");
    // GitHub's endpoint is off unless leaks.github_enabled.
    assert_eq!(report(&t, "[]", Some("k"), Some("s")).await.0, 404);
}
