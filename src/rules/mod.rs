//! Per-key allow-lists: which hosts, paths and methods a key may reach.
//!
//! A key with no rules may reach anything. Otherwise the request must match at least one
//! rule, and within a rule every non-empty field must match (an empty field matches
//! anything):
//! - **hosts**: globs on the host name, without port, case-insensitive
//!   (`api.example.com`, `*.example.com`);
//! - **paths**: a pattern with `*` is a glob (`*` spans any characters, `/` included:
//!   `/v1/*` matches `/v1/a/b`); a pattern without `*` matches that path and everything
//!   below it (`/v1` matches `/v1` and `/v1/x`, not `/v10`). The path is matched without
//!   its query string and after dot-segments (`/v1/../admin`, `%2e%2e`) and repeated
//!   slashes are resolved, so they cannot be used to climb out of an allowed prefix; a
//!   path that common upstreams could read differently from keygate (`;` parameters,
//!   double encoding, overlong UTF-8, Unicode lookalikes of `.` and `/`, controls: see
//!   `ambiguous` below) matches no path pattern;
//! - **methods**: upper-case method names, matched exactly (HTTP methods are
//!   case-sensitive, RFC 9110 §9.1: `get` is not `GET`).

use std::fmt;

use serde::{Deserialize, Serialize};

mod path;
mod pattern;

#[cfg(test)]
use path::ambiguous;
use path::{Readings, glob};
pub use path::{host_only, normalize_path};
pub use pattern::{HostPattern, KNOWN_METHODS, Method, PathPattern};

pub const MAX_RULES: usize = 32;
pub const MAX_PATTERNS: usize = 32;
const MAX_PATTERN_LEN: usize = 512;

/// One allow-list entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Host globs, e.g. `api.example.com`, `*.example.com` (any host when empty).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub hosts: Vec<HostPattern>,
    /// Path prefixes or globs, e.g. `/v1`, `/v1/*` (any path when empty).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub paths: Vec<PathPattern>,
    /// Methods, e.g. `GET` (any method when empty).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub methods: Vec<Method>,
}

/// The parts of the original request that rules look at.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub method: &'a str,
    /// As the proxy sent it: may carry a port and any case.
    pub host: &'a str,
    /// As the proxy sent it: may carry a query string and dot-segments.
    pub uri: &'a str,
    /// Permission queries the key must meet, all of them (a configured route's, one a
    /// trusted proxy named, `/verify`'s); usually none.
    pub needs: &'a [&'a crate::permissions::Need],
    /// Credits an allowed request spends (1; a route may say more, or 0 for a free
    /// one). Rate limits count requests whatever the cost.
    pub cost: u32,
}

/// True when `rules` let `target` through (no rules: everything passes).
pub fn allows(rules: &[Rule], target: &Target<'_>) -> bool {
    if rules.is_empty() {
        return true;
    }
    let host = host_only(target.host);
    let paths = if rules.iter().any(|r| !r.paths.is_empty()) {
        Readings::of(target.uri)
    } else {
        Readings::Unused
    };
    rules
        .iter()
        .any(|r| r.matches(target.method, &host, &paths))
}

/// The index of the first of `rules` that takes `target` (route and requirement tables,
/// where a rule with no patterns takes everything). The path is read once, and only when
/// a rule whose method and host match has paths to compare.
pub fn first_match(rules: &[Rule], target: &Target<'_>) -> Option<usize> {
    let host = host_only(target.host);
    let mut paths: Option<Readings<'_>> = None;
    rules.iter().position(|r| {
        let method_host = (r.methods.is_empty() || r.methods.iter().any(|m| m.0 == target.method))
            && (r.hosts.is_empty() || r.hosts.iter().any(|h| glob(&h.0, &host)));
        if !method_host {
            return false;
        }
        if r.paths.is_empty() {
            return true;
        }
        let read = paths.get_or_insert_with(|| Readings::of(target.uri));
        r.matches(target.method, &host, read)
    })
}

