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

/// The analytics and last-used flushes write in chunks (here more keys than one chunk
/// holds); a flush that fails while the store is away keeps what it could not write,
/// and the next one writes it: nothing counted is lost, nothing is counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_flushes_lose_nothing_when_the_store_goes_away() {
    let mut t = TestApp::spawn_with(Backend::Valkey, |c| {
        c.analytics.flush_secs = 3600;
        c.last_used_flush_secs = 3600;
        c.max_keys_per_owner = 5_000;
    })
    .await;
    let n = keygate::decide::FLUSH_CHUNK + 700;
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        keys.push(t.create("chunky", &format!("k{i}"), &[]).await);
    }
    // The background flushes ran once at start; from here only the test flushes.
    for (key, _) in &keys {
        assert_eq!(t.forward_auth(key).await.status(), 204);
    }
    let gate = &t.app.gate;
    let tally = gate.tally().unwrap();
    assert!(tally.pending() >= n, "{}", tally.pending());
    assert_eq!(gate.usage().pending(), n);
    let retention = t.app.config.analytics.retention();
    let retry = std::sync::Mutex::new(Vec::new());

    t.valkey.as_mut().unwrap().kill();
    assert!(gate.flush_analytics(retention, &retry).await.is_err());
    assert!(gate.flush_usage().await.is_err());
    // Everything is still waiting: in `retry` (analytics) or put back (last-used).
    let waiting = retry.lock().unwrap().len() + tally.pending();
    assert!(waiting >= n, "{waiting} of {n} tallies kept");
    assert_eq!(gate.usage().pending(), n, "last-used times kept");

    t.valkey.as_mut().unwrap().launch();
    let deadline = Instant::now() + Duration::from_secs(15);
    let written = loop {
        match gate.flush_analytics(retention, &retry).await {
            Ok(w) => break w,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("Valkey did not come back: {e}"),
        }
    };
    assert!(written >= n, "{written}");
    assert!(retry.lock().unwrap().is_empty());
    assert_eq!(gate.flush_usage().await.unwrap(), n);
    assert_eq!(gate.usage().pending(), 0);

    // Every key's request counted once, and every key's last use written.
    let store = t.app.keys.store();
    let day = keygate::analytics::Step::Day;
    let now = t.app.clock.now_ms();
    let rows = store
        .read_usage(
            &keygate::analytics::owner_slot("chunky"),
            day,
            day.bucket(now) - 86_400_000,
            now + 86_400_000,
        )
        .await
        .unwrap();
    let allowed: u64 = rows.iter().map(|(_, c)| c[0]).sum();
    assert_eq!(allowed, n as u64, "{rows:?}");
    for (_, rec) in keys.iter().step_by(97) {
        let got = t.app.keys.get(&rec.id).await.unwrap();
        assert!(got.last_used_at.is_some(), "{}: no last use", rec.id);
    }
}
