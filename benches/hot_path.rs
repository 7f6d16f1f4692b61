//! Micro-benchmarks of the decision path's pieces, without HTTP: `make bench`.
//! Prints nanoseconds per operation (median of several rounds). Arguments filter by
//! name: `cargo bench --bench hot_path -- decode` measures record decoding only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};
use keygate::app::App;
use keygate::clock::Clock;
use keygate::config::Config;
use keygate::decide::{Presented, Sources};
use keygate::manage::NewToken;
use keygate::rules::{Rule, Target, allows};
use keygate::token::{self, KeyHash, KeyPrefix, Salt};

/// Whether `name` holds every filter given on the command line (none: everything).
fn wanted(name: &str) -> bool {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .all(|f| name.contains(&f))
}

fn measure(name: &str, iters: u32, mut f: impl FnMut()) {
    if !wanted(name) {
        return;
    }
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!("{name:<40} {:>10.1} ns/op", rounds[rounds.len() / 2]);
}

/// An app on the memory store with one key: the app, the key, and headers presenting it.
fn app_with_key(
    rt: &tokio::runtime::Runtime,
    config: Config,
    salt: Salt,
) -> (Arc<App>, String, HeaderMap) {
    let app = Arc::new(App::memory(config, Clock::system(), salt).unwrap());
    let (k, _) = rt
        .block_on(app.keys.create(
            NewToken {
                owner: "bench".into(),
                name: "b".into(),
                ..Default::default()
            },
            &keygate::manage::Actor::cli(),
        ))
        .unwrap();
    let key = k.expose().to_owned();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    );
    (app, key, headers)
}