impl Rule {
    fn matches(&self, method: &str, host: &str, paths: &Readings<'_>) -> bool {
        let path = |path: &str| self.paths.iter().any(|p| p.matches(path));
        (self.methods.is_empty() || self.methods.iter().any(|m| m.0 == method))
            && (self.hosts.is_empty() || self.hosts.iter().any(|h| glob(&h.0, host)))
            && (self.paths.is_empty()
                || match paths {
                    Readings::Clear { raw, separated } => {
                        path(raw) && separated.as_deref().is_none_or(path)
                    }
                    Readings::Unused | Readings::Ambiguous => false,
                })
    }

    /// Parses the CLI form `hosts=a.example.com,*.b.com;paths=/v1/*;methods=GET,POST`.
    pub fn parse_spec(spec: &str) -> Result<Rule, String> {
        let mut rule = Rule::default();
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, values) = part
                .split_once('=')
                .ok_or_else(|| format!("rule part `{part}` is not field=value[,value…]"))?;
            let values = values.split(',').map(str::trim).filter(|v| !v.is_empty());
            match field.trim() {
                "hosts" | "host" => {
                    for v in values {
                        rule.hosts.push(HostPattern::parse(v)?);
                    }
                }
                "paths" | "path" => {
                    for v in values {
                        rule.paths.push(PathPattern::parse(v)?);
                    }
                }
                "methods" | "method" => {
                    for v in values {
                        rule.methods.push(Method::parse(v)?);
                    }
                }
                other => {
                    return Err(format!(
                        "unknown rule field `{other}` (expected hosts, paths or methods)"
                    ));
                }
            }
        }
        rule.validate()?;
        Ok(rule)
    }

    /// Checks limits and every pattern (for values that came in through serde).
    pub fn validate(&self) -> Result<(), String> {
        if self.hosts.is_empty() && self.paths.is_empty() && self.methods.is_empty() {
            return Err("a rule must name at least one of hosts, paths or methods".into());
        }
        for (name, n) in [
            ("hosts", self.hosts.len()),
            ("paths", self.paths.len()),
            ("methods", self.methods.len()),
        ] {
            if n > MAX_PATTERNS {
                return Err(format!("a rule may list at most {MAX_PATTERNS} {name}"));
            }
        }
        for h in &self.hosts {
            HostPattern::parse(&h.0)?.check_labels()?;
        }
        for p in &self.paths {
            PathPattern::parse(&p.0)?;
        }
        for m in &self.methods {
            Method::parse(&m.0)?.check_known()?;
        }
        Ok(())
    }
}

