//! Importing rusty-valkey-forward-auth's data: records written the way it writes them,
//! with a known key and salt, then that key accepted at the gate.

use std::process::Command;

use keygate::token::{KeyHash, Salt};
use redis::AsyncCommands;

use crate::helpers::{SALT, Valkey};

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

/// Writes one key as rusty-valkey-forward-auth does (HSET + SADD in a MULTI).
async fn rvfa_write(url: &str, key: &str, sub: &str, description: &str) -> String {
    let hash = KeyHash::of(&Salt::from_hex(SALT).unwrap(), key).to_hex();
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::pipe()
        .atomic()
        .hset_multiple(
            format!("auth:token:{hash}"),
            &[
                ("sub", sub),
                ("created_at", "2025-03-04T05:06:07.123456789Z"),
                ("description", description),
            ],
        )
        .sadd(format!("auth:user_tokens:{sub}"), &hash)
        .query_async(&mut c)
        .await
        .unwrap();
    hash
}

fn keygate(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .args(["--data-dir", dir.to_str().unwrap(), "--token-salt", SALT])
        .env_clear()
        .current_dir(dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rvfa_records_import_and_keep_working() {
    let source = Valkey::start();
    // rvfa's keys are 32 random bytes in base64url; any string hashes the same way.
    let key = "Wm9vQmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo";
    // Text-direction characters are dropped from a description.
    rvfa_write(
        &source.url(),
        key,
        "alice@example.com",
        "lap\u{202E}top\u{200B}",
    )
    .await;
    // A subject that is not a valid owner is reported, not imported.
    rvfa_write(
        &source.url(),
        "mallory-rvfa-key-value-00000000000000000",
        "\u{202E}mallory",
        "x",
    )
    .await;
    rvfa_write(
        &source.url(),
        "another-rvfa-key-value-000000000000000000",
        "bob",
        "",
    )
    .await;
    {
        // Something that is not a token hash is reported, not imported.
        let client = redis::Client::open(source.url().as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let () = c.hset("auth:token:not-a-hash", "sub", "x").await.unwrap();
    }

    for dest in ["embedded", "valkey"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let target = Valkey::start();
        let mut extra: Vec<String> = Vec::new();
        if dest == "valkey" {
            extra = vec!["--valkey-url".into(), target.url()];
        }
        let with = |args: &[&str]| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(extra.iter().map(String::as_str));
            keygate(d, &all)
        };
        let dry = with(&[
            "import",
            "rvfa",
            "--from-valkey-url",
            &source.url(),
            "--dry-run",
        ]);
        let msg = String::from_utf8_lossy(&dry.stderr);
        assert!(
            dry.status.success() && msg.contains("would import 2"),
            "{dest}: {msg}"
        );
        let list = with(&["token", "list", "--json"]);
        assert_eq!(
            String::from_utf8_lossy(&list.stdout).trim(),
            "[]",
            "{dest}: dry run wrote nothing"
        );

        let out = with(&["import", "rvfa", "--from-valkey-url", &source.url()]);
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{dest}: {msg}");
        assert!(
            msg.contains("imported 2, skipped 0") && msg.contains("invalid 2"),
            "{dest}: {msg}"
        );
        // Idempotent.
        let again = String::from_utf8_lossy(
            &with(&["import", "rvfa", "--from-valkey-url", &source.url()]).stderr,
        )
        .into_owned();
        assert!(again.contains("imported 0, skipped 2"), "{dest}: {again}");

        let list: serde_json::Value = serde_json::from_slice(
            &with(&["token", "list", "--owner", "alice@example.com", "--json"]).stdout,
        )
        .unwrap();
        assert_eq!(list[0]["name"], "laptop");
        assert_eq!(list[0]["created_at"], "2025-03-04T05:06:07Z");

        // The imported key works at the gate, under its old owner.
        let mut config = crate::helpers::base_config(d);
        if dest == "valkey" {
            config.valkey_url = Some(target.url());
        }
        let app = keygate::app::App::open(config, keygate::clock::Clock::system()).unwrap();
        let t = crate::helpers::TestApp::serve(
            std::sync::Arc::new(app),
            tempfile::tempdir().unwrap(),
            None,
        )
        .await;
        let r = t
            .get("/forward-auth")
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{dest}");
        assert_eq!(r.headers()["x-authenticated-user"], "alice@example.com");
        t.stop().await;
    }

    let dir = tempfile::tempdir().unwrap();
    let out = keygate(
        dir.path(),
        &["import", "rvfa", "--from-valkey-url", "redis://127.0.0.1:1"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}
