//! Usage-limit flags shared by `token create`/`update`, and `keygate owner-limits`.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::clock::Clock;
use crate::config::Config;
use crate::limits::{MAX_CREDITS, MAX_LIMIT, MAX_RATE_LIMITS, RateLimit, Refill};
use crate::manage::{CreditsPatch, CreditsView, LimitsPatch, LimitsView};

use super::local::local_keys;
use super::ops::{KeyOps, Local};
use super::print::{clip, print_owner_limits};

/// Usage-limit flags of `token create` and `owner-limits set`.
#[derive(Args, Debug, Default, Clone)]
pub struct LimitFlags {
    /// Rate limit, repeatable: 100/1m (100 requests a minute), or named: per-hour=5000/1h; window units s, m, h, d, at most 31d
    #[arg(
        long = "rate-limit",
        value_name = "[NAME=]N/WINDOW",
        allow_hyphen_values = true
    )]
    pub rate_limits: Vec<String>,
    /// A quota: the credits to start with (every request let through spends one)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub credits: Option<String>,
    /// Set the balance back to AMOUNT every INTERVAL (daily, weekly, monthly — UTC — or a duration of at least 1m): 10000/monthly, 500/12h; needs --credits
    #[arg(long, value_name = "AMOUNT/INTERVAL", allow_hyphen_values = true)]
    pub refill: Option<String>,
}

impl LimitFlags {
    /// The limits these flags give (`None`: no flag was given).
    pub fn view(&self) -> anyhow::Result<Option<LimitsView>> {
        let rate_limits = parse_rate_limits(&self.rate_limits)?;
        let credits = self.credits.as_deref().map(parse_credits).transpose()?;
        let refill = self.refill.as_deref().map(parse_refill).transpose()?;
        if refill.is_some() && credits.is_none() {
            bail!("--refill needs --credits (the balance to start with)");
        }
        if rate_limits.is_empty() && credits.is_none() {
            return Ok(None);
        }
        Ok(Some(LimitsView {
            rate_limits,
            credits: credits.map(|remaining| CreditsView { remaining, refill }),
        }))
    }
}

#[derive(Args, Debug)]
pub struct OwnerLimitsArgs {
    /// Go through this running server's API (with --admin-key) instead of opening the store
    #[arg(long, global = true, env = "KEYGATE_SERVER")]
    pub server: Option<String>,
    #[command(subcommand)]
    pub command: OwnerLimitsCommand,
}

