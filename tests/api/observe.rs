//! Metrics (bounded series, parseable by a real Prometheus parser) and the access log
//! (never a key, never a hash of one).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestApp};

/// The series of a scrape: every sample line's name and labels.
fn series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
        .collect()
}

async fn scrape(t: &TestApp) -> String {
    let r = t.get("/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    r.text().await.unwrap()
}

async fn traffic(t: &TestApp, key: &str, from: usize, to: usize) {
    for i in from..to {
        let host = format!("host-{i}.attacker.example");
        let uri = format!("/path/{i}?q={i}");
        let k = if i % 2 == 0 {
            key.to_owned()
        } else {
            format!("wrong-key-{i:06}")
        };
        t.get("/auth")
            .header("X-Original-URL", format!("https://{host}{uri}"))
            .header("X-Original-Host", &host)
            .header("X-Original-URI", &uri)
            .bearer_auth(&k)
            .send()
            .await
            .unwrap();
        t.get("/forward-auth")
            .header("X-Forwarded-Host", &host)
            .header("X-Forwarded-Uri", &uri)
            .bearer_auth(&k)
            .send()
            .await
            .unwrap();
        t.get(&format!("/ext-authz/{i}"))
            .header("Host", &host)
            .bearer_auth(&k)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_series_do_not_grow_with_client_values() {
    let t = TestApp::spawn(Backend::Memory).await;
    let (key, _) = t.create("alice", "k", &[]).await;
    traffic(&t, &key, 0, 20).await;
    let before = scrape(&t).await;
    traffic(&t, &key, 20, 2020).await;
    let after = scrape(&t).await;
    assert_eq!(
        series(&before),
        series(&after),
        "client values created series"
    );
    assert!(
        !after.contains("attacker"),
        "a client value reached a label"
    );
    assert!(
        after.contains("keygate_decisions_total{endpoint=\"auth\",outcome=\"allowed\"} 1010"),
        "{after}"
    );
    assert!(after.contains(
        "keygate_decisions_total{endpoint=\"forward_auth\",outcome=\"unauthenticated\"} 1010"
    ));
    assert!(after.contains("keygate_build_info{version="));

    // A real Prometheus text-format parser reads it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scrape.txt");
    std::fs::write(&file, &after).unwrap();
    let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
        fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))\n\
        names = {f.name for f in fams}\n\
        need = {'keygate_decisions','keygate_decision_duration_seconds','keygate_cache_lookups','keygate_build_info','keygate_keys'}\n\
        missing = need - names\n\
        assert not missing, missing\n\
        print(sum(len(f.samples) for f in fams))\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse the scrape (is it installed? `make deps` installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(samples > 50, "{samples}");
}

#[tokio::test]
async fn metrics_on_their_own_listener() {
    let port = crate::helpers::free_port();
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.metrics_address = format!("127.0.0.1:{port}")
    })
    .await;
    assert_eq!(t.get("/metrics").send().await.unwrap().status(), 404);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = t
            .client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        {
            assert!(r.text().await.unwrap().contains("keygate_decisions_total"));
            break;
        }
        assert!(Instant::now() < deadline, "metrics listener never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

#[test]
fn access_log_never_holds_a_key_or_its_hash_json() {
    access_log_never_holds_a_key_or_its_hash("json");
}

#[test]
fn access_log_never_holds_a_key_or_its_hash_text() {
    access_log_never_holds_a_key_or_its_hash("text");
}

/// Every credential source (Bearer, Basic user and password, the configured header,
/// the configured query parameter) and keys written into the path: none of the keys, nor
/// their hashes, appear in the log.
fn access_log_never_holds_a_key_or_its_hash(format: &str) {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keyfile = d.join("partner.keys");
    std::fs::write(&keyfile, "partner-secret-key-77\n").unwrap();
    std::fs::write(
        d.join("keygate.toml"),
        format!(
            "log_format = \"{format}\"\nmetadata_length = 8\nquery_param = \"api_key\"\n\
             api_key_header = \"X-Api-Key\"\n[throttle]\nenabled = false\n\
             [[key_files]]\npath = \"{}\"\n",
            keyfile.display()
        ),
    )
    .unwrap();
    let good = crate::helpers::run_cli(
        d,
        &["token", "create", "--owner", "alice", "--name", "logged"],
    );

    let mut serve = Command::new(BIN);
    serve
        .args(["serve", "--port", "0"])
        .current_dir(d)
        .env_clear();
    let server = crate::helpers::Process::start(serve);
    let addr = server.addr.clone();

    let unknown = keygate::token::generate(&Default::default())
        .unwrap()
        .expose()
        .to_owned();
    let mut broken = good.clone();
    broken.pop();
    broken.push(if good.ends_with('A') { 'B' } else { 'A' });
    let presented = [
        good.as_str(),
        unknown.as_str(),
        broken.as_str(),
        "legacy-secret-key-123",
        "partner-secret-key-77",
    ];
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let mut requests = 0;
    for key in presented {
        let mut ways: Vec<(String, String)> = vec![
            ("Authorization".into(), format!("Bearer {key}")),
            (
                "Authorization".into(),
                format!("Basic {}", b64(format!("{key}:"))),
            ),
            (
                "Authorization".into(),
                format!("Basic {}", b64(format!("user:{key}"))),
            ),
            ("X-Api-Key".into(), key.into()),
            (
                "X-Forwarded-Uri".into(),
                format!("/a/b?x=1&api_key={key}&y=2"),
            ),
        ];
        if key.starts_with("kg_") {
            // Not a credential keygate reads, but still a key: not in the log either.
            ways.push(("X-Forwarded-Uri".into(), format!("/files/{key}/raw")));
            ways.push(("X-Forwarded-Uri".into(), format!("/q?next=/v1/{key}")));
        }
        for (name, value) in ways {
            let mut args: Vec<String> = vec![
                "-s".into(),
                "-o".into(),
                "/dev/null".into(),
                "-H".into(),
                format!("{name}: {value}"),
                "-H".into(),
                "X-Akas-Metadata: meta-value-long".into(),
            ];
            if name != "X-Forwarded-Uri" {
                args.extend(["-H".into(), "X-Forwarded-Uri: /a/b".into()]);
            }
            let out = Command::new("curl")
                .args(&args)
                .arg(format!("http://{addr}/forward-auth"))
                .output()
                .unwrap();
            assert!(out.status.success());
            requests += 1;
        }
    }
    let lines = server.stop();
    let salt_hex = std::fs::read_to_string(d.join("data/token_salt")).unwrap();
    let salt = keygate::token::Salt::from_hex(&salt_hex).unwrap();
    let all = lines.join("\n");
    let access: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("keygate::access"))
        .cloned()
        .collect();
    assert_eq!(access.len(), requests, "one line per decision:\n{all}");
    for key in presented {
        assert!(!all.contains(key), "a key is in the log:\n{all}");
        // Nor a recognisable part of one.
        assert!(
            !all.contains(&key[3..key.len() - 3]),
            "part of a key is in the log:\n{all}"
        );
        let keyed = keygate::token::KeyHash::of(&salt, key).to_hex();
        let sha = keygate::keyfile::sha256_hex(key.as_bytes());
        assert!(
            !all.contains(&keyed[..16]) && !all.contains(&sha[..16]),
            "a hash of a key is in the log"
        );
    }
    assert!(all.contains("api_key=[redacted]"), "{all}");
    assert!(all.contains("/files/[redacted]/raw"), "{all}");
    if format == "text" {
        let allowed = access
            .iter()
            .filter(|l| l.contains("decision=allowed"))
            .count();
        assert_eq!(allowed, 10, "{all}");
        return;
    }
    let access: Vec<serde_json::Value> = access
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
    let allowed: Vec<_> = access
        .iter()
        .filter(|v| v["decision"] == "allowed")
        .collect();
    assert_eq!(allowed.len(), 10, "two keys, five ways each: {all}");
    assert_eq!(allowed[0]["owner"], "alice");
    assert_eq!(allowed[0]["level"], "INFO");
    assert_eq!(allowed[0]["metadata"], "meta-val", "cut to metadata_length");
    let denied: Vec<_> = access
        .iter()
        .filter(|v| v["decision"] == "unauthenticated")
        .collect();
    assert_eq!(denied.len(), requests - 10);
    assert_eq!(denied[0]["level"], "WARN");
    for v in &access {
        for field in [
            "endpoint",
            "status",
            "method",
            "host",
            "uri",
            "client",
            "latency_us",
            "timestamp",
        ] {
            assert!(!v[field].is_null(), "{field} missing in {v}");
        }
    }
}
