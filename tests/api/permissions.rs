//! Permissions and roles (issue 25): roles managed by administrators, owner grants
//! inherited by keys, self-service keys kept within their owner's grants, and what a
//! request requires asked at every gate endpoint — `/verify`'s query, configured
//! `[[permissions.require]]` entries, a trusted proxy's requirement header, inline
//! routes — with every change audited and seen by other replicas at once.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, TestApp};
use crate::inline::Inline;
use crate::mgmt::Env;

fn require(query: &str, paths: &[&str], methods: &[&str]) -> keygate::config::RequireConfig {
    keygate::config::RequireConfig {
        paths: paths.iter().map(|s| (*s).to_owned()).collect(),
        methods: methods.iter().map(|s| (*s).to_owned()).collect(),
        query: query.into(),
        ..Default::default()
    }
}

async fn admin(e: &Env, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    e.call(m, path, ADMIN_KEY, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_managed_and_self_service_stays_within_the_owner_grants() {
    let e = Env::start(Backend::Redb).await;
    let alice = e.token("alice", &[]);
    for (name, perms) in [
        ("docs-reader", json!(["docs.read"])),
        ("billing", json!(["billing.*"])),
    ] {
        let (s, b) = admin(
            &e,
            Method::POST,
            "/api/roles",
            Some(json!({"name": name, "description": "d", "permissions": perms})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        assert_eq!(b["name"], name);
    }
    // Malformed names and permissions: 400, naming the field and the position.
    for (body, field, says) in [
        (
            json!({"name": "-x", "permissions": []}),
            "name",
            "not a role name",
        ),
        (
            json!({"name": "a b", "permissions": []}),
            "name",
            "at position 2",
        ),
        (
            json!({"name": "ok", "permissions": ["docs..read"]}),
            "permissions",
            "at position 6",
        ),
        (
            json!({"name": "ok", "permissions": ["docs.r*"]}),
            "permissions",
            "at position 7",
        ),
    ] {
        let (s, b) = admin(&e, Method::POST, "/api/roles", Some(body.clone())).await;
        assert_eq!((s, b["field"].as_str()), (400, Some(field)), "{body}: {b}");
        assert!(b["message"].as_str().unwrap().contains(says), "{b}");
    }
    let (s, b) = admin(
        &e,
        Method::POST,
        "/api/roles",
        Some(json!({"name": "billing", "permissions": []})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    let (s, _) = admin(
        &e,
        Method::POST,
        "/api/roles",
        Some(json!({"name": "x", "permissions": [], "admin": true})),
    )
    .await;
    assert_eq!(s, 422, "unknown fields are refused");
    let too_many: Vec<String> = (0..257).map(|i| format!("p{i}")).collect();
    let (s, b) = admin(
        &e,
        Method::POST,
        "/api/roles",
        Some(json!({"name": "big", "permissions": too_many})),
    )
    .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("permissions")), "{b}");
    // Users may not manage roles or see them all.
    let (s, _) = e.call(Method::GET, "/api/roles", &alice, None).await;
    assert_eq!(s, 403);
    let (s, _) = e
        .call(
            Method::POST,
            "/api/roles",
            &alice,
            Some(json!({"name": "mine", "permissions": ["*"]})),
        )
        .await;
    assert_eq!(s, 403);

    // Owner grants: only existing roles.
    let (s, b) = admin(
        &e,
        Method::PUT,
        "/api/users/alice/roles",
        Some(json!({"roles": ["docs-reader", "nope"]})),
    )
    .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("roles")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("nope"), "{b}");
    let (s, b) = admin(
        &e,
        Method::PUT,
        "/api/users/alice/roles",
        Some(json!({"roles": ["docs-reader"]})),
    )
    .await;
    assert_eq!((s, &b["roles"]), (200, &json!(["docs-reader"])), "{b}");
    let (_, g) = e.call(Method::GET, "/api/me/grants", &alice, None).await;
    assert_eq!(g["any"], false);
    assert_eq!(g["permissions"], json!(["docs.read"]));
    assert_eq!(g["roles"][0]["name"], "docs-reader");
    let (_, g) = admin(&e, Method::GET, "/api/me/grants", None).await;
    assert_eq!(
        (g["any"].as_bool(), g["roles"].as_array().unwrap().len()),
        (Some(true), 2)
    );

    // Self-service: a narrower key, never a wider one.
    let create = |body: Value| e.call(Method::POST, "/api/me/tokens", &alice, Some(body));
    let (s, narrow) = create(
        json!({"name": "narrow", "permissions": ["docs.read"], "inherit_owner_roles": false}),
    )
    .await;
    assert_eq!(s, 201, "{narrow}");
    for (body, field, names) in [
        (
            json!({"name": "w", "permissions": ["docs.write"]}),
            "permissions",
            "docs.write",
        ),
        (
            json!({"name": "w", "permissions": ["docs.*"]}),
            "permissions",
            "docs.*",
        ),
        (
            json!({"name": "w", "roles": ["billing"]}),
            "roles",
            "billing",
        ),
    ] {
        let (s, b) = create(body.clone()).await;
        assert_eq!((s, b["field"].as_str()), (422, Some(field)), "{body}: {b}");
        assert!(b["message"].as_str().unwrap().contains(names), "{b}");
    }
    let (s, b) = create(json!({"name": "w", "roles": ["ghost"]})).await;
    assert_eq!(
        (s, b["field"].as_str()),
        (422, Some("roles")),
        "unknown role: {b}"
    );
    let (s, b) = create(json!({"name": "w", "permissions": ["a..b"]})).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("permissions")), "{b}");
    let (s, plain) = create(json!({"name": "plain"})).await;
    assert_eq!(s, 201);
    assert_eq!(plain["token"]["inherit_owner_roles"], true);
    let plain_id = plain["id"].as_str().unwrap();
    let (_, eff) = e
        .call(
            Method::GET,
            &format!("/api/me/tokens/{plain_id}/permissions"),
            &alice,
            None,
        )
        .await;
    assert_eq!(
        eff["permissions"],
        json!([{"permission": "docs.read", "sources": ["owner-role:docs-reader"]}])
    );
    // An administrator attaches a role the owner does not hold; the owner may keep it
    // while changing other things, and add only what their grants cover.
    let (s, b) = admin(
        &e,
        Method::PATCH,
        &format!("/api/users/alice/tokens/{plain_id}"),
        Some(json!({"roles": ["billing"], "permissions": ["reports.read"]})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let mine = format!("/api/me/tokens/{plain_id}");
    let patch = |body: Value| e.call(Method::PATCH, &mine, &alice, Some(body));
    let (s, b) = patch(json!({"name": "renamed"})).await;
    assert_eq!((s, &b["roles"]), (200, &json!(["billing"])), "{b}");
    let (s, b) = patch(
        json!({"roles": ["billing", "docs-reader"], "permissions": ["reports.read", "docs.read"]}),
    )
    .await;
    assert_eq!(s, 200, "kept and covered: {b}");
    let (s, b) = patch(json!({"permissions": ["billing.read"]})).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("permissions")), "{b}");
    let (_, eff) = e
        .call(
            Method::GET,
            &format!("/api/me/tokens/{plain_id}/permissions"),
            &alice,
            None,
        )
        .await;
    assert_eq!(
        eff["permissions"],
        json!([
            {"permission": "billing.*", "sources": ["role:billing"]},
            {"permission": "docs.read", "sources": ["key", "role:docs-reader", "owner-role:docs-reader"]},
            {"permission": "reports.read", "sources": ["key"]},
        ])
    );
    // Another user's key is not found, as everywhere.
    let bob = e.token("bob", &[]);
    let (s, _) = e
        .call(
            Method::GET,
            &format!("/api/me/tokens/{plain_id}/permissions"),
            &bob,
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Deleting a role in use: refused, unless detached (each change audited).
    let (s, b) = admin(&e, Method::DELETE, "/api/roles/billing", None).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("role_in_use")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("1 key"), "{b}");
    let (s, _) = admin(
        &e,
        Method::DELETE,
        "/api/roles/docs-reader?detach=maybe",
        None,
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = admin(&e, Method::DELETE, "/api/roles/billing?detach=true", None).await;
    assert_eq!(s, 204);
    let (_, k) = e
        .call(
            Method::GET,
            &format!("/api/me/tokens/{plain_id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(k["roles"], json!(["docs-reader"]));
    let (s, _) = admin(&e, Method::GET, "/api/roles/billing", None).await;
    assert_eq!(s, 404);

    // The audit log has every change with its diff.
    let (_, log) = admin(&e, Method::GET, "/api/audit?limit=100", None).await;
    let events = log["events"].as_array().unwrap();
    let find = |action: &str| -> Vec<&Value> {
        events.iter().filter(|ev| ev["action"] == action).collect()
    };
    let created = find("role.create");
    assert_eq!(created.len(), 2);
    assert!(created.iter().any(|ev| {
        ev["name"] == "billing"
            && ev["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["field"] == "permissions" && c["to"] == "billing.*")
    }));
    let grant = find("grant");
    assert_eq!(grant[0]["owner"], "alice");
    assert_eq!(grant[0]["changes"][0]["to"], "docs-reader");
    let deleted = find("role.delete");
    assert_eq!(deleted[0]["name"], "billing");
    let detached = events.iter().find(|ev| {
        ev["action"] == "update"
            && ev["changes"].as_array().is_some_and(|c| {
                c.iter().any(|c| {
                    c["field"] == "roles"
                        && c["from"] == "billing, docs-reader"
                        && c["to"] == "docs-reader"
                })
            })
    });
    assert!(
        detached.is_some(),
        "the detach is audited on the key: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gate_endpoint_asks_what_the_request_requires() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.permissions.require = vec![
            require("docs.read", &["/docs/*"], &["GET", "HEAD"]),
            require("docs.write", &["/docs/*"], &[]),
        ];
        c.permissions.upstream_header = "X-Keygate-Permissions".into();
    })
    .await;
    let keys = &t.app.keys;
    let cli = keygate::manage::Actor::cli();
    keys.create_role(
        keygate::permissions::RoleName::parse("reader").unwrap(),
        String::new(),
        vec![keygate::permissions::Permission::parse("docs.read").unwrap()],
        &cli,
    )
    .await
    .unwrap();
    keys.set_owner_roles(
        "alice",
        vec![keygate::permissions::RoleName::parse("reader").unwrap()],
        &cli,
    )
    .await
    .unwrap();
    let (reader, _) = t.create("alice", "reader", &[]).await;
    let (none, _) = t.create("bob", "nothing", &[]).await;
    let fa = |key: &str, method: &str, uri: &str| {
        t.get("/forward-auth")
            .bearer_auth(key)
            .header("X-Forwarded-Method", method)
            .header("X-Forwarded-Uri", uri)
            .header("X-Forwarded-Host", "api.example.com")
    };
    let r = fa(&reader, "GET", "/docs/a").send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["x-keygate-permissions"], "docs.read");
    let r = fa(&reader, "POST", "/docs/a").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "insufficient_permissions");
    assert_eq!(b["missing"], json!(["docs.write"]));
    assert!(b["message"].as_str().unwrap().contains("docs.write"));
    // No entry matches: no requirement.
    assert_eq!(
        fa(&none, "POST", "/other").send().await.unwrap().status(),
        204
    );
    assert_eq!(
        fa(&none, "GET", "/docs/a").send().await.unwrap().status(),
        403
    );
    // The path is read as the rules read it: a dot-segment does not step out of /docs.
    assert_eq!(
        fa(&none, "GET", "/x/../docs/a")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // A requirement named by a trusted proxy (loopback is trusted by default) applies
    // with the configured one; one that does not parse refuses the request.
    let r = fa(&reader, "GET", "/other")
        .header(
            "X-Keygate-Require",
            "docs.read AND (billing.read OR billing.admin)",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["missing"],
        json!(["billing.read"])
    );
    let r = fa(&reader, "GET", "/other")
        .header("X-Keygate-Require", "docs.read OR")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_requirement"
    );
    let r = fa(&reader, "GET", "/other")
        .header("X-Keygate-Require", "")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "an empty header requires nothing");
    // nginx's /auth and Envoy's /ext-authz ask the same.
    let r = t
        .get("/auth")
        .bearer_auth(&reader)
        .header("X-Original-Method", "DELETE")
        .header("X-Original-URI", "/docs/a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = t
        .client
        .delete(t.url("/ext-authz/docs/a"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = t
        .get("/ext-authz/docs/a")
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // /verify: a query in the body.
    let verify = |key: &str, q: &str| {
        t.client
            .post(t.url("/verify"))
            .json(&json!({"key": key, "permissions": q}))
            .send()
    };
    let b: Value = verify(&reader, "docs.read AND (docs.write OR docs.*) OR docs.read")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (b["valid"].as_bool(), &b["permissions"]),
        (Some(true), &json!(["docs.read"])),
        "{b}"
    );
    let b: Value = verify(&reader, "docs.read AND docs.write AND billing.read")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b["code"], "insufficient_permissions", "{b}");
    assert_eq!(b["missing"], json!(["docs.write", "billing.read"]));
    for (q, at) in [
        ("docs.read AND", "at position 14"),
        ("(docs.read", "at position 11"),
        ("docs.read ) x", "at position 11"),
        ("docs read", "at position 6"),
    ] {
        let r = verify(&reader, q).await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let b: Value = r.json().await.unwrap();
        assert!(b["message"].as_str().unwrap().contains(at), "{q}: {b}");
    }
    let deep = format!("{}docs.read{}", "(".repeat(9), ")".repeat(9));
    let r = verify(&reader, &deep).await.unwrap();
    assert_eq!(r.status(), 400, "over the depth bound");
    let long = vec!["a"; 40].join(" OR ");
    let b: Value = verify(&reader, &long).await.unwrap().json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("at most 32"), "{b}");

    // A role gaining a permission lets its keys through at once (this process was told).
    keys.update_role(
        &keygate::permissions::RoleName::parse("reader").unwrap(),
        keygate::manage::RolePatch {
            permissions: Some(vec![
                keygate::permissions::Permission::parse("docs.*").unwrap(),
            ]),
            ..Default::default()
        },
        &cli,
    )
    .await
    .unwrap();
    let r = fa(&reader, "POST", "/docs/a").send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["x-keygate-permissions"], "docs.*");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requirement_header_from_an_untrusted_address_changes_nothing() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.trusted_proxies = Vec::new();
        c.permissions.require = vec![require("docs.read", &["/docs/*"], &[])];
    })
    .await;
    let (key, _) = t.create("alice", "k", &[]).await;
    let fa = |uri: &str, header: &str| {
        t.get("/forward-auth")
            .bearer_auth(&key)
            .header("X-Forwarded-Uri", uri)
            .header("X-Keygate-Require", header)
            .send()
    };
    // Neither adds a requirement nor removes the configured one.
    assert_eq!(fa("/other", "billing.read").await.unwrap().status(), 204);
    assert_eq!(fa("/other", "((((").await.unwrap().status(), 204);
    assert_eq!(fa("/docs/a", "").await.unwrap().status(), 403);
}

