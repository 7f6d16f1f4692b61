//! Wiring: from a [`Config`] to an opened store, the gate and the key service.

pub mod notify;
pub mod settings;
pub mod tasks;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;

use std::sync::RwLock;

use crate::access_log::{AccessLog, LogLimits};
use crate::clock::Clock;
use crate::config::Config;
use crate::decide::{Gate, GateSettings, IdentityHeaders, Sources, ThrottleSettings};
use crate::keyfile::KeySets;
use crate::manage::Keys;
use crate::metrics::Metrics;
use crate::oidc::Verifier;
use crate::store::memory::MemoryStore;
use crate::store::redb::RedbStore;
use crate::store::valkey::{Topology, ValkeyOptions, ValkeyStore};
use crate::store::{SharedStore, StoreError};
use crate::token::{Policy, Salt};

/// Everything a running keygate shares between requests.
pub struct App {
    pub config: Config,
    pub clock: Clock,
    pub gate: Arc<Gate>,
    pub keys: Keys,
    /// The events outbox and webhook delivery.
    pub events: Arc<crate::events::Events>,
    /// GitHub's secret-scanning keys, when `leaks.github_enabled`.
    pub github_keys: std::sync::OnceLock<Arc<crate::events::github::GithubKeys>>,
    pub log_limits: LogLimits,
    /// Where access lines go (`None`: not written; `access_log = false`, or no log
    /// output set up, as in tests).
    pub access_log: Option<AccessLog>,
    /// Validates OIDC access tokens, when `[oauth]` is configured.
    pub verifier: Option<Arc<Verifier>>,
    /// Signs the inline proxy's identity assertions, when `[proxy.assertion]` is
    /// enabled (set by [`App::prepare`]: the key may come from the store).
    pub assertion: std::sync::OnceLock<Arc<crate::assertion::Signer>>,
    /// Digests of the admin keys in force (configured, or generated in single-operator
    /// mode), compared in constant time.
    admin_keys: RwLock<Vec<[u8; 32]>>,
}

/// Meta entry naming the layout of the stored data, for upgrades and `keygate doctor`.
pub const LAYOUT_META: &str = "layout";
pub const LAYOUT_VERSION: &str = "1";

/// Meta entry holding the BLAKE3 digest of the generated admin key.
pub const ADMIN_KEY_META: &str = "admin_key.blake3";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The salt file in `data_dir` for the embedded store.
pub const SALT_FILE: &str = "token_salt";

impl App {
    /// The key sources (key files, the uploaded set) as kept current by this app.
    pub fn sources(&self) -> crate::sources::Sources {
        crate::sources::Sources {
            gate: self.gate.clone(),
            store: self.keys.store().clone(),
            clock: self.clock.clone(),
            poll: Duration::from_millis(self.config.key_files_poll_ms),
        }
    }

    /// Opens the configured store and builds the gate.
    pub fn open(config: Config, clock: Clock) -> Result<Self, StartError> {
        let (store, salt) = open_store_with_cache(&config, config.redb_cache_mib)?;
        Self::with_store(config, clock, store, salt)
    }

    /// Builds the gate around a store opened elsewhere (tests pass a [`MemoryStore`]).
    pub fn with_store(
        config: Config,
        clock: Clock,
        store: SharedStore,
        salt: Salt,
    ) -> Result<Self, StartError> {
        let resolved = settings::resolve(&config).map_err(StartError::Config)?;
        let settings = gate_settings(&config, &resolved)?;
        let keysets = Arc::new(KeySets::new(&config.key_files));
        let gate = Arc::new(Gate::new(
            salt.clone(),
            settings,
            store.clone(),
            clock.clone(),
            keysets,
            Arc::new(Metrics::default()),
        ));
        let events = Arc::new(
            crate::events::Events::new(
                store.clone(),
                clock.clone(),
                crate::events::Settings::from_config(&config.events).map_err(StartError::Config)?,
            )
            .map_err(StartError::Config)?,
        );
        gate.limits()
            .low_credits()
            .set_threshold(config.events.credits_low);
        let keys = Keys::new(
            store,
            salt,
            resolved.key_prefix,
            clock.clone(),
            Some(gate.clone()),
        )
        .with_events(crate::events::port(&events))
        .with_max_keys_per_owner(config.max_keys_per_owner)
        .with_limit_defaults(resolved.key_defaults, resolved.owner_defaults);
        let github_keys = std::sync::OnceLock::new();
        if config.leaks.github_enabled {
            let keys = crate::events::github::GithubKeys::new(
                config.leaks.github_keys_url.clone(),
                Duration::from_secs(config.leaks.github_keys_ttl_secs),
            )
            .map_err(StartError::Config)?;
            let _ = github_keys.set(Arc::new(keys));
        }
        let log_limits = LogLimits {
            original_length: config.original_length,
            metadata_length: config.metadata_length,
            metadata_header: header_name("metadata_header", &config.metadata_header)?,
            key_prefix: config.key_prefix.clone(),
            query_param: (!config.query_param.is_empty()).then(|| config.query_param.clone()),
        };
        let admin_keys = config
            .admin_key
            .iter()
            .map(|k| *blake3::hash(k.expose().as_bytes()).as_bytes())
            .collect();
        let verifier = if config.oauth.enabled() {
            Some(Arc::new(
                Verifier::new(config.oauth.clone()).map_err(StartError::Config)?,
            ))
        } else {
            None
        };
        Ok(App {
            config,
            clock,
            gate,
            keys,
            events,
            github_keys,
            log_limits,
            access_log: None,
            verifier,
            assertion: std::sync::OnceLock::new(),
            admin_keys: RwLock::new(admin_keys),
        })
    }

