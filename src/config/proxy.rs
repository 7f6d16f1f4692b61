//! `[proxy]`: keygate as the reverse proxy in front of a service (inline mode).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::rules::Rule;

/// The inline proxy. Off unless `upstream` or a route is set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// One protected service (`http://127.0.0.1:3000`): a route for every request,
    /// tried after `routes`. Empty: none.
    pub upstream: String,
    /// Where the proxy listens; empty: the main `address`.
    pub address: String,
    pub port: u16,
    /// Host / path / method patterns (as in key rules) to upstreams; the first that
    /// matches a request takes it.
    pub routes: Vec<RouteConfig>,
    /// PEM certificate chain and private key: the proxy port speaks TLS (HTTP/2 and
    /// HTTP/1.1 by ALPN). Both or neither.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// How often the certificate files are looked at for a change.
    pub tls_reload_secs: u64,
    /// PEM file of the CA(s) that signed `https://` upstreams' certificates; unset: the
    /// system's trusted roots.
    pub upstream_ca_file: Option<PathBuf>,
    /// Defaults of every route: connect to the upstream within, and its response head
    /// within (after the request was sent; a streaming body may take longer).
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
    /// Send the client's `Host` upstream (else the upstream URL's host and port).
    pub pass_host: bool,
    /// Forward the key to the upstream (else it is removed: header, Basic, key header
    /// or query parameter).
    pub keep_credential: bool,
    /// Threads serving the proxy port, each with a runtime and upstream pools of its
    /// own (0: one per core).
    pub workers: usize,
    /// Idle keep-alive connections kept per upstream, and how long.
    pub pool_max_idle: usize,
    pub pool_idle_secs: u64,
    /// Signs a short-lived JWT naming the caller and sends it upstream.
    pub assertion: AssertionConfig,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            upstream: String::new(),
            address: String::new(),
            port: 8081,
            routes: Vec::new(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_reload_secs: 10,
            upstream_ca_file: None,
            connect_timeout_ms: 5_000,
            response_timeout_ms: 60_000,
            pass_host: true,
            keep_credential: false,
            workers: 0,
            pool_max_idle: 256,
            pool_idle_secs: 60,
            assertion: AssertionConfig::default(),
        }
    }
}

/// One `[[proxy.routes]]` entry; unset fields take `[proxy]`'s.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// In metrics and the access log (default: `route<N>`, N from 1).
    pub name: String,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub methods: Vec<String>,
    pub upstream: String,
    /// No key asked (health checks, docs).
    pub public: bool,
    pub keep_credential: Option<bool>,
    pub pass_host: Option<bool>,
    pub connect_timeout_ms: Option<u64>,
    pub response_timeout_ms: Option<u64>,
    /// What a key must hold for this route, as a permissions query (empty: nothing).
    pub permissions: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AssertionConfig {
    pub enabled: bool,
    /// The request header that carries it upstream.
    pub header: String,
    /// Lifetime of each assertion.
    pub ttl_secs: u64,
    /// Its `aud` claim (empty: none).
    pub audience: String,
    /// Its `iss` claim.
    pub issuer: String,
    /// PKCS#8 PEM Ed25519 signing key; unset: one generated and kept in the store.
    pub key_file: Option<PathBuf>,
}

impl Default for AssertionConfig {
    fn default() -> Self {
        AssertionConfig {
            enabled: false,
            header: "X-Keygate-Assertion".into(),
            ttl_secs: 60,
            audience: String::new(),
            issuer: "keygate".into(),
            key_file: None,
        }
    }
}

/// An upstream URL taken apart: `http` or `https`, `host[:port]`, and a base path
/// (without a trailing `/`; empty for none) put before every forwarded path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub https: bool,
    pub authority: String,
    pub base: String,
}

impl UpstreamUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (https, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("`{s}` is not an http:// or https:// URL"));
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(format!("`{s}` names no host"));
        }
        if authority.contains('@') {
            return Err(format!("`{s}`: credentials in the URL are not supported"));
        }
        if path.contains(['?', '#']) {
            return Err(format!("`{s}`: a query or fragment has no meaning here"));
        }
        let parsed = authority
            .parse::<axum::http::uri::Authority>()
            .map_err(|e| format!("`{s}`: {e}"))?;
        // `Authority` takes any digits after the colon.
        let port_text = parsed
            .as_str()
            .rsplit_once(':')
            .map(|(_, p)| p)
            .filter(|p| !p.contains(']'));
        if let Some(p) = port_text
            && !matches!(p.parse::<u16>(), Ok(1..))
        {
            return Err(format!("`{s}`: `{p}` is not a port"));
        }
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "`{s}`: the path must be plain ASCII without spaces"
            ));
        }
        Ok(UpstreamUrl {
            https,
            authority: authority.to_owned(),
            base: path.trim_end_matches('/').to_owned(),
        })
    }
}

