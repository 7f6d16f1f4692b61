//! Hardening of the management side (issue 12): names without invisible or
//! text-direction characters, bounded identity headers whatever the store holds, a cap
//! on keys per owner, pagination, per-owner audit retention, and damaged records that
//! are listed apart and can be deleted.

use std::collections::HashSet;
use std::sync::Arc;

use keygate::app::App;
use keygate::clock::Clock;
use keygate::config::Secret;
use keygate::token::KeyHash;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, TestApp, base_config, open_redb};
use crate::mgmt::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_and_bidi_characters_are_refused_with_the_field_named() {
    let e = Env::start(Backend::Memory).await;
    let alice = e.token("alice", &[]);
    for (body, field) in [
        (json!({"name": "invoice\u{202E}fdp.exe"}), "name"),
        (json!({"name": "\u{200B}"}), "name"),
        (json!({"name": "two\u{2028}lines"}), "name"),
        (json!({"name": "bom\u{FEFF}"}), "name"),
        (json!({"name": "tag\u{E0041}"}), "name"),
        (
            json!({"name": "ok", "metadata": {"team": "a\u{202E}b"}}),
            "metadata",
        ),
        (
            json!({"name": "ok", "metadata": {"te\u{200B}am": "a"}}),
            "metadata",
        ),
    ] {
        let (s, b) = e
            .call(Method::POST, "/api/me/tokens", &alice, Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["field"], field, "{body}: {b}");
        assert!(
            b["message"].as_str().unwrap().contains("U+")
                || b["message"].as_str().unwrap().contains("letters"),
            "the refused character is named: {b}"
        );
    }
    // An owner in the admin path, and a PATCH.
    let (s, b) = e
        .call(
            Method::POST,
            "/api/users/%E2%80%AEnimda/tokens",
            ADMIN_KEY,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("sub")), "{b}");
    let (s, c) = e
        .call(
            Method::POST,
            "/api/me/tokens",
            &alice,
            Some(json!({"name": "Größe 日本 ok"})),
        )
        .await;
    assert_eq!(s, 201, "ordinary non-ASCII text is fine: {c}");
    let id = c["id"].as_str().unwrap();
    let (s, b) = e
        .call(
            Method::PATCH,
            &format!("/api/me/tokens/{id}"),
            &alice,
            Some(json!({"name": "\u{2066}x"})),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("name")), "{b}");
    // The OIDC subject is the owner of self-service keys: a subject that is not a
    // valid owner cannot create any.
    let evil = e.token("\u{202E}alice", &[]);
    let (s, b) = e
        .call(
            Method::POST,
            "/api/me/tokens",
            &evil,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("owner")), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_are_bounded_whatever_the_store_holds() {
    let t = TestApp::spawn(Backend::Memory).await;
    let store = t.app.keys.store().clone();
    // Records written around the API's checks, as a bug or a hand edit could.
    let (long_key, mut long) = t.create("alice", "short", &[]).await;
    store.delete(&long.id).await.unwrap();
    long.name = format!("{}\u{202E}{}", "n".repeat(3_000_000), "x".repeat(2_000_000));
    store.insert(&long).await.unwrap();
    let (bad_owner_key, mut bad_owner) = t.create("bob", "fine", &[]).await;
    store.delete(&bad_owner.id).await.unwrap();
    bad_owner.owner = format!("bob{}", "\u{202E}".repeat(10));
    store.insert(&bad_owner).await.unwrap();
    let (huge_owner_key, mut huge_owner) = t.create("carol", "fine", &[]).await;
    store.delete(&huge_owner.id).await.unwrap();
    huge_owner.owner = "c".repeat(5_000_000);
    store.insert(&huge_owner).await.unwrap();

    let r = t.forward_auth(&long_key).await;
    assert_eq!(r.status(), 204);
    let name = r.headers()["x-authenticated-token-name"].to_str().unwrap();
    println!("name header: {} bytes (record: 5 MB)", name.len());
    assert_eq!(name, "n".repeat(keygate::manage::MAX_NAME_LEN));
    let total: usize = r
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    assert!(total < 4096, "response headers hold {total} bytes");
    for (key, what) in [
        (bad_owner_key, "bidi owner"),
        (huge_owner_key, "5 MB owner"),
    ] {
        let r = t.forward_auth(&key).await;
        assert_eq!(r.status(), 401, "{what}: an identity is never altered");
        assert!(r.headers().get("x-authenticated-user").is_none(), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_per_owner_are_capped_and_lists_are_paged() {
    let e = Env::start_with(Backend::Redb, |c| c.max_keys_per_owner = 5).await;
    let alice = e.token("alice", &[]);
    let mut ids = Vec::new();
    for i in 0..5 {
        let (s, c) = e
            .call(
                Method::POST,
                "/api/me/tokens",
                &alice,
                Some(json!({"name": format!("k{i}")})),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    // Through self-service and the admin routes alike; someone else is not affected.
    for (path, bearer, want) in [
        ("/api/me/tokens", alice.as_str(), 409),
        ("/api/users/alice/tokens", ADMIN_KEY, 409),
        ("/api/users/bob/tokens", ADMIN_KEY, 201),
    ] {
        let (s, b) = e
            .call(Method::POST, path, bearer, Some(json!({"name": "more"})))
            .await;
        assert_eq!(s, want, "{path}: {b}");
        if want == 409 {
            assert_eq!(b["error"], "too_many_keys", "{b}");
            assert!(b["message"].as_str().unwrap().contains('5'), "{b}");
        }
    }

    // Pages of 2 follow each other without gaps or repeats, on every key list.
    for (path, bearer, want) in [
        ("/api/me/tokens", alice.as_str(), 5),
        ("/api/users/alice/tokens", ADMIN_KEY, 5),
        ("/api/tokens", ADMIN_KEY, 6),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}?limit=2&cursor={c}"),
                None => format!("{path}?limit=2"),
            };
            let (s, page) = e.call(Method::GET, &url, bearer, None).await;
            assert_eq!(s, 200, "{url}: {page}");
            assert!(page["tokens"].as_array().unwrap().len() <= 2);
            seen.extend(
                page["tokens"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_str().unwrap().to_owned()),
            );
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), want, "{path}");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), want, "{path}");
        assert_eq!(pages, want.div_ceil(2), "{path}");
        if path == "/api/me/tokens" {
            let mut want = ids.clone();
            want.sort();
            let mut got = seen.clone();
            got.sort();
            assert_eq!(got, want);
        }
    }
    let (s, page) = e
        .call(Method::GET, "/api/users?limit=1", ADMIN_KEY, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(page["owners"], json!([{"owner": "alice", "keys": 5}]));
    let c = page["next_cursor"].as_str().unwrap();
    let (_, page) = e
        .call(
            Method::GET,
            &format!("/api/users?limit=1&cursor={c}"),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(page, json!({"owners": [{"owner": "bob", "keys": 1}]}));
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=zz", "cursor"),
        ("cursor=", "cursor"),
    ] {
        let (s, b) = e
            .call(
                Method::GET,
                &format!("/api/me/tokens?{query}"),
                &alice,
                None,
            )
            .await;
        assert_eq!((s, b["field"].as_str()), (422, Some(field)), "{query}: {b}");
    }
    // Deleting one makes room again.
    let (s, _) = e
        .call(
            Method::DELETE,
            &format!("/api/me/tokens/{}", ids[0]),
            &alice,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = e
        .call(
            Method::POST,
            "/api/me/tokens",
            &alice,
            Some(json!({"name": "room again"})),
        )
        .await;
    assert_eq!(s, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owner_cannot_flush_the_audit_log_of_others() {
    for backend in [Backend::Memory, Backend::Redb, Backend::Valkey] {
        audit_per_owner(backend).await;
    }
}

async fn audit_per_owner(backend: Backend) {
    // Thousands of writes one after another: a busy machine may take longer than the
    // tests' usual 300 ms for one of them.
    let t = TestApp::spawn_with(backend, |c| c.store_timeout_ms = 5_000).await;
    let store = t.app.keys.store().clone();
    let (_, bob) = t.create("bob", "bob's", &[]).await;
    let cap = keygate::store::AUDIT_MAX_PER_OWNER;
    // Far more events about mallory's keys than one owner may keep.
    let event = |seq| keygate::store::AuditEvent {
        seq,
        at: keygate::clock::Timestamp::from_unix(1),
        actor: "mallory".into(),
        auth: "oidc".into(),
        action: "update".into(),
        owner: "mallory".into(),
        token_id: None,
        client: None,
        name: None,
        changes: Vec::new(),
    };
    for i in 0..(cap as u64 + 50) {
        store.append_audit(&event(i)).await.unwrap();
    }
    let q = |owner: &str| keygate::store::AuditQuery {
        owner: Some(owner.into()),
        limit: usize::MAX,
        ..Default::default()
    };
    let bobs = store.list_audit(&q("bob")).await.unwrap();
    assert_eq!(bobs.len(), 1, "bob's create is still there");
    assert_eq!(bobs[0].token_id.as_ref(), Some(&bob.id));
    let mallorys = store.list_audit(&q("mallory")).await.unwrap();
    assert_eq!(mallorys.len(), cap, "mallory keeps only the newest {cap}");
}

/// Overwrites the stored record of `hash` with `bytes`, the way each store keeps
/// records (redb: the `records` table, with the server stopped; Valkey: `kg:h:<hash>`).
async fn corrupt(t: TestApp, backend: Backend, hash: &KeyHash, bytes: &[u8]) -> TestApp {
    match backend {
        Backend::Redb => {
            let (dir, _) = t.stop().await;
            {
                use redb::ReadableTable;
                const RECORDS: redb::TableDefinition<&[u8], &[u8]> =
                    redb::TableDefinition::new("records");
                let db = open_redb(&dir.path().join("keygate.redb"));
                let tx = db.begin_write().unwrap();
                {
                    let mut table = tx.open_table(RECORDS).unwrap();
                    assert!(table.get(hash.0.as_slice()).unwrap().is_some());
                    table.insert(hash.0.as_slice(), bytes).unwrap();
                }
                tx.commit().unwrap();
            }
            let mut config = base_config(dir.path());
            config.admin_key = Some(Secret::new(ADMIN_KEY));
            let app = App::open(config, Clock::system()).unwrap();
            TestApp::serve(Arc::new(app), dir, None).await
        }
        Backend::Valkey => {
            let v = t.valkey.as_ref().unwrap();
            let key = format!("kg:h:{}", hash.to_hex());
            let n: i64 = v.cmd(redis::cmd("EXISTS").arg(&key)).await;
            assert_eq!(n, 1);
            let () = v.cmd(redis::cmd("SET").arg(&key).arg(bytes)).await;
            t
        }
        _ => unreachable!(),
    }
}

async fn call(t: &TestApp, m: Method, path: &str) -> (u16, Value) {
    let r = t
        .admin(t.client.request(m, t.url(path)))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let text = r.text().await.unwrap();
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn damaged_records(backend: Backend) {
    let t = TestApp::spawn_with(backend, |c| c.admin_key = Some(Secret::new(ADMIN_KEY))).await;
    let (good_key, good) = t.create("alice", "good", &[]).await;
    let (bad_key, bad) = t.create("alice", "bad", &[]).await;
    let (_, other) = t.create("bob", "also bad", &[]).await;
    // Still JSON with an id and owner, but not a record; and bytes that are not JSON.
    let t = corrupt(
        t,
        backend,
        &bad.hash,
        format!(r#"{{"id":"{}","owner":"alice","hash":5}}"#, bad.id).as_bytes(),
    )
    .await;
    let t = corrupt(t, backend, &other.hash, b"\x00\xffnot json").await;

    // The gate still refuses the damaged key (fails closed), and serves the others.
    let gate = |key: String| {
        let t = &t;
        async move { t.forward_auth(&key).await.status().as_u16() }
    };
    let refused = gate(bad_key.clone()).await;
    assert!(
        !(200..300).contains(&refused),
        "damaged key answered {refused}"
    );
    assert_eq!(gate(good_key.clone()).await, 204);

    // Lists skip them and name them.
    let (s, all) = call(&t, Method::GET, "/api/tokens").await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["tokens"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all["tokens"][0]["id"], good.id.to_string());
    let mut damaged: Vec<&str> = all["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    damaged.sort();
    let mut want = vec![bad.id.as_str(), other.id.as_str()];
    want.sort();
    assert_eq!(damaged, want);
    let (s, alices) = call(&t, Method::GET, "/api/users/alice/tokens").await;
    assert_eq!(s, 200);
    assert_eq!(alices["damaged"], json!([{"id": bad.id.to_string()}]));
    let (s, users) = call(&t, Method::GET, "/api/users").await;
    assert_eq!(s, 200, "{users}");

    // Reading or changing one says what is wrong (not 500); the owner check still holds.
    let (s, b) = call(&t, Method::GET, &format!("/api/tokens/{}", bad.id)).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("damaged")), "{b}");
    let (s, b) = call(&t, Method::PATCH, &format!("/api/tokens/{}", bad.id)).await;
    assert!(s == 409 || s == 415, "{s} {b}");
    let (s, _) = call(
        &t,
        Method::DELETE,
        &format!("/api/users/bob/tokens/{}", bad.id),
    )
    .await;
    assert_eq!(s, 404, "another owner's path does not reach it");

    // Deleting works, and is audited.
    let (s, b) = call(
        &t,
        Method::DELETE,
        &format!("/api/users/alice/tokens/{}", bad.id),
    )
    .await;
    assert_eq!(s, 204, "{b}");
    let (s, _) = call(&t, Method::GET, &format!("/api/tokens/{}", bad.id)).await;
    assert_eq!(s, 404);
    let (_, audit) = call(&t, Method::GET, &format!("/api/audit?token_id={}", bad.id)).await;
    assert_eq!(audit["events"][0]["action"], "delete", "{audit}");
    assert_eq!(audit["events"][0]["owner"], "alice", "{audit}");
    assert_ne!(gate(bad_key).await, 204);

    // What `keygate doctor` runs finds the other one and, with --fix, removes it.
    let store = t.app.keys.store().clone();
    let found = store.check(false).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(other.id.as_str()), "{found:?}");
    assert_eq!(store.check(true).await.unwrap().len(), 1);
    assert!(store.check(false).await.unwrap().is_empty());
    let listing = store.list_all().await.unwrap();
    assert!(listing.damaged.is_empty());
    assert_eq!(
        listing.records.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&good.id]
    );
    assert!(store.list_by_owner("bob").await.unwrap().records.is_empty());
    assert_eq!(gate(good_key).await, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_records_redb() {
    damaged_records(Backend::Redb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_records_valkey() {
    damaged_records(Backend::Valkey).await;
}
