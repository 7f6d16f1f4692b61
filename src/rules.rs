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

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

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

/// The request path as rules see it.
enum Readings<'a> {
    /// No rule names paths: the path is not looked at.
    Unused,
    /// Upstreams could read the path differently from keygate (see [`ambiguous`]): no
    /// path pattern matches it.
    Ambiguous,
    /// An encoded slash or backslash (`%2f`, `%5c`) is a path separator to some
    /// upstreams and part of a segment to others, so a path pattern must match the path
    /// read both ways: `/v1/..%2fadmin` cannot climb out of `/v1/*`, and
    /// `/admin%2f..%2fv1/x` cannot reach an upstream that routes on the raw `/admin`.
    Clear {
        raw: Cow<'a, str>,
        /// With `%2f`, `%5c` and `\` read as `/`; `None` when the path has none.
        separated: Option<String>,
    },
}

impl<'a> Readings<'a> {
    fn of(uri: &'a str) -> Self {
        let path = path_part(uri);
        if ambiguous(path) {
            return Readings::Ambiguous;
        }
        let raw = normalize(path);
        // From the path as sent: normalising first would let `..` remove the very
        // segment that holds the encoded separator (`/v1/..%2fv1/../admin`).
        let separated = decode_separators(path).map(|d| normalize(&d).into_owned());
        Readings::Clear { raw, separated }
    }
}

/// The path with `%2f`/`%5c` (either case) and `\` read as `/`; `None` when it has none.
fn decode_separators(path: &str) -> Option<String> {
    let b = path.as_bytes();
    let escape_at = |i: usize| {
        b[i] == b'%'
            && matches!(
                (b.get(i + 1), b.get(i + 2)),
                (Some(b'2'), Some(b'f' | b'F')) | (Some(b'5'), Some(b'c' | b'C'))
            )
    };
    if !(0..b.len()).any(|i| b[i] == b'\\' || escape_at(i)) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if escape_at(i) {
            out.push(b'/');
            i += 3;
        } else {
            out.push(if b[i] == b'\\' { b'/' } else { b[i] });
            i += 1;
        }
    }
    // ASCII replaced by ASCII: still UTF-8, the lossy conversion never replaces anything.
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Whether common upstreams could read `path` (no query) differently from keygate, in
/// a way that could move it to another place. True for:
/// - a control character, raw or percent-encoded (some servers cut at NUL or drop
///   tabs: `/v1/.%00./admin`, `.\t.`), and a raw space (a space is sent as `%20`);
/// - `;`, raw or encoded: Java servers (Tomcat, Jetty, Spring) drop `;parameters` from
///   segments, so `/v1/..;/admin` is `/admin` to them and `/v1/x;.json` is `/v1/x`;
/// - an encoded `?` or `#` (`%3f`, `%23`): a proxy that decodes the path before passing
///   it on turns `/v1/..%3f` into the path `/v1/..`;
/// - a `%` not followed by two hex digits (`%u002e` is a dot to IIS), and a `%` that is
///   itself encoded and followed by hex digits or `u` (`%252e`, `%25%32%65`): the
///   path means something else to upstreams that decode twice;
/// - after one decoding, bytes that are not UTF-8 (overlong forms such as `%c0%ae`,
///   `%e0%80%ae`, which lenient decoders read as `.`), and any non-ASCII character that
///   is not a letter or digit: punctuation, symbols, spaces and invisible characters,
///   among them the lookalikes of `.`, `/` and `\` that NFKC or confusable folding
///   turns into them (U+FF0E, U+2024, U+FE52, U+FF0F, U+2215, U+2044, U+FF3C, …);
/// - a segment of dots and spaces other than `.` and `..` (`...`, `.. `): Windows
///   servers trim trailing dots and spaces from names;
/// - a `.` or `..` segment written with `%2e` (see [`encoded_dot_segment`]), and a path
///   that does not start with `/`.
///
/// One pass over a plain ASCII path without `%`, no allocation; encoded paths are
/// decoded once into a buffer and checked again.
fn ambiguous(path: &str) -> bool {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return true;
    }
    let mut escaped = false;
    let mut seg = DotSegment::default();
    for (i, &c) in b.iter().enumerate() {
        match c {
            0..=0x20 | 0x7f | b';' => return true,
            b'%' => {
                let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return true;
                }
                escaped = true;
            }
            0x80.. => escaped = true,
            _ => {}
        }
        if seg.push(c) {
            return true;
        }
    }
    if seg.end() {
        return true;
    }
    escaped && (encoded_dot_segment(b) || ambiguous_decoded(&decode(b)))
}

