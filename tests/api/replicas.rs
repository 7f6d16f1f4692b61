//! Several replicas on one Valkey deployment: revocation reaches every replica at once,
//! a lost subscription empties the cache, Valkey restarted under load loses nothing and
//! lets nothing through, Sentinel failover, and Cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keygate::app::App;
use keygate::clock::Clock;
use keygate::config::Config;
use keygate::manage::{Actor, NewToken};

use crate::helpers::{Backend, Cluster, TestApp, Valkey, base_config};

async fn replica(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(dir.path());
    // These tests measure propagation, not the store timeout: with the whole suite
    // running in parallel on two cores, a multi-command write can take over 300 ms.
    config.store_timeout_ms = 2000;
    tweak(&mut config);
    let app = App::open(config, Clock::system()).unwrap();
    let t = TestApp::serve(Arc::new(app), dir, None).await;
    following(&t, 0).await;
    t
}

/// Waits until the replica has joined the invalidation feed more than `before` times.
async fn following(t: &TestApp, before: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while t.app.gate.follows() <= before || !t.app.gate.cache_trusted() {
        assert!(
            Instant::now() < deadline,
            "the replica never followed invalidations"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
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

async fn create(t: &TestApp, name: &str) -> (String, keygate::store::TokenRecord) {
    let (k, r) = t
        .app
        .keys
        .create(
            NewToken {
                owner: "alice".into(),
                name: name.into(),
                ..Default::default()
            },
            &Actor::cli(),
        )
        .await
        .unwrap();
    (k.expose().to_owned(), r)
}

/// Kills, from the Valkey side, every connection subscribed to a channel.
async fn kill_subscribers(v: &Valkey) -> usize {
    let list: String = v.cmd(redis::cmd("CLIENT").arg("LIST")).await;
    let mut killed = 0;
    for line in list.lines() {
        let field = |name: &str| {
            line.split(' ')
                .find_map(|f| f.strip_prefix(name))
                .unwrap_or("")
        };
        if field("sub=").parse::<u32>().unwrap_or(0) > 0 {
            let n: i64 = v
                .cmd(redis::cmd("CLIENT").arg("KILL").arg("ID").arg(field("id=")))
                .await;
            killed += n as usize;
        }
    }
    killed
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_every_replica() {
    let v = Valkey::start();
    let url = v.url();
    let a = replica(|c| c.valkey_url = Some(url.clone())).await;
    let b = replica(|c| c.valkey_url = Some(url.clone())).await;
    let c3 = replica(|c| c.valkey_url = Some(url.clone())).await;

    let (key, rec) = create(&a, "shared").await;
    for r in [&a, &b, &c3] {
        assert_eq!(code(r, &key).await, 204);
        assert_eq!(code(r, &key).await, 204); // now cached everywhere
    }
    a.app.keys.revoke(&rec.id, &Actor::cli()).await.unwrap();
    for r in [&b, &c3] {
        let deadline = Instant::now() + Duration::from_secs(5);
        while code(r, &key).await != 401 {
            assert!(
                Instant::now() < deadline,
                "a revoked key still passes on another replica"
            );
        }
    }

    // The propagation delay, measured over many revocations (a figure, not a limit).
    let mut delays = Vec::new();
    for i in 0..1000 {
        let (key, rec) = create(&a, &format!("k{i}")).await;
        assert_eq!(code(&b, &key).await, 204);
        let started = Instant::now();
        a.app.keys.revoke(&rec.id, &Actor::cli()).await.unwrap();
        while b.app.gate.is_cached(&key) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "revocation {i} never arrived"
            );
            tokio::task::yield_now().await;
        }
        delays.push(started.elapsed());
        assert_eq!(code(&b, &key).await, 401);
    }
    delays.sort();
    println!(
        "revocation propagation over {} revocations: p50 {:?}, p99 {:?}, max {:?}",
        delays.len(),
        percentile(&delays, 0.50),
        percentile(&delays, 0.99),
        delays.last().unwrap()
    );
}

/// Waits until `want` holds of `t`'s list of everyone's keys, for less than half the time
/// that list is kept: it must have been read again because of the write, not its age.
async fn everyone_shows(
    t: &TestApp,
    what: &str,
    want: impl Fn(&[keygate::store::TokenRecord]) -> bool,
) {
    let started = Instant::now();
    let limit = Duration::from_millis(keygate::manage::EVERYONE_TTL_MS as u64 / 2);
    while !want(&t.app.keys.everyone().await.unwrap().records) {
        assert!(
            started.elapsed() < limit,
            "{what}: not in another replica's list of everyone's keys after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_reaches_every_replica_s_list_of_everyone_s_keys_at_once() {
    let v = Valkey::start();
    let url = v.url();
    let a = replica(|c| c.valkey_url = Some(url.clone())).await;
    let b = replica(|c| c.valkey_url = Some(url.clone())).await;
    let (_, first) = create(&a, "first").await;
    everyone_shows(&b, "a new key", |l| l.iter().any(|r| r.id == first.id)).await;
    // b now holds a copy of everyone's keys for 5 s; a's writes drop it at once.
    let (_, second) = create(&a, "second").await;
    everyone_shows(&b, "a key made on another replica", |l| {
        l.iter().any(|r| r.id == second.id)
    })
    .await;
    let rename = keygate::manage::Patch {
        name: Some("second, renamed".into()),
        ..Default::default()
    };
    a.app
        .keys
        .update(&second.id, rename, &Actor::cli())
        .await
        .unwrap();
    everyone_shows(&b, "a rename on another replica", |l| {
        l.iter().any(|r| r.name == "second, renamed")
    })
    .await;
    a.app.keys.revoke(&first.id, &Actor::cli()).await.unwrap();
    everyone_shows(&b, "a revocation on another replica", |l| {
        l.iter().all(|r| r.id != first.id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_subscription_empties_the_cache() {
    let v = Valkey::start();
    let url = v.url();
    let a = replica(|c| c.valkey_url = Some(url.clone())).await;
    let b = replica(|c| c.valkey_url = Some(url.clone())).await;
    let (key, rec) = create(&a, "cut").await;
    assert_eq!(code(&b, &key).await, 204);
    assert!(b.app.gate.is_cached(&key), "cached on b");

    // The subscription holds (its heartbeat does not tear it down).
    let before = b.app.gate.follows();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(b.app.gate.follows(), before, "the subscription flapped");
    // Valkey drops every subscriber connection.
    let killed = kill_subscribers(&v).await;
    assert!(killed >= 2, "{killed}");
    following(&b, before).await;
    assert!(
        !b.app.gate.is_cached(&key),
        "b emptied its cache when it lost the subscription"
    );
    // A key revoked meanwhile is refused.
    a.app.keys.revoke(&rec.id, &Actor::cli()).await.unwrap();
    assert_eq!(code(&b, &key).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_restarted_under_load() {
    let mut v = Valkey::start();
    let url = v.url();
    let a = Arc::new(replica(|c| c.valkey_url = Some(url.clone())).await);
    let b = Arc::new(replica(|c| c.valkey_url = Some(url.clone())).await);
    let mut valid = Vec::new();
    for i in 0..20 {
        valid.push(create(&a, &format!("v{i}")).await.0);
    }
    let mut revoked = Vec::new();
    for i in 0..10 {
        let (k, r) = create(&a, &format!("r{i}")).await;
        assert_eq!(code(&b, &k).await, 204);
        a.app.keys.revoke(&r.id, &Actor::cli()).await.unwrap();
        revoked.push(k);
    }
    let unknown: Vec<String> = (0..10)
        .map(|_| {
            keygate::token::generate(&Default::default())
                .unwrap()
                .expose()
                .to_owned()
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for (i, r) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        let (valid, revoked, unknown) = (valid.clone(), revoked.clone(), unknown.clone());
        let (stop, bad, served) = (stop.clone(), bad.clone(), served.clone());
        load.push(tokio::spawn(async move {
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let must_refuse = [&revoked[n % revoked.len()], &unknown[n % unknown.len()]];
                for k in must_refuse {
                    let s = code(&r, k).await;
                    if (200..300).contains(&s) {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let s = code(&r, &valid[n % valid.len()]).await;
                assert!(s == 204 || s == 503, "a valid key got {s}");
                served.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    v.kill();
    // While down: misses are 503, never an allow for a key not verified.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = keygate::token::generate(&Default::default())
        .unwrap()
        .expose()
        .to_owned();
    assert_eq!(code(&a, &fresh).await, 503);
    v.launch();
    let back = Instant::now();
    // Full service: every valid key on both replicas.
    loop {
        let mut all = true;
        for r in [&a, &b] {
            for k in &valid {
                all &= code(r, k).await == 204;
            }
        }
        if all && a.app.gate.cache_trusted() && b.app.gate.cache_trusted() {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "service did not come back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("full service {:?} after Valkey was back", back.elapsed());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "a revoked or unknown key was allowed"
    );
    assert!(served.load(Ordering::Relaxed) > 50);
    // Every key acknowledged before the kill still works (the append-only file kept it).
    for k in &valid {
        assert_eq!(code(&b, k).await, 204);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_is_followed() {
    let primary = Valkey::start();
    let mut primary = primary;
    let replica_node = Valkey::start_with(&[]);
    let () = replica_node
        .cmd(redis::cmd("REPLICAOF").arg("127.0.0.1").arg(primary.port))
        .await;
    let sentinels: Vec<Valkey> = (0..3).map(|_| Valkey::sentinel(primary.port)).collect();
    let urls: Vec<String> = sentinels.iter().map(Valkey::url).collect();
    // Wait until the replica is in sync, so WAIT can be satisfied.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info: String = replica_node
            .cmd(redis::cmd("INFO").arg("replication"))
            .await;
        if info.contains("master_link_status:up") {
            break;
        }
        assert!(Instant::now() < deadline, "replica never synced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = replica(|c| {
        c.valkey_sentinels = urls.clone();
        c.valkey_service_name = "mymaster".into();
        c.valkey_wait_replicas = 1;
        c.store_timeout_ms = 1000;
    })
    .await;
    let mut keys = Vec::new();
    for i in 0..5 {
        keys.push(create(&t, &format!("s{i}")).await.0);
    }
    for k in &keys {
        assert_eq!(code(&t, k).await, 204);
    }
    primary.kill();
    let killed = Instant::now();
    // keygate follows the failover: the keys work again, and new writes go to the new primary.
    loop {
        let (ok, fresh) = async {
            let probe = keygate::token::generate(&Default::default())
                .unwrap()
                .expose()
                .to_owned();
            let s = code(&t, &probe).await; // a miss: needs the store
            (s == 401, s)
        }
        .await;
        let _ = fresh;
        if ok {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "keygate never reached the new primary"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "store reachable again {:?} after the primary was killed",
        killed.elapsed()
    );
    for k in &keys {
        assert_eq!(
            code(&t, k).await,
            204,
            "a key written with WAIT before the failover is lost"
        );
    }
    // With valkey_wait_replicas = 1 a write needs a replica: the old primary comes back
    // and the sentinels make it one.
    primary.launch();
    let after = loop {
        match t
            .app
            .keys
            .create(
                NewToken {
                    owner: "alice".into(),
                    name: "after".into(),
                    ..Default::default()
                },
                &Actor::cli(),
            )
            .await
        {
            Ok((k, _)) => break k.expose().to_owned(),
            Err(e) => {
                assert!(
                    killed.elapsed() < Duration::from_secs(45),
                    "writes never worked again: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(code(&t, &after).await, 204);
    drop(sentinels);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_passes_the_conformance_suite() {
    let cluster = Cluster::start().await;
    let store =
        keygate::store::valkey::ValkeyStore::connect(&keygate::store::valkey::ValkeyOptions {
            topology: keygate::store::valkey::Topology::Cluster(cluster.urls()),
            ..keygate::store::valkey::ValkeyOptions::single(
                "redis://unused",
                "conf",
                Duration::from_secs(2),
            )
        })
        .unwrap();
    crate::store_conformance::conformance(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_passes_the_decision_matrix() {
    crate::decision::matrix(Backend::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_and_removes_leftovers() {
    let v = Valkey::start();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_keygate");
    let salt = crate::helpers::SALT;
    let url = v.url();
    let doctor = |extra: &[&str]| {
        std::process::Command::new(bin)
            .arg("doctor")
            .args(extra)
            .args([
                "--valkey-url",
                &url,
                "--token-salt",
                salt,
                "--data-dir",
                dir.path().to_str().unwrap(),
            ])
            .env_clear()
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = doctor(&[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("store: valkey reachable") && text.contains("nothing is wrong"),
        "{text}"
    );
    assert!(
        text.contains("valkey_wait_replicas = 0"),
        "notes the durability setting: {text}"
    );

    // A create that died after its index entries and before its record.
    let () = v
        .cmd(redis::cmd("SADD").arg("kg:ids").arg("OrphanId00000001"))
        .await;
    let () = v
        .cmd(
            redis::cmd("SET")
                .arg("kg:i:{OrphanId00000001}")
                .arg("ab".repeat(32)),
        )
        .await;
    let out = doctor(&[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PROBLEM: key OrphanId00000001 is listed but has no record"),
        "{text}"
    );
    let out = doctor(&["--fix"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 removed"));
    let out = doctor(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let exists: bool = v
        .cmd(redis::cmd("EXISTS").arg("kg:i:{OrphanId00000001}"))
        .await;
    assert!(!exists);

    // Valkey down: said in words, non-zero.
    drop(v);
    let out = doctor(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not answer"));
}
