//! How usage-limit refusals and remaining counts are said over HTTP.
//!
//! - Refused: 429 with `{"error": "rate_limited" | "usage_exceeded"}`, `Retry-After`,
//!   and the IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers):
//!   `RateLimit-Policy: "1m";q=100;w=60, "1h";q=5000;w=3600` names every limit,
//!   `RateLimit: "1m";r=0;t=17` the one that refused. Owner limits are named
//!   `owner.<name>`. nginx's `auth_request` passes on only 401 and 403, so `/auth`
//!   answers 403 with `X-Keygate-Denied: rate_limited` (or `usage_exceeded`), which
//!   the shipped nginx configuration turns into a 429 for the client (`deploy/nginx`).
//! - Allowed, with `limits.upstream_headers`: `RateLimit-Policy`, `RateLimit` (every
//!   limit's remaining uses and seconds to reset) and `X-Credits-Remaining` go upstream.

use std::fmt::Write;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::decide::Known;
use crate::limits::engine::Report;
use crate::limits::{Exceeded, Scope};

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const X_KEYGATE_DENIED: HeaderName = HeaderName::from_static("x-keygate-denied");
pub const X_CREDITS_REMAINING: HeaderName = HeaderName::from_static("x-credits-remaining");

/// A limit's name in the headers: owner limits are `owner.<name>`.
fn item(out: &mut String, scope: Scope, name: &str) {
    out.push('"');
    if scope == Scope::Owner {
        out.push_str("owner.");
    }
    out.push_str(name);
    out.push('"');
}

/// The JSON body of each refusal, written out once (the same shape `error()` makes):
/// refusals of a busy key over its limit are answered as cheaply as possible.
fn body(e: Exceeded) -> &'static str {
    match e {
        Exceeded::Rate {
            scope: Scope::Key, ..
        } => r#"{"error":"rate_limited","message":"this key is over its rate limit; retry later"}"#,
        Exceeded::Rate {
            scope: Scope::Owner,
            ..
        } => {
            r#"{"error":"rate_limited","message":"the rate limit shared by this owner's keys is used up; retry later"}"#
        }
        Exceeded::Credits {
            scope: Scope::Key, ..
        } => r#"{"error":"usage_exceeded","message":"this key has no credits left"}"#,
        Exceeded::Credits {
            scope: Scope::Owner,
            ..
        } => {
            r#"{"error":"usage_exceeded","message":"the credits shared by this owner's keys are used up"}"#
        }
    }
}

/// The refusal of a request over a limit. `nginx`: 403 instead of 429.
pub fn refusal(nginx: bool, e: Exceeded, known: Option<&Known>) -> Response {
    let status = if nginx {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    let mut r = Response::new(axum::body::Body::from(body(e)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if nginx {
        // Only nginx needs it: its 403 must be told apart from a rules 403. Elsewhere
        // the status and the body say it, and every header costs on a busy refusal.
        h.insert(X_KEYGATE_DENIED, HeaderValue::from_static(e.code()));
    }
    if let Some(retry) = e.retry_after() {
        h.insert(header::RETRY_AFTER, retry.into());
    }
    if let Some(k) = known {
        if let Some(p) = &k.limit_policy {
            h.insert(RATELIMIT_POLICY, p.clone());
        }
        if let Exceeded::Rate {
            scope, retry_after, ..
        } = e
        {
            let mut v = String::with_capacity(48);
            item(&mut v, scope, k.limit_name(e));
            let _ = write!(v, ";r=0;t={retry_after}");
            if let Ok(v) = HeaderValue::try_from(v) {
                h.insert(RATELIMIT, v);
            }
        }
    }
    r
}

/// What is left, sent upstream on allow.
pub fn upstream(h: &mut HeaderMap, known: &Known, report: &Report, now_ms: i64) {
    if let Some(p) = &known.limit_policy {
        h.insert(RATELIMIT_POLICY, p.clone());
    }
    if !report.rates.is_empty() {
        let mut v = String::new();
        for r in &report.rates {
            if !v.is_empty() {
                v.push_str(", ");
            }
            item(&mut v, r.scope, &r.name);
            let _ = write!(v, ";r={};t={}", r.remaining, r.reset_secs(now_ms));
        }
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(RATELIMIT, v);
        }
    }
    if let Some(c) = report.credits {
        h.insert(X_CREDITS_REMAINING, c.into());
    }
}
