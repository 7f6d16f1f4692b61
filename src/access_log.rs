//! One access line per decision: allows at `INFO`, refusals at `WARN`, target
//! `keygate::access`. Never the presented key, never a hash of it: the configured query
//! parameter's values and anything shaped like a keygate key (`kg_` and 49 letters or
//! digits, `_` also as `%5F`), wherever it appears, are logged as `[redacted]`. What
//! comes from the client is cut to `original_length` / `metadata_length` characters,
//! its control characters (and Unicode line separators) replaced, and `"` and `\`
//! escaped in both formats, so it can neither flood nor forge log lines or fields.
//!
//! Lines are formatted here by hand (JSON or text, like `tracing`'s) into a reused
//! per-thread buffer and handed to the [`LogSink`], which a background thread writes
//! out: the request path makes no system call and no allocation for its line.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;

use crate::decide::Known;
use crate::logsink::LogSink;
use crate::metrics::{Endpoint, Outcome};
use crate::rules::Target;

/// How much of each client-supplied value is logged.
#[derive(Clone, Debug)]
pub struct LogLimits {
    pub original_length: usize,
    pub metadata_length: usize,
    pub metadata_header: Option<HeaderName>,
    /// The key prefix (`kg`): anything shaped like a key is redacted wherever it is.
    pub key_prefix: String,
    /// The query parameter that may carry a key: its values are redacted.
    pub query_param: Option<String>,
}

/// Where access lines go and how they look.
#[derive(Clone)]
pub struct AccessLog {
    pub sink: Arc<LogSink>,
    pub json: bool,
}

/// Characters that may not reach a log line as they are: controls (newlines, escape
/// sequences) and the Unicode line and paragraph separators.
fn unsafe_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// At most `n` characters of `s`, control characters replaced.
pub fn clip(s: &str, n: usize) -> String {
    s.chars()
        .take(n)
        .map(|c| if unsafe_char(c) { '\u{FFFD}' } else { c })
        .collect()
}

/// A line being written: bytes (the sink takes bytes), pushed as `String` would.
#[derive(Default)]
struct Buf(Vec<u8>);

