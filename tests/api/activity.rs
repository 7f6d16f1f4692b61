//! The console's traffic views (issue 28): each listed key's and owner's last 24 hours,
//! lists sorted and filtered by requests and refusals, and the overview's top keys and
//! owners over the exact range asked, refusals ranked apart — on every store. Counts are
//! written into the store as the analytics flush writes them, at chosen times.

use keygate::analytics::{Retention, UsageAdd, key_slot, owner_slot};
use keygate::store::TokenId;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};
use crate::webhooks::{api, quick};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// `allowed` and `rate_limited` requests of `id` (owned by `owner`) `ago_ms` before now.
async fn counted(t: &TestApp, id: &TokenId, owner: &str, ago_ms: i64, allowed: u64, limited: u64) {
    let now = t.app.clock.now_ms();
    let minute = now - ago_ms;
    let add = UsageAdd {
        key_slot: key_slot(id),
        owner_slot: owner_slot(owner),
        minute_ms: minute - minute.rem_euclid(MIN),
        counts: [allowed, 0, 0, limited, 0, 0, 0, 0, 0, 0],
    };
    t.app
        .keys
        .store()
        .add_usage(&[add], Retention::default())
        .await
        .unwrap();
}

async fn get(t: &TestApp, path: &str) -> Value {
    let (s, v) = api(t, Method::GET, path, None).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

fn names(v: &Value, list: &str, field: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|k| k[field].as_str().unwrap().to_owned())
        .collect()
}

