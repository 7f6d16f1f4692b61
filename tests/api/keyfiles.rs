//! Key files: hot reload on write and on atomic rename, bad files keep the old set,
//! sha256 files in either case, comments, blank lines, CRLF, a million lines.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keygate::app::App;
use keygate::clock::Clock;
use keygate::config::KeyFileConfig;
use keygate::token::Salt;

use crate::helpers::{ADMIN_KEY, Backend, SALT, TestApp, base_config};

fn sha256_hex(s: &str) -> String {
    keygate::keyfile::sha256_hex(s.as_bytes())
}

fn key_file(path: &Path, format: &str, owner: Option<&str>) -> KeyFileConfig {
    KeyFileConfig {
        path: path.to_path_buf(),
        format: format.into(),
        owner: owner.map(Into::into),
        name: None,
    }
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

/// Waits (bounded) until `key` gets `want`.
async fn until(t: &TestApp, key: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if code(t, key).await == want {
            return;
        }
        assert!(Instant::now() < deadline, "{key} never answered {want}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn status(t: &TestApp) -> serde_json::Value {
    t.admin(t.get("/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn spawn(files: Vec<KeyFileConfig>) -> TestApp {
    TestApp::spawn_with(Backend::Memory, |c| {
        c.key_files = files;
        c.key_files_poll_ms = 50;
        c.admin_key = Some(keygate::config::Secret::new(ADMIN_KEY));
        c.cache.negative_ttl_secs = 0;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_on_write_on_rename_bad_file_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partners.keys");
    std::fs::write(&path, "# partners\nalpha-key-0001\n").unwrap();
    let t = spawn(vec![key_file(&path, "plain", Some("svc-partners"))]).await;

    let r = t
        .get("/forward-auth")
        .bearer_auth("alpha-key-0001")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["x-authenticated-user"], "svc-partners");
    assert!(
        r.headers()["x-authenticated-token-id"]
            .to_str()
            .unwrap()
            .starts_with("kf_")
    );
    assert_eq!(code(&t, "beta-key-0002").await, 401);

    // Written in place.
    std::fs::write(&path, "beta-key-0002\n").unwrap();
    until(&t, "beta-key-0002", 204).await;
    assert_eq!(code(&t, "alpha-key-0001").await, 401);

    // Replaced by an atomic rename, as Kubernetes does with mounted Secrets.
    let tmp = dir.path().join(".partners.tmp");
    std::fs::write(&tmp, "gamma-key-0003\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    until(&t, "gamma-key-0003", 204).await;
    assert_eq!(code(&t, "beta-key-0002").await, 401);

    // A bad file is rejected whole; the previous set stays; every bad line is named.
    // (Replaced by a rename too: written in place, a poll could read the file empty
    // half-way through the write and load that, an empty set, before the bad one.)
    std::fs::write(&tmp, b"good-key-0004\nbad key\n\xff\xfe\nkg_short\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let error = loop {
        let s = status(&t).await;
        if let Some(e) = s["key_files"][0]["last_error"].as_str() {
            break e.to_owned();
        }
        assert!(Instant::now() < deadline, "no error reported: {s}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for n in ["line 2", "line 3", "line 4"] {
        assert!(error.contains(n), "{error}");
    }
    assert!(!error.contains("line 1:"), "{error}");
    assert_eq!(code(&t, "gamma-key-0003").await, 204);
    assert_eq!(code(&t, "good-key-0004").await, 401);

    // Removed: the last good set stays in force.
    std::fs::remove_file(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if status(&t).await["key_files"][0]["last_error"] == "file not found" {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(code(&t, "gamma-key-0003").await, 204);
}

#[tokio::test]
async fn sha256_files_comments_blank_lines_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hashed.txt");
    let text = format!(
        "# AKAS style\r\n\r\n{}\r\n   {}   \r\n# end\r\n",
        sha256_hex("first-secret-key").to_uppercase(),
        sha256_hex("second-secret-key")
    );
    std::fs::write(&path, text).unwrap();
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, "\r\n# one key\r\nthird-secret-key\r\n").unwrap();
    let t = spawn(vec![
        key_file(&path, "sha256", None),
        key_file(&plain, "plain", None),
    ])
    .await;
    for k in ["first-secret-key", "second-secret-key", "third-secret-key"] {
        assert_eq!(code(&t, k).await, 204, "{k}");
    }
    let r = t
        .get("/forward-auth")
        .bearer_auth("first-secret-key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-authenticated-user"],
        "hashed.txt",
        "owner defaults to the file name"
    );
    assert_eq!(code(&t, "not-in-any-file").await, 401);
    let s = status(&t).await;
    assert_eq!(s["key_files"][0]["key_count"], 2);
    assert_eq!(s["key_files"][0]["format"], "sha256");
    assert_eq!(s["key_files"][1]["key_count"], 1);
    assert_eq!(s["key_files"][0]["file_hash"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn missing_or_bad_file_at_startup_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing: PathBuf = dir.path().join("nope.keys");
    let mut config = base_config(dir.path());
    config.key_files = vec![key_file(&missing, "plain", None)];
    let app = App::memory(
        config.clone(),
        Clock::system(),
        Salt::from_hex(SALT).unwrap(),
    )
    .unwrap();
    let e = app.prepare().await.unwrap_err().to_string();
    assert!(e.contains("nope.keys"), "{e}");

    let bad = dir.path().join("bad.keys");
    std::fs::write(&bad, "zz\n").unwrap();
    config.key_files = vec![key_file(&bad, "sha256", None)];
    let app = App::memory(config, Clock::system(), Salt::from_hex(SALT).unwrap()).unwrap();
    let e = app.prepare().await.unwrap_err().to_string();
    assert!(e.contains("line 1: not 64 hexadecimal"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_line_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("million.keys");
    let mut text = String::with_capacity(20_000_000);
    for i in 0..1_000_000u32 {
        text.push_str(&format!("bulk-key-{i:08}\n"));
    }
    std::fs::write(&path, text).unwrap();
    let t = spawn(vec![key_file(&path, "plain", Some("bulk"))]).await;
    for i in [0u32, 1, 499_999, 999_999] {
        assert_eq!(code(&t, &format!("bulk-key-{i:08}")).await, 204, "{i}");
    }
    assert_eq!(code(&t, "bulk-key-01000000").await, 401);
    assert_eq!(status(&t).await["key_files"][0]["key_count"], 1_000_000);
}

/// A key file written in place (`echo … > keys.txt`, an editor without write-then-rename)
/// goes through states no one meant: empty, then half a line. A poll that catches one
/// loaded it — an empty or partial set — or rejected it as bad while the truncated set
/// stayed. A changed file is now loaded only once it has stayed the same for a poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_in_place_is_loaded_only_once_complete() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.keys");
    std::fs::write(&path, "first-key-0000\n").unwrap();
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.key_files = vec![key_file(&path, "plain", None)];
        // The writer below pauses 20 ms between pieces: a 25th of a poll, so a busy
        // machine that holds the writer back for a while still writes within one.
        c.key_files_poll_ms = 500;
        c.admin_key = Some(keygate::config::Secret::new(ADMIN_KEY));
        c.cache.negative_ttl_secs = 0;
    })
    .await;
    let keys: Vec<String> = (1..=40)
        .map(|i| format!("slowly-written-key-{i:04}"))
        .collect();
    let text = keys.iter().map(|k| format!("{k}\n")).collect::<String>();
    let writer = {
        let (path, text) = (path.clone(), text.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(&path).unwrap(); // truncated: empty now
            for piece in text.as_bytes().chunks(17) {
                std::thread::sleep(Duration::from_millis(20));
                f.write_all(piece).unwrap(); // often half a line
                f.flush().unwrap();
            }
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    while !writer.is_finished() {
        let s = status(&t).await;
        let file = &s["key_files"][0];
        assert!(
            file["last_error"].is_null(),
            "a half-written file was read: {s}"
        );
        seen.insert(file["key_count"].as_u64().unwrap_or(u64::MAX));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.join().unwrap();
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [1],
        "only the old set was in force while the file was being written"
    );
    until(&t, &keys[39], 204).await;
    let s = status(&t).await;
    assert_eq!(s["key_files"][0]["key_count"], 40, "{s}");
    assert!(s["key_files"][0]["last_error"].is_null(), "{s}");
    assert_eq!(code(&t, "first-key-0000").await, 401);
}
