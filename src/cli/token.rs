//! `keygate token`: create, list, show, update, rotate and revoke keys in the store, and
//! show a key's effective permissions.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::clock::{Clock, Timestamp};
use crate::config::Config;
use crate::manage::{GrantsPatch, KeyGrants, LimitsPatch, NewToken, Patch};
use crate::rules::Rule;
use crate::store::TokenId;

use super::limits::{LimitFlags, check_quota, limits_patch, needs_quota};
use super::local::local_keys;
use super::ops::{Changed, KeyOps, Local, Revoked};
use super::print::{print_permissions, print_view, print_views, report_damaged};
use super::role_ops::name_flags;
use super::roles::{GRANT_FLAGS, GrantFlags, GrantUpdateFlags};

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Go through this running server's API (with --admin-key) instead of opening the store
    #[arg(long, global = true, env = "KEYGATE_SERVER")]
    pub server: Option<String>,
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a key; prints the key alone on stdout (shown this once) and its id on stderr
    Create {
        /// Who the key belongs to (a user's OIDC subject or a service name)
        #[arg(long)]
        owner: String,
        /// A name to recognise the key by
        #[arg(long)]
        name: String,
        /// Expiry: a duration from now (30d, 12h, 1y) or a date-time (2026-12-31T00:00:00Z, or with an offset: +01:00)
        #[arg(long)]
        expires: Option<String>,
        /// Allow-list rule, repeatable: 'hosts=api.example.com;paths=/v1/*;methods=GET,POST'
        #[arg(long = "rule")]
        rules: Vec<String>,
        /// Metadata entry, repeatable: key=value
        #[arg(long = "metadata")]
        metadata: Vec<String>,
        #[command(flatten)]
        limits: LimitFlags,
        #[command(flatten)]
        grants: GrantFlags,
    },
    /// Change a key's name, expiry, usage limits, roles or permissions; flags not given stay as they are
    Update(UpdateArgs),
    /// List keys
    List {
        /// Only this owner's keys
        #[arg(long)]
        owner: Option<String>,
        /// JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show one key
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a key's effective permissions and where each comes from: key (its own), role:NAME (a role on the key), owner-role:NAME (a role of its owner)
    Permissions {
        id: String,
        /// JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Delete a key for good
    Revoke { id: String },
    /// Refuse a key until it is enabled again
    Disable { id: String },
    /// Accept a disabled key again
    Enable { id: String },
    /// Issue a new key with the same settings; prints it alone on stdout
    Rotate {
        id: String,
        /// How long the old key keeps working (0s: revoked at once)
        #[arg(long, default_value = "0s")]
        grace: String,
        /// The new key's expiry (a duration from now or a date-time); default: the old key's, which must not have passed
        #[arg(long, conflicts_with = "no_expiry")]
        expires: Option<String>,
        /// The new key never expires
        #[arg(long)]
        no_expiry: bool,
    },
}

/// The flags of `token update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    id: String,
    /// A new name
    #[arg(long)]
    name: Option<String>,
    /// A new expiry: a duration from now (30d) or a date-time
    #[arg(long, conflicts_with = "no_expiry")]
    expires: Option<String>,
    /// Remove the expiry
    #[arg(long)]
    no_expiry: bool,
    /// Rate limit, repeatable; the ones given replace the key's list: 100/1m or per-hour=5000/1h
    #[arg(
        long = "rate-limit",
        value_name = "[NAME=]N/WINDOW",
        allow_hyphen_values = true,
        conflicts_with = "no_rate_limits"
    )]
    rate_limits: Vec<String>,
    /// Remove every rate limit of the key
    #[arg(long)]
    no_rate_limits: bool,
    /// Set the credit balance (gives the key a quota if it had none)
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        conflicts_with = "no_credits"
    )]
    credits: Option<String>,
    /// Set the refill: AMOUNT/INTERVAL (10000/monthly, 500/12h)
    #[arg(
        long,
        value_name = "AMOUNT/INTERVAL",
        allow_hyphen_values = true,
        conflicts_with_all = ["no_refill", "no_credits"]
    )]
    refill: Option<String>,
    /// Remove the refill (the balance stays)
    #[arg(long, conflicts_with = "no_credits")]
    no_refill: bool,
    /// Remove the quota: the key no longer spends credits
    #[arg(long)]
    no_credits: bool,
    #[command(flatten)]
    grants: GrantUpdateFlags,
}

