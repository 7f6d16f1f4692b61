//! One access line per decision, target `keygate::access`: allows at `info`, refusals at
//! `warn`. Never the presented key, never a hash of it. What comes from the client is
//! cut to `original_length` / `metadata_length` characters and stripped of control
//! characters, so it can neither flood nor forge log lines. The line is formatted here
//! and written by a background thread (the non-blocking writer set up in `cli`).

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};

use crate::decide::Known;
use crate::metrics::{Endpoint, Outcome};
use crate::rules::Target;

/// How much of each client-supplied value is logged.
#[derive(Clone, Debug)]
pub struct LogLimits {
    pub original_length: usize,
    pub metadata_length: usize,
    pub metadata_header: Option<HeaderName>,
}

/// At most `n` characters of `s`, control characters replaced.
pub fn clip(s: &str, n: usize) -> String {
    s.chars()
        .take(n)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn decision(
    limits: &LogLimits,
    endpoint: Endpoint,
    outcome: Outcome,
    status: u16,
    key: Option<&Known>,
    target: &Target<'_>,
    headers: &HeaderMap,
    client: IpAddr,
    took: Duration,
) {
    let n = limits.original_length;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let forwarded_for = clip(header("x-forwarded-for"), n);
    let metadata = match (&limits.metadata_header, limits.metadata_length) {
        (Some(h), len) if len > 0 => clip(
            headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or(""),
            len,
        ),
        _ => String::new(),
    };
    let token_id = key.map_or("", |k| k.record.id.as_str());
    let owner = key.map_or(String::new(), |k| clip(&k.record.owner, 256));
    let method = clip(target.method, 16);
    let host = clip(target.host, n);
    let uri = clip(target.uri, n);
    let latency_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                target: "keygate::access",
                decision = outcome.label(),
                endpoint = endpoint.label(),
                status,
                token_id,
                owner = %owner,
                method = %method,
                host = %host,
                uri = %uri,
                client = %client,
                forwarded_for = %forwarded_for,
                metadata = %metadata,
                latency_us,
                "decision"
            )
        };
    }
    if outcome == Outcome::Allowed {
        line!(info);
    } else {
        line!(warn);
    }
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clips_and_neutralises_control_characters() {
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(
            clip("a\nb\r\u{1b}[31m", 10),
            "a\u{FFFD}b\u{FFFD}\u{FFFD}[31m"
        );
        assert_eq!(clip("é€x", 2), "é€");
    }
}
