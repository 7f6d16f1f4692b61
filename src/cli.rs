//! The `keygate` command line. Each flag's doc comment is its `--help` text; every
//! setting flag has its `KEYGATE_*` environment twin.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::app::{App, open_store};
use crate::clock::{Clock, Timestamp};
use crate::config::{self, Config, Overrides};
use crate::http::access_log::AccessLog;
use crate::limits::{MAX_CREDITS, MAX_LIMIT, MAX_RATE_LIMITS, RateLimit, Refill};
use crate::manage::{
    Actor, CreditsPatch, CreditsView, Keys, LimitsPatch, LimitsView, NewToken, Patch, TokenView,
};
use crate::rules::Rule;
use crate::store::TokenId;
use crate::token::{KeyPrefix, Salt};

#[derive(Parser, Debug)]
#[command(
    name = "keygate",
    version,
    about = "An API-key gate for HTTP services behind a reverse proxy"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags that override settings (defaults < keygate.toml < KEYGATE_* < flags).
#[derive(Args, Debug, Default)]
pub struct SettingFlags {
    /// Config file (default: ./keygate.toml when present)
    #[arg(long, global = true, env = "KEYGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, global = true, env = "KEYGATE_ADDRESS")]
    pub address: Option<String>,
    /// Port to listen on [default: 8080]
    #[arg(long, short = 'p', global = true, env = "KEYGATE_PORT")]
    pub port: Option<u16>,
    /// Directory of the embedded store and its salt [default: ./data]
    #[arg(long, global = true, env = "KEYGATE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use the Valkey store at this URL (redis://, rediss://, valkey://) instead of the embedded one
    #[arg(long, global = true, env = "KEYGATE_VALKEY_URL")]
    pub valkey_url: Option<String>,
    /// 64 hex characters that keys are hashed with (prefer KEYGATE_TOKEN_SALT_FILE: flags show in `ps`)
    #[arg(
        long,
        global = true,
        env = "KEYGATE_TOKEN_SALT",
        hide_env_values = true
    )]
    pub token_salt: Option<String>,
    /// Admin key: grants /load, /status and the API on a server; sent by `keygate status` (prefer KEYGATE_ADMIN_KEY_FILE)
    #[arg(long, global = true, env = "KEYGATE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Prefix of generated keys, 1-16 of a-z0-9 [default: kg]
    #[arg(long, global = true, env = "KEYGATE_KEY_PREFIX")]
    pub key_prefix: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the gate (and, later, the API and UI)
    Serve,
    /// Create, list and change keys: in the store, or through a running server's API with --server
    Token(TokenArgs),
    /// Rate limits and credits shared by all of an owner's keys: in the store, or through a running server's API with --server
    OwnerLimits(OwnerLimitsArgs),
    /// Usage over time, by outcome: a key's, an owner's or everyone's (a chart, or --json)
    Usage(crate::cli_usage::UsageArgs),
    /// Bulk operations on keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show a running server's /status readably
    Status {
        /// The server's base URL
        #[arg(long, env = "KEYGATE_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Print the JSON document as it came
        #[arg(long)]
        json: bool,
    },
    /// Say offline whether a string is a well-formed keygate key (prefix, length, checksum), without printing it; `-` reads it from stdin
    Check { key: String },
    /// Print a new random token_salt (64 hex characters)
    GenSalt,
    /// Check the configuration and the store (reachable, latency, layout, leftovers of interrupted changes, damaged records) and say what is wrong
    Doctor {
        /// Remove leftovers of interrupted changes and damaged records
        #[arg(long)]
        fix: bool,
    },
    /// The admin key of single-operator mode
    #[command(subcommand)]
    AdminKey(AdminKeyCommand),
    /// Bring keys over from another tool
    #[command(subcommand)]
    Import(ImportCommand),
    /// Configuration
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
pub enum AdminKeyCommand {
    /// Make a new admin key (the old one stops working); prints it alone on stdout
    Reset,
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import rusty-valkey-forward-auth's keys (auth:token:{hash} records); with the same token_salt every key keeps working
    Rvfa {
        /// Where rusty-valkey-forward-auth keeps its data
        #[arg(long)]
        from_valkey_url: String,
        /// Check and count, write nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Import keys from a file (one per line) into the store; existing keys are skipped
    Import {
        file: PathBuf,
        /// plain: the keys themselves; sha256: hex SHA-256 of each key (AKAS's format)
        #[arg(long, default_value = "plain")]
        format: String,
        /// Owner of the imported keys
        #[arg(long)]
        owner: String,
        /// Name of the imported keys [default: imported from FILE]
        #[arg(long)]
        name: Option<String>,
        /// Check and count, write nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted); exit non-zero on any error
    Check,
}

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
    },
    /// Change a key's name, expiry or usage limits; flags not given stay as they are
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
        let patch = update_patch(self.name, self.expires, self.no_expiry, limits, now)?;
        Ok((id, patch))
    }
}

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

