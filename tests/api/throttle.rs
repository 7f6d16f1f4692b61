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
        };
        c.trusted_proxies = trusted;
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
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let with_good: serde_json::Value = r.json().await.unwrap();
    let with_bad: serde_json::Value = from(&t, "/forward-auth", "1.1.1.1", "wrong")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(with_good, with_bad);
    assert!(!t.app.gate.metrics().render(&[], None).is_empty());
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
    assert_eq!(
        from(&t, "/forward-auth", "9.9.9.9, 1.1.1.1", &good)
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