/// A `.` or `..` segment written with `%2e`: resolved by keygate and by upstreams that
/// decode it, a plain name to those that do not, so `/admin/%2e%2e/v1/x` is `/v1/x` to
/// the first and under `/admin` to a proxy or router that matches the raw path.
fn encoded_dot_segment(b: &[u8]) -> bool {
    b.split(|c| matches!(c, b'/' | b'\\')).any(|seg| {
        let (mut dots, mut rest) = (0, seg);
        while !rest.is_empty() && dots <= 2 {
            rest = match rest {
                [b'.', r @ ..] => r,
                [b'%', b'2', b'e' | b'E', r @ ..] => r,
                _ => return false,
            };
            dots += 1;
        }
        seg.contains(&b'%') && rest.is_empty() && (1..=2).contains(&dots)
    })
}

/// The checks of [`ambiguous`] on the path decoded once.
fn ambiguous_decoded(d: &[u8]) -> bool {
    let mut seg = DotSegment::default();
    for (i, &c) in d.iter().enumerate() {
        match c {
            0..=0x1f | 0x7f | b';' | b'?' | b'#' => return true,
            b'%' if d.get(i + 1).is_some_and(|n| matches!(n, b'u' | b'U'))
                || (d.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && d.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) =>
            {
                return true;
            }
            _ => {}
        }
        if seg.push(c) {
            return true;
        }
    }
    if seg.end() {
        return true;
    }
    match std::str::from_utf8(d) {
        Ok(text) => text.chars().any(|c| !c.is_ascii() && !c.is_alphanumeric()),
        Err(_) => true,
    }
}

/// Percent-decoding of a path whose escapes are known to be well-formed.
fn decode(b: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let pair = (b[i] == b'%')
            .then(|| Some((hex(*b.get(i + 1)?)?, hex(*b.get(i + 2)?)?)))
            .flatten();
        match pair {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// Watches for segments made of dots and spaces only, other than `.` and `..`.
#[derive(Default)]
struct DotSegment {
    len: usize,
    only_dots: bool,
    other: bool,
}

impl DotSegment {
    /// Takes the next byte; true when it ends an odd segment.
    fn push(&mut self, c: u8) -> bool {
        match c {
            b'/' | b'\\' => {
                let odd = self.end();
                *self = DotSegment::default();
                odd
            }
            b'.' | b' ' => {
                if self.len == 0 {
                    self.only_dots = true;
                }
                self.only_dots &= c == b'.';
                self.len += 1;
                false
            }
            _ => {
                self.other = true;
                self.len += 1;
                false
            }
        }
    }

    /// True when the segment so far is odd.
    fn end(&self) -> bool {
        self.len > 0 && !self.other && !(self.only_dots && self.len <= 2)
    }
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

/// A host-name glob, stored in lower case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPattern(String);

impl HostPattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_'));
        if ok {
            Ok(HostPattern(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "host pattern `{s}` may only hold letters, digits, `.`, `-`, `_` and `*` \
                 (no scheme, port or path)"
            ))
        }
    }
}

impl HostPattern {
    /// The stricter check of new rules (stored ones keep loading as they are): dot-
    /// separated labels of at most 63 characters, none empty (`.`, `a..b`, `.com` and
    /// `example.com.` are refused), no label starting or ending with `-`.
    pub fn check_labels(&self) -> Result<(), String> {
        let s = &self.0;
        let bad = |why: &str| Err(format!("host pattern `{s}`: {why}"));
        if s == "*" {
            return Ok(());
        }
        for label in s.split('.') {
            if label.is_empty() {
                return bad("empty label (a leading, trailing or doubled `.`)");
            }
            if label.len() > 63 {
                return bad("a label is longer than 63 characters");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return bad("a label starts or ends with `-`");
            }
        }
        Ok(())
    }
}

impl TryFrom<String> for HostPattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        HostPattern::parse(&s)
    }
}

impl From<HostPattern> for String {
    fn from(h: HostPattern) -> String {
        h.0
    }
}

