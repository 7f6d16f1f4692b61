//! Settings: defaults < config file < `KEYGATE_*` environment < command-line flags.
//!
//! - The file is `--config PATH` / `KEYGATE_CONFIG`, else `./keygate.toml` when present.
//!   Its keys are rusty-valkey-forward-auth's `settings.toml` names where one exists. An
//!   unknown key in the file is an error that names it.
//! - `KEYGATE_X` sets `x`; `__` nests (`KEYGATE_CACHE__TTL_SECS` sets `cache.ttl_secs`);
//!   `KEYGATE_X_FILE` reads the value of `x` from a file (for secrets mounted as files).
//!   An unknown `KEYGATE_` variable is a warning, not an error: environments carry strays.
//! - Flags win over everything.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const ENV_PREFIX: &str = "KEYGATE_";
pub const DEFAULT_FILE: &str = "keygate.toml";
/// redb's cache for the embedded store, MiB (docs/benchmarks.md: what it costs misses).
pub const DEFAULT_REDB_CACHE_MIB: usize = 8;

/// A secret setting. `Debug` and serialisation never show it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub address: String,
    pub port: u16,
    /// Where the embedded store (and its generated salt) live.
    pub data_dir: PathBuf,
    /// Memory redb keeps of the embedded store's file, MiB (the rest is read from the
    /// operating system's page cache when needed).
    pub redb_cache_mib: usize,
    /// Unset: embedded store. Set: the Valkey store at this URL.
    pub valkey_url: Option<String>,
    pub valkey_username: Option<String>,
    pub valkey_password: Option<Secret>,
    /// PEM file of the CA that signed Valkey's TLS certificate (`rediss://`); unset:
    /// the system's trusted roots.
    pub valkey_tls_ca_file: Option<PathBuf>,
    /// Prefix of every Valkey key keygate writes (several deployments can share a server).
    pub valkey_namespace: String,
    /// Sentinel addresses (`redis://host:26379`); with `valkey_service_name`, instead of
    /// `valkey_url`.
    pub valkey_sentinels: Vec<String>,
    pub valkey_service_name: String,
    /// Cluster nodes (`redis://host:7000`, any reachable subset), instead of `valkey_url`.
    pub valkey_cluster_nodes: Vec<String>,
    /// After each write, wait until this many replicas have it (`WAIT`); 0: don't.
    pub valkey_wait_replicas: u32,
    pub valkey_wait_timeout_ms: u64,
    /// 64 hex characters; see `keygate gen-salt`.
    pub token_salt: Option<Secret>,
    pub key_prefix: String,
    /// Longest wait for the store before answering 503.
    pub store_timeout_ms: u64,
    /// A header that may carry the key besides `Authorization` (empty: none).
    pub api_key_header: String,
    /// A query parameter that may carry the key (empty: off; keys in URLs end up in logs).
    pub query_param: String,
    /// Accept keys that do not carry `key_prefix` (imported keys). Off: they are refused
    /// at the pre-check without a lookup.
    pub accept_foreign_keys: bool,
    /// How often last-used times are written to the store.
    pub last_used_flush_secs: u64,
    pub log_level: String,
    /// `auto` (text on a terminal, JSON otherwise), `json` or `text`.
    pub log_format: String,
    /// One line per decision.
    pub access_log: bool,
    /// How many characters of X-Forwarded-For, the original host and URI are logged.
    pub original_length: usize,
    /// How many characters of `metadata_header` are logged (0: not logged).
    pub metadata_length: usize,
    pub metadata_header: String,
    /// Grants `/load`, `/status` (and the management API) as `Authorization: Bearer`.
    pub admin_key: Option<Secret>,
    /// Foreign keys (without `key_prefix`) must be exactly this long (0: any length).
    pub key_length: usize,
    /// Foreign keys must start with this (AKAS's `--key-prefix`; empty: anything).
    pub foreign_key_prefix: String,
    /// Largest `POST /load` upload, bytes.
    pub load_max_bytes: usize,
    /// How often key files (and the uploaded set in a shared store) are checked.
    pub key_files_poll_ms: u64,
    pub key_files: Vec<KeyFileConfig>,
    pub metrics_enabled: bool,
    /// Serve `/metrics` on this address (`127.0.0.1:9100`) instead of the main port.
    pub metrics_address: String,
    /// CIDRs whose `X-Forwarded-For` / `X-Real-IP` are believed.
    pub trusted_proxies: Vec<String>,
    /// Longest wait for a complete request head (request line and headers), counted
    /// from the connection's start or from the end of the previous answer.
    pub header_read_timeout_ms: u64,
    /// A connection with no request being handled and no byte moving either way for
    /// this long is closed (idle keep-alive, silent, or not reading its answer).
    pub idle_timeout_ms: u64,
    /// Connections open at once, both listeners together (lowered to fit the
    /// open-files limit). At the cap, connections without a request in progress are
    /// closed to make room.
    pub max_connections: usize,
    pub throttle: ThrottleConfig,
    pub cache: CacheConfig,
    /// OpenID Connect for the management API (rusty-valkey-forward-auth's `[oauth]`).
    pub oauth: OAuthConfig,
    pub cors: CorsConfig,
    /// Largest JSON body the management API accepts.
    pub api_max_body_bytes: usize,
    /// Most keys one owner may have; creating one more through the API or the CLI
    /// answers 409 `too_many_keys`.
    pub max_keys_per_owner: usize,
    /// Usage limits: defaults for new keys and owners, and how they are enforced.
    pub limits: LimitsConfig,
    /// Usage analytics: counts per key and owner in time buckets.
    pub analytics: AnalyticsConfig,
    pub headers: HeaderConfig,
    /// A path prefix for every route keygate serves (`/keygate`; empty: none), for
    /// running behind a proxy that forwards a sub-path without stripping it.
    pub base_path: String,
    /// The web UI (rusty-valkey-forward-auth's `[frontend]` names).
    pub frontend: FrontendConfig,
}

