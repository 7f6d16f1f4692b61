//! One access line per decision: allows at `INFO`, refusals at `WARN`, target
//! `keygate::access`. Never the presented key, never a hash of it. What comes from the
//! client is cut to `original_length` / `metadata_length` characters and stripped of
//! control characters, so it can neither flood nor forge log lines.
//!
//! Lines are formatted here by hand (JSON or text, like `tracing`'s) into a reused
//! per-thread buffer and handed to the [`LogSink`], which a background thread writes
//! out: the request path makes no system call and no allocation for its line.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};

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
}

/// Where access lines go and how they look.
#[derive(Clone)]
pub struct AccessLog {
    pub sink: Arc<LogSink>,
    pub json: bool,
}

/// At most `n` characters of `s`, control characters replaced.
pub fn clip(s: &str, n: usize) -> String {
    s.chars()
        .take(n)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// Appends at most `n` characters of `s` as JSON string content (or, for text, as is),
/// control characters replaced.
fn put(out: &mut String, s: &str, n: usize, json: bool) {
    for c in s.chars().take(n) {
        match c {
            c if c.is_control() => out.push('\u{FFFD}'),
            '"' if json => out.push_str("\\\""),
            '\\' if json => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

thread_local! {
    /// (unix second, "YYYY-MM-DDTHH:MM:SS") and the line being built.
    static SCRATCH: RefCell<(i64, String, String)> = RefCell::new((i64::MIN, String::new(), String::with_capacity(512)));
}

/// One decision's line.
pub struct Line<'a> {
    pub endpoint: Endpoint,
    pub outcome: Outcome,
    pub status: u16,
    pub key: Option<&'a Known>,
    pub target: &'a Target<'a>,
    pub headers: &'a HeaderMap,
    pub client: IpAddr,
    pub took: Duration,
    pub now_ms: i64,
}

pub fn decision(log: &AccessLog, limits: &LogLimits, l: &Line<'_>) {
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (second, prefix, out) = &mut *guard;
        let sec = l.now_ms.div_euclid(1000);
        if *second != sec {
            *second = sec;
            prefix.clear();
            let t = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(sec).unwrap_or(0));
            let _ = write!(prefix, "{}", humantime::format_rfc3339_seconds(t));
            prefix.pop(); // the `Z`
        }
        out.clear();
        let n = limits.original_length;
        let header = |name: &HeaderName| l.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let metadata = match (&limits.metadata_header, limits.metadata_length) {
            (Some(h), len) if len > 0 => l.headers.get(h).and_then(|v| v.to_str().ok()).map(|v| (v, len)),
            _ => None,
        };
        let level = if l.outcome == Outcome::Allowed { "INFO" } else { "WARN" };
        let (token_id, owner) = l.key.map_or(("", ""), |k| (k.record.id.as_str(), k.record.owner.as_str()));
        let latency = l.took.as_micros();
        let millis = l.now_ms.rem_euclid(1000);
        let json = log.json;
        if json {
            let _ = write!(out, "{{\"timestamp\":\"{prefix}.{millis:03}Z\",\"level\":\"{level}\",\"target\":\"keygate::access\",\"message\":\"decision\",\"decision\":\"{}\",\"endpoint\":\"{}\",\"status\":{},\"token_id\":\"", l.outcome.label(), l.endpoint.label(), l.status);
        } else {
            let _ = write!(out, "{prefix}.{millis:03}Z {level:>5} keygate::access: decision decision={} endpoint={} status={} token_id=\"", l.outcome.label(), l.endpoint.label(), l.status);
        }
        let sep = if json { "\",\"" } else { "\" " };
        let eq = if json { "\":\"" } else { "=\"" };
        put(out, token_id, 64, json);
        for (name, value, max) in [
            ("owner", owner, 256),
            ("method", l.target.method, 16),
            ("host", l.target.host, n),
            ("uri", l.target.uri, n),
            ("forwarded_for", header(&X_FORWARDED_FOR), n),
        ] {
            out.push_str(sep);
            out.push_str(name);
            out.push_str(eq);
            put(out, value, max, json);
        }
        out.push_str(sep);
        out.push_str("client");
        out.push_str(eq);
        let _ = write!(out, "{}", l.client);
        out.push_str(sep);
        out.push_str("metadata");
        out.push_str(eq);
        if let Some((v, len)) = metadata {
            put(out, v, len, json);
        }
        if json {
            let _ = writeln!(out, "\",\"latency_us\":{latency}}}");
        } else {
            let _ = writeln!(out, "\" latency_us={latency}");
        }
        log.sink.push(out.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_and_neutralises_control_characters() {
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(
            clip("a\nb\r\u{1b}[31m", 10),
            "a\u{FFFD}b\u{FFFD}\u{FFFD}[31m"
        );
        assert_eq!(clip("é€x", 2), "é€");
    }

    #[test]
    fn json_lines_are_valid_json_whatever_the_client_sends() {
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
        let out = Out::default();
        let (sink, flusher) = crate::logsink::start(out.clone());
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, \"evil\\".parse().unwrap());
        let target = Target {
            method: "GET",
            host: "h\"ost",
            uri: "/a\\b\"c",
        };
        let limits = LogLimits {
            original_length: 100,
            metadata_length: 0,
            metadata_header: None,
        };
        for json in [true, false] {
            let log = AccessLog {
                sink: sink.clone(),
                json,
            };
            decision(
                &log,
                &limits,
                &Line {
                    endpoint: Endpoint::Auth,
                    outcome: Outcome::Unauthenticated,
                    status: 401,
                    key: None,
                    target: &target,
                    headers: &headers,
                    client: "9.9.9.9".parse().unwrap(),
                    took: Duration::from_micros(12),
                    now_ms: 1_798_675_200_123,
                },
            );
        }
        drop(flusher);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut lines = text.lines();
        let v: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(v["timestamp"], "2026-12-31T00:00:00.123Z");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["host"], "h\"ost");
        assert_eq!(v["uri"], "/a\\b\"c");
        assert_eq!(v["forwarded_for"], "1.2.3.4, \"evil\\");
        assert_eq!(v["latency_us"], 12);
        let textline = lines.next().unwrap();
        assert!(
            textline.starts_with(
                "2026-12-31T00:00:00.123Z  WARN keygate::access: decision decision=unauthenticated"
            ),
            "{textline}"
        );
    }
}
