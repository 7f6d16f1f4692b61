//! The route table: the operator's `[[proxy.routes]]`, then `proxy.upstream` as the
//! catch-all. The first route whose host, path and method patterns match a request
//! takes it; a request no route matches is answered 404 and goes nowhere.

use std::time::Duration;

use axum::http::HeaderValue;

use super::upstream::Upstream;
use crate::config::{ProxyConfig, RouteConfig, UpstreamUrl};
use crate::rules::{Rule, Target};

pub struct Route {
    /// In metrics and the access log.
    pub name: String,
    /// Its place in the table (the metrics' index).
    pub index: usize,
    rule: Rule,
    pub url: UpstreamUrl,
    /// `Host` for the upstream when the client's is not passed.
    pub authority: HeaderValue,
    pub public: bool,
    pub keep_credential: bool,
    pub pass_host: bool,
    /// What a key must hold for this route (`permissions`).
    pub needs: Option<crate::permissions::Need>,
    pub upstream: Upstream,
}

pub struct Routes(Vec<Route>, Vec<Rule>);

impl Routes {
    pub fn new(c: &ProxyConfig) -> Result<Self, String> {
        let tls = super::upstream::tls_config(c)?;
        let mut configs: Vec<RouteConfig> = c.routes.clone();
        if !c.upstream.is_empty() {
            configs.push(RouteConfig {
                name: "upstream".into(),
                upstream: c.upstream.clone(),
                ..RouteConfig::default()
            });
        }
        let mut routes = Vec::with_capacity(configs.len());
        for (i, r) in configs.iter().enumerate() {
            let at = format!("proxy.routes[{}]", i + 1);
            let url = UpstreamUrl::parse(&r.upstream).map_err(|e| format!("{at}.upstream: {e}"))?;
            let authority =
                HeaderValue::from_str(&url.authority).map_err(|e| format!("{at}.upstream: {e}"))?;
            let connect =
                Duration::from_millis(r.connect_timeout_ms.unwrap_or(c.connect_timeout_ms));
            let response =
                Duration::from_millis(r.response_timeout_ms.unwrap_or(c.response_timeout_ms));
            routes.push(Route {
                name: if r.name.is_empty() {
                    format!("route{}", i + 1)
                } else {
                    r.name.clone()
                },
                index: i,
                rule: r.rule().map_err(|e| format!("{at}: {e}"))?,
                url,
                authority,
                public: r.public,
                keep_credential: r.keep_credential.unwrap_or(c.keep_credential),
                pass_host: r.pass_host.unwrap_or(c.pass_host),
                needs: r
                    .needs()
                    .map_err(|e| format!("{at}.permissions: {e}"))?
                    .map(crate::permissions::Need::new),
                upstream: Upstream::new(c, tls.clone(), connect, response),
            });
        }
        let rules = routes.iter().map(|r| r.rule.clone()).collect();
        Ok(Routes(routes, rules))
    }

    pub fn find(&self, target: &Target<'_>) -> Option<&Route> {
        crate::rules::first_match(&self.1, target).and_then(|i| self.0.get(i))
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|r| r.name.as_str()).collect()
    }
}