/// A change of limits as the API's PATCH body takes it.
pub fn limits_patch_json(p: &LimitsPatch) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(r) = &p.rate_limits {
        m.insert("rate_limits".into(), serde_json::json!(r));
    }
    match &p.credits {
        None => {}
        Some(None) => {
            m.insert("credits".into(), Value::Null);
        }
        Some(Some(c)) => {
            let mut cm = serde_json::Map::new();
            if let Some(n) = c.remaining {
                cm.insert("remaining".into(), n.into());
            }
            match c.refill {
                None => {}
                Some(None) => {
                    cm.insert("refill".into(), Value::Null);
                }
                Some(Some(r)) => {
                    cm.insert("refill".into(), serde_json::json!(r));
                }
            }
            m.insert("credits".into(), Value::Object(cm));
        }
    }
    Value::Object(m)
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

/// The compact form of limits in tables: `100/1m per-hour=5000/1h · 9950 cr`.
pub fn limits_compact(l: &LimitsView) -> String {
    let mut parts: Vec<String> = l.rate_limits.iter().map(rate_spec).collect();
    if let Some(c) = &l.credits {
        if !parts.is_empty() {
            parts.push("·".into());
        }
        parts.push(format!("{} cr", c.remaining));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// `100/1m`, or `name=100/1m` when the name is not the window.
fn rate_spec(r: &RateLimit) -> String {
    let window = r.window.to_string();
    if r.name == window {
        format!("{}/{window}", r.limit)
    } else {
        format!("{}={}/{window}", r.name, r.limit)
    }
}

fn print_limits_lines(out: &mut impl Write, l: &LimitsView) -> std::io::Result<()> {
    if l.rate_limits.is_empty() {
        writeln!(out, "rate limit: none")?;
    }
    for r in &l.rate_limits {
        writeln!(out, "rate limit: {}", rate_spec(r))?;
    }
    match &l.credits {
        None => writeln!(out, "credits:    no quota")?,
        Some(c) => match c.refill {
            Some(r) => writeln!(
                out,
                "credits:    {} left, refilled to {} {}",
                c.remaining,
                r.amount,
                match r.interval {
                    crate::limits::Interval::Every(s) => format!("every {s}"),
                    i => i.to_string(),
                }
            )?,
            None => writeln!(out, "credits:    {} left, no refill", c.remaining)?,
        },
    }
    Ok(())
}

/// Prints an owner's limits (`GET /api/users/{sub}/limits` shape).
pub fn print_owner_limits(out: &mut impl Write, v: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
        return Ok(());
    }
    let limits: LimitsView = serde_json::from_value(v["limits"].clone())
        .context("the server's answer has no readable limits")?;
    let source = match v["source"].as_str().unwrap_or("?") {
        "owner" => "their own",
        "default" => "the default ([limits.owner])",
        "none" => "none (no limits of their own and no default)",
        other => other,
    };
    writeln!(out, "owner:      {}", v["owner"].as_str().unwrap_or("?"))?;
    writeln!(out, "limits:     {source}")?;
    print_limits_lines(out, &limits)?;
    Ok(())
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn overrides(f: &SettingFlags) -> Overrides {
    let mut o = Overrides::new();
    let mut put = |k: &'static str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k, v);
        }
    };
    put("address", f.address.clone().map(Value::from));
    put("port", f.port.map(Value::from));
    put(
        "data_dir",
        f.data_dir
            .as_ref()
            .map(|p| Value::from(p.to_string_lossy().into_owned())),
    );
    put("valkey_url", f.valkey_url.clone().map(Value::from));
    put("token_salt", f.token_salt.clone().map(Value::from));
    put("key_prefix", f.key_prefix.clone().map(Value::from));
    put("admin_key", f.admin_key.clone().map(Value::from));
    o
}