impl UpdateArgs {
    /// The key's id and the change the flags ask for (the same locally and with
    /// `--server`).
    pub fn patch(self, now: Timestamp) -> anyhow::Result<(TokenId, Patch)> {
        let id = parse_id(&self.id)?;
        let limits = limits_patch(
            &self.rate_limits,
            self.no_rate_limits,
            self.credits.as_deref(),
            self.refill.as_deref(),
            self.no_refill,
            self.no_credits,
        )?;
        let grants = self.grants.patch()?;
        let patch = update_patch(self.name, self.expires, self.no_expiry, limits, grants, now)?;
        Ok((id, patch))
    }
}

/// `30d`, `12h` (from now) or an RFC 3339 date-time.
pub fn parse_expiry(s: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    if let Ok(d) = humantime::parse_duration(s) {
        if d.is_zero() {
            bail!("--expires {s}: the duration must be longer than zero");
        }
        return Ok(now.plus(d));
    }
    Timestamp::parse(s).map_err(|e| anyhow::anyhow!("--expires: {e}; or a duration such as 30d"))
}

pub(super) fn parse_metadata(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .with_context(|| format!("--metadata `{item}` is not key=value"))?;
        m.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(m)
}

pub fn parse_id(s: &str) -> anyhow::Result<TokenId> {
    TokenId::parse(s).map_err(|e| anyhow::anyhow!(e))
}

/// `keygate token …` on the configured store.
pub(super) async fn token_command(config: Config, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let clock = Clock::system();
    let keys = local_keys(&config, &clock)?;
    let now = clock.now();
    run(&Local { keys, clock }, cmd, now).await
}

