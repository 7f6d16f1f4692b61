//! Reading the path (and host) of a request the way upstreams may: canonical form (dot
//! segments and repeated slashes resolved, query cut), the second reading with encoded
//! separators decoded, and the shapes that upstreams read differently from keygate
//! (refused under path rules).

use std::borrow::Cow;

/// The request path as rules see it.
pub(super) enum Readings<'a> {
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
    pub(super) fn of(uri: &'a str) -> Self {
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
pub(super) fn decode_separators(path: &str) -> Option<String> {
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
pub(super) fn ambiguous(path: &str) -> bool {
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
pub(super) fn encoded_dot_segment(b: &[u8]) -> bool {
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
pub(super) fn ambiguous_decoded(d: &[u8]) -> bool {
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
pub(super) fn decode(b: &[u8]) -> Vec<u8> {
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
pub(super) struct DotSegment {
    len: usize,
    only_dots: bool,
    other: bool,
}

impl DotSegment {
    /// Takes the next byte; true when it ends an odd segment.
    pub(super) fn push(&mut self, c: u8) -> bool {
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
    pub(super) fn end(&self) -> bool {
        self.len > 0 && !self.other && !(self.only_dots && self.len <= 2)
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
pub(super) fn path_part(uri: &str) -> &str {
    let mut path = uri.split(['?', '#']).next().unwrap_or("");
    for scheme in ["http://", "https://"] {
        if let Some(rest) = path.strip_prefix(scheme) {
            path = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    path
}

/// [`normalize_path`] of a path that is already only a path.
pub(super) fn normalize(path: &str) -> Cow<'_, str> {
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
pub(super) fn glob(pattern: &str, text: &str) -> bool {
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
