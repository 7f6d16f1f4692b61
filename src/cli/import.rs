//! `keygate keys import` (key files, in batches) and `keygate import rvfa`
//! (rusty-valkey-forward-auth's keys).

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app::open_store;
use crate::clock::Clock;
use crate::config::Config;
use crate::decide::SHA256_META;
use crate::keyfile::Format;
use crate::store::{HashAlg, TokenId, TokenRecord};
use crate::token::{KeyHash, Policy};

pub(super) const BATCH: usize = 10_000;
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
    let prefix = crate::app::settings::resolve(&config)
        .map_err(anyhow::Error::msg)?
        .key_prefix;
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
pub(super) async fn audit_import(
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
pub(super) async fn flush(
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
