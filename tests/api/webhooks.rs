//! Webhooks end to end: a real receiver (tests/support/webhook_receiver.py) verifies
//! every delivery with the reference `standardwebhooks` library; keygate restarts,
//! receivers that are down, slow, redirecting, huge or gone; two replicas on one Valkey.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keygate::config::{Config, Secret};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

/// The receiver, on a port of its own.
pub struct Receiver {
    child: Child,
    pub port: u16,
    client: reqwest::Client,
}

impl Receiver {
    pub async fn start(secrets: &[&str]) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/webhook_receiver.py"
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
        let r = Receiver {
            child,
            port: line.trim().parse().expect("the receiver's port"),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        r.control(json!({"secrets": secrets})).await;
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn control(&self, v: Value) {
        let r = self
            .client
            .post(self.url("/control"))
            .json(&v)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    pub async fn received(&self) -> Vec<Value> {
        self.client
            .get(self.url("/received"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until `n` requests came (at most `secs`), and returns them.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received().await;
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Quick retries, private addresses allowed (the receiver is on loopback), an admin key.
pub fn quick(c: &mut Config) {
    c.admin_key = Some(Secret::new(ADMIN_KEY));
    c.events.allow_private_addresses = true;
    c.events.retry_schedule = ["200ms", "300ms", "400ms"].map(String::from).to_vec();
    c.events.timeout_secs = 2;
}

pub async fn register(t: &TestApp, body: Value) -> (String, String) {
    let r = t
        .admin(t.client.post(t.url("/api/webhooks")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    (
        v["endpoint"]["id"].as_str().unwrap().to_owned(),
        v["secret"].as_str().unwrap().to_owned(),
    )
}

pub async fn api(
    t: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = t.admin(t.client.request(method, t.url(path)));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn types(got: &[Value]) -> Vec<String> {
    got.iter()
        .map(|r| {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["type"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn key_events_reach_a_receiver_signed_as_the_standard_says() {
    let t = TestApp::spawn_with(Backend::Redb, quick).await;
    let rx = Receiver::start(&[]).await;
    let (_all, secret) = register(
        &t,
        json!({"url": rx.url("/all"), "description": "everything"}),
    )
    .await;
    let (_bob, bob_secret) = register(
        &t,
        json!({"url": rx.url("/bob-revokes"), "event_types": ["key.revoked"], "owners": ["bob"]}),
    )
    .await;
    rx.control(json!({"secrets": [secret, bob_secret]})).await;

    // Through the API: create, disable, enable, rename, rotate, revoke (alice); create
    // and revoke (bob).
    let (s, created) = api(
        &t,
        reqwest::Method::POST,
        "/api/users/alice/tokens",
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["token"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/tokens/{id}");
    assert_eq!(
        api(
            &t,
            reqwest::Method::PATCH,
            &path,
            Some(json!({"disabled": true}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api(
            &t,
            reqwest::Method::PATCH,
            &path,
            Some(json!({"disabled": false}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api(
            &t,
            reqwest::Method::PATCH,
            &path,
            Some(json!({"name": "ci-2"}))
        )
        .await
        .0,
        200
    );
    let (s, rotated) = api(
        &t,
        reqwest::Method::POST,
        &format!("{path}/rotate"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 201, "{rotated}");
    let new_id = rotated["token"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api(
            &t,
            reqwest::Method::DELETE,
            &format!("/api/tokens/{new_id}"),
            None
        )
        .await
        .0,
        204
    );
    let (_, bobs) = api(
        &t,
        reqwest::Method::POST,
        "/api/users/bob/tokens",
        Some(json!({"name": "b"})),
    )
    .await;
    let bob_id = bobs["token"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api(
            &t,
            reqwest::Method::DELETE,
            &format!("/api/tokens/{bob_id}"),
            None
        )
        .await
        .0,
        204
    );

    rx.wait_for(9, 20).await;
    // Nothing more comes (each event once per endpoint).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = rx.received().await;
    assert_eq!(got.len(), 9, "{got:#?}");
    assert!(
        got.iter().all(|r| r["verified"] == true),
        "every delivery verifies with the reference library: {got:#?}"
    );
    let all: Vec<Value> = got
        .iter()
        .filter(|r| r["path"] == "/all")
        .cloned()
        .collect();
    let mut seen = types(&all);
    seen.sort();
    let mut want: Vec<String> = [
        "key.created",
        "key.disabled",
        "key.enabled",
        "key.updated",
        "key.rotated",
        "key.revoked",
        "key.created",
        "key.revoked",
    ]
    .map(String::from)
    .to_vec();
    want.sort();
    assert_eq!(seen, want, "every change, once");
    let bob_only: Vec<Value> = got
        .iter()
        .filter(|r| r["path"] == "/bob-revokes")
        .cloned()
        .collect();
    assert_eq!(
        types(&bob_only),
        ["key.revoked"],
        "filtered by type and owner"
    );
    let body: Value = serde_json::from_str(bob_only[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["key"]["owner"], "bob");
    assert_eq!(body["data"]["key"]["id"], bob_id.as_str());
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["data"]["actor"]["auth"], "admin-key");
    // Nothing secret in any body: no key, no hash.
    let key = created["key"].as_str().unwrap();
    assert!(
        got.iter()
            .all(|r| !r["body"].as_str().unwrap().contains(key))
    );
    // The update says what changed.
    let update = all
        .iter()
        .find(|r| types(std::slice::from_ref(r)) == ["key.updated"])
        .unwrap();
    let body: Value = serde_json::from_str(update["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["changes"][0]["field"], "name");
    assert_eq!(body["data"]["changes"][0]["to"], "ci-2");
    // The rotated event names the key it replaces.
    let rot = all
        .iter()
        .find(|r| types(std::slice::from_ref(r)) == ["key.rotated"])
        .unwrap();
    let body: Value = serde_json::from_str(rot["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["key"]["replaces"], id.as_str());

    // Each delivery is listed with its attempt.
    let (s, page) = api(
        &t,
        reqwest::Method::GET,
        &format!("/api/webhooks/{_all}/deliveries"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let ds = page["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 8);
    assert!(
        ds.iter()
            .all(|d| d["state"] == "delivered" && d["attempts"][0]["status"] == 200)
    );
    assert_eq!(ds[0]["attempts"][0]["response"], "{\"received\": true}");

    let m = t
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("keygate_webhook_attempts_total{result=\"delivered\"} 9"),
        "{m}"
    );
    assert!(
        m.contains("keygate_events_total{result=\"written\"} 8"),
        "{m}"
    );
    assert!(m.contains("keygate_events_outbox 0"), "{m}");
}

#[tokio::test]
async fn a_wrong_secret_fails_verification_at_the_receiver() {
    // The receiver's check is not a formality: a secret that is not the endpoint's fails.
    let t = TestApp::spawn_with(Backend::Memory, quick).await;
    let rx = Receiver::start(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).await;
    register(&t, json!({"url": rx.url("/in")})).await;
    t.create("alice", "k", &[]).await;
    let got = rx.wait_for(1, 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["verified"], false);
    assert_eq!(got[0]["error"], "No matching signature found");
}

/// `keygate webhook …` on the store, and the same through a running server's API (a
/// runtime with threads: the CLI blocks this one while the server answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_endpoints_locally_and_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keygate.toml"),
        format!(
            "data_dir = {:?}\ntoken_salt = \"{}\"\n",
            dir.path().join("data"),
            crate::helpers::SALT
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| crate::helpers::run_cli(dir.path(), args);
    let refused = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert_eq!(cli(&["webhook", "list"]), "no webhook endpoints");
    let made = cli(&[
        "webhook",
        "create",
        "https://hooks.example.com/in",
        "--event-type",
        "key.*",
        "--owner",
        "alice",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&made).unwrap();
    let id = v["endpoint"]["id"].as_str().unwrap().to_owned();
    assert!(v["secret"].as_str().unwrap().starts_with("whsec_"));
    let listed = cli(&["webhook", "list"]);
    assert!(
        listed.contains(&id) && listed.contains("types=key.*") && listed.contains("owners=alice"),
        "{listed}"
    );
    assert!(
        !listed.contains(v["secret"].as_str().unwrap()),
        "the secret is not listed"
    );
    let updated = cli(&["webhook", "update", &id, "--all-owners", "--disable"]);
    assert!(
        updated.contains("owners=all") && updated.contains("DISABLED"),
        "{updated}"
    );
    let rotated = cli(&["webhook", "rotate-secret", &id, "--overlap", "0s"]);
    assert!(
        rotated.contains("whsec_") && !rotated.contains(v["secret"].as_str().unwrap()),
        "{rotated}"
    );
    assert!(cli(&["webhook", "types"]).contains("key.revoked"));
    // Bad input: refused with the flag or field named, nothing changed.
    assert!(refused(&["webhook", "create", "ftp://x"]).contains("url"));
    assert!(
        refused(&["webhook", "create", "http://127.0.0.1/"]).contains("allow_private_addresses")
    );
    assert!(
        refused(&[
            "webhook",
            "create",
            "https://x.example/",
            "--event-type",
            "nope"
        ])
        .contains("event_types")
    );
    assert!(refused(&["webhook", "rotate-secret", &id, "--overlap", "30d"]).contains("--overlap"));
    assert!(
        refused(&["webhook", "update", "ep_missing", "--enable"]).contains("no webhook endpoint")
    );
    assert!(
        refused(&["webhook", "update", &id, "--enable", "--disable"])
            .contains("cannot be used with")
    );
    assert_eq!(cli(&["webhook", "list"]).lines().count(), 1);
    // A key made with the CLI waits in the outbox for the server.
    cli(&["token", "create", "--owner", "alice", "--name", "x"]);

    // The same commands through a server's API.
    let rx = Receiver::start(&[]).await;
    let t = TestApp::spawn_with(Backend::Memory, quick).await;
    let server = t.url("");
    let api_cli = |args: &[&str]| {
        let mut all = vec!["webhook", "--server", &server, "--admin-key", ADMIN_KEY];
        all.extend_from_slice(args);
        crate::helpers::run_cli(dir.path(), &all)
    };
    let url = rx.url("/in");
    let made: Value = serde_json::from_str(&api_cli(&["create", &url, "--json"])).unwrap();
    let rid = made["endpoint"]["id"].as_str().unwrap().to_owned();
    rx.control(json!({"secrets": [made["secret"]]})).await;
    assert!(api_cli(&["test", &rid]).contains("queued delivery"));
    let got = rx.wait_for(1, 10).await;
    assert_eq!((got.len(), &got[0]["verified"]), (1, &json!(true)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = api_cli(&["deliveries", &rid]);
        if listed.contains("delivered") || tokio::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        listed.contains("webhook.test")
            && listed.contains("delivered")
            && listed.contains("last: 200"),
        "{listed}"
    );
    let delivery = listed.split_whitespace().next().unwrap().to_owned();
    assert!(api_cli(&["replay", &rid, &delivery]).contains("queued delivery"));
    assert_eq!(rx.wait_for(2, 10).await.len(), 2);
    assert!(api_cli(&["delete", &rid]).contains("deleted"));
    assert_eq!(api_cli(&["list"]), "no webhook endpoints");
}
