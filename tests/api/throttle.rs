//! The failed-attempt throttle, with the gate's clock moved by hand (no sleeps).

use std::time::Duration;

use crate::helpers::{Backend, TestApp};

async fn spawn(trusted: Vec<String>) -> TestApp {
    TestApp::spawn_with(Backend::Memory, move |c| {
        c.throttle = keygate::config::ThrottleConfig {
            enabled: true,
            max_failures: 3,
            window_secs: 60,
            max_addresses: 1000,
            ..Default::default()
        };
        c.trusted_proxies = trusted;
        c.admin_key = Some(keygate::config::Secret::new(crate::helpers::ADMIN_KEY));
    })
    .await
}

async fn from(t: &TestApp, path: &str, client: &str, key: &str) -> reqwest::Response {
    t.get(path)
        .header("X-Forwarded-For", client)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// A refusal says when to come back, within the 60 s window.
fn assert_retry_after(r: &reqwest::Response) {
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

#[tokio::test]
async fn an_address_over_the_limit_is_refused_until_the_window_ends() {
    let t = spawn(vec!["127.0.0.0/8".into(), "::1/128".into()]).await;
    let (good, _) = t.create("alice", "k", &[]).await;
    for _ in 0..3 {
        assert_eq!(
            from(&t, "/forward-auth", "1.1.1.1", "wrong-key-123456")
                .await
                .status(),
            401
        );
    }
    // Refused before the key is even read: a valid key gets the same answer as a bad one.
    let r = from(&t, "/forward-auth", "1.1.1.1", &good).await;
    assert_eq!(r.status(), 429);
    assert_retry_after(&r);
    let with_good: serde_json::Value = r.json().await.unwrap();
    let with_bad: serde_json::Value = from(&t, "/forward-auth", "1.1.1.1", "wrong")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(with_good, with_bad);
    assert!(!t.app.gate.metrics().render(&[], None, (0, 0)).is_empty());
    // nginx only passes 401/403 on.
    assert_eq!(from(&t, "/auth", "1.1.1.1", &good).await.status(), 403);
    assert_eq!(
        from(&t, "/ext-authz/x", "1.1.1.1", &good).await.status(),
        429
    );

    // Another address is unaffected.
    assert_eq!(
        from(&t, "/forward-auth", "2.2.2.2", &good).await.status(),
        204
    );
    // The last hop before the trusted proxies counts, not what the client prepended.
    // (`good` is known to be good now, and would pass: another key that is not.)
    let (fresh, _) = t.create("alice", "k2", &[]).await;
    assert_eq!(
        from(&t, "/forward-auth", "9.9.9.9, 1.1.1.1", &fresh)
            .await
            .status(),
        429
    );

    // Refusals do not extend the window: once it passes, the address is welcome again.
    t.app.clock.advance(Duration::from_secs(61));
    assert_eq!(
        from(&t, "/forward-auth", "1.1.1.1", &good).await.status(),
        204
    );
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // The test client (127.0.0.1) is not a trusted proxy here.
    let t = spawn(vec!["10.0.0.0/8".into()]).await;
    let (good, _) = t.create("alice", "k", &[]).await;
    for spoofed in ["3.3.3.3", "4.4.4.4", "5.5.5.5"] {
        assert_eq!(
            from(&t, "/forward-auth", spoofed, "wrong-key-123456")
                .await
                .status(),
            401
        );
    }
    // All three counted against the real peer, whatever they claimed.
    assert_eq!(
        from(&t, "/forward-auth", "6.6.6.6", &good).await.status(),
        429
    );
    let r = t
        .get("/forward-auth")
        .header("X-Real-IP", "7.7.7.7")
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn off_means_off() {
    let t = TestApp::spawn(Backend::Memory).await; // the harness turns it off
    let (good, _) = t.create("alice", "k", &[]).await;
    for _ in 0..50 {
        assert_eq!(
            from(&t, "/forward-auth", "1.1.1.1", "wrong").await.status(),
            401
        );
    }
    assert_eq!(
        from(&t, "/forward-auth", "1.1.1.1", &good).await.status(),
        204
    );
}

#[tokio::test]
async fn ipv6_clients_are_counted_per_64() {
    let t = spawn(vec!["127.0.0.0/8".into(), "::1/128".into()]).await;
    let (good, _) = t.create("alice", "k", &[]).await;
    // Every attempt from a new address of the same /64, as one subscriber can.
    for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
        assert_eq!(
            from(&t, "/forward-auth", host, "wrong-key-123456")
                .await
                .status(),
            401,
            "{host}"
        );
    }
    let r = from(&t, "/forward-auth", "2001:db8:1:2:abcd::9", &good).await;
    assert_eq!(r.status(), 429, "a fresh address in the same /64");
    let r = from(&t, "/forward-auth", "[2001:db8:1:2::77]:4444", &good).await;
    assert_eq!(r.status(), 429, "with a port too");
    // The next /64 is someone else.
    assert_eq!(
        from(&t, "/forward-auth", "2001:db8:1:3::1", &good)
            .await
            .status(),
        204
    );
    // IPv4 is still per address.
    for _ in 0..3 {
        from(&t, "/forward-auth", "10.1.1.1", "wrong-key-123456").await;
    }
    assert_eq!(
        from(&t, "/forward-auth", "10.1.1.2", &good).await.status(),
        204
    );
}

#[tokio::test]
async fn the_ipv6_prefix_is_configurable() {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.throttle = keygate::config::ThrottleConfig {
            enabled: true,
            max_failures: 2,
            ipv6_prefix: 128,
            ..Default::default()
        };
    })
    .await;
    let (good, _) = t.create("alice", "k", &[]).await;
    for host in ["2001:db8::1", "2001:db8::1"] {
        from(&t, "/forward-auth", host, "wrong-key-123456").await;
    }
    assert_eq!(
        from(&t, "/forward-auth", "2001:db8::1", &good)
            .await
            .status(),
        429
    );
    assert_eq!(
        from(&t, "/forward-auth", "2001:db8::2", &good)
            .await
            .status(),
        204,
        "/128: every address alone"
    );
}

