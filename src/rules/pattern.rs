//! The patterns a rule is made of: host globs, path prefixes and globs, method names.
//! Parsed once (serde and the CLI form); a value of these types is valid.

use serde::{Deserialize, Serialize};

use super::MAX_PATTERN_LEN;
use super::path::glob;

/// A host-name glob, stored in lower case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPattern(pub(super) String);

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
    /// The glob as stored (lower case).
    pub fn as_str(&self) -> &str {
        &self.0
    }

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
pub struct PathPattern(pub(super) String);

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

    /// The pattern as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(super) fn matches(&self, path: &str) -> bool {
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
pub struct Method(pub(super) String);

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
    /// The method name (upper case).
    pub fn as_str(&self) -> &str {
        &self.0
    }

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
