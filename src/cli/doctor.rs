//! `keygate doctor`: checks the store's records and, with `--fix`, repairs what it can.

use std::process::ExitCode;

use crate::app::open_store;
use crate::config::Config;

/// `keygate doctor`: checks the configuration and the store and says, in words, what is
/// wrong. Exit 0 when nothing is, 1 otherwise.
pub async fn doctor(config: Config, fix: bool) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    println!("configuration: valid");
    if config.uses_valkey()
        && config.valkey_wait_replicas == 0
        && config.valkey_cluster_nodes.is_empty()
    {
        notes.push("valkey_wait_replicas = 0: a write is acknowledged before any replica has it (see docs/scaling.md)".into());
    }
    if config
        .trusted_proxies
        .iter()
        .all(|p| p.starts_with("127.") || p.starts_with("::1"))
    {
        notes.push("trusted_proxies holds loopback only: behind a proxy on another host, every client looks like the proxy to the throttle".into());
    }
    if !config.oauth.enabled() && config.admin_key.is_none() {
        notes.push(
            "no [oauth] and no admin_key: single-operator mode (a generated admin key)".into(),
        );
    }
    let (store, _) = match open_store(&config) {
        Ok(s) => s,
        Err(e) => {
            println!("store: cannot open: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let timeout = std::time::Duration::from_millis(config.store_timeout_ms);
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let started = tokio::time::Instant::now();
        match tokio::time::timeout(timeout, store.ping()).await {
            Ok(Ok(())) => latencies.push(started.elapsed()),
            Ok(Err(e)) => problems.push(format!("the {} store does not answer: {e}", store.kind())),
            Err(_) => problems.push(format!(
                "the {} store did not answer within {} ms",
                store.kind(),
                config.store_timeout_ms
            )),
        }
        if !problems.is_empty() {
            break;
        }
    }
    if let Some(best) = latencies.iter().min() {
        let worst = latencies.iter().max().copied().unwrap_or_default();
        println!(
            "store: {} reachable, ping {:.2} ms (worst {:.2} ms)",
            store.kind(),
            best.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3
        );
        match store.get_meta(crate::app::LAYOUT_META).await? {
            Some(v) if v == crate::app::LAYOUT_VERSION.as_bytes() => {
                println!("layout: version {}", crate::app::LAYOUT_VERSION)
            }
            Some(v) => problems.push(format!(
                "the store's layout is version {}, this keygate knows {}",
                String::from_utf8_lossy(&v),
                crate::app::LAYOUT_VERSION
            )),
            None => {
                notes.push("no layout version yet (a server writes it at its first start)".into())
            }
        }
        println!("keys: {}", store.count().await?);
        let found = store.check(fix).await?;
        if found.is_empty() {
            println!("leftovers of interrupted changes and damaged records: none");
        } else if fix {
            println!(
                "leftovers of interrupted changes and damaged records: {} removed",
                found.len()
            );
            for f in &found {
                println!("  removed: {f}");
            }
        } else {
            for f in found {
                problems.push(format!("{f} — run `keygate doctor --fix` to remove it"));
            }
        }
    }
    for n in &notes {
        println!("note: {n}");
    }
    if problems.is_empty() {
        println!("nothing is wrong");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            println!("PROBLEM: {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}