    pub fn memory(config: Config, clock: Clock, salt: Salt) -> Result<Self, StartError> {
        Self::with_store(config, clock, Arc::new(MemoryStore::new()), salt)
    }

    /// Loads what must be in force before the first request: every key file (a missing
    /// or bad one is an error), the uploaded set kept in the store, and the store's
    /// flags. A store that cannot be reached now is not an error: it is retried.
    /// The assertion's signing key: the configured file, else the store's (made on the
    /// first start; read back after writing, so replicas starting together end up
    /// with the one that was written last).
    async fn assertion_signer(&self) -> Result<crate::assertion::Signer, StartError> {
        use crate::assertion::{KEY_META, Signer};
        let c = &self.config.proxy.assertion;
        if let Some(path) = &c.key_file {
            return Signer::from_pem_file(path, c).map_err(StartError::Config);
        }
        let store = self.keys.store();
        let der = match store.get_meta(KEY_META).await? {
            Some(der) => der,
            None => {
                let fresh = Signer::generate().map_err(StartError::Config)?;
                store.set_meta(KEY_META, &fresh).await?;
                store.get_meta(KEY_META).await?.unwrap_or(fresh)
            }
        };
        Signer::new(&der, c).map_err(|e| StartError::Config(format!("the store's {KEY_META}: {e}")))
    }

    pub async fn prepare(&self) -> Result<(), StartError> {
        if let Some(p) = &self.config.frontend.docs_html_file {
            std::fs::read_to_string(p).map_err(|e| {
                StartError::Config(format!("frontend.docs_html_file {}: {e}", p.display()))
            })?;
        }
        let sources = self.sources();
        for (idx, path, _) in self.gate.keysets().files() {
            sources
                .load_file(idx)
                .map_err(|e| StartError::Config(format!("key file {}: {e}", path.display())))?;
        }
        if let Err(e) = sources.load_upload_from_store().await {
            tracing::warn!(error = %e, "could not read the uploaded key set from the store yet");
        }
        if let Err(e) = self.gate.refresh_store_flags().await {
            tracing::warn!(error = %e, "could not read store flags yet");
        }
        if self.single_operator() {
            self.single_operator_key().await?;
        }
        if self.config.proxy.assertion.enabled && self.assertion.get().is_none() {
            let signer = self.assertion_signer().await?;
            let _ = self.assertion.set(Arc::new(signer));
        }
        match self.keys.store().get_meta(LAYOUT_META).await {
            Ok(None) => {
                self.keys
                    .store()
                    .set_meta(LAYOUT_META, LAYOUT_VERSION.as_bytes())
                    .await?
            }
            Ok(Some(v)) if v != LAYOUT_VERSION.as_bytes() => {
                return Err(StartError::Config(format!(
                    "the store's layout is version {}, this keygate knows {LAYOUT_VERSION}",
                    String::from_utf8_lossy(&v)
                )));
            }
            Ok(Some(_)) => {}
            Err(e) => tracing::warn!(error = %e, "could not check the store's layout version yet"),
        }
        Ok(())
    }

    /// No `[oauth]` and no `admin_key`: keygate makes its own admin key.
    pub fn single_operator(&self) -> bool {
        !self.config.oauth.enabled() && self.config.admin_key.is_none()
    }