/// `[frontend]`: what the web UI shows and how it logs in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendConfig {
    /// Shown in the title bar and on the login page.
    pub app_name: String,
    /// The OIDC issuer the UI logs in with (empty: `oauth.issuer_url`).
    pub oidc_authority: String,
    /// The UI's OIDC client id (a public client using PKCE); empty: no OIDC login.
    pub oidc_client_id: String,
    /// Where the provider sends the browser back (empty: `<the UI's URL>callback`).
    pub oidc_redirect_uri: String,
    /// Scopes the UI asks for.
    pub oidc_scope: String,
    /// A resource indicator (RFC 8707) sent with the authorization and token requests,
    /// for providers that pick the access token's audience that way (empty: none).
    pub oidc_resource: String,
    /// HTML shown on the UI's Docs page (sanitised in the browser).
    pub docs_html: String,
    /// Read `docs_html` from this file at start instead.
    pub docs_html_file: Option<PathBuf>,
    /// Where the UI links to the API reference; a path is taken under `base_path`.
    pub api_docs_path: String,
}

impl Default for FrontendConfig {
    fn default() -> Self {
        FrontendConfig {
            app_name: "keygate".into(),
            oidc_authority: String::new(),
            oidc_client_id: String::new(),
            oidc_redirect_uri: String::new(),
            oidc_scope: "openid profile email".into(),
            oidc_resource: String::new(),
            docs_html: String::new(),
            docs_html_file: None,
            api_docs_path: "/docs".into(),
        }
    }
}

impl FrontendConfig {
    /// The issuer the UI logs in with: `oidc_authority`, else `oauth.issuer_url`.
    pub fn authority<'a>(&'a self, oauth: &'a OAuthConfig) -> &'a str {
        if self.oidc_authority.is_empty() {
            &oauth.issuer_url
        } else {
            &self.oidc_authority
        }
    }
}

/// One `[[key_files]]` entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyFileConfig {
    pub path: PathBuf,
    /// `plain` (one key per line) or `sha256` (hex SHA-256 of each key).
    #[serde(default = "default_format")]
    pub format: String,
    /// Owner reported for these keys (default: the file name).
    #[serde(default)]
    pub owner: Option<String>,
    /// Name reported for these keys (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
}

fn default_format() -> String {
    "plain".into()
}

/// `[oauth]`: who may call the management API with an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// The issuer; its discovery document names the JWKS. Empty: OIDC off.
    pub issuer_url: String,
    /// The JWKS directly (discovery is then skipped).
    pub jwks_url: String,
    /// Accepted for compatibility with rusty-valkey-forward-auth's settings; unused.
    pub tenant_id: String,
    /// When set, a token's `aud` must hold one of these.
    pub audiences: Vec<String>,
    pub jwks_refresh_interval_secs: u64,
    pub claims: ClaimsConfig,
    pub admin: AdminGroupConfig,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            issuer_url: String::new(),
            jwks_url: String::new(),
            tenant_id: String::new(),
            audiences: Vec::new(),
            jwks_refresh_interval_secs: 300,
            claims: ClaimsConfig::default(),
            admin: AdminGroupConfig::default(),
        }
    }
}

impl OAuthConfig {
    pub fn enabled(&self) -> bool {
        !self.issuer_url.is_empty() || !self.jwks_url.is_empty()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimsConfig {
    pub subject: String,
    pub groups: String,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        ClaimsConfig {
            subject: "sub".into(),
            groups: "groups".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminGroupConfig {
    /// Members of this group are administrators (empty: nobody is, by token).
    pub group: String,
    pub group_case_sensitive: bool,
}

impl Default for AdminGroupConfig {
    fn default() -> Self {
        AdminGroupConfig {
            group: "admin".into(),
            group_case_sensitive: false,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    pub enabled: bool,
    /// Origins allowed to call `/api` from a browser; `*` allows any.
    pub allow_origins: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    pub enabled: bool,
    /// Failed attempts from one address within the window before it is refused.
    pub max_failures: u32,
    pub window_secs: u64,
    /// Bound on addresses tracked at once.
    pub max_addresses: usize,
    /// IPv6 clients are counted per network of this prefix length (a /64 is what one
    /// subscriber usually gets); IPv4 clients per address.
    pub ipv6_prefix: u8,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            max_failures: 20,
            window_secs: 60,
            max_addresses: 100_000,
            ipv6_prefix: 64,
        }
    }
}

/// `[limits]`: usage limits (README, "Usage limits").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Rate limits a new key gets when its creator sets none: `["100/1m",
    /// "per-hour=5000/1h"]`.
    pub rate_limits: Vec<String>,
    /// Credits a new key gets when its creator sets none (0: no quota).
    pub credits: u64,
    /// Their refill, `10000/monthly` or `500/12h` (empty: none).
    pub refill: String,
    /// Users may raise their own keys' limits (administrators always may).
    pub users_may_raise: bool,
    /// While the store cannot hand out a lease: `deny` (503, the default) or `allow`
    /// (requests pass uncounted).
    pub on_store_error: String,
    /// On allow, send what is left upstream (`RateLimit-Policy`, `RateLimit`,
    /// `X-Credits-Remaining`).
    pub upstream_headers: bool,
    /// Limits of every owner without limits of their own, shared by all their keys.
    pub owner: OwnerLimitsConfig,
}

/// `[analytics]`: usage counts per key and owner (README, "Usage analytics").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    pub enabled: bool,
    /// How often the counts collected in memory are written to the store.
    pub flush_secs: u64,
    pub minute_retention_hours: u64,
    pub hour_retention_days: u64,
    pub day_retention_days: u64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            enabled: true,
            flush_secs: 10,
            minute_retention_hours: 48,
            hour_retention_days: 90,
            day_retention_days: 730,
        }
    }
}