/// Wrong admin keys on `/status`, `/load` and `/api` count as failed attempts, per
/// client behind the trusted proxy, like wrong keys at the gate.
#[tokio::test]
async fn admin_key_guessing_is_throttled() {
    use crate::helpers::ADMIN_KEY;
    let t = spawn(vec!["127.0.0.0/8".into()]).await;
    let (good, _) = t.create("alice", "k", &[]).await;
    let status = |client: &'static str, key: String| {
        t.get("/status")
            .header("X-Forwarded-For", client)
            .bearer_auth(key)
            .send()
    };
    let load = |client: &'static str, key: String| {
        let form = reqwest::multipart::Form::new().text("file", "k1\n");
        t.client
            .post(t.url("/load"))
            .header("X-Forwarded-For", client)
            .bearer_auth(key)
            .multipart(form)
            .send()
    };
    let api = |client: &'static str, key: String| {
        t.get("/api/tokens")
            .header("X-Forwarded-For", client)
            .bearer_auth(key)
            .send()
    };
    // One guess on each endpoint, then one at the gate: the fourth is refused.
    assert_eq!(
        status("1.1.1.1", "guess-1".into()).await.unwrap().status(),
        401
    );
    assert_eq!(
        load("1.1.1.1", "guess-2".into()).await.unwrap().status(),
        401
    );
    assert_eq!(
        api("1.1.1.1", "guess-3".into()).await.unwrap().status(),
        401
    );
    // The right admin key is refused now too, without being looked at.
    for r in [
        status("1.1.1.1", ADMIN_KEY.into()).await.unwrap(),
        load("1.1.1.1", ADMIN_KEY.into()).await.unwrap(),
        api("1.1.1.1", ADMIN_KEY.into()).await.unwrap(),
    ] {
        assert_eq!(r.status(), 429);
        assert_retry_after(&r);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "too_many_failures");
    }
    // The same table as the gate's.
    assert_eq!(
        from(&t, "/forward-auth", "1.1.1.1", &good).await.status(),
        429
    );
    // Other clients are unaffected.
    assert_eq!(
        status("2.2.2.2", ADMIN_KEY.into()).await.unwrap().status(),
        200
    );
    assert_eq!(
        api("2.2.2.2", ADMIN_KEY.into()).await.unwrap().status(),
        200
    );
    // A request without any credential is not a guess.
    for _ in 0..5 {
        let r = t
            .get("/status")
            .header("X-Forwarded-For", "3.3.3.3")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(
        status("3.3.3.3", ADMIN_KEY.into()).await.unwrap().status(),
        200
    );
    t.app.clock.advance(Duration::from_secs(61));
    assert_eq!(
        status("1.1.1.1", ADMIN_KEY.into()).await.unwrap().status(),
        200
    );
}

/// One client with a stale key behind a shared NAT (or in an IPv6 /64) must not lock out
/// its neighbours: a throttled address still gets answers for keys this keygate already
/// knows to be good (the throttle stops guessing, not users) and for OIDC users of the
/// API; everything else from it is still refused before any lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_address_still_serves_keys_known_to_be_good() {
    use crate::helpers::ADMIN_KEY;
    use crate::mgmt::Env;
    let e = Env::start_with(Backend::Memory, |c| {
        c.throttle = keygate::config::ThrottleConfig {
            enabled: true,
            max_failures: 3,
            window_secs: 60,
            max_addresses: 1000,
            ..Default::default()
        };
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let t = &e.t;
    let (good, _) = t.create("alice", "in-use", &[]).await;
    let (unused, _) = t.create("alice", "not-seen-yet", &[]).await;
    // A neighbour uses its key: now known to be good.
    assert_eq!(
        from(t, "/forward-auth", "1.1.1.1", &good).await.status(),
        204
    );
    for _ in 0..3 {
        from(t, "/forward-auth", "1.1.1.1", "stale-key-123456").await;
    }
    for path in ["/forward-auth", "/auth", "/ext-authz/x"] {
        let r = from(t, path, "1.1.1.1", &good).await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    // Anything not known here is refused without a lookup, valid or not.
    assert_eq!(
        from(t, "/forward-auth", "1.1.1.1", &unused).await.status(),
        429
    );
    assert_eq!(
        from(t, "/forward-auth", "1.1.1.1", "stale-key-123456")
            .await
            .status(),
        429
    );
    // A known-good key that is then revoked: the cache forgets it, so it is refused.
    let (revoked, r) = t.create("alice", "revoked", &[]).await;
    assert_eq!(
        from(t, "/forward-auth", "2.2.2.2", &revoked).await.status(),
        204
    );
    t.app
        .keys
        .revoke(&r.id, &keygate::manage::Actor::cli())
        .await
        .unwrap();
    assert_eq!(
        from(t, "/forward-auth", "1.1.1.1", &revoked).await.status(),
        429
    );
    // The API: an OIDC user behind the same address gets in; the admin key (which can
    // be guessed) does not.
    let alice = e.token("alice", &[]);
    let api = |bearer: String| {
        t.get("/api/me")
            .header("X-Forwarded-For", "1.1.1.1")
            .bearer_auth(bearer)
            .send()
    };
    assert_eq!(api(alice).await.unwrap().status(), 200);
    assert_eq!(api(ADMIN_KEY.into()).await.unwrap().status(), 429);
    assert_eq!(api("a.b.c".into()).await.unwrap().status(), 401);
}