impl RouteConfig {
    /// The patterns as a rule (the same parsing as a key's rules).
    pub fn rule(&self) -> Result<Rule, String> {
        super::permissions::pattern_rule(&self.hosts, &self.paths, &self.methods)
    }

    /// The route's `permissions` query, when it has one.
    pub fn needs(&self) -> Result<Option<crate::permissions::Query>, String> {
        if self.permissions.is_empty() {
            return Ok(None);
        }
        super::permissions::parse_query(&self.permissions).map(Some)
    }
}

impl ProxyConfig {
    pub fn enabled(&self) -> bool {
        !self.upstream.is_empty() || !self.routes.is_empty()
    }

    /// Checks every route and setting; messages name the setting.
    pub fn check(&self) -> Result<(), String> {
        if !self.upstream.is_empty() {
            UpstreamUrl::parse(&self.upstream).map_err(|e| format!("proxy.upstream: {e}"))?;
        }
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("proxy.routes[{}]", i + 1);
            UpstreamUrl::parse(&r.upstream).map_err(|e| format!("{at}.upstream: {e}"))?;
            r.rule().map_err(|e| format!("{at}: {e}"))?;
            r.needs().map_err(|e| format!("{at}.permissions: {e}"))?;
            if r.public && !r.permissions.is_empty() {
                return Err(format!(
                    "{at}: a public route asks for no key, so it cannot require permissions"
                ));
            }
            if !r.name.is_empty() && !valid_name(&r.name) {
                return Err(format!(
                    "{at}.name: `{}` must be 1-64 of a-z A-Z 0-9 . _ -",
                    r.name
                ));
            }
            if r.connect_timeout_ms == Some(0) || r.response_timeout_ms == Some(0) {
                return Err(format!("{at}: timeouts must be above 0"));
            }
        }
        let mut names: Vec<&str> = self.routes.iter().map(|r| r.name.as_str()).collect();
        names.retain(|n| !n.is_empty());
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("proxy.routes: two routes are named `{}`", w[0]));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("proxy.tls_cert_file and proxy.tls_key_file go together".into());
        }
        if self.connect_timeout_ms == 0 || self.response_timeout_ms == 0 {
            return Err(
                "proxy.connect_timeout_ms and proxy.response_timeout_ms must be above 0".into(),
            );
        }
        if self.workers > 1024 {
            return Err("proxy.workers: at most 1024".into());
        }
        if self.tls_reload_secs == 0 {
            return Err("proxy.tls_reload_secs must be above 0".into());
        }
        if self.enabled() && self.port == 0 {
            return Err("proxy.port: 0 is not a port".into());
        }
        let a = &self.assertion;
        if a.enabled {
            axum::http::HeaderName::from_bytes(a.header.as_bytes()).map_err(|_| {
                format!(
                    "proxy.assertion.header: `{}` is not a header name",
                    a.header
                )
            })?;
            if !(1..=3600).contains(&a.ttl_secs) {
                return Err("proxy.assertion.ttl_secs: between 1 and 3600".into());
            }
        }
        Ok(())
    }
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let u = UpstreamUrl::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(
            (u.https, u.authority.as_str(), u.base.as_str()),
            (false, "127.0.0.1:3000", "")
        );
        let u = UpstreamUrl::parse("https://api.internal/v2/").unwrap();
        assert_eq!(
            (u.https, u.authority.as_str(), u.base.as_str()),
            (true, "api.internal", "/v2")
        );
        for bad in [
            "",
            "ftp://x",
            "http://",
            "http:///x",
            "http://u:p@h",
            "http://h/?q",
            "http://h/#f",
            "http://h h",
            "http://h:99999",
            "http://h:0",
            "http://h/a b",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_are_checked() {
        let mut c = ProxyConfig {
            routes: vec![RouteConfig {
                upstream: "http://127.0.0.1:1".into(),
                paths: vec!["/health".into()],
                ..RouteConfig::default()
            }],
            ..ProxyConfig::default()
        };
        assert!(c.check().is_ok());
        c.routes[0].methods = vec!["BAD METHOD".into()];
        assert!(c.check().unwrap_err().starts_with("proxy.routes[1]"));
        c.routes[0].methods.clear();
        c.routes.push(c.routes[0].clone());
        c.routes[0].name = "a".into();
        c.routes[1].name = "a".into();
        assert!(c.check().unwrap_err().contains("two routes"));
        c.routes[1].name = "a b".into();
        assert!(c.check().unwrap_err().contains(".name"));
        c.routes.truncate(1);
        c.tls_cert_file = Some("x".into());
        assert!(c.check().unwrap_err().contains("go together"));
    }
}
