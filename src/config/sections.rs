//! The sections of the configuration, each plain data with its defaults (`[frontend]`,
//! `[[key_files]]`, `[oauth]`, `[cors]`, `[throttle]`, `[limits]`, `[analytics]`,
//! `[cache]`, `[headers]`), and the limit specs they hold turned into values.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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

/// `[limits.owner]`: the default limits of an owner.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OwnerLimitsConfig {
    pub rate_limits: Vec<String>,
    /// Each owner's starting balance (0: no quota).
    pub credits: u64,
    pub refill: String,
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
    /// Requests kept per key for its page (time, outcome, method, host, path, client
    /// address), newest first; 0: none kept. At most 500.
    pub recent_requests: usize,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            enabled: true,
            flush_secs: 10,
            minute_retention_hours: 48,
            hour_retention_days: 90,
            day_retention_days: 730,
            recent_requests: 50,
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

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// How long a found key is served from memory before the store is asked again.
    pub ttl_secs: u64,
    /// How long an unknown key is remembered as unknown.
    pub negative_ttl_secs: u64,
    /// Upper bound on cached keys (found and unknown together).
    pub max_entries: usize,
    /// Upper bound on the cache's memory, MiB (each entry's estimated size: its record,
    /// identity headers and limits); whichever bound is reached first holds.
    pub max_mib: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl_secs: 30,
            negative_ttl_secs: 10,
            max_entries: 100_000,
            max_mib: 32,
        }
    }
}

/// Names of the identity headers sent on allow; an empty name turns that header off.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeaderConfig {
    pub user: String,
    pub token_id: String,
    pub token_name: String,
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
