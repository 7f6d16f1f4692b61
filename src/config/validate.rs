//! Checking a configuration as a whole: every value in range, settings that must come
//! together, and what each section turns into (limit specs, addresses, URLs), with
//! errors that name the setting.

use super::{Config, ConfigError, redact_url_password};

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
        if let Err(e) = self.proxy.check() {
            return bad(e);
        }
        if let Err(e) = self.permissions.check() {
            return bad(e);
        }
        if let Err(e) = self.events.check() {
            return bad(e);
        }
        if let Err(e) = self.leaks.check() {
            return bad(e);
        }
        if let Err(e) = self.grpc.check() {
            return bad(e);
        }
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
        if self.cache.max_mib == 0 || self.cache.max_mib > 1 << 20 {
            return bad("cache.max_mib must be between 1 and 1048576".into());
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
        if a.recent_requests > 500 {
            return bad("analytics.recent_requests must be 0 (none kept) to 500".into());
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
