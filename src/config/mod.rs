//! Settings: defaults < config file < `KEYGATE_*` environment < command-line flags.
//!
//! - The file is `--config PATH` / `KEYGATE_CONFIG`, else `./keygate.toml` when present.
//!   Its keys are rusty-valkey-forward-auth's `settings.toml` names where one exists. An
//!   unknown key in the file is an error that names it.
//! - `KEYGATE_X` sets `x`; `__` nests (`KEYGATE_CACHE__TTL_SECS` sets `cache.ttl_secs`);
//!   `KEYGATE_X_FILE` reads the value of `x` from a file (for secrets mounted as files).
//!   An unknown `KEYGATE_` variable is a warning, not an error: environments carry strays.
//! - Flags win over everything.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod events;
mod grpc;
mod layers;
mod leaks;
mod permissions;
mod proxy;
mod secret;
mod sections;
mod validate;

pub use events::EventsConfig;
pub use grpc::GrpcConfig;
pub use layers::{ConfigError, Loaded, Overrides, load};
pub use leaks::{LeakAction, LeaksConfig};
pub use permissions::{PermissionsConfig, RequireConfig, Requirement, parse_query};
pub use proxy::{AssertionConfig, ProxyConfig, RouteConfig, UpstreamUrl};
pub use secret::{Secret, redact_url_password, secret_names};
pub use sections::{
    AdminGroupConfig, AnalyticsConfig, CacheConfig, ClaimsConfig, CorsConfig, FrontendConfig,
    HeaderConfig, KeyFileConfig, LimitsConfig, OAuthConfig, OwnerLimitsConfig, ThrottleConfig,
};

pub const ENV_PREFIX: &str = "KEYGATE_";
pub const DEFAULT_FILE: &str = "keygate.toml";
/// redb's cache for the embedded store, MiB (docs/benchmarks.md: what it costs misses).
pub const DEFAULT_REDB_CACHE_MIB: usize = 8;

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
    /// Inline mode: keygate as the reverse proxy in front of a service.
    pub proxy: ProxyConfig,
    /// What proxied requests require of a key (`[permissions]`).
    pub permissions: PermissionsConfig,
    /// Envoy's gRPC external authorization on a port of its own (`[grpc]`).
    pub grpc: GrpcConfig,
    /// The events outbox and webhook delivery (`[events]`).
    pub events: EventsConfig,
    /// What a report of a leaked key does (`[leaks]`).
    pub leaks: LeaksConfig,
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
            proxy: ProxyConfig::default(),
            permissions: PermissionsConfig::default(),
            grpc: GrpcConfig::default(),
            events: EventsConfig::default(),
            leaks: LeaksConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests;
