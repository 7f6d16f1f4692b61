//! `keygate doctor`: checks the store's records and, with `--fix`, repairs what it can
//! (the record format's part is in `store.rs`, shared with `keygate store migrate`).

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
    let risks = risky_settings(&config);
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
        problems.extend(super::store::doctor_formats(store.as_ref(), fix).await?);
    }
    for n in &notes {
        println!("note: {n}");
    }
    for r in risks {
        problems.push(format!("risky setting: {r}"));
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

/// Settings that are valid but weaken what keygate protects, in words with the fix.
/// Each makes `keygate doctor` exit 1.
pub fn risky_settings(config: &Config) -> Vec<String> {
    let mut risks = Vec::new();
    for p in &config.trusted_proxies {
        use std::net::{Ipv4Addr, Ipv6Addr};
        // A range holding both ends of the address space holds all of it.
        let all = crate::decide::Cidr::parse(p).is_ok_and(|c| {
            (c.contains(Ipv4Addr::UNSPECIFIED.into()) && c.contains(Ipv4Addr::BROADCAST.into()))
                || (c.contains(Ipv6Addr::UNSPECIFIED.into())
                    && c.contains(Ipv6Addr::from(u128::MAX).into()))
        });
        if all {
            risks.push(format!(
                "trusted_proxies holds `{p}`: every client is trusted to say who it is in \
                 X-Forwarded-For, so the failed-attempt throttle and the logged addresses can be \
                 spoofed; list only your proxies' addresses"
            ));
        }
    }
    if let Some(k) = &config.admin_key {
        let k = k.expose();
        let distinct: std::collections::HashSet<char> = k.chars().collect();
        if k.trim().len() < 16 || distinct.len() < 8 || k.trim() != k {
            risks.push(
                "admin_key is weak (blank, padded with spaces or made of few distinct \
                 characters): use a random one, e.g. `keygate gen-salt`"
                    .into(),
            );
        }
    }
    if config.oauth.enabled() && config.oauth.audiences.is_empty() {
        risks.push(
            "[oauth] has no audiences: an access token the provider issued to any other \
             application is accepted by the API; set oauth.audiences to this API's audience"
                .into(),
        );
    }
    if config.cors.enabled && config.cors.allow_origins.iter().any(|o| o.trim() == "*") {
        risks.push(
            "cors.allow_origins holds `*`: any web page may call the API from its visitors' \
             browsers; list the origins of your UI instead"
                .into(),
        );
    }
    risks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn risky_settings_are_named() {
        let mut c = Config::default();
        assert!(risky_settings(&c).is_empty(), "{:?}", risky_settings(&c));
        c.trusted_proxies = vec!["0.0.0.0/0".into()];
        assert!(risky_settings(&c)[0].contains("`0.0.0.0/0`"));
        c.trusted_proxies = vec!["::/0".into()];
        assert!(risky_settings(&c)[0].contains("`::/0`"));
        c.trusted_proxies = vec!["10.0.0.0/8".into()];
        assert!(risky_settings(&c).is_empty());
        c.admin_key = Some(Secret::new(" ".repeat(16)));
        assert!(risky_settings(&c)[0].contains("admin_key is weak"));
        c.admin_key = Some(Secret::new("aaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(risky_settings(&c)[0].contains("admin_key is weak"));
        c.admin_key = Some(Secret::new("Zq3x9LmP0wRt7yUv2KsN"));
        assert!(risky_settings(&c).is_empty());
        c.oauth.issuer_url = "https://id.example.com".into();
        assert!(risky_settings(&c)[0].contains("no audiences"));
        c.oauth.audiences = vec!["keygate".into()];
        assert!(risky_settings(&c).is_empty());
        c.cors.enabled = true;
        c.cors.allow_origins = vec!["*".into()];
        assert!(risky_settings(&c)[0].contains("`*`"));
        c.cors.allow_origins = vec!["https://ui.example.com".into()];
        assert!(risky_settings(&c).is_empty());
    }
}
