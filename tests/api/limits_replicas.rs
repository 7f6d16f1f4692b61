//! Usage limits across replicas on one Valkey (issue 13): a limit is the deployment's,
//! not each replica's. Three replicas under concurrent load at several times the limit;
//! small limits exact; credits never overspent; one refill per interval; Valkey down
//! fails closed and counts nothing twice; a SIGKILLed replica loses at most its lease.
//!
//! Run with `--no-capture` to see the measured figures (docs/scaling.md quotes them).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keygate::app::App;
use keygate::clock::Clock;
use keygate::config::Config;
use keygate::manage::{Actor, LimitsView, NewToken};
use serde_json::json;

use crate::helpers::{Process, SALT, TestApp, Valkey, base_config};

pub(crate) async fn replica_at(
    url: &str,
    clock: Clock,
    tweak: impl FnOnce(&mut Config),
) -> Arc<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config(dir.path());
    config.valkey_url = Some(url.to_owned());
    config.store_timeout_ms = 2000;
    tweak(&mut config);
    let app = App::open(config, clock).unwrap();
    let t = TestApp::serve(Arc::new(app), dir, None).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !t.app.gate.cache_trusted() {
        assert!(Instant::now() < deadline, "replica never followed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Arc::new(t)
}

async fn replicas(url: &str, n: usize) -> Vec<Arc<TestApp>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(replica_at(url, Clock::system(), |_| {}).await);
    }
    out
}

pub(crate) async fn limited_key(
    t: &TestApp,
    limits: serde_json::Value,
) -> (String, keygate::store::TokenRecord) {
    let limits: LimitsView = serde_json::from_value(limits).unwrap();
    let (k, r) = t
        .app
        .keys
        .create(
            NewToken {
                owner: "partner".into(),
                name: "limited".into(),
                limits: Some(limits),
                ..Default::default()
            },
            &Actor::cli(),
        )
        .await
        .unwrap();
    (k.expose().to_owned(), r)
}