impl AnalyticsConfig {
    pub fn retention(&self) -> crate::analytics::Retention {
        let ms = |v: u64, unit: i64| {
            i64::try_from(v)
                .unwrap_or(i64::MAX / unit)
                .saturating_mul(unit)
        };
        crate::analytics::Retention {
            minute_ms: ms(self.minute_retention_hours, 3_600_000),
            hour_ms: ms(self.hour_retention_days, 86_400_000),
            day_ms: ms(self.day_retention_days, 86_400_000),
        }
    }
}

/// `[limits.owner]`: the default limits of an owner.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OwnerLimitsConfig {
    pub rate_limits: Vec<String>,
    /// Each owner's starting balance (0: no quota).
    pub credits: u64,
    pub refill: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            rate_limits: Vec::new(),
            credits: 0,
            refill: String::new(),
            users_may_raise: false,
            on_store_error: "deny".into(),
            upstream_headers: false,
            owner: OwnerLimitsConfig::default(),
        }
    }
}

impl LimitsConfig {
    /// The limits of a new key, and its starting balance.
    pub fn key_defaults(&self) -> Result<(crate::limits::Limits, Option<u64>), String> {
        parse_limits("limits", &self.rate_limits, self.credits, &self.refill)
    }

    /// An owner's default limits, and the balance their counter starts at.
    pub fn owner_defaults(&self) -> Result<(crate::limits::Limits, Option<u64>), String> {
        parse_limits(
            "limits.owner",
            &self.owner.rate_limits,
            self.owner.credits,
            &self.owner.refill,
        )
    }

    pub fn on_store_error(&self) -> Result<crate::limits::OnStoreError, String> {
        use crate::limits::OnStoreError;
        match self.on_store_error.as_str() {
            "deny" => Ok(OnStoreError::Deny),
            "allow" => Ok(OnStoreError::Allow),
            other => Err(format!(
                "limits.on_store_error: `{other}` is not deny or allow"
            )),
        }
    }
}

fn parse_limits(
    section: &str,
    rates: &[String],
    credits: u64,
    refill: &str,
) -> Result<(crate::limits::Limits, Option<u64>), String> {
    use crate::limits::{CreditPolicy, Limits, MAX_CREDITS, RateLimit, Refill};
    let rate_limits = rates
        .iter()
        .map(|r| RateLimit::parse_spec(r).map_err(|e| format!("{section}.rate_limits: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let refill = if refill.trim().is_empty() {
        None
    } else {
        Some(Refill::parse_spec(refill).map_err(|e| format!("{section}.refill: {e}"))?)
    };
    if credits > MAX_CREDITS {
        return Err(format!("{section}.credits: at most {MAX_CREDITS}"));
    }
    if credits == 0 && refill.is_some() {
        return Err(format!(
            "{section}.refill needs {section}.credits (the starting balance)"
        ));
    }
    let limits = Limits {
        rate_limits,
        credits: (credits > 0).then_some(CreditPolicy { refill }),
    };
    limits.check().map_err(|e| format!("{section}: {e}"))?;
    Ok((limits, (credits > 0).then_some(credits)))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// How long a found key is served from memory before the store is asked again.
    pub ttl_secs: u64,
    /// How long an unknown key is remembered as unknown.
    pub negative_ttl_secs: u64,
    /// Upper bound on cached keys (found and unknown together).
    pub max_entries: usize,
}

/// Names of the identity headers sent on allow; an empty name turns that header off.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeaderConfig {
    pub user: String,
    pub token_id: String,
    pub token_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: "127.0.0.1".into(),
            port: 8080,
            data_dir: PathBuf::from("./data"),
            redb_cache_mib: DEFAULT_REDB_CACHE_MIB,
            valkey_url: None,
            valkey_username: None,
            valkey_password: None,
            valkey_tls_ca_file: None,
            valkey_namespace: "kg".into(),
            valkey_sentinels: Vec::new(),
            valkey_service_name: "mymaster".into(),
            valkey_cluster_nodes: Vec::new(),
            valkey_wait_replicas: 0,
            valkey_wait_timeout_ms: 1000,
            token_salt: None,
            key_prefix: "kg".into(),
            store_timeout_ms: 500,
            api_key_header: "X-API-Key".into(),
            query_param: String::new(),
            accept_foreign_keys: true,
            last_used_flush_secs: 10,
            log_level: "info".into(),
            log_format: "auto".into(),
            access_log: true,
            original_length: 100,
            metadata_length: 0,
            metadata_header: "X-Akas-Metadata".into(),
            admin_key: None,
            key_length: 0,
            foreign_key_prefix: String::new(),
            load_max_bytes: 50 * 1024 * 1024,
            key_files_poll_ms: 1000,
            key_files: Vec::new(),
            metrics_enabled: true,
            metrics_address: String::new(),
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1/128".into()],
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 5_000,
            max_connections: 10_000,
            throttle: ThrottleConfig::default(),
            cache: CacheConfig::default(),
            oauth: OAuthConfig::default(),
            cors: CorsConfig::default(),
            api_max_body_bytes: 64 * 1024,
            max_keys_per_owner: 1000,
            limits: LimitsConfig::default(),
            analytics: AnalyticsConfig::default(),
            headers: HeaderConfig::default(),
            base_path: String::new(),
            frontend: FrontendConfig::default(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl_secs: 30,
            negative_ttl_secs: 10,
            max_entries: 100_000,
        }
    }
}

