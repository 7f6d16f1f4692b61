//! The heavier CLI commands: `keygate keys import` and `keygate status`.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use std::io::Write;

use crate::app::open_store;
use crate::cli::{
    OwnerLimitsCommand, TokenCommand, check_quota, limits_patch_json, needs_quota, new_token,
    parse_grace, parse_id, print_owner_limits, print_view, print_views,
};
use crate::clock::Clock;
use crate::config::Config;
use crate::decide::SHA256_META;
use crate::keyfile::Format;
use crate::manage::TokenView;
use crate::store::{HashAlg, TokenId, TokenRecord};
use crate::token::{KeyHash, KeyPrefix, Policy};

const BATCH: usize = 10_000;
/// Exit status when the valid lines were imported but some lines were not.
pub const SOME_INVALID: u8 = 3;

/// Imports a key file into the store. Invalid lines are reported with their numbers and
/// skipped; keys already in the store (or repeated in the file) are skipped.
pub async fn import(
    config: Config,
    file: &Path,
    format: &str,
    owner: &str,
    name: Option<String>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let format = Format::parse(format).map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    crate::manage::validate_owner(owner)?;
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let name = name.unwrap_or_else(|| format!("imported from {file_name}"));
    crate::manage::validate_name(&name)?;
    let content = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let prefix = KeyPrefix::parse(&config.key_prefix).map_err(|e| anyhow::anyhow!(e))?;
    let policy = Policy {
        prefix,
        accept_foreign: true,
        foreign_length: config.key_length,
        foreign_prefix: config.foreign_key_prefix.clone(),
    };
    let (store, salt) = open_store(&config)?;
    let now = Clock::system().now();

    let lines = content.split(|b| *b == b'\n').count() as u64;
    let bar = ProgressBar::with_draw_target(
        Some(lines),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} lines ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    let (mut imported, mut skipped, mut valid) = (0usize, 0usize, 0usize);
    let mut invalid: Vec<(usize, String)> = Vec::new();
    let mut batch: Vec<TokenRecord> = Vec::with_capacity(BATCH);
    for (i, raw) in content.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        if n % 4096 == 0 {
            bar.set_position(n as u64);
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            invalid.push((n, "not UTF-8 text".into()));
            continue;
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (hash, alg, hint) = match format {
            Format::Plain => match policy.check(line) {
                Ok(_) => (
                    KeyHash::of(&salt, line),
                    HashAlg::Keyed,
                    crate::token::hint(line),
                ),
                Err(e) => {
                    invalid.push((n, e.to_string()));
                    continue;
                }
            },
            Format::Sha256 => match KeyHash::from_hex(&line.to_ascii_lowercase()) {
                Some(h) => (h, HashAlg::Sha256, "(sha256 import)".to_owned()),
                None => {
                    invalid.push((n, "not 64 hexadecimal characters".into()));
                    continue;
                }
            },
        };
        valid += 1;
        if !seen.insert(hash.0) {
            skipped += 1;
            continue;
        }
        batch.push(TokenRecord::plain(
            TokenId::generate()?,
            hash,
            alg,
            owner.to_owned(),
            name.clone(),
            hint,
            now,
            "import".into(),
        ));
        if batch.len() == BATCH {
            let (i, s) = flush(&*store, &mut batch, dry_run).await?;
            imported += i;
            skipped += s;
        }
    }
    let (i, s) = flush(&*store, &mut batch, dry_run).await?;
    imported += i;
    skipped += s;
    bar.finish_and_clear();

    if !dry_run && format == Format::Sha256 && imported > 0 {
        // Tells every server to look SHA-256 imports up too.
        store.set_meta(SHA256_META, b"1").await?;
    }
    if !dry_run && imported > 0 {
        audit_import(store.as_ref(), owner.to_owned(), now).await?;
    }
    let verb = if dry_run { "would import" } else { "imported" };
    eprintln!(
        "{verb} {imported}, skipped {skipped} (already in the store or repeated), invalid {} — {valid} valid line(s) in {file_name}",
        invalid.len()
    );
    if dry_run {
        eprintln!("dry run: nothing was written; keys already in the store are not looked for");
    }
    for (n, why) in invalid.iter().take(50) {
        eprintln!("  line {n}: {why}");
    }
    if invalid.len() > 50 {
        eprintln!("  … and {} more invalid lines", invalid.len() - 50);
    }
    if valid == 0 {
        bail!("{} holds no valid keys", file.display());
    }
    Ok(if invalid.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(SOME_INVALID)
    })
}

/// One audit event for a whole import run (not one per key).
async fn audit_import(
    store: &dyn crate::store::TokenStore,
    what: String,
    now: crate::clock::Timestamp,
) -> anyhow::Result<()> {
    let event = crate::store::AuditEvent {
        seq: 0,
        at: now,
        actor: "cli".into(),
        auth: "cli".into(),
        action: "import".into(),
        owner: what,
        token_id: None,
        client: None,
        name: None,
        changes: Vec::new(),
    };
    store.append_audit(&event).await?;
    Ok(())
}