async fn traffic_views(backend: Backend) {
    let t = TestApp::spawn_with(backend, quick).await;
    let (_, a) = t.create("hana", "steady", &[]).await;
    let (_, b) = t.create("hana", "throttled", &[]).await;
    let (_, c) = t.create("ivan", "yesterday", &[]).await;
    t.create("ivan", "idle", &[]).await;
    counted(&t, &a.id, "hana", 2 * HOUR, 50, 0).await;
    counted(&t, &b.id, "hana", 30 * MIN, 10, 30).await;
    counted(&t, &c.id, "ivan", 30 * HOUR, 5, 0).await;
    counted(&t, &c.id, "ivan", 0, 1, 0).await;

    // Each listed key carries its last 24 hours; the idle one none.
    let all = get(&t, "/api/tokens").await;
    assert_eq!(all["total"], 4);
    let by_name = |v: &Value, name: &str| {
        v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .cloned()
            .unwrap()
    };
    let steady = &by_name(&all, "steady")["activity"];
    assert_eq!(
        (steady["requests"].as_u64(), steady["refusals"].as_u64()),
        (Some(50), Some(0))
    );
    let hourly = steady["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 24);
    // Two hours ago: the 22nd hour of 24 (the 21st when the hour turned meanwhile).
    let at: Vec<usize> = (0..24)
        .filter(|i| hourly[*i] != serde_json::json!([0, 0]))
        .collect();
    assert!(at == [21] || at == [20], "{hourly:?}");
    let throttled = &by_name(&all, "throttled")["activity"];
    assert_eq!(throttled["refusals"], 30);
    // Half an hour ago: this hour or the one before.
    let last_two = [&throttled["hourly"][22], &throttled["hourly"][23]];
    assert!(
        last_two.contains(&&serde_json::json!([10, 30])),
        "{throttled}"
    );
    assert_eq!(
        by_name(&all, "yesterday")["activity"]["requests"],
        1,
        "30 h ago is not counted"
    );
    assert!(by_name(&all, "idle").get("activity").is_none());

    // Sorted by the last 24 hours (most first, ties by age), paged by its cursor.
    let v = get(&t, "/api/tokens?sort=requests&limit=2").await;
    assert_eq!(names(&v, "tokens", "name"), ["steady", "throttled"]);
    let next = v["next_cursor"].as_str().unwrap();
    let v = get(
        &t,
        &format!("/api/tokens?sort=requests&limit=2&cursor={next}"),
    )
    .await;
    assert_eq!(names(&v, "tokens", "name"), ["yesterday", "idle"]);
    assert!(v.get("next_cursor").is_none());
    let v = get(&t, "/api/tokens?sort=refusals&limit=1").await;
    assert_eq!(names(&v, "tokens", "name"), ["throttled"]);
    let v = get(&t, "/api/tokens?sort=name").await;
    assert_eq!(
        names(&v, "tokens", "name"),
        ["idle", "steady", "throttled", "yesterday"]
    );
    // Filtered by them, with other terms.
    let v = get(&t, "/api/tokens?q=requests:%3E10").await;
    assert_eq!(
        (names(&v, "tokens", "name").len(), v["total"].as_u64()),
        (2, Some(2))
    );
    let v = get(&t, "/api/tokens?q=refusals:%3E0%20owner:hana").await;
    assert_eq!(names(&v, "tokens", "name"), ["throttled"]);
    let v = get(&t, "/api/tokens?q=requests:0").await;
    assert_eq!(names(&v, "tokens", "name"), ["idle"]);
    let v = get(&t, "/api/users/ivan/tokens?sort=requests").await;
    assert_eq!(names(&v, "tokens", "name"), ["yesterday", "idle"]);
    for bad in [
        "q=requests:lots",
        "q=refusals:%3E-1",
        "sort=loudest",
        "sort=",
    ] {
        let (s, v) = api(&t, Method::GET, &format!("/api/tokens?{bad}"), None).await;
        assert!((400..=422).contains(&s), "{bad}: {s} {v}");
        assert!(v["error"].is_string(), "{bad}: {v}");
    }

    // Owners with their last 24 hours, sorted by them.
    let v = get(&t, "/api/users?sort=refusals").await;
    assert_eq!(names(&v, "owners", "owner"), ["hana", "ivan"]);
    assert_eq!(v["owners"][0]["activity"]["requests"], 90);
    assert_eq!(v["owners"][0]["activity"]["refusals"], 30);
    assert_eq!(v["owners"][1]["activity"]["requests"], 1);
    let (s, _) = api(&t, Method::GET, "/api/users?sort=keys", None).await;
    assert!((400..=422).contains(&s));

    // The overview's top lists over the exact range: the last hour leaves out the key
    // busy two hours ago; refusals are ranked apart.
    let now = keygate::clock::Timestamp::from_unix(t.app.clock.now_ms() / 1000);
    let since = |ago_s: i64| {
        keygate::clock::Timestamp::from_unix(now.unix() - ago_s)
            .to_string()
            .replace('+', "%2B")
    };
    let v = get(&t, &format!("/api/usage?from={}", since(3600))).await;
    assert_eq!(names(&v, "top_keys", "name"), ["throttled", "yesterday"]);
    assert_eq!(names(&v, "top_refused_keys", "name"), ["throttled"]);
    assert_eq!(v["top_refused_keys"][0]["totals"]["rate_limited"], 30);
    assert_eq!(names(&v, "top_owners", "owner"), ["hana", "ivan"]);
    assert_eq!(
        v["top_owners"][0]["totals"]["allowed"], 10,
        "steady's hour is not in it"
    );
    assert_eq!(names(&v, "top_refused_owners", "owner"), ["hana"]);
    let v = get(&t, &format!("/api/usage?from={}", since(3 * 3600))).await;
    assert_eq!(
        names(&v, "top_keys", "name"),
        ["steady", "throttled", "yesterday"]
    );
    assert_eq!(v["top_owners"][0]["totals"]["allowed"], 60);
    // Hours, then days: the key counted 30 hours ago joins in.
    let v = get(
        &t,
        &format!("/api/usage?from={}&step=hour", since(48 * 3600)),
    )
    .await;
    assert_eq!(v["top_keys"][2]["totals"]["allowed"], 6, "{v}");
    let v = get(
        &t,
        &format!("/api/usage?from={}&step=day", since(3 * 86_400)),
    )
    .await;
    assert_eq!(v["top_keys"][2]["totals"]["allowed"], 6, "{v}");
    assert_eq!(names(&v, "top_refused_keys", "name"), ["throttled"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_the_overview_follow_the_last_day_and_the_range_memory() {
    traffic_views(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_the_overview_follow_the_last_day_and_the_range_redb() {
    traffic_views(Backend::Redb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_the_overview_follow_the_last_day_and_the_range_valkey() {
    traffic_views(Backend::Valkey).await;
}

/// An embedded store of an earlier keygate has counts but no index by time: opening it
/// builds the index once; buckets past their retention leave both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_index_by_time_is_built_from_earlier_counts_and_pruned() {
    use keygate::analytics::Step;
    use keygate::store::UsageStore;
    let dir = tempfile::tempdir().unwrap();
    let now = 1_796_119_200_000; // 2026-12-01T10:00:00Z
    let add = |slot: &str, minute_ms: i64| UsageAdd {
        key_slot: format!("k:{slot}"),
        owner_slot: "o:hana".into(),
        minute_ms,
        counts: [3, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    };
    {
        let store = keygate::store::redb::RedbStore::open(dir.path()).unwrap();
        let batch = [add("a", now - 2 * HOUR), add("b", now - 3 * 86_400_000)];
        store.add_usage(&batch, Retention::default()).await.unwrap();
    }
    {
        // What an earlier keygate left: the counts alone.
        let db = crate::helpers::open_redb(&dir.path().join("keygate.redb"));
        let tx = db.begin_write().unwrap();
        let gone = tx
            .delete_table(redb::TableDefinition::<&[u8], &[u8]>::new("usage_time"))
            .unwrap();
        assert!(gone);
        tx.commit().unwrap();
    }
    let store = keygate::store::redb::RedbStore::open(dir.path()).unwrap();
    let rows = store
        .usage_in_range("k:", Step::Hour, now - 4 * 86_400_000, now)
        .await
        .unwrap();
    let slots: Vec<(&str, i64)> = rows.iter().map(|(s, b, _)| (s.as_str(), *b)).collect();
    assert_eq!(
        slots,
        [("k:b", now - 3 * 86_400_000), ("k:a", now - 2 * HOUR)]
    );
    assert_eq!(rows[0].2[..2], [3, 1]);
    let owners = store
        .usage_in_range("o:", Step::Minute, now - HOUR * 3, now)
        .await
        .unwrap();
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert!(store.usage_in_range("k:", Step::Day, 0, now).await.is_err());
    // Minutes are kept 48 hours, hours 90 days: pruning at now drops b's minute only.
    store.prune_usage(now, Retention::default()).await.unwrap();
    let minutes = store
        .usage_in_range("k:", Step::Minute, 0, now)
        .await
        .unwrap();
    assert_eq!(minutes.len(), 1);
    assert_eq!(minutes[0].0, "k:a");
    let hours = store
        .usage_in_range("k:", Step::Hour, 0, now)
        .await
        .unwrap();
    assert_eq!(hours.len(), 2);
}
