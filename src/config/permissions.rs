//! `[permissions]`: what proxied requests require of a key (by host, path and method, or
//! named by a trusted proxy in a header), and whether a key's permissions go upstream.

use serde::{Deserialize, Serialize};

use crate::permissions::{Need, Query};
use crate::rules::Rule;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PermissionsConfig {
    /// The request header through which a trusted proxy (`trusted_proxies`) names what a
    /// request requires, as a query; empty: not read. From any other address it is
    /// ignored (and logged).
    pub header: String,
    /// The header that carries a key's effective permissions upstream on allow
    /// (comma-separated); empty: not sent.
    pub upstream_header: String,
    /// Requirements by host, path and method: the first that matches the forwarded
    /// request applies (with the header's, when both are there).
    pub require: Vec<RequireConfig>,
}

impl Default for PermissionsConfig {
    fn default() -> Self {
        PermissionsConfig {
            header: "X-Keygate-Require".into(),
            upstream_header: String::new(),
            require: Vec::new(),
        }
    }
}

/// One `[[permissions.require]]` entry: patterns as in a key's rules (none: every
/// request), and the query a key must meet.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RequireConfig {
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub methods: Vec<String>,
    pub query: String,
}

/// A requirement ready for the gate: which requests, and what they need.
#[derive(Clone, Debug)]
pub struct Requirement {
    pub rule: Rule,
    pub need: Need,
}

impl PermissionsConfig {
    /// Every setting checked, each error naming it.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("permissions.header", &self.header),
            ("permissions.upstream_header", &self.upstream_header),
        ] {
            if !v.is_empty() && axum::http::HeaderName::try_from(v.as_str()).is_err() {
                return Err(format!("{name}: `{v}` is not a header name"));
            }
        }
        self.requirements().map(|_| ())
    }

    /// The `[[permissions.require]]` table, compiled.
    pub fn requirements(&self) -> Result<Vec<Requirement>, String> {
        self.require
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("permissions.require[{}]", i + 1);
                Ok(Requirement {
                    rule: pattern_rule(&r.hosts, &r.paths, &r.methods)
                        .map_err(|e| format!("{at}: {e}"))?,
                    need: Need::new(parse_query(&r.query).map_err(|e| format!("{at}.query: {e}"))?),
                })
            })
            .collect()
    }
}

/// A configured query (an empty one is an error: leave the entry out instead).
pub fn parse_query(q: &str) -> Result<Query, String> {
    if q.trim().is_empty() {
        return Err("a query is required (e.g. `docs.read`)".into());
    }
    Query::parse(q).map_err(|e| e.to_string())
}

/// A rule of host, path and method patterns; none at all takes every request (a key's
/// rule must name something, a route's or requirement's need not).
pub(super) fn pattern_rule(
    hosts: &[String],
    paths: &[String],
    methods: &[String],
) -> Result<Rule, String> {
    let rule = Rule {
        hosts: parse_all(hosts, crate::rules::HostPattern::parse)?,
        paths: parse_all(paths, crate::rules::PathPattern::parse)?,
        methods: parse_all(methods, crate::rules::Method::parse)?,
    };
    if rule != Rule::default() {
        rule.validate()?;
    }
    Ok(rule)
}

fn parse_all<T>(v: &[String], f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    v.iter().map(|s| f(s)).collect()
}