#[tokio::test]
async fn inline_routes_require_their_permissions_and_say_which_upstream() {
    let p = Inline::start(|c, up| {
        let route = |v: Value| serde_json::from_value::<keygate::config::RouteConfig>(v).unwrap();
        c.proxy.upstream = String::new();
        c.proxy.routes = vec![
            route(json!({"name": "write", "methods": ["POST", "PUT", "DELETE"], "upstream": up.url(), "permissions": "docs.write"})),
            route(json!({"name": "read", "upstream": up.url(), "permissions": "docs.read OR docs.write"})),
        ];
        c.permissions.upstream_header = "X-Keygate-Permissions".into();
        c.proxy.assertion.enabled = true;
    })
    .await;
    let keys = &p.t.app.keys;
    let mut reader = keygate::manage::NewToken {
        owner: "carol".into(),
        name: "reader".into(),
        ..Default::default()
    };
    reader.grants.permissions = vec![keygate::permissions::Permission::parse("docs.read").unwrap()];
    let (reader, _) = keys
        .create(reader, &keygate::manage::Actor::cli())
        .await
        .unwrap();
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let echo: Value = c
        .get(p.url("/page"))
        .bearer_auth(reader.expose())
        .header("X-Keygate-Permissions", "*")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seen = |name: &str| {
        echo["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == name)
            .map(|h| h[1].as_str().unwrap().to_owned())
    };
    assert_eq!(
        seen("x-keygate-permissions").as_deref(),
        Some("docs.read"),
        "{echo}"
    );
    let token = seen("x-keygate-assertion").unwrap();
    let claims: Value = {
        use base64::Engine;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        serde_json::from_slice(&b).unwrap()
    };
    assert_eq!(claims["permissions"], json!(["docs.read"]));
    let hits = p.up.hits();
    let r = c
        .post(p.url("/page"))
        .bearer_auth(reader.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(
        r.json::<Value>().await.unwrap()["missing"],
        json!(["docs.write"])
    );
    assert_eq!(p.up.hits(), hits, "refused before the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_change_reaches_every_replica_in_milliseconds() {
    let a = TestApp::spawn_with(Backend::Valkey, |c| {
        c.permissions.require = vec![require("docs.write", &[], &["POST"])];
        c.store_timeout_ms = 2000;
    })
    .await;
    let url = a.valkey.as_ref().unwrap().url();
    let b = TestApp::spawn_with(Backend::Redb, |c| {
        c.valkey_url = Some(url);
        c.permissions.require = vec![require("docs.write", &[], &["POST"])];
        c.store_timeout_ms = 2000;
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(a.app.gate.cache_trusted() && b.app.gate.cache_trusted()) {
        assert!(Instant::now() < deadline, "the replicas never followed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cli = keygate::manage::Actor::cli();
    let writer = keygate::permissions::RoleName::parse("writer").unwrap();
    a.app
        .keys
        .create_role(
            writer.clone(),
            String::new(),
            vec![keygate::permissions::Permission::parse("docs.write").unwrap()],
            &cli,
        )
        .await
        .unwrap();
    let mut t = keygate::manage::NewToken {
        owner: "dora".into(),
        name: "w".into(),
        ..Default::default()
    };
    t.grants.roles = vec![writer.clone()];
    let (key, _) = a.app.keys.create(t, &cli).await.unwrap();
    let post = |t: &TestApp| {
        t.get("/forward-auth")
            .bearer_auth(key.expose())
            .header("X-Forwarded-Method", "POST")
            .send()
    };
    // Both replicas let it through and have it cached.
    for _ in 0..3 {
        assert_eq!(post(&a).await.unwrap().status(), 204);
        assert_eq!(post(&b).await.unwrap().status(), 204);
    }
    assert!(b.app.gate.is_cached(key.expose()));
    // The role loses the permission on replica a; replica b refuses within milliseconds.
    a.app
        .keys
        .update_role(
            &writer,
            keygate::manage::RolePatch {
                permissions: Some(Vec::new()),
                ..Default::default()
            },
            &cli,
        )
        .await
        .unwrap();
    let changed = Instant::now();
    loop {
        let s = post(&b).await.unwrap().status();
        if s == 403 {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "replica b still allows"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "a role change was seen by the other replica after {:?}",
        changed.elapsed()
    );
    assert_eq!(post(&a).await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_a_key_file_hold_their_owner_roles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partners.keys");
    std::fs::write(&path, "partner-key-0123456789abcdef0123456789\n").unwrap();
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.key_files = vec![keygate::config::KeyFileConfig {
            path: path.clone(),
            format: "plain".into(),
            owner: Some("partners".into()),
            name: None,
        }];
        c.permissions.require = vec![require("docs.read", &["/docs/*"], &[])];
    })
    .await;
    let key = "partner-key-0123456789abcdef0123456789";
    let fa = || {
        t.get("/forward-auth")
            .bearer_auth(key)
            .header("X-Forwarded-Uri", "/docs/a")
            .send()
    };
    assert_eq!(fa().await.unwrap().status(), 403, "no roles yet");
    let cli = keygate::manage::Actor::cli();
    let reader = keygate::permissions::RoleName::parse("reader").unwrap();
    t.app
        .keys
        .create_role(
            reader.clone(),
            String::new(),
            vec![keygate::permissions::Permission::parse("docs.read").unwrap()],
            &cli,
        )
        .await
        .unwrap();
    t.app
        .keys
        .set_owner_roles("partners", vec![reader], &cli)
        .await
        .unwrap();
    assert_eq!(
        fa().await.unwrap().status(),
        204,
        "the owner's role reaches the file's keys"
    );
}
