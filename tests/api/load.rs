//! `POST /load` and `GET /status`: the admin key, the happy paths, every kind of bad
//! upload (nothing changes), and the uploaded set surviving a restart.

use keygate::config::Secret;
use reqwest::multipart::{Form, Part};

use crate::helpers::{ADMIN_KEY, Backend, TestApp};

fn form(file: &[u8], json: Option<&str>) -> Form {
    let mut f = Form::new().part("file", Part::bytes(file.to_vec()).file_name("keys.txt"));
    if let Some(j) = json {
        f = f.part("json", Part::text(j.to_owned()));
    }
    f
}

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.admin_key = Some(Secret::new(ADMIN_KEY));
        c.load_max_bytes = 4096;
        c.cache.negative_ttl_secs = 0;
    })
    .await
}

async fn load(t: &TestApp, f: Form) -> (u16, serde_json::Value) {
    let r = t
        .admin(t.client.post(t.url("/load")))
        .multipart(f)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn code(t: &TestApp, key: &str) -> u16 {
    t.get("/forward-auth")
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn admin_key_is_required() {
    // With an identity provider configured and no admin_key, no admin key exists at all
    // (without one, single-operator mode would generate one).
    let none = TestApp::spawn_with(Backend::Memory, |c| {
        c.oauth.issuer_url = "http://127.0.0.1:9".into()
    })
    .await;
    for path in ["/status"] {
        let r = none
            .get(path)
            .bearer_auth("anything-at-all-long")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("admin_key"),
            "{body}"
        );
    }
    let r = none
        .client
        .post(none.url("/load"))
        .multipart(form(b"k1\n", None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let t = spawn(Backend::Memory).await;
    let r = t.get("/status").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = t
        .get("/status")
        .bearer_auth("wrong-admin-key-0123456")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = t
        .client
        .post(t.url("/load"))
        .bearer_auth("wrong")
        .multipart(form(b"k1\n", None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A gate key is not an admin key.
    let (key, _) = t.create("alice", "k", &[]).await;
    assert_eq!(
        t.get("/status")
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        t.admin(t.get("/status")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn plain_then_sha256_then_bad_uploads_change_nothing() {
    let t = spawn(Backend::Memory).await;
    let (c, body) = load(
        &t,
        form(
            b"# uploaded\nupload-key-0001\r\nupload-key-0002\n",
            Some(r#"{"format":"plain"}"#),
        ),
    )
    .await;
    assert_eq!(c, 200, "{body}");
    assert_eq!(body["file_key_count"], 2);
    assert_eq!(code(&t, "upload-key-0001").await, 204);
    let r = t
        .get("/forward-auth")
        .bearer_auth("upload-key-0002")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-authenticated-user"], "upload");

    let status: serde_json::Value = t
        .admin(t.get("/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["file_key_count"], 2);
    assert_eq!(status["file_hash"], body["file_hash"]);
    assert!(status["file_date"].is_string());
    assert_eq!(status["store"]["kind"], "memory");
    assert_eq!(status["store"]["healthy"], true);

    // sha256 with the file's own hash checked: replaces the set atomically.
    let file = format!(
        "{}\n",
        keygate::keyfile::sha256_hex(b"hashed-key-0003").to_uppercase()
    );
    let digest = keygate::keyfile::sha256_hex(file.as_bytes());
    let json = format!(r#"{{"format":"sha256","hash_input_file":"{digest}"}}"#);
    let (c, body) = load(&t, form(file.as_bytes(), Some(&json))).await;
    assert_eq!(c, 200, "{body}");
    assert_eq!(code(&t, "hashed-key-0003").await, 204);
    assert_eq!(
        code(&t, "upload-key-0001").await,
        401,
        "the previous upload is replaced"
    );

    // Every bad upload is a 400 (413 for size) and leaves the set as it was.
    let zeros = "0".repeat(64);
    let mismatch = format!(r#"{{"format":"sha256","hash_input_file":"{zeros}"}}"#);
    let bad: Vec<(Form, u16, &str)> = vec![
        (
            form(file.as_bytes(), Some(&mismatch)),
            400,
            "does not match",
        ),
        (form(b"", None), 400, "no keys"),
        (form(b"# only comments\n\n", None), 400, "no keys"),
        (
            form(b"\x00\x9f\x92\x96binary\xff\n\x01\x02", None),
            400,
            "line 1",
        ),
        (form(b"ok-key-0009\nnot ok\n", None), 400, "line 2"),
        (
            form(b"k1\n", Some(r#"{"format":"md5"}"#)),
            400,
            "plain or sha256",
        ),
        (form(b"k1\n", Some("{not json")), 400, "json"),
        (
            form(b"k1\n", Some(r#"{"format":"plain","extra":1}"#)),
            400,
            "json",
        ),
        (
            Form::new().part("json", Part::text(r#"{"format":"plain"}"#)),
            400,
            "`file` part is missing",
        ),
        (
            Form::new().part("other", Part::text("x")),
            400,
            "unknown part",
        ),
        (form(&vec![b'k'; 5000], None), 413, "load_max_bytes"),
    ];
    for (f, want, needle) in bad {
        let (c, body) = load(&t, f).await;
        assert_eq!(c, want, "{needle}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(needle),
            "{needle}: {body}"
        );
        assert_eq!(
            code(&t, "hashed-key-0003").await,
            204,
            "nothing changed after: {needle}"
        );
    }
    // Not multipart at all.
    let r = t
        .admin(t.client.post(t.url("/load")))
        .body("k1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Far over the limit: refused before it is read whole.
    let r = t
        .admin(t.client.post(t.url("/load")))
        .multipart(form(&vec![b'x'; 1_000_000], None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn uploaded_set_survives_a_restart() {
    for backend in [Backend::Redb, Backend::Valkey] {
        let t = spawn(backend).await;
        let (c, _) = load(&t, form(b"kept-key-0001\n", None)).await;
        assert_eq!(c, 200);
        let salt = t.app.config.clone();
        let (dir, valkey) = t.stop().await;
        // Start again on the same data dir / Valkey.
        let mut config = salt;
        config.data_dir = dir.path().to_path_buf();
        let app = keygate::app::App::open(config, keygate::clock::Clock::system()).unwrap();
        let t = TestApp::serve(std::sync::Arc::new(app), dir, valkey).await;
        assert_eq!(code(&t, "kept-key-0001").await, 204, "{backend:?}");
        assert_eq!(code(&t, "other-key-0002").await, 401, "{backend:?}");
        // At rest the plain keys are not there in clear.
        if let Backend::Redb = backend {
            let db = std::fs::read(t._data_dir.path().join("keygate.redb")).unwrap();
            assert!(
                !db.windows(13).any(|w| w == b"kept-key-0001"),
                "a plain key is stored in clear"
            );
        }
    }
}
