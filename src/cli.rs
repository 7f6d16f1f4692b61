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
use crate::manage::{Actor, Keys, NewToken, TokenView};
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
    },
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
    },
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

async fn token_command(config: Config, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let clock = Clock::system();
    let prefix = KeyPrefix::parse(&config.key_prefix).map_err(|e| anyhow::anyhow!(e))?;
    let (store, salt) = open_store(&config)?;
    let keys = Keys::new(store, salt, prefix, clock.clone(), None)
        .with_max_keys_per_owner(config.max_keys_per_owner);
    let now = clock.now();
    let actor = Actor::cli();
    let mut out = std::io::stdout().lock();
    let view = |r: &crate::store::TokenRecord| TokenView::of(r, now, None);
    match cmd {
        TokenCommand::Create {
            owner,
            name,
            expires,
            rules,
            metadata,
        } => {
            let t = new_token(owner, name, expires, &rules, &metadata, now)?;
            let (key, record) = keys.create(t, &actor).await?;
            writeln!(out, "{}", key.expose())?;
            eprintln!(
                "created key {} ({}) for {}",
                record.id, record.hint, record.owner
            );
        }
        TokenCommand::List { owner, json } => {
            let list = keys.list(owner.as_deref()).await?;
            print_views(
                &mut out,
                &list.records.iter().map(view).collect::<Vec<_>>(),
                json,
            )?;
            crate::cli_ops::report_damaged(&list.damaged);
        }
        TokenCommand::Show { id, json } => {
            let r = keys
                .get(&parse_id(&id)?)
                .await
                .map_err(|e| not_found(e, &id))?;
            print_view(&mut out, &view(&r), json)?;
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
        TokenCommand::Rotate { id, grace } => {
            let grace = parse_grace(&grace)?;
            let r = keys
                .rotate(&parse_id(&id)?, grace, &actor)
                .await
                .map_err(|e| not_found(e, &id))?;
            writeln!(out, "{}", r.key.expose())?;
            eprintln!("rotated key {} into {} ({})", id, r.new.id, r.new.hint);
        }
    }
    Ok(ExitCode::SUCCESS)
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
        "{:<16}  {:<20}  {:<24}  {:<16}  {:<8}  {:<20}  {:<20}",
        "ID", "OWNER", "NAME", "HINT", "STATUS", "EXPIRES", "LAST USED"
    )?;
    for v in views {
        writeln!(
            out,
            "{:<16}  {:<20}  {:<24}  {:<16}  {:<8}  {:<20}  {:<20}",
            v.id.as_str(),
            clip(&v.owner, 20),
            clip(&v.name, 24),
            v.hint,
            v.status,
            v.expires_at.map_or("never".into(), |t| t.to_string()),
            v.last_used_at.map_or("never".into(), |t| t.to_string()),
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
