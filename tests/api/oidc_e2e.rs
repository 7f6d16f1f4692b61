//! End to end with a real OpenID Connect provider (npm `oidc-provider`, started here):
//! client-credentials grant, JWT access tokens through resource indicators, a `groups`
//! claim; a key created over the API is used at the gate.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider() -> Provider {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/oidc");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/oidc-provider")
            .is_dir(),
        "oidc-provider is not installed: run `make deps` (npm ci in tests/support/oidc)"
    );
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node (Node.js 20) is needed for the OIDC provider");
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let issuer = serde_json::from_str::<Value>(&line).unwrap()["issuer"]
        .as_str()
        .unwrap()
        .to_owned();
    Provider { child, issuer }
}

async fn access_token(client: &reqwest::Client, issuer: &str, id: &str) -> String {
    let r = client
        .post(format!("{issuer}/token"))
        .basic_auth(id, Some(format!("{id}-secret")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "api"),
            ("resource", "urn:keygate"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "token endpoint: {}",
        r.text().await.unwrap()
    );
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_provider_issues_tokens_keygate_accepts() {
    let p = start_provider();
    let issuer = p.issuer.clone();
    let t = TestApp::spawn_with(Backend::Redb, move |c| {
        c.oauth.issuer_url = issuer;
        c.oauth.audiences = vec!["keygate".into()];
    })
    .await;
    let user = access_token(&t.client, &p.issuer, "alice-svc").await;
    let admin = access_token(&t.client, &p.issuer, "admin-svc").await;

    // The verifier loads the provider's keys in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let me: Value = loop {
        let r = t.get("/api/me").bearer_auth(&user).send().await.unwrap();
        if r.status() != 503 {
            assert_eq!(r.status(), 200);
            break r.json().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "keys never loaded from {}",
            p.issuer
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        (me["subject"].as_str(), me["admin"].as_bool()),
        (Some("alice-svc"), Some(false))
    );

    let r = t
        .client
        .post(t.url("/api/me/tokens"))
        .bearer_auth(&user)
        .json(&json!({"name": "from oidc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    let gate = t
        .get("/forward-auth")
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(gate.status(), 204);
    assert_eq!(gate.headers()["x-authenticated-user"], "alice-svc");

    // The provider's groups claim makes admin-svc an administrator.
    let users: Value = t
        .get("/api/users")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users,
        json!({"owners": [{"owner": "alice-svc", "keys": 1}]})
    );
    assert_eq!(
        t.get("/api/users")
            .bearer_auth(&user)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}
