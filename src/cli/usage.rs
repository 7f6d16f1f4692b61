//! `keygate usage`: a key's, an owner's or everyone's usage over time, read from the
//! store or through a running server's API (`--server`), as a compact chart or JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::analytics::{OUTCOME_NAMES, OUTCOMES, Step, UsageSeries, sparkline};
use crate::clock::Clock;
use crate::config::Config;

#[derive(Args, Debug)]
pub struct UsageArgs {
    /// One owner's keys together (default: everyone's)
    #[arg(long, conflicts_with = "key")]
    pub owner: Option<String>,
    /// One key, by id
    #[arg(long)]
    pub key: Option<String>,
    /// How far back: 90m, 24h, 7d, 90d
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// Bucket size: minute, hour or day (default: minutes up to 6h, hours up to 31d, else days)
    #[arg(long)]
    pub step: Option<String>,
    /// JSON (the API's answer) instead of a chart
    #[arg(long)]
    pub json: bool,
    /// Go through this running server's API (with --admin-key) instead of opening the store
    #[arg(long, env = "KEYGATE_SERVER")]
    pub server: Option<String>,
}

/// What to read: (from ms, to ms, step) checked, and what to call it.
fn plan(args: &UsageArgs, now_ms: i64) -> anyhow::Result<(i64, i64, Step)> {
    let since = humantime::parse_duration(&args.since)
        .map_err(|e| anyhow::anyhow!("--since `{}`: {e} (e.g. 90m, 24h, 7d)", args.since))?;
    let back = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    if back == 0 || back > 2 * 366 * 86_400_000 {
        anyhow::bail!(
            "--since `{}`: must be longer than zero and at most 2 years",
            args.since
        );
    }
    let step = match args.step.as_deref() {
        None => None,
        Some("minute") => Some(Step::Minute),
        Some("hour") => Some(Step::Hour),
        Some("day") => Some(Step::Day),
        Some(other) => anyhow::bail!("--step `{other}`: minute, hour or day"),
    };
    crate::analytics::range(now_ms - back, now_ms, step).map_err(|(field, m)| {
        anyhow::anyhow!("--{}: {m}", if field == "from" { "since" } else { field })
    })
}

fn what(args: &UsageArgs) -> String {
    match (&args.key, &args.owner) {
        (Some(k), _) => format!("key {k}"),
        (None, Some(o)) => format!("owner {o}"),
        (None, None) => "all keys".into(),
    }
}

/// From the store.
pub async fn local(config: Config, args: UsageArgs) -> anyhow::Result<ExitCode> {
    let clock = Clock::system();
    let (from, to, step) = plan(&args, clock.now_ms())?;
    let (store, _) = crate::app::open_store(&config)?;
    let slot = match (&args.key, &args.owner) {
        (Some(k), _) => {
            let id = super::token::parse_id(k)?;
            store
                .get(&id)
                .await?
                .with_context(|| format!("no key with id `{k}`"))?;
            crate::analytics::key_slot(&id)
        }
        (None, Some(o)) => {
            crate::manage::validate_owner(o).map_err(|e| anyhow::anyhow!("--owner: {e}"))?;
            crate::analytics::owner_slot(o)
        }
        (None, None) => crate::analytics::GLOBAL_SLOT.to_owned(),
    };
    let rows = store.read_usage(&slot, step, from, to).await?;
    print(
        &UsageSeries::of(rows, from, to, step),
        &what(&args),
        args.json,
    )
}

/// Through a running server's API.
pub async fn remote(
    server: &str,
    admin_key: Option<&str>,
    args: UsageArgs,
) -> anyhow::Result<ExitCode> {
    let (from, to, step) = plan(&args, Clock::system().now_ms())?;
    let api = super::client::api(server, admin_key)?;
    let q = format!(
        "?from={}&to={}&step={}",
        crate::clock::Timestamp::from_unix(from / 1000),
        crate::clock::Timestamp::from_unix(to / 1000),
        step.name()
    );
    let path = match (&args.key, &args.owner) {
        (Some(k), _) => format!("/api/tokens/{}/usage{q}", super::token::parse_id(k)?),
        (None, Some(o)) => format!("/api/users/{}/usage{q}&limit=1", super::client::segment(o)),
        (None, None) => format!("/api/usage{q}&top=1"),
    };
    let mut v = api.get(&path).await?;
    if args.key.is_none() {
        // Owner and everyone: the series is one part of the answer.
        v = v["series"].take();
    }
    let series: UsageSeries = serde_json::from_value(v).context("the server's answer")?;
    print(&series, &what(&args), args.json)
}

fn print(s: &UsageSeries, what: &str, json: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(s)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{what}: {} to {}, {} buckets of one {}",
        s.from,
        s.to,
        s.points.len(),
        s.step.name()
    )?;
    for (o, name) in OUTCOME_NAMES.iter().enumerate().take(OUTCOMES) {
        let values: Vec<u64> = s.points.iter().map(|p| p.counts.get(o)).collect();
        writeln!(
            out,
            "{name:<15}{:>10}  {}",
            s.totals.get(o),
            sparkline(&chart_width(&values, 60))
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// At most `width` columns: neighbouring buckets summed.
fn chart_width(values: &[u64], width: usize) -> Vec<u64> {
    if values.len() <= width {
        return values.to_vec();
    }
    let per = values.len().div_ceil(width);
    values.chunks(per).map(|c| c.iter().sum()).collect()
}