fn load_config(f: &SettingFlags) -> anyhow::Result<Config> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let loaded = config::load(f.config.as_deref(), &env, &overrides(f))?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded.config)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::GenSalt => {
            println!(
                "{}",
                Salt::generate()
                    .context("no randomness from the OS")?
                    .to_hex()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check) => {
            let config = load_config(&cli.settings)?;
            print!("{}", config.to_redacted_toml());
            eprintln!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let config = load_config(&cli.settings)?;
            let logging = init_logging(&config.log_level, &config.log_format);
            runtime()?.block_on(serve(config, &logging))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { key } => check_key(&cli.settings, &key),
        Command::Doctor { fix } => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(crate::cli_ops::doctor(config, fix))
        }
        Command::AdminKey(AdminKeyCommand::Reset) => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(async {
                let (store, _) = open_store(&config)?;
                let key = crate::app::reset_admin_key(store.as_ref()).await?;
                println!("{key}");
                eprintln!("a new admin key is in force; the old one no longer works (restart a running server to apply)");
                anyhow::Ok(ExitCode::SUCCESS)
            })
        }
        Command::Import(ImportCommand::Rvfa {
            from_valkey_url,
            dry_run,
        }) => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(crate::cli_ops::import_rvfa(
                config,
                &from_valkey_url,
                dry_run,
            ))
        }
        Command::Status { server, json } => {
            let admin = cli.settings.admin_key.clone();
            runtime()?.block_on(crate::cli_ops::status(&server, admin.as_deref(), json))
        }
        Command::Keys(KeysCommand::Import {
            file,
            format,
            owner,
            name,
            dry_run,
        }) => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(crate::cli_ops::import(
                config, &file, &format, &owner, name, dry_run,
            ))
        }
        Command::Usage(args) => match args.server.clone() {
            Some(server) => {
                let admin = cli.settings.admin_key.clone();
                runtime()?.block_on(crate::cli_usage::remote(&server, admin.as_deref(), args))
            }
            None => {
                let config = load_config(&cli.settings)?;
                runtime()?.block_on(crate::cli_usage::local(config, args))
            }
        },
        Command::OwnerLimits(OwnerLimitsArgs {
            server: Some(server),
            command,
        }) => {
            let admin = cli.settings.admin_key.clone();
            runtime()?.block_on(crate::cli_ops::remote_owner_limits(
                &server,
                admin.as_deref(),
                command,
            ))
        }
        Command::OwnerLimits(OwnerLimitsArgs {
            server: None,
            command,
        }) => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(owner_limits_command(config, command))
        }
        Command::Token(TokenArgs {
            server: Some(server),
            command,
        }) => {
            let admin = cli.settings.admin_key.clone();
            runtime()?.block_on(crate::cli_ops::remote_token(
                &server,
                admin.as_deref(),
                command,
            ))
        }
        Command::Token(TokenArgs {
            server: None,
            command,
        }) => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(token_command(config, command))
        }
    }
}

/// Logs (and the access log) go to stdout through a non-blocking writer: a slow
/// terminal or pipe never stalls a request. The guard flushes what is queued on exit.
/// Logs (and the access log) go to stdout through one buffer written by a background
/// thread (see `logsink`): a slow terminal or pipe never stalls a request. The
/// [`Logging`] must be kept until exit: dropping it writes what is queued.
pub struct Logging {
    pub sink: Arc<crate::logsink::LogSink>,
    pub json: bool,
    _flusher: crate::logsink::Flusher,
}

fn init_logging(level: &str, format: &str) -> Logging {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let terminal = std::io::stdout().is_terminal();
    let (sink, flusher) = crate::logsink::start(std::io::stdout());
    let writer = crate::logsink::MakeSinkWriter(sink.clone());
    let json = format == "json" || (format == "auto" && !terminal);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
    Logging {
        sink,
        json,
        _flusher: flusher,
    }
}