/// Waits, when needed, so that a window of `secs` does not end in the next 30 s.
async fn clear_of_boundary(secs: u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let left = secs * 1000 - now % (secs * 1000);
    if left < 30_000 {
        tokio::time::sleep(Duration::from_millis(left + 500)).await;
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub allowed: u64,
    pub limited: u64,
    pub other: u64,
}

/// `attempts` requests for `key`, spread over the replicas, `per_replica` at a time on
/// each.
pub(crate) async fn hammer(
    replicas: &[Arc<TestApp>],
    key: &str,
    attempts: u64,
    per_replica: usize,
) -> Tally {
    let left = Arc::new(AtomicI64::new(attempts as i64));
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let mut tasks = Vec::new();
    for r in replicas {
        for _ in 0..per_replica {
            let (r, left, counts, key) = (r.clone(), left.clone(), counts.clone(), key.to_owned());
            tasks.push(tokio::spawn(async move {
                while left.fetch_sub(1, Ordering::AcqRel) > 0 {
                    let s = r.forward_auth(&key).await.status().as_u16();
                    let i = match s {
                        204 => 0,
                        429 => 1,
                        _ => 2,
                    };
                    counts[i].fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    Tally {
        allowed: counts[0].load(Ordering::Relaxed),
        limited: counts[1].load(Ordering::Relaxed),
        other: counts[2].load(Ordering::Relaxed),
    }
}

pub(crate) async fn stored_balance(v: &Valkey, id: &str) -> u64 {
    let left: Option<u64> = v
        .cmd(redis::cmd("HGET").arg(format!("kg:c:k:{id}")).arg("l"))
        .await;
    left.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_holds_across_three_replicas() {
    let v = Valkey::start();
    let rs = replicas(&v.url(), 3).await;
    clear_of_boundary(3600).await;
    let limit = 1500;
    let (key, r) = limited_key(
        &rs[0],
        json!({"rate_limits": [{"name": "hourly", "limit": limit, "window": "1h"}]}),
    )
    .await;
    let before: String = v.cmd(redis::cmd("INFO").arg("commandstats")).await;
    let started = Instant::now();
    let t = hammer(&rs, &key, limit * 3, 8).await;
    let after: String = v.cmd(redis::cmd("INFO").arg("commandstats")).await;
    let evals = calls(&after, "eval") - calls(&before, "eval");
    println!(
        "rate limit {limit}/1h over 3 replicas, {} attempts in {:?}: {} allowed ({:+} against the limit), {} refused, {} other; {} lease scripts ({:.4} per allowed request)",
        limit * 3,
        started.elapsed(),
        t.allowed,
        t.allowed as i64 - limit as i64,
        t.limited,
        t.other,
        evals,
        evals as f64 / t.allowed as f64
    );
    assert_eq!(t.other, 0, "{t:?}");
    assert!(t.allowed <= limit, "overshoot: {t:?}");
    // Leases are spent before a replica hears "nothing left": under sustained load the
    // whole limit is used.
    assert!(t.allowed >= limit - 3 * (limit / 100), "undershoot: {t:?}");
    let window_start = {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        now - now % 3_600_000
    };
    let used: u64 = v
        // Counted by its window (`1h`), not its name: a rename keeps the count.
        .cmd(redis::cmd("GET").arg(format!("kg:w:k:{}|1h|{window_start}", r.id)))
        .await;
    assert_eq!(used, limit, "the store granted exactly the limit");
}

/// Calls of one command in `INFO commandstats`.
fn calls(info: &str, cmd: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_limit_is_exact_across_replicas() {
    let v = Valkey::start();
    let rs = replicas(&v.url(), 3).await;
    clear_of_boundary(60).await;
    let (key, _) = limited_key(
        &rs[0],
        json!({"rate_limits": [{"name": "m", "limit": 10, "window": "1m"}]}),
    )
    .await;
    let t = hammer(&rs, &key, 300, 8).await;
    println!("10/1m over 3 replicas, 300 attempts: {t:?}");
    assert_eq!((t.allowed, t.limited, t.other), (10, 290, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credits_are_never_overspent_across_replicas() {
    let v = Valkey::start();
    let rs = replicas(&v.url(), 3).await;
    let (key, r) = limited_key(&rs[0], json!({"credits": {"remaining": 600}})).await;
    // Part of the quota, then a clean stop of every replica: what they held goes back.
    let first = hammer(&rs, &key, 300, 8).await;
    assert_eq!(first.allowed, 300, "{first:?}");
    let held: u64 = rs.iter().map(|t| t.app.gate.limits().held().1).sum();
    let mid = stored_balance(&v, r.id.as_str()).await;
    println!("after 300 uses: store says {mid} left, replicas hold {held} in leases");
    assert_eq!(mid + held, 300);
    for t in rs {
        Arc::try_unwrap(t).ok().unwrap().stop().await;
    }
    assert_eq!(stored_balance(&v, r.id.as_str()).await, 300, "nothing lost");
    let rs = replicas(&v.url(), 3).await;
    let t = hammer(&rs, &key, 1500, 8).await;
    println!("then 1500 attempts for the other 300: {t:?}");
    assert_eq!((t.allowed, t.other), (300, 0), "{t:?}");
    assert_eq!(stored_balance(&v, r.id.as_str()).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refill_happens_once_across_replicas() {
    let v = Valkey::start();
    // Every replica's clock stands 3 s before a minute turns, so the test sees the
    // interval end without waiting for it.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let turn = now - now % 60_000 + 60_000;
    let anchor = turn - 3000;
    let mut rs = Vec::new();
    for _ in 0..3 {
        rs.push(replica_at(&v.url(), Clock::anchored_at(anchor), |_| {}).await);
    }
    let (key, _) = limited_key(
        &rs[0],
        json!({"credits": {"remaining": 0, "refill": {"amount": 5, "interval": "1m"}}}),
    )
    .await;
    let before = hammer(&rs, &key, 30, 2).await;
    assert_eq!(before.allowed, 0, "{before:?}");
    let r = rs[1].forward_auth(&key).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry <= 3, "retry when the refill comes: {retry}");
    // Past the turn on every replica's clock.
    while rs.iter().any(|t| t.app.clock.now_ms() < turn + 200) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = hammer(&rs, &key, 300, 8).await;
    println!("refill of 5 per 1m seen by 3 replicas: {after:?}");
    assert_eq!(
        (after.allowed, after.other),
        (5, 0),
        "one refill, not three"
    );
}

async fn valkey_down(policy: &str) {
    let mut v = Valkey::start();
    let t = replica_at(&v.url(), Clock::system(), |c| {
        c.limits.on_store_error = policy.into();
        c.store_timeout_ms = 300;
    })
    .await;
    clear_of_boundary(3600).await;
    let (key, _) = limited_key(
        &t,
        json!({"rate_limits": [{"name": "h", "limit": 20, "window": "1h"}]}),
    )
    .await;
    let (unlimited, _) = t.create("partner", "plain", &[]).await;
    let first = hammer(std::slice::from_ref(&t), &key, 5, 1).await;
    assert_eq!(first.allowed, 5);
    assert_eq!(t.forward_auth(&unlimited).await.status(), 204);
    v.kill();
    let mut during = Vec::new();
    for _ in 0..10 {
        during.push(t.forward_auth(&key).await.status().as_u16());
    }
    // A cached key without limits keeps working (stale if error).
    assert_eq!(t.forward_auth(&unlimited).await.status(), 204);
    v.launch();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = Tally::default();
    while after.allowed + after.limited == 0 || after.other > 0 {
        assert!(Instant::now() < deadline, "never recovered: {after:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = hammer(std::slice::from_ref(&t), &key, 40, 1).await;
    }
    let passed_during = during.iter().filter(|s| **s == 204).count() as u64;
    println!("on_store_error={policy}: during the outage {during:?}; after it {after:?}");
    match policy {
        "deny" => {
            assert!(during.iter().all(|s| *s == 503), "{during:?}");
            assert_eq!(5 + after.allowed, 20, "counted once");
        }
        _ => {
            assert_eq!(passed_during, 10, "{during:?}");
            assert_eq!(
                5 + after.allowed,
                20,
                "the outage's requests went uncounted"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn valkey_down_fails_closed_and_counts_nothing_twice() {
    valkey_down("deny").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn valkey_down_can_be_set_to_let_limited_keys_through() {
    valkey_down("allow").await;
}

/// A `keygate serve` process in its own dir with `toml` as its configuration.
pub(crate) fn serve(dir: &std::path::Path, toml: &str) -> Process {
    std::fs::write(dir.join("keygate.toml"), toml).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keygate"));
    cmd.args(["serve", "--port", "0"])
        .current_dir(dir)
        .env_clear();
    Process::start(cmd)
}

pub(crate) async fn load_until(
    client: &reqwest::Client,
    addr: &str,
    key: &str,
    allowed: &AtomicU64,
    stop_after: u64,
) {
    while allowed.load(Ordering::Relaxed) < stop_after {
        let Ok(r) = client
            .get(format!("http://{addr}/forward-auth"))
            .bearer_auth(key)
            .send()
            .await
        else {
            return;
        };
        match r.status().as_u16() {
            204 => {
                allowed.fetch_add(1, Ordering::Relaxed);
            }
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replica_loses_at_most_its_lease() {
    let v = Valkey::start();
    let toml = format!(
        "token_salt = \"{SALT}\"\nvalkey_url = \"{}\"\nadmin_key = \"kill-test-admin-key-123\"\nstore_timeout_ms = 2000\naccess_log = false\n[throttle]\nenabled = false\n",
        v.url()
    );
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = serve(da.path(), &toml);
    let b = serve(db.path(), &toml);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let total = 4000u64;
    let created: serde_json::Value = client
        .post(format!("http://{}/api/users/partner/tokens", a.addr))
        .bearer_auth("kill-test-admin-key-123")
        .json(&json!({"name": "k", "limits": {"credits": {"remaining": total}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let allowed = Arc::new(AtomicU64::new(0));
    // Load on both; A is killed with SIGKILL once 1000 uses went through.
    let mut tasks = Vec::new();
    for addr in [
        a.addr.clone(),
        b.addr.clone(),
        a.addr.clone(),
        b.addr.clone(),
    ] {
        let (client, key, allowed) = (client.clone(), key.clone(), allowed.clone());
        tasks.push(tokio::spawn(async move {
            load_until(&client, &addr, &key, &allowed, 1000).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    // B spends whatever is left.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, key, allowed, addr) =
            (client.clone(), key.clone(), allowed.clone(), b.addr.clone());
        tasks.push(tokio::spawn(async move {
            load_until(&client, &addr, &key, &allowed, u64::MAX).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    b.stop();
    let left = stored_balance(&v, &id).await;
    let used = allowed.load(Ordering::Relaxed);
    let lost = total - used - left;
    println!(
        "credits {total}, 2 replicas, one SIGKILLed: {used} allowed, {left} left in the store, {lost} lost with the killed replica's lease (bound: 1/16 of the balance at its last lease, {})",
        total / 16
    );
    assert!(used + left <= total, "overspent");
    assert!(lost <= total / 16, "lost {lost}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_embedded_gate_loses_at_most_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "token_salt = \"{SALT}\"\nadmin_key = \"kill-test-admin-key-123\"\naccess_log = false\n[throttle]\nenabled = false\n"
    );
    let mut p = serve(dir.path(), &toml);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let total = 3000u64;
    let created: serde_json::Value = client
        .post(format!("http://{}/api/users/partner/tokens", p.addr))
        .bearer_auth("kill-test-admin-key-123")
        .json(&json!({"name": "k", "limits": {"credits": {"remaining": total}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let allowed = AtomicU64::new(0);
    load_until(&client, &p.addr, &key, &allowed, 1000).await;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let p = serve(dir.path(), &toml);
    let v: serde_json::Value = client
        .get(format!("http://{}/api/tokens/{id}", p.addr))
        .bearer_auth("kill-test-admin-key-123")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    p.stop();
    let left = v["limits"]["credits"]["remaining"].as_u64().unwrap();
    let used = allowed.load(Ordering::Relaxed);
    let lost = total - used - left;
    println!(
        "embedded, credits {total}, SIGKILL after {used} uses: {left} left, {lost} lost with the lease"
    );
    assert!(used + left <= total, "overspent");
    assert!(lost <= total / 16, "lost {lost}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_work_through_sentinel() {
    let primary = Valkey::start();
    let sentinels: Vec<Valkey> = (0..3).map(|_| Valkey::sentinel(primary.port)).collect();
    let urls: Vec<String> = sentinels.iter().map(Valkey::url).collect();
    let t = replica_at("redis://unused", Clock::system(), |c| {
        c.valkey_url = None;
        c.valkey_sentinels = urls.clone();
        c.valkey_service_name = "mymaster".into();
    })
    .await;
    clear_of_boundary(3600).await;
    let (key, r) = limited_key(
        &t,
        json!({"rate_limits": [{"name": "h", "limit": 3, "window": "1h"}], "credits": {"remaining": 10}}),
    )
    .await;
    let got = hammer(std::slice::from_ref(&t), &key, 6, 1).await;
    assert_eq!((got.allowed, got.limited), (3, 3), "{got:?}");
    let left: Option<u64> = primary
        .cmd(redis::cmd("HGET").arg(format!("kg:c:k:{}", r.id)).arg("l"))
        .await;
    assert!(
        left.unwrap() <= 7,
        "the balance is on the primary: {left:?}"
    );
}