/// Validates a whole rule list.
pub fn validate_all(rules: &[Rule]) -> Result<(), String> {
    if rules.len() > MAX_RULES {
        return Err(format!("a key may have at most {MAX_RULES} rules"));
    }
    rules.iter().try_for_each(Rule::validate)
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let join = |v: Vec<&str>| v.join(",");
        if !self.hosts.is_empty() {
            parts.push(format!(
                "hosts={}",
                join(self.hosts.iter().map(|h| h.0.as_str()).collect())
            ));
        }
        if !self.paths.is_empty() {
            parts.push(format!(
                "paths={}",
                join(self.paths.iter().map(|p| p.0.as_str()).collect())
            ));
        }
        if !self.methods.is_empty() {
            parts.push(format!(
                "methods={}",
                join(self.methods.iter().map(|m| m.0.as_str()).collect())
            ));
        }
        f.write_str(&parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(method: &'a str, host: &'a str, uri: &'a str) -> Target<'a> {
        Target {
            method,
            host,
            uri,
            needs: &[],
            cost: 1,
        }
    }

    #[test]
    fn no_rules_allow_everything() {
        assert!(allows(&[], &t("DELETE", "x", "/anything")));
    }

    #[test]
    fn spec_parsing_and_matching() {
        let r = Rule::parse_spec("hosts=api.example.com;paths=/v1/*;methods=get,POST").unwrap();
        assert_eq!(
            r.to_string(),
            "hosts=api.example.com;paths=/v1/*;methods=GET,POST"
        );
        let rules = [r];
        assert!(allows(
            &rules,
            &t("GET", "API.Example.com:8443", "/v1/users?x=1")
        ));
        assert!(allows(&rules, &t("POST", "api.example.com", "/v1/a/b")));
        // Methods are case-sensitive (RFC 9110): `post` is another method.
        assert!(!allows(&rules, &t("post", "api.example.com", "/v1/a/b")));
        assert!(!allows(
            &rules,
            &t("DELETE", "api.example.com", "/v1/users")
        ));
        assert!(!allows(&rules, &t("GET", "other.example.com", "/v1/users")));
        assert!(!allows(&rules, &t("GET", "api.example.com", "/v2/users")));
        assert!(!allows(
            &rules,
            &t("GET", "api.example.com", "/v1/../admin")
        ));
        assert!(!allows(
            &rules,
            &t("GET", "api.example.com", "/v1/%2e%2e/admin")
        ));
        assert!(!allows(&rules, &t("GET", "api.example.com", "/v1")));
    }

    #[test]
    fn encoded_separators_cannot_climb_out() {
        let rules = [Rule::parse_spec("paths=/v1/*").unwrap()];
        for uri in [
            "/v1/..%2fadmin",
            "/v1/%2E%2E%2Fadmin",
            "/v1/x/..%2f..%2fadmin",
            "/v1/..%5cadmin",
            "/v1/..\\admin",
        ] {
            assert!(!allows(&rules, &t("GET", "h", uri)), "{uri}");
        }
        assert!(
            allows(&rules, &t("GET", "h", "/v1/a%2Fb")),
            "an encoded slash inside the prefix is fine"
        );
        let admin = [Rule::parse_spec("paths=/v1").unwrap()];
        assert!(
            !allows(&admin, &t("GET", "h", "/admin%2f..%2fv1/x")),
            "raw reading is checked too"
        );
    }

    #[test]
    fn hostile_paths_are_refused_when_paths_are_ruled() {
        use crate::fuzzing::{HOSTILE_PATHS, PLAIN_PATHS};
        let v1 = [Rule::parse_spec("paths=/v1/*").unwrap()];
        let v1_or_get = [
            Rule::parse_spec("paths=/v1/*").unwrap(),
            Rule::parse_spec("methods=GET").unwrap(),
        ];
        let host_only = [Rule::parse_spec("hosts=h").unwrap()];
        for uri in HOSTILE_PATHS {
            assert!(!allows(&v1, &t("GET", "h", uri)), "{uri} passed /v1/*");
            // A rule that does not look at paths still lets it through: only path
            // patterns refuse what upstreams read differently.
            assert!(allows(&v1_or_get, &t("GET", "h", uri)), "{uri}");
            assert!(!allows(&v1_or_get, &t("POST", "h", uri)), "{uri}");
            assert!(allows(&host_only, &t("GET", "h", uri)), "{uri}");
            assert!(allows(&[], &t("GET", "h", uri)), "{uri}");
        }
        for uri in PLAIN_PATHS {
            assert!(allows(&v1, &t("GET", "h", uri)), "{uri} refused by /v1/*");
        }
        // the same paths pass under their own prefix
        let root = [Rule::parse_spec("paths=/").unwrap()];
        assert!(allows(&root, &t("GET", "h", "/admin/x")));
        assert!(!allows(&root, &t("GET", "h", "/x;y")));
    }

    #[test]
    fn ambiguity_checks_one_by_one() {
        for (path, want) in [
            ("/v1/a", false),
            ("/v1/a%", true),
            ("/v1/a%2", true),
            ("/v1/a%zz", true),
            ("/v1/%2541", true),
            ("/v1/%25", false),
            ("/v1/%25zz", false),
            ("/v1/a\u{7f}", true),
            ("/v1/\u{e9}t\u{e9}", false),
            ("/v1/\u{200b}", true),
            ("/v1/\u{202e}x", true),
            ("/v1/%e2%80%8b", true),
            ("/v1/.", false),
            ("/v1/..", false),
            ("/v1/a..", false),
            ("/v1/...", true),
            ("/v1/.../", true),
            ("/v1/. /x", true),
            ("/v1/%2e/x", true),
            ("/v1/.%2E", true),
            ("/v1/%2e%2e%2e", true),
            ("/v1/%2ex", false),
            ("/v1/x%2e", false),
            ("%2E/v1/x", true),
            ("v1/x", true),
            ("", true),
        ] {
            assert_eq!(ambiguous(path), want, "{path}");
        }
    }

    #[test]
    fn any_rule_may_match() {
        let rules = [
            Rule::parse_spec("paths=/public").unwrap(),
            Rule::parse_spec("methods=GET").unwrap(),
        ];
        assert!(allows(&rules, &t("POST", "h", "/public/x")));
        assert!(allows(&rules, &t("GET", "h", "/private")));
        assert!(!allows(&rules, &t("POST", "h", "/publicity")));
    }

    #[test]
    fn host_globs() {
        let rules = [Rule::parse_spec("hosts=*.example.com").unwrap()];
        assert!(allows(&rules, &t("GET", "a.example.com", "/")));
        assert!(allows(&rules, &t("GET", "a.b.example.com.", "/")));
        assert!(!allows(&rules, &t("GET", "example.com", "/")));
        assert!(!allows(&rules, &t("GET", "example.com.evil.net", "/")));
        assert_eq!(host_only("[::1]:8080"), "::1");
        assert_eq!(host_only("Example.COM"), "example.com");
    }

    #[test]
    fn path_normalisation() {
        assert_eq!(normalize_path("/a/b?c=/d"), "/a/b");
        assert_eq!(normalize_path("/a//b/./c/../d"), "/a/b/d");
        assert_eq!(normalize_path("/a/b/"), "/a/b/");
        assert_eq!(normalize_path("/../../etc"), "/etc");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("http://h:1/x/y?z"), "/x/y");
        assert_eq!(normalize_path("/x/.."), "/");
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("/v1/*/items", "/v1/42/items"));
        assert!(glob(&"*a".repeat(50), &"a".repeat(512)));
    }

    #[test]
    fn stored_rules_stay_readable_new_ones_are_strict() {
        // A record written before the stricter checks still loads (and never matches
        // the unknown method); a new rule with it is refused.
        let old: Rule = serde_json::from_str(r#"{"hosts":["a..b"],"methods":["GETT"]}"#).unwrap();
        assert!(old.validate().is_err());
        assert!(Rule::parse_spec("hosts=*.example.com,api.example.com;methods=get,PURGE").is_ok());
        assert!(Rule::parse_spec("hosts=*").is_ok());
    }

    #[test]
    fn bad_specs_say_why() {
        for (spec, why) in [
            ("hosts", "field=value"),
            ("colour=red", "unknown rule field"),
            ("paths=v1", "must start with `/`"),
            ("methods=G3T", "not an HTTP method"),
            ("methods=GETT", "not an HTTP method keygate knows"),
            ("hosts=https://x.com", "no scheme"),
            ("hosts=.", "empty label"),
            ("hosts=a..example.com", "empty label"),
            ("hosts=.example.com", "empty label"),
            ("hosts=example.com.", "empty label"),
            ("hosts=-a.example.com", "starts or ends with `-`"),
            ("", "at least one"),
        ] {
            let e = Rule::parse_spec(spec).unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn serde_validates() {
        let ok: Rule = serde_json::from_str(r#"{"paths":["/v1/*"],"methods":["get"]}"#).unwrap();
        assert_eq!(ok.methods[0].0, "GET");
        assert!(serde_json::from_str::<Rule>(r#"{"paths":["v1"]}"#).is_err());
        assert!(serde_json::from_str::<Rule>(r#"{"paths":["/"],"colour":1}"#).is_err());
    }
}