/// `keygate check KEY`: exit 0 for a well-formed keygate key, 1 otherwise.
fn check_key(f: &SettingFlags, key: &str) -> anyhow::Result<ExitCode> {
    let key = if key == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim().to_owned()
    } else {
        key.trim().to_owned()
    };
    let prefix_text = f.key_prefix.clone().unwrap_or_else(|| "kg".into());
    let prefix = KeyPrefix::parse(&prefix_text).map_err(|e| anyhow::anyhow!(e))?;
    match crate::token::precheck(&key, &prefix, false) {
        Ok(_) => {
            println!(
                "well-formed {prefix_text}_ key (hint {})",
                crate::token::hint(&key)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("not a well-formed {prefix_text}_ key: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn serve(config: Config, logging: &Logging) -> anyhow::Result<()> {
    let addr = format!("{}:{}", config.address, config.port);
    let store_desc = match &config.valkey_url {
        Some(_) => "valkey".to_owned(),
        None => format!("embedded ({})", config.data_dir.display()),
    };
    let mut app = App::open(config, Clock::system())?;
    if app.config.access_log {
        app.access_log = Some(AccessLog {
            sink: logging.sink.clone(),
            json: logging.json,
        });
    }
    let app = Arc::new(app);
    app.prepare().await?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, store = %store_desc, "keygate listening on http://{local}");
    crate::http::serve(listener, app, shutdown_signal()).await?;
    tracing::info!("keygate stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
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

fn parse_metadata(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
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

/// The key service on the configured store, with the configured default limits.
fn local_keys(config: &Config, clock: &Clock) -> anyhow::Result<Keys> {
    let prefix = KeyPrefix::parse(&config.key_prefix).map_err(|e| anyhow::anyhow!(e))?;
    let key_defaults = config
        .limits
        .key_defaults()
        .map_err(|e| anyhow::anyhow!(e))?;
    let owner_defaults = config
        .limits
        .owner_defaults()
        .map_err(|e| anyhow::anyhow!(e))?;
    let (store, salt) = open_store(config)?;
    Ok(Keys::new(store, salt, prefix, clock.clone(), None)
        .with_max_keys_per_owner(config.max_keys_per_owner)
        .with_limit_defaults(key_defaults, owner_defaults))
}

async fn token_command(config: Config, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let clock = Clock::system();
    let keys = local_keys(&config, &clock)?;
    let now = clock.now();
    let actor = Actor::cli();
    let mut out = std::io::stdout().lock();
    match cmd {
        TokenCommand::Create {
            owner,
            name,
            expires,
            rules,
            metadata,
            limits,
        } => {
            let mut t = new_token(owner, name, expires, &rules, &metadata, now)?;
            t.limits = limits.view()?;
            let (key, record) = keys.create(t, &actor).await?;
            writeln!(out, "{}", key.expose())?;
            eprintln!(
                "created key {} ({}) for {}",
                record.id, record.hint, record.owner
            );
        }
        TokenCommand::Update(args) => {
            let id = args.id.clone();
            let (token_id, patch) = args.patch(now)?;
            if let Some(l) = &patch.limits
                && needs_quota(l)
            {
                let r = keys.get(&token_id).await.map_err(|e| not_found(e, &id))?;
                check_quota(l, r.limits.credits.is_some())?;
            }
            let r = keys
                .update(&token_id, patch, &actor)
                .await
                .map_err(|e| not_found(e, &id))?;
            eprintln!("updated key {} ({})", r.id, r.hint);
        }
        TokenCommand::List { owner, json } => {
            let list = keys.list(owner.as_deref()).await?;
            let balances = keys.balances(&list.records).await?;
            let views: Vec<TokenView> = list
                .records
                .iter()
                .zip(balances)
                .map(|(r, b)| TokenView::of(r, now, b))
                .collect();
            print_views(&mut out, &views, json)?;
            crate::cli_ops::report_damaged(&list.damaged);
        }
        TokenCommand::Show { id, json } => {
            let r = keys
                .get(&parse_id(&id)?)
                .await
                .map_err(|e| not_found(e, &id))?;
            let balance = keys
                .balances(std::slice::from_ref(&r))
                .await?
                .pop()
                .flatten();
            print_view(&mut out, &TokenView::of(&r, now, balance), json)?;
        }
        TokenCommand::Revoke { id } => match keys.revoke(&parse_id(&id)?, &actor).await {
            Ok(crate::manage::Removed::Key(r)) => {
                eprintln!("revoked key {} ({}) of {}", r.id, r.hint, r.owner)
            }
            Ok(crate::manage::Removed::Damaged { id, .. }) => {
                eprintln!("removed key {id} (its stored record was damaged)");
            }
            Err(e) => return Err(not_found(e, &id)),
        },
        TokenCommand::Disable { id } => {
            let r = keys
                .set_disabled(&parse_id(&id)?, true, &actor)
                .await
                .map_err(|e| not_found(e, &id))?;
            eprintln!("disabled key {} ({})", r.id, r.hint);
        }
        TokenCommand::Enable { id } => {
            let r = keys
                .set_disabled(&parse_id(&id)?, false, &actor)
                .await
                .map_err(|e| not_found(e, &id))?;
            eprintln!("enabled key {} ({})", r.id, r.hint);
        }
        TokenCommand::Rotate {
            id,
            grace,
            expires,
            no_expiry,
        } => {
            let grace = parse_grace(&grace)?;
            let expiry = rotate_expiry(expires, no_expiry, now)?;
            let r = keys
                .rotate_with(&parse_id(&id)?, grace, expiry, &actor)
                .await
                .map_err(|e| not_found(e, &id))?;
            writeln!(out, "{}", r.key.expose())?;
            eprintln!("rotated key {} into {} ({})", id, r.new.id, r.new.hint);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The [`Patch`] of `token update`; refuses an update that changes nothing.
pub fn update_patch(
    name: Option<String>,
    expires: Option<String>,
    no_expiry: bool,
    limits: Option<LimitsPatch>,
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
    if name.is_none() && expires_at.is_none() && limits.is_none() {
        bail!(
            "nothing to change: give --name, --expires, --no-expiry, --rate-limit, --no-rate-limits, --credits, --refill, --no-refill or --no-credits"
        );
    }
    Ok(Patch {
        name,
        expires_at,
        limits,
        ..Patch::default()
    })
}

async fn owner_limits_command(config: Config, cmd: OwnerLimitsCommand) -> anyhow::Result<ExitCode> {
    let clock = Clock::system();
    let keys = local_keys(&config, &clock)?;
    let actor = Actor::cli();
    let mut out = std::io::stdout().lock();
    match cmd {
        OwnerLimitsCommand::Get { owner, json } => {
            let v = keys.owner_limits(&owner).await?;
            print_owner_limits(&mut out, &serde_json::to_value(&v)?, json)?;
        }
        OwnerLimitsCommand::Set {
            owner,
            limits,
            json,
        } => {
            let view = limits.view()?.unwrap_or_default();
            let v = keys.set_owner_limits(&owner, &view, &actor).await?;
            print_owner_limits(&mut out, &serde_json::to_value(&v)?, json)?;
            eprintln!("set the limits of owner {owner}");
        }
        OwnerLimitsCommand::Clear { owner } => {
            keys.clear_owner_limits(&owner, &actor).await?;
            eprintln!("cleared the limits of owner {owner}: the default applies again");
        }
    }
    Ok(ExitCode::SUCCESS)
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

/// A [`NewToken`] from the `token create` flags.
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
    })
}

fn not_found(e: crate::manage::ManageError, id: &str) -> anyhow::Error {
    match e {
        crate::manage::ManageError::NotFound => anyhow::anyhow!("no key with id `{id}`"),
        e => e.into(),
    }
}

pub fn print_views(out: &mut impl Write, views: &[TokenView], json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(views)?)?;
    } else {
        print_table(out, views)?;
    }
    Ok(())
}

pub fn print_view(out: &mut impl Write, v: &TokenView, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    } else {
        print_one(out, v)?;
    }
    Ok(())
}

fn print_table(out: &mut impl Write, views: &[TokenView]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<16}  {:<20}  {:<24}  {:<16}  {:<8}  {:<20}  {:<20}  LIMITS",
        "ID", "OWNER", "NAME", "HINT", "STATUS", "EXPIRES", "LAST USED"
    )?;
    for v in views {
        writeln!(
            out,
            "{:<16}  {:<20}  {:<24}  {:<16}  {:<8}  {:<20}  {:<20}  {}",
            v.id.as_str(),
            clip(&v.owner, 20),
            clip(&v.name, 24),
            v.hint,
            v.status,
            v.expires_at.map_or("never".into(), |t| t.to_string()),
            v.last_used_at.map_or("never".into(), |t| t.to_string()),
            limits_compact(&v.limits),
        )?;
    }
    Ok(())
}

fn print_one(out: &mut impl Write, v: &TokenView) -> std::io::Result<()> {
    writeln!(out, "id:         {}", v.id)?;
    writeln!(out, "owner:      {}", v.owner)?;
    writeln!(out, "name:       {}", v.name)?;
    writeln!(out, "hint:       {}", v.hint)?;
    writeln!(out, "status:     {}", v.status)?;
    writeln!(out, "created:    {} by {}", v.created_at, v.created_by)?;
    writeln!(
        out,
        "expires:    {}",
        v.expires_at.map_or("never".into(), |t| t.to_string())
    )?;
    writeln!(
        out,
        "last used:  {}",
        v.last_used_at.map_or("never".into(), |t| t.to_string())
    )?;
    for r in &v.rules {
        writeln!(out, "rule:       {r}")?;
    }
    for (k, val) in &v.metadata {
        writeln!(out, "metadata:   {k}={val}")?;
    }
    print_limits_lines(out, &v.limits)?;
    Ok(())
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token;

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

    #[test]
    fn help_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn generated_key_is_not_token_hint() {
        let k = token::generate(&KeyPrefix::default()).unwrap();
        assert_ne!(token::hint(k.expose()), k.expose());
    }
}