fn main() {
    decoding();
    let prefix = KeyPrefix::default();
    let salt = Salt::generate().unwrap();
    let key = token::generate(&prefix).unwrap();
    let key = key.expose().to_owned();

    measure("precheck (prefix, length, checksum)", 200_000, || {
        black_box(token::precheck(black_box(&key), &prefix, true)).ok();
    });
    measure("keyed blake3 hash", 200_000, || {
        black_box(KeyHash::of(&salt, black_box(&key)));
    });
    let rules =
        vec![Rule::parse_spec("hosts=api.example.com;paths=/v1/*;methods=GET,POST").unwrap()];
    let target = Target {
        method: "GET",
        host: "api.example.com:443",
        uri: "/v1/users/42?x=1",
        needs: &[],
        cost: 1,
    };
    measure("rule matching (one rule, allowed)", 200_000, || {
        black_box(allows(black_box(&rules), black_box(&target)));
    });
    // The paths the hostile-path checks look at twice: percent-encoded, non-ASCII.
    let encoded = Target {
        uri: "/v1/caf%C3%A9/a%2Fb?x=1",
        ..target
    };
    measure("rule matching (encoded path, allowed)", 200_000, || {
        black_box(allows(black_box(&rules), black_box(&encoded)));
    });
    let hostile = Target {
        uri: "/v1/..;/admin",
        ..target
    };
    measure("rule matching (hostile path, refused)", 200_000, || {
        black_box(allows(black_box(&rules), black_box(&hostile)));
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, k, headers) = app_with_key(&rt, Config::default(), salt);
    let plain = Target {
        method: "GET",
        host: "h",
        uri: "/",
        needs: &[],
        cost: 1,
    };
    let ip: std::net::IpAddr = [127, 0, 0, 1].into();
    let sources = Sources::default();
    let headers = Presented::from_headers(&headers, &sources);
    rt.block_on(app.gate.decide(&headers, &plain, ip));
    measure("cache lookup (keyed hash + get)", 200_000, || {
        black_box(app.gate.is_cached(black_box(&k)));
    });
    measure("whole decision, cached hit", 100_000, || {
        black_box(
            rt.block_on(app.gate.decide(black_box(&headers), &plain, ip))
                .lookup,
        );
    });
    // The same without noting recent requests (`analytics.recent_requests = 0`): what
    // the recent-requests panel costs a decision.
    {
        let mut config = Config::default();
        config.analytics.recent_requests = 0;
        let (quiet, _, h) = app_with_key(&rt, config, app.gate.salt().clone());
        let h = Presented::from_headers(&h, &sources);
        rt.block_on(quiet.gate.decide(&h, &plain, ip));
        measure("whole decision, cached hit, no recent", 100_000, || {
            black_box(
                rt.block_on(quiet.gate.decide(black_box(&h), &plain, ip))
                    .lookup,
            );
        });
    }
    let mut garbage = HeaderMap::new();
    garbage.insert(
        "authorization",
        HeaderValue::from_static("Bearer kg_notAKeyAtAll"),
    );
    let garbage = Presented::from_headers(&garbage, &sources);
    measure("whole decision, garbage key", 100_000, || {
        black_box(
            rt.block_on(app.gate.decide(black_box(&garbage), &plain, ip))
                .lookup,
        );
    });

    // Usage limits: a rate limit far from exhaustion, a quota, and a key over its limit.
    // From another address: the garbage keys above got 127.0.0.1 throttled.
    let ip: std::net::IpAddr = [10, 0, 0, 2].into();
    let rt = &rt;
    for (name, limits) in [
        (
            "whole decision, rate-limited key (room)",
            serde_json::json!({"rate_limits": [{"name": "d", "limit": 1_000_000_000_000u64, "window": "1d"}]}),
        ),
        (
            "whole decision, key with credits",
            serde_json::json!({"credits": {"remaining": 1_000_000_000_000_000u64}}),
        ),
        (
            "whole decision, key over its limit",
            serde_json::json!({"rate_limits": [{"name": "d", "limit": 1, "window": "1d"}]}),
        ),
    ] {
        decision_with_limits(rt, &app, name, limits, ip);
    }

    permissions(rt, &app, ip);
    embedded(rt);
}

/// A key holding a role and permissions of its own: decided with no query, then with a
/// three-term one it meets (the hot path's cost of asking, issue 25), and the query's
/// evaluation alone.
fn permissions(rt: &tokio::runtime::Runtime, app: &App, ip: std::net::IpAddr) {
    use keygate::permissions::{Permission, Query, RoleName};
    let cli = keygate::manage::Actor::cli();
    let perm = |s: &str| Permission::parse(s).unwrap();
    rt.block_on(app.keys.create_role(
        RoleName::parse("staff").unwrap(),
        String::new(),
        vec![perm("docs.read"), perm("docs.write"), perm("wiki.*")],
        &cli,
    ))
    .unwrap();
    let mut t = NewToken {
        owner: "bench".into(),
        name: "scoped".into(),
        ..Default::default()
    };
    t.grants.roles = vec![RoleName::parse("staff").unwrap()];
    t.grants.permissions = vec![perm("billing.read"), perm("reports.read")];
    let (k, _) = rt.block_on(app.keys.create(t, &cli)).unwrap();
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", k.expose())).unwrap(),
    );
    let h = Presented::from_headers(&h, &Sources::default());
    let query = Query::parse("billing.read AND docs.write AND wiki.page.edit").unwrap();
    let need = keygate::permissions::Need::new(query.clone());
    let needs = [&need];
    let none = Target {
        method: "GET",
        host: "h",
        uri: "/",
        needs: &[],
        cost: 1,
    };
    let asked = Target {
        needs: &needs,
        ..none
    };
    let d = rt.block_on(app.gate.decide(&h, &asked, ip));
    assert!(matches!(d.outcome, keygate::decide::Outcome::Allow(_)));
    measure("whole decision, key with grants, no query", 100_000, || {
        black_box(
            rt.block_on(app.gate.decide(black_box(&h), &none, ip))
                .lookup,
        );
    });
    measure("whole decision, three-term query met", 100_000, || {
        black_box(
            rt.block_on(app.gate.decide(black_box(&h), &asked, ip))
                .lookup,
        );
    });
    // The configured table a proxy endpoint looks a request up in (two entries, the
    // second matching), as `[[permissions.require]]` holds it.
    let table = keygate::config::PermissionsConfig {
        require: vec![
            keygate::config::RequireConfig {
                paths: vec!["/docs/*".into()],
                methods: vec!["GET".into()],
                query: "docs.read".into(),
                ..Default::default()
            },
            keygate::config::RequireConfig {
                paths: vec!["/v1/*".into()],
                query: "billing.read AND docs.write AND wiki.page.edit".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
    .requirements()
    .unwrap();
    let forwarded = Target {
        method: "POST",
        host: "api.example.com",
        uri: "/v1/items?page=2",
        needs: &[],
        cost: 1,
    };
    measure(
        "requirement table, entry by entry (2 entries)",
        200_000,
        || {
            black_box(
                table
                    .iter()
                    .find(|r| allows(std::slice::from_ref(&r.rule), black_box(&forwarded)))
                    .map(|r| r.need.id()),
            );
        },
    );
    let rules: Vec<Rule> = table.iter().map(|r| r.rule.clone()).collect();
    measure(
        "requirement table, first_match (2 entries)",
        200_000,
        || {
            black_box(keygate::rules::first_match(&rules, black_box(&forwarded)));
        },
    );
    let granted = match d.outcome {
        keygate::decide::Outcome::Allow(k) => k.granted.clone(),
        _ => unreachable!(),
    };
    measure("three-term query alone, not remembered", 1_000_000, || {
        black_box(black_box(&query).allows(black_box(&granted)));
    });
}

/// A cache miss decodes the stored record of the key: a typical one (name, owner, hint,
/// creation, one rule, two metadata entries) in each record format.
fn decoding() {
    use keygate::clock::Timestamp;
    use keygate::store::codec::{self, RecordFormat};
    use keygate::store::{HashAlg, TokenId, TokenRecord};
    let mut r = TokenRecord::plain(
        TokenId::generate().unwrap(),
        KeyHash([7; 32]),
        HashAlg::Keyed,
        "alice@example.com".into(),
        "deploy bot".into(),
        "kg_AbCd…wxyz".into(),
        Timestamp::from_unix(1_767_225_600),
        "alice@example.com".into(),
    );
    r.rules = vec![Rule::parse_spec("hosts=api.example.com;paths=/v1/*;methods=GET,POST").unwrap()];
    r.metadata = [("team", "payments"), ("tier", "gold")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (name, format) in [
        ("decode a record, JSON", RecordFormat::Json),
        ("decode a record, binary", RecordFormat::Binary),
    ] {
        let bytes = codec::encode(&r, format).unwrap();
        assert_eq!(codec::decode(&bytes).unwrap(), r);
        measure(&format!("{name} ({} bytes)", bytes.len()), 200_000, || {
            black_box(codec::decode(black_box(&bytes)).unwrap());
        });
    }
}

/// Usage limits on the embedded store: every lease is a durable write to the database
/// file (so a restart or a crash resets no window). What one lease costs, and what a
/// busy key's decision costs once its leases have grown.
fn embedded(rt: &tokio::runtime::Runtime) {
    use keygate::store::{CounterStore, WindowLease};
    let dir = tempfile::tempdir().unwrap();
    let store = keygate::store::redb::RedbStore::open(dir.path()).unwrap();
    let mut start = 0i64;
    let rounds: Vec<f64> = (0..5)
        .map(|_| {
            let began = Instant::now();
            for _ in 0..200 {
                start += 60_000;
                let lease = WindowLease {
                    slot: "k:bench|1m",
                    window_start_ms: start,
                    window_ms: 60_000,
                    limit: 1000,
                    want: 10,
                    now_ms: start,
                };
                black_box(rt.block_on(store.take_window(&lease)).unwrap());
            }
            began.elapsed().as_nanos() as f64 / 200.0
        })
        .collect();
    let mut rounds = rounds;
    rounds.sort_by(f64::total_cmp);
    let name = "embedded: one rate-limit lease (durable)";
    if wanted(name) {
        println!(
            "{name:<40} {:>10.1} ns/op  (data dir {})",
            rounds[rounds.len() / 2],
            dir.path().display()
        );
    }
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        token_salt: Some(keygate::config::Secret::new(
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )),
        ..Config::default()
    };
    let app = Arc::new(App::open(config, Clock::system()).unwrap());
    let ip: std::net::IpAddr = [10, 0, 0, 3].into();
    for (name, limits) in [
        (
            "embedded: whole decision, unlimited key",
            serde_json::json!({}),
        ),
        (
            "embedded: whole decision, rate-limited (busy)",
            serde_json::json!({"rate_limits": [{"name": "d", "limit": 1_000_000_000_000u64, "window": "1d"}]}),
        ),
    ] {
        decision_with_limits(rt, &app, name, limits, ip);
    }
}

/// A key with `limits`, decided once to fill the cache, then measured.
fn decision_with_limits(
    rt: &tokio::runtime::Runtime,
    app: &App,
    name: &str,
    limits: serde_json::Value,
    ip: std::net::IpAddr,
) {
    let plain = Target {
        method: "GET",
        host: "h",
        uri: "/",
        needs: &[],
        cost: 1,
    };
    let (k, _) = rt
        .block_on(app.keys.create(
            NewToken {
                owner: "bench".into(),
                name: "limited".into(),
                limits: Some(serde_json::from_value(limits).unwrap()),
                ..Default::default()
            },
            &keygate::manage::Actor::cli(),
        ))
        .unwrap();
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", k.expose())).unwrap(),
    );
    let h = Presented::from_headers(&h, &Sources::default());
    rt.block_on(app.gate.decide(&h, &plain, ip));
    measure(name, 100_000, || {
        black_box(
            rt.block_on(app.gate.decide(black_box(&h), &plain, ip))
                .lookup,
        );
    });
}