impl Buf {
    fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    fn push(&mut self, c: char) {
        if c.is_ascii() {
            self.0.push(c as u8);
        } else {
            self.push_str(c.encode_utf8(&mut [0; 4]));
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

impl std::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// Byte classes for the one pass over a value ([`scan`]).
const UNSAFE: u8 = 1;
const ALNUM: u8 = 2;
const QUERY: u8 = 4;

/// Per byte: [`UNSAFE`] for what may not be copied as it is (controls, `"`, `\\`,
/// anything not ASCII), [`ALNUM`] for letters and digits (a key's body), [`QUERY`] for
/// `?` (a query string, where the key's parameter may be).
const CLASS: [u8; 256] = {
    let mut t = [UNSAFE; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = if (b as u8).is_ascii_alphanumeric() {
            ALNUM
        } else if b == b'?' as usize {
            QUERY
        } else if b == b'"' as usize || b == b'\\' as usize {
            UNSAFE
        } else {
            0
        };
        b += 1;
    }
    t
};

/// One pass over a value: the classes it holds and its longest run of letters and
/// digits.
fn scan(s: &[u8]) -> (u8, usize) {
    let (mut seen, mut run, mut longest) = (0u8, 0usize, 0usize);
    for &b in s {
        let c = CLASS[usize::from(b)];
        seen |= c;
        if c & ALNUM != 0 {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    (seen, longest)
}

/// Appends a client's value, redacted, then cut to `n` characters and escaped (see
/// [`put`]). Most values (a method, a host, a path, an address) have nothing to
/// redact, cut or escape, which one pass over their bytes tells: they are copied whole.
fn put_client(out: &mut Buf, s: &str, n: usize, limits: &LogLimits) {
    // Too short to hold a key's body, and no query parameter to look for: only the
    // escaping matters.
    if s.len() < crate::token::BODY_LEN && s.len() <= n && limits.query_param.is_none() {
        return put(out, s, n);
    }
    let (seen, longest) = scan(s.as_bytes());
    // A key needs a run of a key body's letters and digits; the query parameter, a `?`.
    let may_redact =
        longest >= crate::token::BODY_LEN || (seen & QUERY != 0 && limits.query_param.is_some());
    if !may_redact && seen & UNSAFE == 0 && s.len() <= n {
        out.push_str(s);
    } else if may_redact {
        put(out, &redact(s, limits), n);
    } else {
        put(out, s, n);
    }
}

/// Appends at most `n` characters of `s` as the content of a quoted value: control
/// characters replaced, `"` and `\\` escaped (the same escaping in JSON and text, so
/// a value can never end its field early).
fn put(out: &mut Buf, s: &str, n: usize) {
    // Most values are short printable ASCII with nothing to escape: copied whole.
    if s.len() <= n && s.bytes().all(|b| CLASS[usize::from(b)] & UNSAFE == 0) {
        out.push_str(s);
        return;
    }
    for c in s.chars().take(n) {
        match c {
            c if unsafe_char(c) => out.push('\u{FFFD}'),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
}

const REDACTED: &str = "[redacted]";

/// Whether `needle` occurs in `hay`: for the short values of a line, a scan for the
/// first byte is cheaper than `str::contains`'s searcher, which is set up on every call.
fn has(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return true;
    };
    h.iter()
        .enumerate()
        .any(|(i, &b)| b == first && h[i..].starts_with(n))
}

/// Appends `v` in decimal, at least `width` digits (zero-padded).
fn push_num(out: &mut Buf, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.0.extend_from_slice(&buf[start..]);
}

/// Appends the client address as `Display` writes it, IPv4 without the formatter.
fn push_ip(out: &mut Buf, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_num(out, u64::from(o), 1);
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "{ip}");
        }
    }
}

/// `s` with the values of the key's query parameter and everything shaped like a
/// keygate key replaced by `[redacted]`; borrowed (no allocation) when there is none.
fn redact<'a>(s: &'a str, limits: &LogLimits) -> Cow<'a, str> {
    let s = match &limits.query_param {
        Some(p) if has(s, p) => redact_param(s, p),
        _ => Cow::Borrowed(s),
    };
    redact_keys(s, &limits.key_prefix)
}

/// Every `name=value` of the query string with its value replaced.
fn redact_param<'a>(s: &'a str, name: &str) -> Cow<'a, str> {
    let Some((path, rest)) = s.split_once('?') else {
        return Cow::Borrowed(s);
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    if !query
        .split('&')
        .any(|pair| pair.split('=').next() == Some(name))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    out.push_str(path);
    for (i, pair) in query.split('&').enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        match pair.split_once('=') {
            Some((k, _)) if k == name => {
                out.push_str(k);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Cow::Owned(out)
}

/// Every `{prefix}_` (or `{prefix}%5F`) followed by at least a key body's worth of
/// letters and digits replaced, checksum or not: a key with a typo is still almost
/// the key.
fn redact_keys<'a>(s: Cow<'a, str>, prefix: &str) -> Cow<'a, str> {
    if prefix.is_empty() || !has(&s, prefix) {
        return s;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    let b = s.as_bytes();
    while let Some(off) = s[i..].find(prefix) {
        let start = i + off;
        let mut j = start + prefix.len();
        let sep = if b.get(j) == Some(&b'_') {
            1
        } else if b
            .get(j..j + 3)
            .is_some_and(|x| x.eq_ignore_ascii_case(b"%5f"))
        {
            3
        } else {
            0
        };
        j += sep;
        let run = b[j..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if sep == 0 || run < crate::token::BODY_LEN {
            // The prefix is ASCII: the next byte starts a character.
            i = start + 1;
            continue;
        }
        let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
        o.push_str(&s[copied..start]);
        o.push_str(REDACTED);
        copied = j + run;
        i = copied;
    }
    match out {
        None => s,
        Some(mut o) => {
            o.push_str(&s[copied..]);
            Cow::Owned(o)
        }
    }
}

/// What a thread keeps between lines: the formatted second, the constant run of the
/// last line's head, and the line being built.
struct Scratch {
    /// Unix second and `YYYY-MM-DDTHH:MM:SS` (with `{"timestamp":"` in front for JSON).
    second: (i64, bool, String),
    /// Which head `head` is, and the head after the milliseconds: level, target,
    /// message, decision, endpoint and status, up to the token id's opening quote.
    head: (u32, Buf),
    line: Buf,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        second: (i64::MIN, false, String::new()),
        head: (u32::MAX, Buf::default()),
        line: Buf(Vec::with_capacity(512)),
    });
}

