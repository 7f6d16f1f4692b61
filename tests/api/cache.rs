//! The decision cache is bounded in bytes (`cache.max_mib`) as well as in entries: keys
//! with large records fill it to about its byte bound and no further, every key is
//! still answered, and `/metrics` says how full it is.

use std::collections::BTreeMap;

use keygate::manage::{Actor, NewToken};

use crate::helpers::{Backend, TestApp};

/// `keygate_cache_entries` and `keygate_cache_bytes` from `/metrics`.
async fn cache_gauges(t: &TestApp) -> (u64, u64) {
    let text = t
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    (gauge("keygate_cache_entries"), gauge("keygate_cache_bytes"))
}

/// `n` keys whose records each hold about 2 KiB of metadata.
async fn large_keys(t: &TestApp, n: usize) -> Vec<String> {
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let metadata: BTreeMap<String, String> = (0..8)
            .map(|j| (format!("field-{j}"), format!("{i:06}-{}", "v".repeat(240))))
            .collect();
        let (key, _) = t
            .app
            .keys
            .create(
                NewToken {
                    owner: format!("owner-{}", i % 7),
                    name: format!("large {i}"),
                    metadata,
                    ..NewToken::default()
                },
                &Actor::cli(),
            )
            .await
            .unwrap();
        keys.push(key.expose().to_owned());
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_holds_no_more_bytes_than_its_bound() {
    const KEYS: usize = 1_500;
    let t = TestApp::spawn_with(Backend::Memory, |c| c.cache.max_mib = 1).await;
    let keys = large_keys(&t, KEYS).await;
    for k in &keys {
        assert_eq!(t.forward_auth(k).await.status(), 204);
    }
    let (entries, bytes) = cache_gauges(&t).await;
    println!("max_mib = 1: {entries} entries, {bytes} bytes");
    assert!(bytes <= 1 << 20, "{bytes} bytes cached, bound 1 MiB");
    // About 2.5 KiB an entry: a few hundred fit, far from all of them.
    assert!(
        entries > 100 && (entries as usize) < KEYS / 2,
        "{entries} entries"
    );
    // Evicted keys are asked of the store again, and still allowed.
    for k in keys.iter().take(50) {
        assert_eq!(t.forward_auth(k).await.status(), 204);
    }

    // With the default bound all of them fit; with a lower entry bound, that one holds.
    let t = TestApp::spawn(Backend::Memory).await;
    let keys = large_keys(&t, KEYS).await;
    for k in &keys {
        assert_eq!(t.forward_auth(k).await.status(), 204);
    }
    let (entries, bytes) = cache_gauges(&t).await;
    println!("defaults: {entries} entries, {bytes} bytes");
    assert_eq!(entries as usize, KEYS);
    assert!(
        bytes > KEYS as u64 * 2048,
        "{bytes} bytes for {KEYS} large entries"
    );

    let t = TestApp::spawn_with(Backend::Memory, |c| c.cache.max_entries = 200).await;
    let keys = large_keys(&t, 400).await;
    for k in &keys {
        assert_eq!(t.forward_auth(k).await.status(), 204);
    }
    let (entries, _) = cache_gauges(&t).await;
    assert!(entries <= 200, "{entries} entries, bound 200");
}
