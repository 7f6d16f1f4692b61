//! Valkey dies under a running keygate, then comes back on the same port.

use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestApp};

async fn status(t: &TestApp, path: &str, key: Option<&str>) -> u16 {
    let mut r = t.get(path);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_killed_and_restarted() {
    let mut t = TestApp::spawn(Backend::Valkey).await;
    let timeout = Duration::from_millis(t.app.config.store_timeout_ms);
    let (cached, _) = t.create("alice", "cached", &[]).await;
    let (uncached, _) = t.create("alice", "uncached", &[]).await;
    assert_eq!(status(&t, "/forward-auth", Some(&cached)).await, 204);
    assert_eq!(status(&t, "/health/ready", None).await, 200);

    t.valkey.as_mut().unwrap().kill();

    // Not in the cache: 503 quickly, never a 2xx, never a hang.
    for key in [
        uncached.clone(),
        keygate::token::generate(&Default::default())
            .unwrap()
            .expose()
            .to_owned(),
    ] {
        let started = Instant::now();
        assert_eq!(status(&t, "/forward-auth", Some(&key)).await, 503);
        assert!(
            started.elapsed() < timeout + Duration::from_millis(1500),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(status(&t, "/ext-authz/x", Some(&key)).await, 503);
        // nginx only passes 401/403 on: /auth refuses with 403.
        assert_eq!(status(&t, "/auth", Some(&key)).await, 403);
    }
    // In the cache: keeps serving until its TTL.
    assert_eq!(status(&t, "/forward-auth", Some(&cached)).await, 204);
    // Garbage is still refused without the store.
    assert_eq!(status(&t, "/forward-auth", Some("kg_garbage")).await, 401);
    assert_eq!(status(&t, "/health/ready", None).await, 503);
    assert_eq!(status(&t, "/health/live", None).await, 200);
    assert_eq!(status(&t, "/health", None).await, 200);

    // Back on the same port (its append-only file kept every acknowledged write).
    t.valkey.as_mut().unwrap().launch();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = status(&t, "/health/ready", None).await;
        let s = status(&t, "/forward-auth", Some(&uncached)).await;
        assert!(
            s == 204 || s == 503,
            "only 204 or 503 while reconnecting, got {s}"
        );
        if ready == 200 && s == 204 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "keygate did not recover after Valkey came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // New writes work again too.
    let (fresh, _) = t.create("alice", "after", &[]).await;
    assert_eq!(status(&t, "/forward-auth", Some(&fresh)).await, 204);
}