impl Default for HeaderConfig {
    fn default() -> Self {
        HeaderConfig {
            user: "X-Authenticated-User".into(),
            token_id: "X-Authenticated-Token-Id".into(),
            token_name: "X-Authenticated-Token-Name".into(),
        }
    }
}

/// Settings whose values are secrets (redacted in `config check`, `_FILE`-able).
const SECRETS: &[&str] = &["token_salt", "valkey_password", "admin_key"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The effective configuration and what was noticed while building it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Values given on the command line, as `dotted.key` → JSON value.
pub type Overrides = BTreeMap<&'static str, Value>;

/// Builds the effective configuration. `env` is passed in (not read here) so tests can
/// give their own.
pub fn load(
    explicit_file: Option<&Path>,
    env: &BTreeMap<String, String>,
    overrides: &Overrides,
) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let defaults =
        serde_json::to_value(Config::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let mut merged = defaults.clone();

    let file = match explicit_file {
        Some(p) => Some(p.to_path_buf()),
        None => env.get("KEYGATE_CONFIG").map(PathBuf::from).or_else(|| {
            Path::new(DEFAULT_FILE)
                .is_file()
                .then(|| PathBuf::from(DEFAULT_FILE))
        }),
    };
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        // Deserialising the file alone finds unknown keys and wrong types, with the
        // file's own line numbers in the message.
        let _: Config = toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.clone(),
            message: e.to_string().trim().to_owned(),
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let value = serde_json::to_value(table).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        merge(&mut merged, value);
    }

    for (var, raw) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if rest == "CONFIG" {
            continue;
        }
        let path_of =
            |s: &str| -> Vec<String> { s.split("__").map(str::to_ascii_lowercase).collect() };
        // `X_FILE` reads setting `x` from a file; when there is no setting `x`, it is a
        // setting whose own name ends in `_file` (valkey_tls_ca_file).
        let (path, from_file) = match rest.strip_suffix("_FILE") {
            Some(r) if lookup(&defaults, &path_of(r)).is_some() => (path_of(r), true),
            _ => (path_of(rest), false),
        };
        let Some(default) = lookup(&defaults, &path) else {
            warnings.push(format!("ignoring unknown environment variable {var}"));
            continue;
        };
        let text = if from_file {
            std::fs::read_to_string(raw)
                .map_err(|e| ConfigError::Env {
                    var: var.clone(),
                    message: format!("cannot read {raw}: {e}"),
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned()
        } else {
            raw.clone()
        };
        let value = typed(default, &text).map_err(|message| ConfigError::Env {
            var: var.clone(),
            message,
        })?;
        set(&mut merged, &path, value);
    }

    for (key, value) in overrides {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        set(&mut merged, &path, value.clone());
    }

    let config: Config =
        serde_json::from_value(merged).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    config.validate()?;
    Ok(Loaded {
        config,
        file,
        warnings,
    })
}

impl Config {
    /// Whether the Valkey store is configured (in any of its three forms).
    pub fn uses_valkey(&self) -> bool {
        self.valkey_url.is_some()
            || !self.valkey_sentinels.is_empty()
            || !self.valkey_cluster_nodes.is_empty()
    }

    /// Checks what types alone cannot; every message names the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let Err(e) = crate::token::KeyPrefix::parse(&self.key_prefix) {
            return bad(format!("key_prefix: {e}"));
        }
        if let Some(s) = &self.token_salt
            && let Err(e) = crate::token::Salt::from_hex(s.expose())
        {
            return bad(e);
        }
        let forms = usize::from(self.valkey_url.is_some())
            + usize::from(!self.valkey_sentinels.is_empty())
            + usize::from(!self.valkey_cluster_nodes.is_empty());
        if forms > 1 {
            return bad(
                "set only one of valkey_url, valkey_sentinels and valkey_cluster_nodes".into(),
            );
        }
        for url in self
            .valkey_sentinels
            .iter()
            .chain(&self.valkey_cluster_nodes)
        {
            if !["redis://", "rediss://", "valkey://", "valkeys://"]
                .iter()
                .any(|p| url.starts_with(p))
            {
                return bad(format!(
                    "`{url}` must start with redis://, rediss:// or valkey://"
                ));
            }
        }
        if self.valkey_wait_timeout_ms == 0 {
            return bad("valkey_wait_timeout_ms must be at least 1".into());
        }
        if let Some(url) = &self.valkey_url {
            let scheme = url.split_once("://").map(|(s, _)| s);
            if !matches!(scheme, Some("redis" | "rediss" | "valkey" | "valkeys")) {
                return bad(format!(
                    "valkey_url `{url}` must start with redis://, rediss:// or valkey://"
                ));
            }
        }
        if !self
            .valkey_namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b))
            || self.valkey_namespace.is_empty()
        {
            return bad(
                "valkey_namespace may only hold letters, digits, `_`, `-`, `:` and `.`".into(),
            );
        }
        if self.redb_cache_mib == 0 || self.redb_cache_mib > 1 << 20 {
            return bad("redb_cache_mib must be between 1 and 1048576".into());
        }
        if self.store_timeout_ms == 0 || self.store_timeout_ms > 60_000 {
            return bad("store_timeout_ms must be between 1 and 60000".into());
        }
        if self.cache.max_entries == 0 {
            return bad(
                "cache.max_entries must be at least 1 (set cache.ttl_secs = 0 to turn caching off)"
                    .into(),
            );
        }
        if self.last_used_flush_secs == 0 {
            return bad("last_used_flush_secs must be at least 1".into());
        }
        for (name, value) in [
            ("api_key_header", &self.api_key_header),
            ("headers.user", &self.headers.user),
            ("headers.token_id", &self.headers.token_id),
            ("headers.token_name", &self.headers.token_name),
        ] {
            if !value.is_empty() && axum::http::HeaderName::from_bytes(value.as_bytes()).is_err() {
                return bad(format!("{name}: `{value}` is not a valid HTTP header name"));
            }
        }
        if !matches!(self.log_format.as_str(), "auto" | "json" | "text") {
            return bad(format!(
                "log_format `{}` must be auto, json or text",
                self.log_format
            ));
        }
        if !self.metadata_header.is_empty()
            && axum::http::HeaderName::from_bytes(self.metadata_header.as_bytes()).is_err()
        {
            return bad(format!(
                "metadata_header: `{}` is not a valid HTTP header name",
                self.metadata_header
            ));
        }
        if let Some(k) = &self.admin_key
            && k.expose().len() < 16
        {
            return bad(
                "admin_key must be at least 16 characters (make one with `keygate gen-salt`)"
                    .into(),
            );
        }
        if self.key_length > crate::token::MAX_KEY_LEN {
            return bad(format!(
                "key_length must be at most {}",
                crate::token::MAX_KEY_LEN
            ));
        }
        if self.key_files_poll_ms < 50 {
            return bad("key_files_poll_ms must be at least 50".into());
        }
        if self.load_max_bytes == 0 {
            return bad("load_max_bytes must be at least 1".into());
        }
        for (i, f) in self.key_files.iter().enumerate() {
            if !matches!(f.format.as_str(), "plain" | "sha256") {
                return bad(format!(
                    "key_files[{i}].format `{}` must be plain or sha256",
                    f.format
                ));
            }
            if let Some(o) = &f.owner
                && let Err(e) = crate::model::text::validate_owner(o)
            {
                return bad(format!("key_files[{i}].{e}"));
            }
            if let Some(n) = &f.name
                && let Err(e) = crate::model::text::validate_name(n)
            {
                return bad(format!("key_files[{i}].{e}"));
            }
        }
        for cidr in &self.trusted_proxies {
            if let Err(e) = crate::decide::throttle::Cidr::parse(cidr) {
                return bad(format!("trusted_proxies: {e}"));
            }
        }
        if !self.metrics_address.is_empty()
            && self
                .metrics_address
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return bad(format!(
                "metrics_address `{}` is not host:port",
                self.metrics_address
            ));
        }
        if self.throttle.max_failures == 0
            || self.throttle.window_secs == 0
            || self.throttle.max_addresses == 0
        {
            return bad("throttle.max_failures, throttle.window_secs and throttle.max_addresses must be at least 1 (throttle.enabled = false turns it off)".into());
        }
        if !(1..=128).contains(&self.throttle.ipv6_prefix) {
            return bad("throttle.ipv6_prefix must be 1 to 128".into());
        }
        if self.header_read_timeout_ms == 0 || self.idle_timeout_ms == 0 {
            return bad("header_read_timeout_ms and idle_timeout_ms must be at least 1".into());
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1".into());
        }
        for (name, url) in [
            ("oauth.issuer_url", &self.oauth.issuer_url),
            ("oauth.jwks_url", &self.oauth.jwks_url),
        ] {
            if !url.is_empty() && !is_http_url(url) {
                return bad(format!("{name} `{url}` must be an http(s) URL"));
            }
        }
        if self.oauth.jwks_refresh_interval_secs == 0 {
            return bad("oauth.jwks_refresh_interval_secs must be at least 1".into());
        }
        if self.cors.enabled && self.cors.allow_origins.is_empty() {
            return bad(
                "cors.allow_origins must list at least one origin (or \"*\") when cors.enabled"
                    .into(),
            );
        }
        for o in &self.cors.allow_origins {
            if o != "*" && axum::http::HeaderValue::from_str(o).is_err() {
                return bad(format!("cors.allow_origins: `{o}` is not a valid origin"));
            }
        }
        if self.api_max_body_bytes < 1024 {
            return bad("api_max_body_bytes must be at least 1024".into());
        }
        if self.max_keys_per_owner == 0 {
            return bad("max_keys_per_owner must be at least 1".into());
        }
        let a = &self.analytics;
        if a.flush_secs == 0 || a.flush_secs > 3600 {
            return bad("analytics.flush_secs must be 1 to 3600".into());
        }
        if !(1..=24 * 31).contains(&a.minute_retention_hours) {
            return bad("analytics.minute_retention_hours must be 1 to 744 (31 days)".into());
        }
        if !(1..=3660).contains(&a.hour_retention_days)
            || !(1..=36600).contains(&a.day_retention_days)
        {
            return bad("analytics.hour_retention_days must be 1 to 3660 and analytics.day_retention_days 1 to 36600".into());
        }
        self.limits.key_defaults().map_err(ConfigError::Invalid)?;
        self.limits.owner_defaults().map_err(ConfigError::Invalid)?;
        self.limits.on_store_error().map_err(ConfigError::Invalid)?;
        if !self
            .query_param
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return bad("query_param may only hold letters, digits, `_`, `-` and `.`".into());
        }
        self.validate_frontend()
    }

    fn validate_frontend(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let bp = &self.base_path;
        if !bp.is_empty()
            && (!bp.starts_with('/')
                || bp.ends_with('/')
                || bp.contains("//")
                || !bp
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-.~".contains(&b))
                || bp.split('/').any(|seg| seg == "." || seg == ".."))
        {
            return bad(format!(
                "base_path `{bp}` must be empty or like `/keygate`: a leading `/`, no trailing `/`, \
                 letters, digits, `_`, `-`, `.`, `~` and `/` only"
            ));
        }
        let f = &self.frontend;
        let authority = f.authority(&self.oauth);
        if !authority.is_empty() && !is_http_url(authority) {
            return bad(format!(
                "frontend.oidc_authority `{authority}` must be an http(s) URL"
            ));
        }
        if !f.oidc_client_id.is_empty() {
            if authority.is_empty() {
                return bad("frontend.oidc_client_id is set but there is no issuer to log in with: set frontend.oidc_authority or oauth.issuer_url".into());
            }
            if !self.oauth.enabled() {
                return bad("frontend.oidc_client_id is set but [oauth] is not: the API would refuse the UI's tokens; set oauth.issuer_url (and oauth.audiences)".into());
            }
        }
        if !f.oidc_redirect_uri.is_empty() && !is_http_url(&f.oidc_redirect_uri) {
            return bad(format!(
                "frontend.oidc_redirect_uri `{}` must be an absolute http(s) URL",
                f.oidc_redirect_uri
            ));
        }
        if !f.docs_html.is_empty() && f.docs_html_file.is_some() {
            return bad("set frontend.docs_html or frontend.docs_html_file, not both".into());
        }
        if f.app_name.trim().is_empty() || f.app_name.chars().count() > 100 {
            return bad("frontend.app_name must be 1 to 100 characters".into());
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets shown as `<redacted>`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.valkey_url = shown.valkey_url.as_deref().map(redact_url_password);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn is_http_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// The names of settings that hold secrets.
pub fn secret_names() -> &'static [&'static str] {
    SECRETS
}

/// `redis://user:secret@host` → `redis://user:<redacted>@host`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:<redacted>@{host}")
            } else {
                format!("{scheme}://{userinfo}@{host}")
            }
        }
        None => url.to_owned(),
    }
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(k))
}