    /// Loads the generated admin key's digest, or makes the key, keeps its digest in the
    /// store and prints it once.
    async fn single_operator_key(&self) -> Result<(), StartError> {
        let store = self.keys.store();
        if let Some(hex) = store.get_meta(ADMIN_KEY_META).await? {
            let digest = std::str::from_utf8(&hex)
                .ok()
                .and_then(crate::token::KeyHash::from_hex)
                .ok_or_else(|| {
                    StartError::Config(
                        "the stored admin key digest is corrupt; run `keygate admin-key reset`"
                            .into(),
                    )
                })?;
            self.admin_keys
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(digest.0);
            return Ok(());
        }
        let key = reset_admin_key(store.as_ref()).await?;
        self.admin_keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(*blake3::hash(key.as_bytes()).as_bytes());
        eprintln!("{}", admin_key_banner(&key));
        Ok(())
    }

    /// Whether an admin key is in force.
    pub fn has_admin_key(&self) -> bool {
        !self
            .admin_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// True when `presented` is an admin key in force (constant time per key).
    pub fn is_admin_key(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let digest = blake3::hash(presented.as_bytes());
        let keys = self.admin_keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().fold(false, |found, k| {
            found | bool::from(digest.as_bytes().ct_eq(k))
        })
    }
}

/// Makes a new admin key for single-operator mode and keeps only its digest.
pub async fn reset_admin_key(store: &dyn crate::store::TokenStore) -> Result<String, StartError> {
    let random = crate::token::random_base62(43)
        .map_err(|e| StartError::Config(format!("no randomness from the OS: {e}")))?;
    let key = format!("kgadmin_{random}");
    let digest = crate::token::KeyHash(*blake3::hash(key.as_bytes()).as_bytes()).to_hex();
    store.set_meta(ADMIN_KEY_META, digest.as_bytes()).await?;
    Ok(key)
}

/// The block printed once when an admin key is made.
pub fn admin_key_banner(key: &str) -> String {
    let line = "=".repeat(72);
    format!(
        "{line}\n keygate is in single-operator mode: no [oauth] and no admin_key are set.\n \
         This admin key is shown ONCE; keep it somewhere safe:\n\n     {key}\n\n \
         Log in to the web UI with it, or send it as `Authorization: Bearer` to /api.\n \
         Lost it? Stop keygate and run `keygate admin-key reset`.\n{line}"
    )
}

fn header_name(field: &str, value: &str) -> Result<Option<HeaderName>, StartError> {
    if value.is_empty() {
        return Ok(None);
    }
    HeaderName::from_bytes(value.as_bytes())
        .map(Some)
        .map_err(|_| StartError::Config(format!("{field}: `{value}` is not a header name")))
}

fn gate_settings(c: &Config, s: &settings::Settings) -> Result<GateSettings, StartError> {
    Ok(GateSettings {
        policy: Policy {
            prefix: s.key_prefix.clone(),
            accept_foreign: c.accept_foreign_keys,
            foreign_length: c.key_length,
            foreign_prefix: c.foreign_key_prefix.clone(),
        },
        throttle: c.throttle.enabled.then_some(ThrottleSettings {
            max_failures: c.throttle.max_failures,
            window_secs: c.throttle.window_secs,
            max_addresses: c.throttle.max_addresses,
            ipv6_prefix: c.throttle.ipv6_prefix,
        }),
        trusted_proxies: s.trusted_proxies.clone(),
        upstream_limit_headers: c.limits.upstream_headers,
        analytics: c.analytics.enabled,
        recent_requests: c.analytics.recent_requests,
        limits_on_store_error: s.on_store_error,
        owner_defaults: s.owner_defaults.clone(),
        sources: Sources {
            header: header_name("api_key_header", &c.api_key_header)?,
            query_param: (!c.query_param.is_empty()).then(|| c.query_param.clone()),
        },
        store_timeout: Duration::from_millis(c.store_timeout_ms),
        cache_ttl: Duration::from_secs(c.cache.ttl_secs),
        negative_ttl: Duration::from_secs(c.cache.negative_ttl_secs),
        cache_max_entries: c.cache.max_entries,
        cache_max_bytes: c.cache.max_mib.saturating_mul(1 << 20),
        identity_headers: IdentityHeaders {
            user: header_name("headers.user", &c.headers.user)?,
            token_id: header_name("headers.token_id", &c.headers.token_id)?,
            token_name: header_name("headers.token_name", &c.headers.token_name)?,
            permissions: header_name(
                "permissions.upstream_header",
                &c.permissions.upstream_header,
            )?,
        },
        requirements: c.permissions.requirements().map_err(StartError::Config)?,
        require_header: header_name("permissions.header", &c.permissions.header)?,
    })
}

/// redb's cache for the CLI's commands, MiB at least: redb gives a tenth of its cache
/// to buffered writes, and a short-lived `keys import` of a million keys takes 3× as
/// long with the server's 16 MiB (docs/benchmarks.md).
const CLI_REDB_CACHE_MIB: usize = 256;

/// Opens the store the configuration names, with its salt (for the CLI's commands).
pub fn open_store(config: &Config) -> Result<(SharedStore, Salt), StartError> {
    open_store_with_cache(config, config.redb_cache_mib.max(CLI_REDB_CACHE_MIB))
}

/// [`open_store`], with redb's cache at `cache_mib` (the embedded store).
fn open_store_with_cache(
    config: &Config,
    cache_mib: usize,
) -> Result<(SharedStore, Salt), StartError> {
    let configured = config
        .token_salt
        .as_ref()
        .map(|s| Salt::from_hex(s.expose()))
        .transpose()
        .map_err(StartError::Config)?;
    if !config.uses_valkey() {
        let salt = embedded_salt(&config.data_dir, configured)?;
        return Ok((
            Arc::new(RedbStore::open_with_cache(
                &config.data_dir,
                cache_mib << 20,
            )?),
            salt,
        ));
    }
    let salt = configured.ok_or_else(|| {
        StartError::Config(
            "token_salt is required with the Valkey store (every replica must hash keys \
             the same way): make one with `keygate gen-salt` and set KEYGATE_TOKEN_SALT \
             (or KEYGATE_TOKEN_SALT_FILE, or token_salt in keygate.toml)"
                .into(),
        )
    })?;
    let tls_ca_pem = config
        .valkey_tls_ca_file
        .as_ref()
        .map(|p| {
            std::fs::read(p)
                .map_err(|e| StartError::Config(format!("valkey_tls_ca_file {}: {e}", p.display())))
        })
        .transpose()?;
    let topology = match &config.valkey_url {
        Some(url) => Topology::Single(url.clone()),
        None if !config.valkey_sentinels.is_empty() => Topology::Sentinel {
            sentinels: config.valkey_sentinels.clone(),
            service: config.valkey_service_name.clone(),
        },
        None => Topology::Cluster(config.valkey_cluster_nodes.clone()),
    };
    let store = ValkeyStore::connect(&ValkeyOptions {
        topology,
        username: config.valkey_username.clone(),
        password: config
            .valkey_password
            .as_ref()
            .map(|p| p.expose().to_owned()),
        namespace: config.valkey_namespace.clone(),
        timeout: Duration::from_millis(config.store_timeout_ms),
        tls_ca_pem,
        wait_replicas: config.valkey_wait_replicas,
        wait_timeout: Duration::from_millis(config.valkey_wait_timeout_ms),
    })?;
    Ok((Arc::new(store), salt))
}

/// The embedded store's salt: the configured one, else the one kept in the data dir,
/// else a new one written there (mode 0600). A configured salt that differs from the
/// kept one is refused: every existing key would silently stop working.
fn embedded_salt(dir: &Path, configured: Option<Salt>) -> Result<Salt, StartError> {
    let path = dir.join(SALT_FILE);
    crate::private_fs::dir(dir).map_err(|e| {
        StartError::Config(format!("cannot create data dir {}: {e}", dir.display()))
    })?;
    if path.exists() {
        crate::private_fs::file(&path)
            .map_err(|e| StartError::Config(format!("cannot open {}: {e}", path.display())))?;
    }
    let kept = match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            Salt::from_hex(&text)
                .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(StartError::Config(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    match (configured, kept) {
        (Some(c), Some(k)) if c != k => Err(StartError::Config(format!(
            "token_salt differs from the salt in {} that the keys in this data dir were hashed \
             with; remove token_salt or use that salt",
            path.display()
        ))),
        (Some(c), _) => Ok(c),
        (None, Some(k)) => Ok(k),
        (None, None) => {
            let salt = Salt::generate()
                .map_err(|e| StartError::Config(format!("no randomness from the OS: {e}")))?;
            write_private(&path, &format!("{}\n", salt.to_hex()))
                .map_err(|e| StartError::Config(format!("cannot write {}: {e}", path.display())))?;
            Ok(salt)
        }
    }
}

/// Creates `path` readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        crate::private_fs::dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
