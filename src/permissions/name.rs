//! Permission and role names: the alphabet, the bounds, and what a granted permission
//! covers (wildcards).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest permission name, in bytes.
pub const MAX_PERMISSION_LEN: usize = 128;
/// Most segments a permission name has.
pub const MAX_SEGMENTS: usize = 16;
/// Longest role name, in bytes.
pub const MAX_ROLE_NAME_LEN: usize = 64;

/// A permission name such as `billing.read` or `docs.*`: segments of `[A-Za-z0-9_:-]`
/// separated by `.`, or `*` as a whole segment.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permission(Box<str>);

fn segment_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-')
}

/// Why a name is not a permission, and at which byte (0-based).
pub(crate) fn permission_error(s: &str) -> Option<(usize, String)> {
    if s.is_empty() {
        return Some((0, "a permission name is empty".into()));
    }
    if s.len() > MAX_PERMISSION_LEN {
        return Some((
            MAX_PERMISSION_LEN,
            format!("a permission name is at most {MAX_PERMISSION_LEN} characters"),
        ));
    }
    let mut at = 0;
    for (i, seg) in s.split('.').enumerate() {
        if i >= MAX_SEGMENTS {
            return Some((
                at,
                format!("a permission has at most {MAX_SEGMENTS} segments"),
            ));
        }
        if seg.is_empty() {
            return Some((at, "an empty segment (two dots, or a dot at an end)".into()));
        }
        if seg != "*"
            && let Some(j) = seg.bytes().position(|b| !segment_char(b))
        {
            let c = seg[j..].chars().next().unwrap_or('?');
            return Some((
                at + j,
                format!(
                    "`{}` may not be in a permission (letters, digits, `_`, `:`, `-`, \
                     segments separated by `.`, `*` as a whole segment)",
                    c.escape_debug()
                ),
            ));
        }
        at += seg.len() + 1;
    }
    None
}

impl Permission {
    pub fn parse(s: &str) -> Result<Self, String> {
        match permission_error(s) {
            None => Ok(Permission(s.into())),
            Some((at, why)) => Err(format!(
                "`{}` is not a permission: at position {}: {why}",
                shown(s),
                at + 1
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether holding `self` grants `wanted`. A `*` segment matches any one segment;
    /// a trailing `*` matches one or more. `wanted` may hold wildcards too: it is then
    /// granted only by a permission at least as wide.
    pub fn covers(&self, wanted: &str) -> bool {
        covers(&self.0, wanted)
    }

    /// Whether the name holds a wildcard segment.
    pub fn is_wild(&self) -> bool {
        is_wild(&self.0)
    }
}

pub(crate) fn is_wild(s: &str) -> bool {
    s == "*" || s.starts_with("*.") || s.ends_with(".*") || s.contains(".*.")
}

/// See [`Permission::covers`].
pub fn covers(granted: &str, wanted: &str) -> bool {
    if granted == wanted {
        return true;
    }
    let mut g = granted.split('.').peekable();
    let mut w = wanted.split('.');
    while let Some(gs) = g.next() {
        let last = g.peek().is_none();
        match w.next() {
            None => return false,
            Some(ws) => {
                if gs == "*" {
                    if last {
                        return true;
                    }
                } else if gs != ws {
                    return false;
                }
            }
        }
    }
    w.next().is_none()
}

impl TryFrom<String> for Permission {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Permission::parse(&s)
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.0.into()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role's name: 1–64 characters of `[A-Za-z0-9_.:-]`, beginning with a letter or digit.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleName(Box<str>);

impl RoleName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let first_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if !first_ok || s.len() > MAX_ROLE_NAME_LEN {
            return Err(format!(
                "`{}` is not a role name (1 to {MAX_ROLE_NAME_LEN} characters, beginning with \
                 a letter or digit)",
                shown(s)
            ));
        }
        if let Some(j) = s.bytes().position(|b| !(segment_char(b) || b == b'.')) {
            let c = s[j..].chars().next().unwrap_or('?');
            return Err(format!(
                "`{}` is not a role name: at position {}: `{}` may not be in a role name \
                 (letters, digits, `_`, `.`, `:`, `-`)",
                shown(s),
                j + 1,
                c.escape_debug()
            ));
        }
        Ok(RoleName(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoleName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        RoleName::parse(&s)
    }
}

impl From<RoleName> for String {
    fn from(p: RoleName) -> String {
        p.0.into()
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// At most 80 characters of `s`, control characters escaped: for messages.
pub(crate) fn shown(s: &str) -> String {
    s.chars().take(80).flat_map(char::escape_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "billing.read",
            "*",
            "docs.*",
            "a",
            "repo:42.write",
            "a.*.c",
            "A-b_c",
        ] {
            assert!(Permission::parse(ok).is_ok(), "{ok}");
        }
        for (bad, pos) in [
            ("", 1),
            ("a..b", 3),
            (".a", 1),
            ("a.", 3),
            ("a b", 2),
            ("a.b*", 4),
            ("docs.ré", 7),
        ] {
            let e = Permission::parse(bad).unwrap_err();
            assert!(e.contains(&format!("at position {pos}:")), "{bad}: {e}");
        }
        assert!(Permission::parse(&"a".repeat(129)).is_err());
        assert!(Permission::parse(&vec!["a"; 17].join(".")).is_err());
        assert!(Permission::parse(&vec!["a"; 16].join(".")).is_ok());
        assert!(RoleName::parse("docs-reader").is_ok());
        assert!(RoleName::parse("team.payments:admin").is_ok());
        for bad in ["", "-x", "a b", "a*", &"r".repeat(65)] {
            assert!(RoleName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards() {
        let yes = [
            ("billing.read", "billing.read"),
            ("billing.*", "billing.read"),
            ("billing.*", "billing.invoices.read"),
            ("billing.*", "billing.*"),
            ("*", "anything.at.all"),
            ("*", "*"),
            ("a.*.c", "a.b.c"),
            ("a.*.c", "a.*.c"),
        ];
        for (g, w) in yes {
            assert!(covers(g, w), "{g} should cover {w}");
        }
        let no = [
            ("billing.read", "billing.write"),
            ("billing.*", "billing"),
            ("billing.read", "billing.*"),
            ("billing.read", "billing.read.all"),
            ("a.*.c", "a.b.d"),
            ("a.*.c", "a.b.c.d"),
            ("a.b", "a"),
        ];
        for (g, w) in no {
            assert!(!covers(g, w), "{g} should not cover {w}");
        }
    }
}