/// Every `keygate token` command, written once against [`KeyOps`]: the local store or
/// a running keygate's API (`--server`).
pub(super) async fn run(
    ops: &dyn KeyOps,
    cmd: TokenCommand,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        TokenCommand::Create {
            owner,
            name,
            expires,
            rules,
            metadata,
            limits,
            grants,
        } => {
            let mut t = new_token(owner, name, expires, &rules, &metadata, now)?;
            t.limits = limits.view()?;
            t.grants = grants.grants()?;
            let made = ops
                .create(t)
                .await
                .map_err(|e| name_flags(e, GRANT_FLAGS))?;
            writeln!(out, "{}", made.key)?;
            eprintln!("created key {} ({}) for {}", made.id, made.hint, made.owner);
        }
        TokenCommand::Update(args) => {
            let (token_id, patch) = args.patch(now)?;
            if let Some(l) = &patch.limits
                && needs_quota(l)
            {
                let v = ops.view(&token_id).await?;
                check_quota(l, v.limits.credits.is_some())?;
            }
            let c = ops
                .update(&token_id, patch)
                .await
                .map_err(|e| name_flags(e, GRANT_FLAGS))?;
            eprintln!(
                "updated key {} ({})",
                c.id,
                c.hint.as_deref().unwrap_or("?")
            );
        }
        TokenCommand::List { owner, json } => {
            let (views, damaged) = ops.list(owner.as_deref()).await?;
            print_views(&mut out, &views, json)?;
            report_damaged(&damaged);
        }
        TokenCommand::Show { id, json } => {
            let v = ops.view(&parse_id(&id)?).await?;
            print_view(&mut out, &v, json)?;
        }
        TokenCommand::Permissions { id, json } => {
            let perms = ops.permissions(&parse_id(&id)?).await?;
            print_permissions(&mut out, &perms, json)?;
        }
        TokenCommand::Revoke { id } => match ops.revoke(&parse_id(&id)?).await? {
            Revoked::Key { id, hint, owner } => eprintln!("revoked key {id} ({hint}) of {owner}"),
            Revoked::Damaged { id } => {
                eprintln!("removed key {id} (its stored record was damaged)");
            }
            Revoked::Id(id) => eprintln!("revoked key {id}"),
        },
        TokenCommand::Disable { id } => {
            let c = ops.set_disabled(&parse_id(&id)?, true).await?;
            say_changed("disabled", &c);
        }
        TokenCommand::Enable { id } => {
            let c = ops.set_disabled(&parse_id(&id)?, false).await?;
            say_changed("enabled", &c);
        }
        TokenCommand::Rotate {
            id,
            grace,
            expires,
            no_expiry,
        } => {
            let grace = parse_grace(&grace)?;
            let expiry = rotate_expiry(expires, no_expiry, now)?;
            let made = ops.rotate(&parse_id(&id)?, grace, expiry).await?;
            writeln!(out, "{}", made.key)?;
            eprintln!("rotated key {} into {} ({})", id, made.id, made.hint);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn say_changed(what: &str, c: &Changed) {
    match &c.hint {
        Some(h) => eprintln!("{what} key {} ({h})", c.id),
        None => eprintln!("{what} key {}", c.id),
    }
}

/// The [`Patch`] of `token update`; refuses an update that changes nothing.
pub fn update_patch(
    name: Option<String>,
    expires: Option<String>,
    no_expiry: bool,
    limits: Option<LimitsPatch>,
    grants: Option<GrantsPatch>,
    now: Timestamp,
) -> anyhow::Result<Patch> {
    let expires_at = if no_expiry {
        Some(None)
    } else {
        expires
            .map(|e| parse_expiry(&e, now))
            .transpose()?
            .map(Some)
    };
    if name.is_none() && expires_at.is_none() && limits.is_none() && grants.is_none() {
        bail!(
            "nothing to change: give --name, --expires, --no-expiry, --rate-limit, --no-rate-limits, --credits, --refill, --no-refill, --no-credits, --role, --clear-roles, --permission, --clear-permissions or --owner-roles"
        );
    }
    Ok(Patch {
        name,
        expires_at,
        limits,
        grants,
        ..Patch::default()
    })
}

/// `token rotate`'s `--expires` / `--no-expiry` (`None`: keep the old key's).
pub fn rotate_expiry(
    expires: Option<String>,
    no_expiry: bool,
    now: Timestamp,
) -> anyhow::Result<Option<Option<Timestamp>>> {
    Ok(match (expires, no_expiry) {
        (Some(e), _) => Some(Some(parse_expiry(&e, now)?)),
        (None, true) => Some(None),
        (None, false) => None,
    })
}

/// `--grace 1h`: how long a rotated key keeps working.
pub fn parse_grace(s: &str) -> anyhow::Result<std::time::Duration> {
    humantime::parse_duration(s)
        .map_err(|e| anyhow::anyhow!("--grace `{s}`: {e} (e.g. 0s, 10m, 24h)"))
}

/// A [`NewToken`] from the `token create` flags (grants: none of its own; it holds its
/// owner's roles).
pub fn new_token(
    owner: String,
    name: String,
    expires: Option<String>,
    rules: &[String],
    metadata: &[String],
    now: Timestamp,
) -> anyhow::Result<NewToken> {
    let expires_at = expires.map(|e| parse_expiry(&e, now)).transpose()?;
    let rules = rules
        .iter()
        .map(|r| Rule::parse_spec(r).map_err(|e| anyhow::anyhow!("--rule `{r}`: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let metadata = parse_metadata(metadata)?;
    Ok(NewToken {
        owner,
        name,
        expires_at,
        rules,
        metadata,
        limits: None,
        grants: KeyGrants::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        let now = Timestamp::from_unix(1_000_000);
        assert_eq!(
            parse_expiry("30d", now).unwrap().unix(),
            1_000_000 + 30 * 86_400
        );
        assert_eq!(
            parse_expiry("2026-12-31T00:00:00Z", now).unwrap().unix(),
            1_798_675_200
        );
        assert!(parse_expiry("0s", now).is_err());
        assert!(parse_expiry("soon", now).is_err());
    }

    #[test]
    fn metadata_pairs() {
        let m = parse_metadata(&["team=core".into(), "note=a=b".into()]).unwrap();
        assert_eq!(m["note"], "a=b");
        assert!(parse_metadata(&["nokey".into()]).is_err());
    }
}
