//! Permissions behind the real proxies (issue 25), with the configurations shipped in
//! `deploy/`: Traefik (`traefik/permissions.yml`: a `headers` middleware before
//! forwardAuth) and nginx (`nginx/permissions.conf`: `proxy_set_header` in the auth
//! location). A key holding `docs.read` reaches the read route and is refused on the
//! write route; a requirement header sent by the client changes nothing.

use serde_json::Value;

use crate::helpers::{Backend, TestApp};
use crate::proxies::{Kind, Proxy, Upstream, client};

async fn exercise(kind: Kind, files: &[(&str, &str)]) {
    let upstream = Upstream::start().await;
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        // Only the proxy (127.0.0.1) may name a requirement; clients are 127.0.0.N.
        c.trusted_proxies = vec!["127.0.0.1/32".into()];
        c.permissions.upstream_header = "X-Keygate-Permissions".into();
    })
    .await;
    let cli = keygate::manage::Actor::cli();
    let perm = |s: &str| keygate::permissions::Permission::parse(s).unwrap();
    let key = |owner: &str, perms: &[&str]| {
        let mut n = keygate::manage::NewToken {
            owner: owner.into(),
            name: "k".into(),
            ..Default::default()
        };
        n.grants.permissions = perms.iter().map(|p| perm(p)).collect();
        let keys = t.app.keys.clone();
        let cli = cli.clone();
        async move {
            let (k, _) = keys.create(n, &cli).await.unwrap();
            k.expose().to_owned()
        }
    };
    let reader = key("rita", &["docs.read"]).await;
    let writer = key("walt", &["docs.write"]).await;
    let nobody = key("nora", &[]).await;
    let mut proxy = Proxy::start_files(kind, files, t.addr, upstream.addr);
    proxy.wait_routing(&nobody).await;
    let c = client(20);
    let send = |method: &str, path: &str, key: &str, require: Option<&str>| {
        let mut r = c
            .request(method.parse().unwrap(), proxy.url(path))
            .bearer_auth(key);
        if let Some(q) = require {
            r = r.header("X-Keygate-Require", q);
        }
        r.send()
    };
    // The read route: docs.read (or docs.write) passes, with the permissions upstream.
    let r = send("GET", "/docs/guide", &reader, None).await.unwrap();
    assert_eq!(r.status(), 200, "{kind:?}: reader on the read route");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(
        echo["headers"]["x-keygate-permissions"][0], "docs.read",
        "{kind:?}: {echo}"
    );
    assert!(
        echo["headers"].get("x-keygate-require").is_none(),
        "{kind:?}: the requirement is not passed on: {echo}"
    );
    assert_eq!(
        send("GET", "/docs/guide", &writer, None)
            .await
            .unwrap()
            .status(),
        200
    );
    let before = upstream.hits();
    // The write route refuses the reader, and nobody on either.
    let r = send("POST", "/docs/guide", &reader, None).await.unwrap();
    assert_eq!(r.status(), 403, "{kind:?}: reader on the write route");
    if kind == Kind::Traefik {
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"], "insufficient_permissions");
        assert_eq!(b["missing"], serde_json::json!(["docs.write"]));
    }
    assert_eq!(
        send("GET", "/docs/guide", &nobody, None)
            .await
            .unwrap()
            .status(),
        403
    );
    // The client's own requirement header changes nothing: neither to widen (a
    // reader naming what it holds on the write route) nor on a route without one.
    for q in ["docs.read", "", "*", "docs.read OR"] {
        let r = send("POST", "/docs/guide", &reader, Some(q)).await.unwrap();
        assert_eq!(
            r.status(),
            403,
            "{kind:?}: spoofed {q:?} on the write route"
        );
        let r = send("GET", "/docs/guide", &nobody, Some(q)).await.unwrap();
        assert_eq!(r.status(), 403, "{kind:?}: spoofed {q:?} on the read route");
    }
    assert_eq!(
        upstream.hits(),
        before,
        "{kind:?}: refusals never reach the service"
    );
    assert_eq!(
        send("DELETE", "/docs/guide", &writer, None)
            .await
            .unwrap()
            .status(),
        200
    );
    for q in ["billing.admin", "((("] {
        let r = send("GET", "/other", &nobody, Some(q)).await.unwrap();
        assert_eq!(r.status(), 200, "{kind:?}: {q:?} where nothing is required");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_routes_name_what_a_key_must_hold() {
    exercise(
        Kind::Traefik,
        &[
            ("traefik/traefik.yml", "traefik.yml"),
            ("traefik/permissions.yml", "dynamic.yml"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_locations_name_what_a_key_must_hold() {
    exercise(Kind::Nginx, &[("nginx/permissions.conf", "keygate.conf")]).await;
}
