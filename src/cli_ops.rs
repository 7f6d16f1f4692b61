//! The heavier CLI commands: `keygate keys import` and `keygate status`.

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
        batch.push(TokenRecord {
            id: TokenId::generate()?,
            hash,
            hash_alg: alg,
            owner: owner.to_owned(),
            name: name.clone(),
            hint,
            created_at: now,
            created_by: "import".into(),
            expires_at: None,
            disabled: false,
            last_used_at: None,
            rules: Vec::new(),
            metadata: Default::default(),
            replaces: None,
            replaced_by: None,
            grace_until: None,
        });
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