#[derive(Subcommand, Debug)]
pub enum OwnerLimitsCommand {
    /// Show an owner's limits and where they come from (their own, the [limits.owner] default, or none)
    Get {
        owner: String,
        /// JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Set an owner's own limits, replacing what they had; with no limit flag the owner has none at all (the default no longer applies)
    Set {
        owner: String,
        #[command(flatten)]
        limits: LimitFlags,
        /// Print the result as JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Remove an owner's own limits: the [limits.owner] default applies again
    Clear { owner: String },
}

/// `--rate-limit` values, checked: each well formed, names unique, not too many.
pub fn parse_rate_limits(items: &[String]) -> anyhow::Result<Vec<RateLimit>> {
    let mut out: Vec<RateLimit> = Vec::new();
    for s in items {
        let shown = clip(s.trim(), 60);
        // A limit of digits too large for a number: say so, not "not a whole number".
        let limit = s.split_once('=').map_or(s.as_str(), |(_, r)| r);
        let limit = limit.split_once('/').map_or(limit, |(l, _)| l).trim();
        if !limit.is_empty()
            && limit.bytes().all(|b| b.is_ascii_digit())
            && limit.parse::<u64>().is_err()
        {
            bail!("--rate-limit {shown}: the limit must be 1 to {MAX_LIMIT}");
        }
        let r =
            RateLimit::parse_spec(s).map_err(|e| anyhow::anyhow!("--rate-limit {shown}: {e}"))?;
        if out.iter().any(|o| o.name == r.name) {
            bail!(
                "--rate-limit {shown}: two rate limits are named `{}`; name them apart, like per-minute=100/1m",
                r.name
            );
        }
        out.push(r);
    }
    if out.len() > MAX_RATE_LIMITS {
        bail!("--rate-limit: at most {MAX_RATE_LIMITS} rate limits");
    }
    Ok(out)
}

/// `--credits N`: 0 to 10^15.
pub fn parse_credits(s: &str) -> anyhow::Result<u64> {
    let shown = clip(s.trim(), 40);
    match s.trim().parse::<u64>() {
        Ok(n) if n <= MAX_CREDITS => Ok(n),
        _ => bail!("--credits {shown}: must be a whole number from 0 to {MAX_CREDITS}"),
    }
}

/// `--refill AMOUNT/INTERVAL`.
pub fn parse_refill(s: &str) -> anyhow::Result<Refill> {
    let shown = clip(s.trim(), 60);
    Refill::parse_spec(s).map_err(|e| anyhow::anyhow!("--refill {shown}: {e}"))
}

/// The limit flags of `token update`, as a change (`None`: none was given).
#[allow(clippy::too_many_arguments)]
pub fn limits_patch(
    rate_limits: &[String],
    no_rate_limits: bool,
    credits: Option<&str>,
    refill: Option<&str>,
    no_refill: bool,
    no_credits: bool,
) -> anyhow::Result<Option<LimitsPatch>> {
    let rates = if no_rate_limits {
        Some(Vec::new())
    } else if rate_limits.is_empty() {
        None
    } else {
        Some(parse_rate_limits(rate_limits)?)
    };
    let remaining = credits.map(parse_credits).transpose()?;
    let refill = refill.map(parse_refill).transpose()?;
    let credits = if no_credits {
        Some(None)
    } else if remaining.is_some() || refill.is_some() || no_refill {
        Some(Some(CreditsPatch {
            remaining,
            refill: if no_refill {
                Some(None)
            } else {
                refill.map(Some)
            },
        }))
    } else {
        None
    };
    if rates.is_none() && credits.is_none() {
        return Ok(None);
    }
    Ok(Some(LimitsPatch {
        rate_limits: rates,
        credits,
    }))
}

/// Whether a change of credits needs the key to have a quota already (no balance given).
pub fn needs_quota(p: &LimitsPatch) -> bool {
    matches!(
        p.credits,
        Some(Some(CreditsPatch {
            remaining: None,
            ..
        }))
    )
}

/// Refuses `--refill`/`--no-refill` without `--credits` on a key that has no quota.
pub fn check_quota(p: &LimitsPatch, has_quota: bool) -> anyhow::Result<()> {
    if needs_quota(p) && !has_quota {
        bail!(
            "this key has no credits to refill: give --credits N too (the balance to start with)"
        );
    }
    Ok(())
}

/// `keygate owner-limits …` on the configured store.
pub(super) async fn owner_limits_command(
    config: Config,
    cmd: OwnerLimitsCommand,
) -> anyhow::Result<ExitCode> {
    let clock = Clock::system();
    let keys = local_keys(&config, &clock)?;
    run_owner_limits(&Local { keys, clock }, cmd).await
}

/// Every `keygate owner-limits` command, written once against [`KeyOps`]: the local
/// store or a running keygate's API (`--server`).
pub(super) async fn run_owner_limits(
    ops: &dyn KeyOps,
    cmd: OwnerLimitsCommand,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        OwnerLimitsCommand::Get { owner, json } => {
            let v = ops.owner_limits(&owner).await?;
            print_owner_limits(&mut out, &v, json)?;
        }
        OwnerLimitsCommand::Set {
            owner,
            limits,
            json,
        } => {
            let view = limits.view()?.unwrap_or_default();
            let v = ops.set_owner_limits(&owner, view).await?;
            print_owner_limits(&mut out, &v, json)?;
            eprintln!("set the limits of owner {owner}");
        }
        OwnerLimitsCommand::Clear { owner } => {
            ops.clear_owner_limits(&owner).await?;
            eprintln!("cleared the limits of owner {owner}: the default applies again");
        }
    }
    Ok(ExitCode::SUCCESS)
}