/// One decision's line.
pub struct Line<'a> {
    pub endpoint: Endpoint,
    pub outcome: Outcome,
    pub status: u16,
    pub key: Option<&'a Known>,
    pub target: &'a Target<'a>,
    /// `X-Forwarded-For` as received ("" when absent).
    pub forwarded_for: &'a str,
    /// The metadata header's value, when configured and present.
    pub metadata: Option<&'a str>,
    pub client: IpAddr,
    pub took: Duration,
    pub now_ms: i64,
    /// The usage limit that refused the request, if one did.
    pub limit: Option<crate::limits::Exceeded>,
    /// The inline proxy's exchange with the upstream, when there was one.
    pub upstream: Option<Upstream<'a>>,
}

/// What the inline proxy adds to a line.
pub struct Upstream<'a> {
    /// The route's configured name.
    pub route: &'a str,
    /// `X-Request-Id`, as the client sent it or as generated.
    pub request_id: &'a str,
    /// The upstream's status; `None` when no answer came (keygate said 502 or 504).
    pub status: Option<u16>,
    /// From sending the request to the response head (or the failure); `None` when
    /// nothing was sent (a refusal, a malformed request).
    pub took: Option<Duration>,
}

/// The fields after the head, as each format opens them: `","name":"` or `" name="`.
const OWNER: [&str; 2] = ["\" owner=\"", "\",\"owner\":\""];
const CLIENT_FIELDS: [[&str; 2]; 4] = [
    ["\" method=\"", "\",\"method\":\""],
    ["\" host=\"", "\",\"host\":\""],
    ["\" uri=\"", "\",\"uri\":\""],
    ["\" forwarded_for=\"", "\",\"forwarded_for\":\""],
];
const CLIENT: [&str; 2] = ["\" client=\"", "\",\"client\":\""];
const METADATA: [&str; 2] = ["\" metadata=\"", "\",\"metadata\":\""];
const LIMIT: [&str; 2] = ["\" limit=\"", "\",\"limit\":\""];
const LATENCY: [&str; 2] = ["\" latency_us=", "\",\"latency_us\":"];
const ROUTE: [&str; 2] = ["\" route=\"", "\",\"route\":\""];
const REQUEST_ID: [&str; 2] = ["\" request_id=\"", "\",\"request_id\":\""];
const UPSTREAM_STATUS: [&str; 2] = [" upstream_status=", ",\"upstream_status\":"];
const UPSTREAM_US: [&str; 2] = [" upstream_us=", ",\"upstream_us\":"];
const END: [&str; 2] = ["\n", "}\n"];

/// The head after the milliseconds, for one outcome, endpoint, status and format.
fn head(out: &mut Buf, l: &Line<'_>, json: bool) {
    out.clear();
    let level = if l.outcome == Outcome::Allowed {
        "INFO"
    } else {
        "WARN"
    };
    if json {
        out.push_str("Z\",\"level\":\"");
        out.push_str(level);
        out.push_str("\",\"target\":\"keygate::access\",\"message\":\"decision\",\"decision\":\"");
        out.push_str(l.outcome.label());
        out.push_str("\",\"endpoint\":\"");
        out.push_str(l.endpoint.label());
        out.push_str("\",\"status\":");
        push_num(out, u64::from(l.status), 1);
        out.push_str(",\"token_id\":\"");
    } else {
        out.push_str("Z  ");
        out.push_str(level);
        out.push_str(" keygate::access: decision decision=");
        out.push_str(l.outcome.label());
        out.push_str(" endpoint=");
        out.push_str(l.endpoint.label());
        out.push_str(" status=");
        push_num(out, u64::from(l.status), 1);
        out.push_str(" token_id=\"");
    }
}