/// Stores a batch; returns (stored, skipped because present).
async fn flush(
    store: &dyn crate::store::TokenStore,
    batch: &mut Vec<TokenRecord>,
    dry_run: bool,
) -> anyhow::Result<(usize, usize)> {
    if batch.is_empty() {
        return Ok((0, 0));
    }
    let n = batch.len();
    let stored = if dry_run {
        n
    } else {
        store.insert_many(batch).await?
    };
    batch.clear();
    Ok((stored, n - stored))
}

/// `keygate status`: fetches `/status` and prints it readably.
pub async fn status(server: &str, admin_key: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let Some(key) = admin_key else {
        bail!("give the admin key with --admin-key or KEYGATE_ADMIN_KEY(_FILE)");
    };
    let url = format!("{}/status", server.trim_end_matches('/'));
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?
        .get(&url)
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let code = resp.status();
    let body: serde_json::Value = resp
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if !code.is_success() {
        bail!(
            "{url} answered {code}: {}",
            body["message"].as_str().unwrap_or("no message")
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    println!("keygate {}", s(&body["version"]));
    let store = &body["store"];
    println!(
        "store:      {} ({}), {} keys",
        s(&store["kind"]),
        if store["healthy"] == true {
            "healthy"
        } else {
            "UNREACHABLE"
        },
        s(&store["keys"])
    );
    match body["uploaded"].as_object() {
        Some(u) => println!(
            "uploaded:   {} keys ({}), loaded {}, sha256 {}",
            s(&u["file_key_count"]),
            s(&u["format"]),
            s(&u["file_date"]),
            s(&u["file_hash"])
        ),
        None => println!("uploaded:   none"),
    }
    for f in body["key_files"].as_array().into_iter().flatten() {
        println!(
            "key file:   {} — {} keys ({}), owner {}, loaded {}{}",
            s(&f["source"]),
            s(&f["key_count"]),
            s(&f["format"]),
            s(&f["owner"]),
            s(&f["loaded_at"]),
            f["last_error"]
                .as_str()
                .map(|e| format!(", LAST ERROR: {e}"))
                .unwrap_or_default()
        );
    }
    let l = &body["limits"];
    println!(
        "limits:     key_prefix {}, key_length {}, foreign_key_prefix {:?}, load_max_bytes {}",
        s(&l["key_prefix"]),
        s(&l["key_length"]),
        s(&l["foreign_key_prefix"]),
        s(&l["load_max_bytes"])
    );
    Ok(ExitCode::SUCCESS)
}

/// A small client of the management API, as the admin.
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// A client of `server`'s API with the admin key (for other commands' modules).
pub(crate) fn api(server: &str, admin_key: Option<&str>) -> anyhow::Result<Api> {
    Api::new(server, admin_key)
}

impl Api {
    /// GET `path`, its JSON answer.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// A client of `server`'s API with the admin key.
    fn new(server: &str, admin_key: Option<&str>) -> anyhow::Result<Api> {
        let Some(admin_key) = admin_key else {
            bail!("--server needs the admin key: --admin-key or KEYGATE_ADMIN_KEY(_FILE)");
        };
        Ok(Api {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            base: server.trim_end_matches('/').to_owned(),
            key: admin_key.to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let base = &self.base;
        let mut req = self
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let code = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json: serde_json::Value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("{base} did not answer JSON"))?
        };
        if !code.is_success() {
            bail!(
                "{code}: {}",
                json["message"].as_str().unwrap_or("no message")
            );
        }
        Ok(json)
    }
}

/// Percent-encodes a path segment (owners may hold `/`, spaces, anything).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `keygate token … --server URL`: the same commands through the management API, as
/// the admin, so the embedded store never has to be stopped.
pub async fn remote_token(
    server: &str,
    admin_key: Option<&str>,
    cmd: TokenCommand,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(server, admin_key)?;
    use reqwest::Method;
    let mut out = std::io::stdout().lock();
    let now = Clock::system().now();
    match cmd {
        TokenCommand::Create {
            owner,
            name,
            expires,
            rules,
            metadata,
            limits,
        } => {
            let t = new_token(owner, name, expires, &rules, &metadata, now)?;
            let mut body = serde_json::json!({
                "name": t.name, "expires_at": t.expires_at, "rules": t.rules, "metadata": t.metadata,
            });
            if let Some(l) = limits.view()? {
                body["limits"] = serde_json::to_value(l)?;
            }
            let r = api
                .call(
                    Method::POST,
                    &format!("/api/users/{}/tokens", segment(&t.owner)),
                    Some(body),
                )
                .await?;
            writeln!(out, "{}", r["key"].as_str().unwrap_or_default())?;
            eprintln!(
                "created key {} ({}) for {}",
                r["id"].as_str().unwrap_or("?"),
                r["hint"].as_str().unwrap_or("?"),
                t.owner
            );
        }
        TokenCommand::Update(args) => {
            let (id, patch) = args.patch(now)?;
            let path = format!("/api/tokens/{id}");
            if let Some(l) = &patch.limits
                && needs_quota(l)
            {
                let v = api.call(Method::GET, &path, None).await?;
                check_quota(l, !v["limits"]["credits"].is_null())?;
            }
            let mut body = serde_json::Map::new();
            if let Some(n) = &patch.name {
                body.insert("name".into(), n.clone().into());
            }
            if let Some(e) = patch.expires_at {
                body.insert("expires_at".into(), serde_json::to_value(e)?);
            }
            if let Some(l) = &patch.limits {
                body.insert("limits".into(), limits_patch_json(l));
            }
            let r = api
                .call(Method::PATCH, &path, Some(serde_json::Value::Object(body)))
                .await?;
            eprintln!("updated key {id} ({})", r["hint"].as_str().unwrap_or("?"));
        }
        TokenCommand::List { owner, json } => {
            let path = match &owner {
                Some(o) => format!("/api/users/{}/tokens", segment(o)),
                None => "/api/tokens".to_owned(),
            };
            let (views, damaged) = list_all_pages(&api, &path).await?;
            print_views(&mut out, &views, json)?;
            report_damaged(&damaged);
        }
        TokenCommand::Show { id, json } => {
            let id = parse_id(&id)?;
            let v: TokenView = serde_json::from_value(
                api.call(Method::GET, &format!("/api/tokens/{id}"), None)
                    .await?,
            )?;
            print_view(&mut out, &v, json)?;
        }
        TokenCommand::Revoke { id } => {
            let id = parse_id(&id)?;
            api.call(Method::DELETE, &format!("/api/tokens/{id}"), None)
                .await?;
            eprintln!("revoked key {id}");
        }
        TokenCommand::Disable { id } => set_disabled(&api, &id, true).await?,
        TokenCommand::Enable { id } => set_disabled(&api, &id, false).await?,
        TokenCommand::Rotate {
            id,
            grace,
            expires,
            no_expiry,
        } => {
            let grace = parse_grace(&grace)?;
            let id = parse_id(&id)?;
            let mut body = serde_json::json!({"grace_seconds": grace.as_secs()});
            if let Some(e) = crate::cli::rotate_expiry(expires, no_expiry, now)? {
                body["expires_at"] = serde_json::to_value(e)?;
            }
            let r = api
                .call(
                    Method::POST,
                    &format!("/api/tokens/{id}/rotate"),
                    Some(body),
                )
                .await?;
            writeln!(out, "{}", r["key"].as_str().unwrap_or_default())?;
            eprintln!(
                "rotated key {id} into {} ({})",
                r["id"].as_str().unwrap_or("?"),
                r["hint"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `keygate owner-limits … --server URL`: the same commands through the management API.
pub async fn remote_owner_limits(
    server: &str,
    admin_key: Option<&str>,
    cmd: OwnerLimitsCommand,
) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    let api = Api::new(server, admin_key)?;
    let mut out = std::io::stdout().lock();
    let path = |owner: &str| format!("/api/users/{}/limits", segment(owner));
    match cmd {
        OwnerLimitsCommand::Get { owner, json } => {
            let v = api.call(Method::GET, &path(&owner), None).await?;
            print_owner_limits(&mut out, &v, json)?;
        }
        OwnerLimitsCommand::Set {
            owner,
            limits,
            json,
        } => {
            let view = limits.view()?.unwrap_or_default();
            let v = api
                .call(
                    Method::PUT,
                    &path(&owner),
                    Some(serde_json::to_value(view)?),
                )
                .await?;
            print_owner_limits(&mut out, &v, json)?;
            eprintln!("set the limits of owner {owner}");
        }
        OwnerLimitsCommand::Clear { owner } => {
            api.call(Method::DELETE, &path(&owner), None).await?;
            eprintln!("cleared the limits of owner {owner}: the default applies again");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Pages the CLI reads at most (of [`PAGE`] keys each) before it stops with a warning.
const MAX_PAGES: usize = 1000;
const PAGE: usize = 500;

/// Every page of a key listing, following `next_cursor`; and the damaged ids it named.
async fn list_all_pages(api: &Api, path: &str) -> anyhow::Result<(Vec<TokenView>, Vec<String>)> {
    let mut views = Vec::new();
    let mut damaged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = format!("{path}?limit={PAGE}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = api.call(reqwest::Method::GET, &url, None).await?;
        let tokens: Vec<TokenView> = serde_json::from_value(page["tokens"].clone())?;
        views.extend(tokens);
        if damaged.is_empty() {
            damaged = page["damaged"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d["id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
        }
        match page["next_cursor"].as_str() {
            // Cursors are hex: safe in a query string as they are.
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok((views, damaged)),
        }
    }
    eprintln!(
        "warning: stopped after {} keys ({MAX_PAGES} pages); the list is incomplete",
        views.len()
    );
    Ok((views, damaged))
}

/// Names damaged records on stderr, so a listing never hides them.
pub fn report_damaged<T: std::fmt::Display>(ids: &[T]) {
    for id in ids {
        eprintln!(
            "warning: the stored record of key {id} is damaged (left out); `keygate token revoke {id}` or `keygate doctor --fix` removes it"
        );
    }
}

async fn set_disabled(api: &Api, id: &str, disabled: bool) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let body = serde_json::json!({ "disabled": disabled });
    api.call(
        reqwest::Method::PATCH,
        &format!("/api/tokens/{id}"),
        Some(body),
    )
    .await?;
    eprintln!("{} key {id}", if disabled { "disabled" } else { "enabled" });
    Ok(())
}

/// `keygate import rvfa`: reads rusty-valkey-forward-auth's `auth:token:{hash}` hashes
/// (`sub`, `created_at`, `description`) and writes them into keygate's store with fresh
/// ids. The hash is the same keyed BLAKE3, so with the same `token_salt` every key keeps
/// working. Keys already imported are skipped, so it can run again.
pub async fn import_rvfa(config: Config, from: &str, dry_run: bool) -> anyhow::Result<ExitCode> {
    use redis::AsyncCommands;
    let (store, _salt) = open_store(&config)?;
    let client =
        redis::Client::open(from).with_context(|| format!("bad --from-valkey-url {from}"))?;
    let mut conn = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("{from} did not answer"))?
    .with_context(|| format!("cannot reach {from}"))?;
    let mut names: Vec<String> = Vec::new();
    {
        let mut iter: redis::AsyncIter<String> = conn.scan_match("auth:token:*").await?;
        while let Some(k) = iter.next_item().await {
            names.push(k?);
        }
    }
    names.sort();
    let now = Clock::system().now();
    let (mut invalid, mut records) = (Vec::new(), Vec::new());
    for name in &names {
        let hash_hex = &name["auth:token:".len()..];
        let Some(hash) = KeyHash::from_hex(&hash_hex.to_ascii_lowercase()) else {
            invalid.push(format!("{name}: not a 64-hex-character hash"));
            continue;
        };
        let fields: std::collections::HashMap<String, String> = conn.hgetall(name).await?;
        let Some(sub) = fields
            .get("sub")
            .filter(|s| crate::manage::validate_owner(s).is_ok())
        else {
            invalid.push(format!("{name}: no usable `sub`"));
            continue;
        };
        let description = fields.get("description").map(|d| d.trim()).unwrap_or("");
        let name_text: String = if description.is_empty() {
            "imported from rusty-valkey-forward-auth".into()
        } else {
            description
                .chars()
                .filter(|c| crate::manage::allowed_char(*c))
                .take(crate::manage::MAX_NAME_LEN)
                .collect()
        };
        let created_at = fields
            .get("created_at")
            .and_then(|t| {
                humantime::parse_rfc3339_weak(t.trim_end_matches('Z'))
                    .ok()
                    .or_else(|| humantime::parse_rfc3339(t).ok())
            })
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(now, |d| {
                crate::clock::Timestamp::from_unix(i64::try_from(d.as_secs()).unwrap_or(0))
            });
        records.push(TokenRecord::plain(
            TokenId::generate()?,
            hash,
            HashAlg::Keyed,
            sub.clone(),
            name_text,
            "(imported)".into(),
            created_at,
            "rvfa-import".into(),
        ));
    }
    let found = records.len();
    let imported = if dry_run {
        let mut n = 0;
        for r in &records {
            if store.get_by_hash(&r.hash).await?.is_none() {
                n += 1;
            }
        }
        n
    } else {
        let mut n = 0;
        for chunk in records.chunks(BATCH) {
            n += store.insert_many(chunk).await?;
        }
        if n > 0 {
            audit_import(
                store.as_ref(),
                format!("{n} keys from rusty-valkey-forward-auth"),
                now,
            )
            .await?;
        }
        n
    };
    let verb = if dry_run { "would import" } else { "imported" };
    eprintln!(
        "{verb} {imported}, skipped {} (already imported), invalid {} — {} records found",
        found - imported,
        invalid.len(),
        names.len()
    );
    for line in invalid.iter().take(50) {
        eprintln!("  {line}");
    }
    Ok(ExitCode::SUCCESS)
}

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