/// A path prefix or glob; always starts with `/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathPattern(String);

impl PathPattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        if !s.starts_with('/') {
            return Err(format!("path pattern `{s}` must start with `/`"));
        }
        if s.len() > MAX_PATTERN_LEN {
            return Err(format!(
                "path pattern is longer than {MAX_PATTERN_LEN} characters"
            ));
        }
        if s.contains('?') || s.contains('#') || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "path pattern `{s}` may not hold a query, a fragment, spaces or non-ASCII"
            ));
        }
        Ok(PathPattern(s.to_owned()))
    }

    fn matches(&self, path: &str) -> bool {
        let p = self.0.as_str();
        if p.contains('*') {
            return glob(p, path);
        }
        if p.ends_with('/') {
            return path.starts_with(p);
        }
        path == p || (path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/'))
    }
}

impl TryFrom<String> for PathPattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        PathPattern::parse(&s)
    }
}

impl From<PathPattern> for String {
    fn from(p: PathPattern) -> String {
        p.0
    }
}

/// An HTTP method name in upper case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Method(String);

impl Method {
    pub fn parse(s: &str) -> Result<Self, String> {
        if (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Method(s.to_ascii_uppercase()))
        } else {
            Err(format!("`{s}` is not an HTTP method"))
        }
    }
}

/// Methods new rules may name: RFC 9110's, PATCH, WebDAV's and the other registered ones
/// in use (IANA HTTP Method Registry), and PURGE (caches).
pub const KNOWN_METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "QUERY",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
    "MKCALENDAR",
    "ACL",
    "BIND",
    "UNBIND",
    "REBIND",
    "MERGE",
    "LABEL",
    "UPDATE",
    "CHECKIN",
    "CHECKOUT",
    "UNCHECKOUT",
    "MKWORKSPACE",
    "MKACTIVITY",
    "ORDERPATCH",
    "LINK",
    "UNLINK",
    "PURGE",
];

impl Method {
    /// The stricter check of new rules: a method from [`KNOWN_METHODS`] (`GETT` is
    /// refused rather than accepted and never matched).
    pub fn check_known(&self) -> Result<(), String> {
        if KNOWN_METHODS.contains(&self.0.as_str()) {
            Ok(())
        } else {
            Err(format!(
                "`{}` is not an HTTP method keygate knows (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, …)",
                self.0
            ))
        }
    }
}

impl TryFrom<String> for Method {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Method::parse(&s)
    }
}

impl From<Method> for String {
    fn from(m: Method) -> String {
        m.0
    }
}

/// `Host` header → lower-case host name without port or trailing dot.
pub fn host_only(raw: &str) -> Cow<'_, str> {
    let raw = raw.trim();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or("")
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                raw
            }
        })
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// The path of a request URI, without query or fragment, with `.`/`..` segments (also
/// percent-encoded ones) and repeated slashes resolved. Absolute URIs lose their
/// scheme and authority.
pub fn normalize_path(uri: &str) -> Cow<'_, str> {
    normalize(path_part(uri))
}

/// The path of a request URI: no query or fragment, no scheme and authority.
fn path_part(uri: &str) -> &str {
    let mut path = uri.split(['?', '#']).next().unwrap_or("");
    for scheme in ["http://", "https://"] {
        if let Some(rest) = path.strip_prefix(scheme) {
            path = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    path
}

/// [`normalize_path`] of a path that is already only a path.
fn normalize(path: &str) -> Cow<'_, str> {
    let suspicious = path.is_empty()
        || !path.starts_with('/')
        || path.contains("//")
        || path.contains("/.")
        || path.contains("%2e")
        || path.contains("%2E");
    if !suspicious {
        return Cow::Borrowed(path);
    }
    let decoded = path.replace("%2e", ".").replace("%2E", ".");
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "" => trailing = i == last && i != 0,
            "." => trailing = i == last,
            ".." => {
                out.pop();
                trailing = i == last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut s = String::with_capacity(decoded.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if trailing || s.is_empty() {
        s.push('/');
    }
    Cow::Owned(s)
}

/// Wildcard match where `*` stands for any run of characters (greedy with backtracking;
/// linear in practice, O(n·m) at worst with n, m ≤ 512).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(method: &'a str, host: &'a str, uri: &'a str) -> Target<'a> {
        Target { method, host, uri }
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