pub fn decision(log: &AccessLog, limits: &LogLimits, l: &Line<'_>) {
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let Scratch {
            second,
            head: cached,
            line: out,
        } = &mut *guard;
        let json = log.json;
        let sec = l.now_ms.div_euclid(1000);
        if second.0 != sec || second.1 != json {
            (second.0, second.1) = (sec, json);
            let prefix = &mut second.2;
            prefix.clear();
            if json {
                prefix.push_str("{\"timestamp\":\"");
            }
            let t = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(sec).unwrap_or(0));
            let _ = write!(prefix, "{}", humantime::format_rfc3339_seconds(t));
            prefix.pop(); // the `Z`
        }
        let which = u32::from(json)
            | (l.outcome as u32) << 1
            | (l.endpoint as u32) << 4
            | u32::from(l.status) << 8;
        if cached.0 != which {
            head(&mut cached.1, l, json);
            cached.0 = which;
        }
        let f = usize::from(json);
        out.clear();
        out.push_str(&second.2);
        let millis = u32::try_from(l.now_ms.rem_euclid(1000)).unwrap_or(0);
        out.0.extend_from_slice(&[
            b'.',
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
        ]);
        out.0.extend_from_slice(&cached.1.0);
        let (token_id, owner) = l.key.map_or(("", ""), |k| {
            (k.record.id.as_str(), k.record.owner.as_str())
        });
        put(out, token_id, 64);
        out.push_str(OWNER[f]);
        put(out, owner, 256);
        // What the client chose: redacted first, then clipped.
        let n = limits.original_length;
        for (i, (value, max)) in [
            (l.target.method, 16),
            (l.target.host, n),
            (l.target.uri, n),
            (l.forwarded_for, n),
        ]
        .into_iter()
        .enumerate()
        {
            out.push_str(CLIENT_FIELDS[i][f]);
            put_client(out, value, max, limits);
        }
        out.push_str(CLIENT[f]);
        push_ip(out, l.client);
        out.push_str(METADATA[f]);
        if let Some(v) = l.metadata
            && limits.metadata_length > 0
        {
            put_client(out, v, limits.metadata_length, limits);
        }
        if let (Some(e), Some(k)) = (l.limit, l.key) {
            // `key:1m`, `owner:per-hour`, `key:credits`: names are [A-Za-z0-9_.-].
            out.push_str(LIMIT[f]);
            out.push_str(e.scope().as_str());
            out.push(':');
            put(out, k.limit_name(e), 40);
        }
        if let Some(u) = &l.upstream {
            out.push_str(ROUTE[f]);
            put(out, u.route, 64);
            out.push_str(REQUEST_ID[f]);
            put_client(out, u.request_id, 128, limits);
        }
        out.push_str(LATENCY[f]);
        push_num(
            out,
            u64::try_from(l.took.as_micros()).unwrap_or(u64::MAX),
            1,
        );
        if let Some(u) = &l.upstream {
            if let Some(s) = u.status {
                out.push_str(UPSTREAM_STATUS[f]);
                push_num(out, u64::from(s), 1);
            }
            if let Some(t) = u.took {
                out.push_str(UPSTREAM_US[f]);
                push_num(out, u64::try_from(t.as_micros()).unwrap_or(u64::MAX), 1);
            }
        }
        out.push_str(END[f]);
        log.sink.push(&out.0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn clips_and_neutralises_control_characters() {
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(
            clip("a\nb\r\u{1b}[31m", 10),
            "a\u{FFFD}b\u{FFFD}\u{FFFD}[31m"
        );
        assert_eq!(clip("é€x", 2), "é€");
    }

    #[derive(Clone, Default)]
    struct Out(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Out {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn limits(n: usize) -> LogLimits {
        LogLimits {
            original_length: n,
            metadata_length: n,
            metadata_header: Some(HeaderName::from_static("x-akas-metadata")),
            key_prefix: "kg".into(),
            query_param: Some("api_key".into()),
        }
    }

    /// The lines written for `target` and `headers`, JSON first, then text.
    fn lines(limits: &LogLimits, target: &Target<'_>, headers: &HeaderMap) -> (String, String) {
        lines_with(limits, target, headers, None)
    }

    fn lines_with(
        limits: &LogLimits,
        target: &Target<'_>,
        headers: &HeaderMap,
        upstream: Option<(&str, &str, Option<u16>)>,
    ) -> (String, String) {
        let out = Out::default();
        let (sink, flusher) = crate::logsink::start(out.clone());
        for json in [true, false] {
            let log = AccessLog {
                sink: sink.clone(),
                json,
            };
            decision(
                &log,
                limits,
                &Line {
                    endpoint: Endpoint::Auth,
                    outcome: Outcome::Unauthenticated,
                    status: 401,
                    key: None,
                    target,
                    forwarded_for: headers
                        .get("x-forwarded-for")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(""),
                    metadata: headers.get("x-akas-metadata").and_then(|v| v.to_str().ok()),
                    client: "9.9.9.9".parse().unwrap(),
                    took: Duration::from_micros(12),
                    now_ms: 1_798_675_200_123,
                    limit: None,
                    upstream: upstream.as_ref().map(|(route, id, status)| Upstream {
                        route,
                        request_id: id,
                        status: *status,
                        took: Some(Duration::from_micros(345)),
                    }),
                },
            );
        }
        drop(flusher);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut l = text.lines();
        let json = l.next().unwrap().to_owned();
        let text = l.next().unwrap().to_owned();
        assert!(l.next().is_none(), "one line each: {text}");
        (json, text)
    }

    #[test]
    fn the_proxy_adds_route_request_id_and_upstream() {
        let target = Target {
            method: "GET",
            host: "h",
            uri: "/",
            needs: &[],
            cost: 1,
        };
        let l = limits(100);
        let (json, text) = lines_with(
            &l,
            &target,
            &HeaderMap::new(),
            Some(("api", "id\"7", Some(503))),
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["route"], "api");
        assert_eq!(v["request_id"], "id\"7");
        assert_eq!(v["upstream_status"], 503);
        assert_eq!(v["upstream_us"], 345);
        let fields = parse_text(&text);
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("route"), Some("api"));
        assert_eq!(get("request_id"), Some("id\"7"));
        assert_eq!(get("upstream_status"), Some("503"));
        assert_eq!(get("upstream_us"), Some("345"));
        let (json, _) = lines_with(&l, &target, &HeaderMap::new(), Some(("api", "x", None)));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v.get("upstream_status").is_none());
        assert_eq!(v["upstream_us"], 345);
    }

    /// Reads a text line back: `key=value` and `key="quoted \" value"` pairs after the
    /// message, as a log shipper's logfmt parser would.
    fn parse_text(line: &str) -> Vec<(String, String)> {
        let rest = line.split_once(" decision ").unwrap().1;
        let mut fields = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            if chars.peek().is_none() {
                return fields;
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next().expect("unterminated value") {
                        '\\' => value.push(chars.next().expect("dangling escape")),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                let after = chars.next();
                assert!(
                    after.is_none() || after == Some(' '),
                    "junk after {key}: {line}"
                );
            } else {
                value = chars.by_ref().take_while(|c| *c != ' ').collect();
            }
            fields.push((key, value));
        }
    }

    const NAMES: &[&str] = &[
        "decision",
        "endpoint",
        "status",
        "token_id",
        "owner",
        "method",
        "host",
        "uri",
        "forwarded_for",
        "client",
        "metadata",
        "latency_us",
    ];

    #[test]
    fn hostile_values_cannot_forge_fields_in_either_format() {
        let hostile = "a\" status=200 decision=allowed token_id=\"x\\\" \\\\\n2026 INFO keygate::access: decision decision=allowed\r\u{1b}[2J\u{0}\u{7f}\u{2028}end\\";
        // What a header can carry: visible ASCII, spaces and tabs.
        let in_header = "b\" status=200 decision=allowed x=\"\\\" \\\\\t2026 INFO keygate::access: decision decision=allowed end\\";
        let mut headers = HeaderMap::new();
        let xff_raw = format!("1.2.3.4, {in_header}");
        headers.insert("x-forwarded-for", xff_raw.parse().unwrap());
        headers.insert("x-akas-metadata", in_header.parse().unwrap());
        let target = Target {
            method: hostile,
            host: hostile,
            uri: hostile,
            needs: &[],
            cost: 1,
        };
        let l = limits(1000);
        let (json, text) = lines(&l, &target, &headers);

        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let obj = v.as_object().unwrap();
        let want_method = clip(hostile, 16);
        let want = clip(hostile, 1000);
        assert_eq!(v["decision"], "unauthenticated");
        assert_eq!(v["status"], 401);
        assert_eq!(v["token_id"], "");
        assert_eq!(v["method"], want_method.as_str());
        assert_eq!(v["host"], want.as_str());
        assert_eq!(v["uri"], want.as_str());
        assert_eq!(v["client"], "9.9.9.9");
        let xff = clip(&xff_raw, 1000);
        assert_eq!(v["forwarded_for"], xff.as_str());
        for name in NAMES {
            assert!(obj.contains_key(*name), "{name} missing: {json}");
        }

        let fields = parse_text(&text);
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, NAMES, "{text}");
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("decision"), "unauthenticated");
        assert_eq!(get("status"), "401");
        assert_eq!(get("token_id"), "");
        assert_eq!(get("method"), want_method);
        assert_eq!(get("host"), want);
        assert_eq!(get("uri"), want);
        assert_eq!(get("forwarded_for"), xff);
        assert_eq!(get("metadata"), clip(in_header, 1000));
        assert_eq!(v["metadata"], clip(in_header, 1000).as_str());
        assert_eq!(get("client"), "9.9.9.9");
        assert!(
            text.starts_with(
                "2026-12-31T00:00:00.123Z  WARN keygate::access: decision decision=unauthenticated"
            ),
            "{text}"
        );
        assert_eq!(v["timestamp"], "2026-12-31T00:00:00.123Z");
    }

    #[test]
    fn keys_in_uris_are_redacted() {
        let p = crate::token::KeyPrefix::default();
        let key = crate::token::generate(&p).unwrap().expose().to_owned();
        // A typo'd key is still almost the key.
        let mut typo = key.clone();
        typo.pop();
        typo.push('x');
        let encoded = key.replacen('_', "%5F", 1);
        let cases = [
            (format!("/v1/{key}/x"), "/v1/[redacted]/x".to_owned()),
            (format!("/v1/{typo}"), "/v1/[redacted]".to_owned()),
            (
                format!("/v1/{encoded}?a=1"),
                "/v1/[redacted]?a=1".to_owned(),
            ),
            (
                format!("/x?api_key={key}&b=2"),
                "/x?api_key=[redacted]&b=2".to_owned(),
            ),
            (
                "/x?b=1&api_key=legacy-secret#f".to_owned(),
                "/x?b=1&api_key=[redacted]#f".to_owned(),
            ),
            (
                "/x?api_key=a&api_key=b".to_owned(),
                "/x?api_key=[redacted]&api_key=[redacted]".to_owned(),
            ),
            (format!("/x?other={key}"), "/x?other=[redacted]".to_owned()),
            (
                "/x?my_api_key=1&api_keys=2".to_owned(),
                "/x?my_api_key=1&api_keys=2".to_owned(),
            ),
            ("/kg_short/kg_".to_owned(), "/kg_short/kg_".to_owned()),
        ];
        let headers = HeaderMap::new();
        for (uri, want) in cases {
            let target = Target {
                method: "GET",
                host: "h",
                uri: &uri,
                needs: &[],
                cost: 1,
            };
            let (json, text) = lines(&limits(1000), &target, &headers);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["uri"], want.as_str(), "{uri}");
            assert!(text.contains(&format!(" uri=\"{want}\" ")), "{text}");
            assert!(
                !json.contains(&key[3..]) && !text.contains(&key[3..]),
                "{uri}"
            );
        }
        // The host is a client's value too.
        let host = format!("{key}.example.com");
        let target = Target {
            method: "GET",
            host: &host,
            uri: "/",
            needs: &[],
            cost: 1,
        };
        let (json, _) = lines(&limits(1000), &target, &headers);
        assert!(!json.contains(&key), "{json}");
    }
}
