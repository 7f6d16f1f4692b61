//! The `keygate` command line. Each flag's doc comment is its `--help` text; every
//! setting flag has its `KEYGATE_*` environment twin.
//!
//! Layout: this file holds the flags and subcommands (clap derive) and dispatches;
//! each group of commands has its own file: [`serve`] (and `check`), [`token`],
//! [`limits`] (limit flags, `owner-limits`), [`roles`] (`role`, the grant flags of
//! `token`), [`import`] (`keys import`, `import rvfa`),
//! [`remote`] (everything with `--server`, and `status`), [`doctor`], [`store`] (the
//! record format: `store migrate`), [`usage`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::app::open_store;
use crate::config::{self, Config, Overrides};
use crate::token::Salt;

mod client;
mod doctor;
mod import;
mod limits;
mod local;
mod ops;
mod print;
mod remote;
mod role_ops;
mod roles;
mod serve;
mod store;
mod token;
mod usage;
mod webhooks;

use limits::{OwnerLimitsArgs, owner_limits_command};
use roles::{RoleArgs, role_command};
use serve::{check_key, init_logging};
use token::{TokenArgs, token_command};

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
    /// Serve the gate, the management API and the web UI (and, with --upstream or
    /// [proxy] routes, the inline proxy in front of a service)
    Serve {
        /// Protect this service inline: proxy every request on the proxy port
        /// (--proxy-port, default 8081) to it once its key passes (config: proxy.upstream)
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
        /// Port of the inline proxy (config: proxy.port)
        #[arg(long, value_name = "PORT")]
        proxy_port: Option<u16>,
        /// Serve Envoy's gRPC external authorization (envoy.service.auth.v3) on this
        /// port (config: grpc.enabled and grpc.port)
        #[arg(long, value_name = "PORT")]
        grpc_port: Option<u16>,
    },
    /// Create, list and change keys: in the store, or through a running server's API with --server
    Token(TokenArgs),
    /// Rate limits and credits shared by all of an owner's keys: in the store, or through a running server's API with --server
    OwnerLimits(OwnerLimitsArgs),
    /// Roles (named sets of permissions) and the roles granted to owners: in the store, or through a running server's API with --server
    Role(RoleArgs),
    /// Webhook endpoints (signed events), their deliveries and replays: in the store, or through a running server's API with --server
    Webhook(webhooks::WebhookArgs),
    /// Usage over time, by outcome: a key's, an owner's or everyone's (a chart, or --json)
    Usage(usage::UsageArgs),
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
    /// Check the configuration and the store (reachable, latency, layout, record format, leftovers of interrupted changes, damaged records) and say what is wrong
    Doctor {
        /// Remove leftovers of interrupted changes and damaged records; rewrite records not in the store's record format
        #[arg(long)]
        fix: bool,
    },
    /// The store itself: its record format
    #[command(subcommand)]
    Store(store::StoreCommand),
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
    load_config_with(f, &overrides(f))
}

fn load_config_with(f: &SettingFlags, overrides: &Overrides) -> anyhow::Result<Config> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let loaded = config::load(f.config.as_deref(), &env, overrides)?;
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
        Command::Serve {
            upstream,
            proxy_port,
            grpc_port,
        } => {
            let mut o = overrides(&cli.settings);
            if let Some(u) = upstream {
                o.insert("proxy.upstream", Value::from(u));
            }
            if let Some(p) = proxy_port {
                o.insert("proxy.port", Value::from(p));
            }
            if let Some(p) = grpc_port {
                o.insert("grpc.enabled", Value::from(true));
                o.insert("grpc.port", Value::from(p));
            }
            let config = load_config_with(&cli.settings, &o)?;
            let logging = init_logging(&config.log_level, &config.log_format);
            runtime()?.block_on(serve::serve(config, &logging))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { key } => check_key(&cli.settings, &key),
        Command::Doctor { fix } => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(doctor::doctor(config, fix))
        }
        Command::Store(command) => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(store::store_command(config, command))
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
            runtime()?.block_on(import::import_rvfa(config, &from_valkey_url, dry_run))
        }
        Command::Status { server, json } => {
            let admin = cli.settings.admin_key.clone();
            runtime()?.block_on(remote::status(&server, admin.as_deref(), json))
        }
        Command::Keys(KeysCommand::Import {
            file,
            format,
            owner,
            name,
            dry_run,
        }) => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(import::import(
                config, &file, &format, &owner, name, dry_run,
            ))
        }
        Command::Usage(args) => match args.server.clone() {
            Some(server) => {
                let admin = cli.settings.admin_key.clone();
                runtime()?.block_on(usage::remote(&server, admin.as_deref(), args))
            }
            None => {
                let config = load_config(&cli.settings)?;
                runtime()?.block_on(usage::local(config, args))
            }
        },
        Command::OwnerLimits(OwnerLimitsArgs {
            server: Some(server),
            command,
        }) => {
            let admin = cli.settings.admin_key.clone();
            runtime()?.block_on(remote::remote_owner_limits(
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
        Command::Role(RoleArgs {
            server: Some(server),
            command,
        }) => {
            let admin = cli.settings.admin_key.clone();
            runtime()?.block_on(remote::remote_role(&server, admin.as_deref(), command))
        }
        Command::Role(RoleArgs {
            server: None,
            command,
        }) => {
            let config = load_config(&cli.settings)?;
            runtime()?.block_on(role_command(config, command))
        }
        Command::Webhook(webhooks::WebhookArgs { server, command }) => {
            let admin = cli.settings.admin_key.clone();
            let config = match server {
                Some(_) => None,
                None => Some(load_config(&cli.settings)?),
            };
            runtime()?.block_on(webhooks::webhook_command(
                config,
                server.as_deref().map(|s| (s, admin.as_deref())),
                command,
            ))
        }
        Command::Token(TokenArgs {
            server: Some(server),
            command,
        }) => {
            let admin = cli.settings.admin_key.clone();
            runtime()?.block_on(remote::remote_token(&server, admin.as_deref(), command))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{self, KeyPrefix};

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