fn set(v: &mut Value, path: &[String], value: Value) {
    let mut cur = v;
    for k in path {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(map) = cur else { return };
        cur = map.entry(k.clone()).or_insert(Value::Null);
    }
    *cur = value;
}

/// An environment string as the type the setting has.
fn typed(default: &Value, text: &str) -> Result<Value, String> {
    match default {
        Value::Bool(_) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not true or false")),
        },
        Value::Number(_) => text
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| format!("`{text}` is not a whole number")),
        Value::Object(_) => Err(
            "this setting is a table; set its fields with __ (e.g. KEYGATE_CACHE__TTL_SECS)".into(),
        ),
        Value::Array(_) if text.trim_start().starts_with('[') => {
            serde_json::from_str(text).map_err(|e| format!("expected a JSON array: {e}"))
        }
        Value::Array(_) => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        Value::String(_) | Value::Null => Ok(Value::String(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn defaults() {
        let l = load(Some(file("").path()), &env(&[]), &Overrides::new()).unwrap();
        assert_eq!(l.config.port, 8080);
        assert_eq!(l.config.address, "127.0.0.1");
        assert_eq!(l.config.store_timeout_ms, 500);
        assert_eq!(l.config.redb_cache_mib, DEFAULT_REDB_CACHE_MIB);
        assert!(l.config.valkey_url.is_none());
        assert_eq!(l.config.header_read_timeout_ms, 10_000);
        assert_eq!(l.config.idle_timeout_ms, 5_000);
        assert_eq!(l.config.max_connections, 10_000);
        assert_eq!(l.config.throttle.ipv6_prefix, 64);
        let e = env(&[
            ("KEYGATE_MAX_CONNECTIONS", "50"),
            ("KEYGATE_THROTTLE__IPV6_PREFIX", "56"),
        ]);
        let l = load(Some(file("").path()), &e, &Overrides::new()).unwrap();
        assert_eq!(l.config.max_connections, 50);
        assert_eq!(l.config.throttle.ipv6_prefix, 56);
    }

    #[test]
    fn limits_from_file_and_env() {
        let l = load(Some(file("").path()), &env(&[]), &Overrides::new()).unwrap();
        assert_eq!(l.config.limits.on_store_error, "deny");
        assert!(l.config.limits.key_defaults().unwrap().0.is_empty());
        let e = env(&[
            ("KEYGATE_LIMITS__RATE_LIMITS", "100/1m, per-hour=5000/1h"),
            ("KEYGATE_LIMITS__CREDITS", "10000"),
            ("KEYGATE_LIMITS__REFILL", "10000/monthly"),
            ("KEYGATE_LIMITS__OWNER__RATE_LIMITS", "1000/1m"),
        ]);
        let l = load(Some(file("").path()), &e, &Overrides::new()).unwrap();
        let (limits, credits) = l.config.limits.key_defaults().unwrap();
        assert_eq!(limits.rate_limits.len(), 2);
        assert_eq!(limits.rate_limits[1].name, "per-hour");
        assert_eq!(credits, Some(10_000));
        let (owner, none) = l.config.limits.owner_defaults().unwrap();
        assert_eq!((owner.rate_limits[0].limit, none), (1000, None));
    }

    #[test]
    fn layers_in_order() {
        let f = file("port = 9000\naddress = \"0.0.0.0\"\n[cache]\nttl_secs = 5\n");
        let e = env(&[
            ("KEYGATE_PORT", "9100"),
            ("KEYGATE_CACHE__MAX_ENTRIES", "7"),
        ]);
        let mut o = Overrides::new();
        let l = load(Some(f.path()), &e, &o).unwrap();
        assert_eq!(l.config.port, 9100);
        assert_eq!(l.config.address, "0.0.0.0");
        assert_eq!(l.config.cache.ttl_secs, 5);
        assert_eq!(l.config.cache.max_entries, 7);
        o.insert("port", Value::from(9200));
        assert_eq!(load(Some(f.path()), &e, &o).unwrap().config.port, 9200);
    }

    #[test]
    fn unknown_file_key_is_an_error_naming_it() {
        let f = file("port = 1\nportt = 2\n");
        let e = load(Some(f.path()), &env(&[]), &Overrides::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("portt"), "{e}");
        let f = file("[cache]\nttl = 2\n");
        let e = load(Some(f.path()), &env(&[]), &Overrides::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("ttl"), "{e}");
    }

    #[test]
    fn wrong_types_are_errors() {
        let f = file("port = \"eighty\"\n");
        assert!(load(Some(f.path()), &env(&[]), &Overrides::new()).is_err());
        let e = load(
            Some(file("").path()),
            &env(&[("KEYGATE_PORT", "x")]),
            &Overrides::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("KEYGATE_PORT"), "{e}");
        let e = load(
            Some(file("").path()),
            &env(&[("KEYGATE_PORT", "70000")]),
            &Overrides::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("65535") || e.to_string().contains("u16"),
            "{e}"
        );
    }

    #[test]
    fn settings_named_file_are_set_from_env() {
        let e = env(&[("KEYGATE_VALKEY_TLS_CA_FILE", "/certs/ca.pem")]);
        let l = load(None, &e, &Overrides::new()).unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(
            l.config.valkey_tls_ca_file,
            Some(PathBuf::from("/certs/ca.pem"))
        );
    }

    #[test]
    fn unknown_env_is_a_warning() {
        let l = load(
            Some(file("").path()),
            &env(&[("KEYGATE_PROT", "1"), ("OTHER", "x")]),
            &Overrides::new(),
        )
        .unwrap();
        assert_eq!(
            l.warnings,
            vec!["ignoring unknown environment variable KEYGATE_PROT"]
        );
    }

    #[test]
    fn numeric_looking_strings_stay_strings() {
        let l = load(
            Some(file("").path()),
            &env(&[("KEYGATE_VALKEY_PASSWORD", "12345")]),
            &Overrides::new(),
        )
        .unwrap();
        assert_eq!(l.config.valkey_password.unwrap().expose(), "12345");
    }

    #[test]
    fn secrets_from_files_and_redacted() {
        let salt = "ab".repeat(32);
        let s = file(&format!("{salt}\n"));
        let e = env(&[("KEYGATE_TOKEN_SALT_FILE", s.path().to_str().unwrap())]);
        let l = load(Some(file("").path()), &e, &Overrides::new()).unwrap();
        assert_eq!(l.config.token_salt.as_ref().unwrap().expose(), salt);
        let shown = l.config.to_redacted_toml();
        assert!(!shown.contains(&salt));
        assert!(shown.contains("token_salt = \"<redacted>\""), "{shown}");
        let e = env(&[("KEYGATE_TOKEN_SALT_FILE", "/nonexistent/salt")]);
        let err = load(Some(file("").path()), &e, &Overrides::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYGATE_TOKEN_SALT_FILE"), "{err}");
    }

    #[test]
    fn validation_names_the_setting() {
        for (text, needle) in [
            ("key_prefix = \"KG\"", "key_prefix"),
            ("token_salt = \"abc\"", "gen-salt"),
            ("valkey_url = \"http://x\"", "valkey_url"),
            ("store_timeout_ms = 0", "store_timeout_ms"),
            ("redb_cache_mib = 0", "redb_cache_mib"),
            ("api_key_header = \"bad header\"", "api_key_header"),
            ("[headers]\nuser = \"a b\"", "headers.user"),
            ("[throttle]\nipv6_prefix = 0", "throttle.ipv6_prefix"),
            ("[throttle]\nipv6_prefix = 129", "throttle.ipv6_prefix"),
            ("header_read_timeout_ms = 0", "header_read_timeout_ms"),
            ("idle_timeout_ms = 0", "idle_timeout_ms"),
            ("max_connections = 0", "max_connections"),
            ("[limits]\nrate_limits = [\"0/1m\"]", "limits.rate_limits"),
            ("[limits]\nrate_limits = [\"-5/1m\"]", "limits.rate_limits"),
            ("[limits]\nrate_limits = [\"5/40d\"]", "31d"),
            ("[limits]\nrate_limits = [\"5/1y\"]", "unknown unit"),
            ("[limits]\nrate_limits = [\"5\"]", "limits.rate_limits"),
            (
                "[limits]\nrate_limits = [\"a=1/1m\", \"a=2/1h\"]",
                "two rate limits",
            ),
            (
                "[limits]\nrefill = \"5/daily\"",
                "limits.refill needs limits.credits",
            ),
            (
                "[limits]\ncredits = 5\nrefill = \"5/yearly\"",
                "limits.refill",
            ),
            (
                "[limits]\non_store_error = \"maybe\"",
                "limits.on_store_error",
            ),
            (
                "[limits.owner]\nrate_limits = [\"1/0s\"]",
                "limits.owner.rate_limits",
            ),
            (
                "[limits.owner]\ncredits = 2000000000000000000",
                "limits.owner.credits",
            ),
        ] {
            let e = load(Some(file(text).path()), &env(&[]), &Overrides::new())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url_password("redis://u:p4ss@h:1/0"),
            "redis://u:<redacted>@h:1/0"
        );
        assert_eq!(
            redact_url_password("redis://:p4ss@h"),
            "redis://:<redacted>@h"
        );
        assert_eq!(redact_url_password("redis://h:1"), "redis://h:1");
        let f = file(
            "valkey_url = \"redis://u:hunter2@h:6379\"\ntoken_salt = \"00000000000000000000000000000000000000000000000000000000000000ff\"\n",
        );
        let shown = load(Some(f.path()), &env(&[]), &Overrides::new())
            .unwrap()
            .config
            .to_redacted_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn frontend_defaults_file_and_env() {
        let l = load(Some(file("").path()), &env(&[]), &Overrides::new()).unwrap();
        assert_eq!(l.config.base_path, "");
        assert_eq!(l.config.frontend, FrontendConfig::default());
        assert_eq!(l.config.frontend.app_name, "keygate");
        assert_eq!(l.config.frontend.api_docs_path, "/docs");
        let f = file(
            "base_path = \"/keygate\"\n[oauth]\nissuer_url = \"https://idp.example.com\"\n\
             [frontend]\napp_name = \"Keys\"\noidc_client_id = \"ui\"\ndocs_html = \"<p>hi</p>\"\n",
        );
        let html = file("<h2>From a file</h2>\n");
        let e = env(&[
            ("KEYGATE_FRONTEND__OIDC_SCOPE", "openid api"),
            ("KEYGATE_BASE_PATH", "/gate"),
        ]);
        let c = load(Some(f.path()), &e, &Overrides::new()).unwrap().config;
        assert_eq!(c.base_path, "/gate");
        assert_eq!(c.frontend.app_name, "Keys");
        assert_eq!(c.frontend.oidc_scope, "openid api");
        assert_eq!(c.frontend.docs_html, "<p>hi</p>");
        // The authority defaults to the issuer the API trusts.
        assert_eq!(c.frontend.authority(&c.oauth), "https://idp.example.com");
        // `_FILE` reads docs_html from a file, like any other setting.
        let e = env(&[(
            "KEYGATE_FRONTEND__DOCS_HTML_FILE",
            html.path().to_str().unwrap(),
        )]);
        let c = load(Some(file("").path()), &e, &Overrides::new())
            .unwrap()
            .config;
        assert_eq!(c.frontend.docs_html, "<h2>From a file</h2>");
    }

    #[test]
    fn frontend_validation_names_the_setting() {
        for (text, needle) in [
            ("base_path = \"keygate\"", "base_path"),
            ("base_path = \"/keygate/\"", "base_path"),
            ("base_path = \"/a/../b\"", "base_path"),
            ("base_path = \"/a b\"", "base_path"),
            ("[frontend]\noidc_client_id = \"ui\"", "oidc_client_id"),
            (
                "[frontend]\noidc_client_id = \"ui\"\noidc_authority = \"https://idp\"",
                "[oauth]",
            ),
            (
                "[frontend]\noidc_authority = \"idp.example.com\"",
                "oidc_authority",
            ),
            (
                "[frontend]\noidc_redirect_uri = \"/callback\"",
                "oidc_redirect_uri",
            ),
            (
                "[frontend]\ndocs_html = \"x\"\ndocs_html_file = \"/etc/x\"",
                "docs_html_file",
            ),
            ("[frontend]\napp_name = \" \"", "app_name"),
            ("[frontend]\ncolour = \"blue\"", "colour"),
        ] {
            let e = load(Some(file(text).path()), &env(&[]), &Overrides::new())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        for ok in ["base_path = \"/keygate\"", "base_path = \"/a/b-c.d\""] {
            load(Some(file(ok).path()), &env(&[]), &Overrides::new()).unwrap();
        }
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let e = load(
            Some(Path::new("/nonexistent/keygate.toml")),
            &env(&[]),
            &Overrides::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/keygate.toml"));
    }
}
