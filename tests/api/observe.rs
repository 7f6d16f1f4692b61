//! Metrics (bounded series, parseable by a real Prometheus parser) and the access log
//! (never a key, never a hash of one).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
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
fn access_log_never_holds_a_key_or_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keyfile = d.join("partner.keys");
    std::fs::write(&keyfile, "partner-secret-key-77\n").unwrap();
    std::fs::write(
        d.join("keygate.toml"),
        format!(
            "log_format = \"json\"\nmetadata_length = 8\n[[key_files]]\npath = \"{}\"\n",
            keyfile.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(d)
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let good = run(&["token", "create", "--owner", "alice", "--name", "logged"]);

    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0"])
        .current_dir(d)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(i) = line.find("http://") {
                let addr: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                let _ = tx.send(addr);
            }
            sink.lock().unwrap().push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server address");

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
    for key in presented {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-H",
                &format!("Authorization: Bearer {key}"),
            ])
            .args([
                "-H",
                "X-Akas-Metadata: meta-value-long",
                "-H",
                "X-Forwarded-Uri: /a/b",
            ])
            .arg(format!("http://{addr}/forward-auth"))
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    reader.join().unwrap();

    let salt_hex = std::fs::read_to_string(d.join("data/token_salt")).unwrap();
    let salt = keygate::token::Salt::from_hex(&salt_hex).unwrap();
    let all = lines.lock().unwrap().join("\n");
    let access: Vec<serde_json::Value> = lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "keygate::access")
        .collect();
    assert_eq!(
        access.len(),
        presented.len(),
        "one line per decision:\n{all}"
    );
    for key in presented {
        assert!(!all.contains(key), "a key is in the log");
        let keyed = keygate::token::KeyHash::of(&salt, key).to_hex();
        let sha = keygate::keyfile::sha256_hex(key.as_bytes());
        assert!(
            !all.contains(&keyed[..16]) && !all.contains(&sha[..16]),
            "a hash of a key is in the log"
        );
    }
    let allowed: Vec<_> = access
        .iter()
        .filter(|v| v["decision"] == "allowed")
        .collect();
    assert_eq!(allowed.len(), 2, "{all}");
    assert_eq!(allowed[0]["owner"], "alice");
    assert_eq!(allowed[0]["level"], "INFO");
    assert_eq!(allowed[0]["metadata"], "meta-val", "cut to metadata_length");
    let denied: Vec<_> = access
        .iter()
        .filter(|v| v["decision"] == "unauthenticated")
        .collect();
    assert_eq!(denied.len(), 3);
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
