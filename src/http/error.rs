//! The one JSON error shape, `{"error": "...", "message": "..."}`, for every endpoint.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="keygate", error="invalid_token""#;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

/// Whether `s` goes into a JSON string as it is (printable ASCII, no `"` or `\`).
fn plain(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// The body of [`error`]: written directly when nothing needs escaping (every
/// refusal of the gate), through serde otherwise.
fn body(error: &str, message: &str) -> String {
    if plain(error) && plain(message) {
        let mut b = String::with_capacity(24 + error.len() + message.len());
        b.push_str(r#"{"error":""#);
        b.push_str(error);
        b.push_str(r#"","message":""#);
        b.push_str(message);
        b.push_str(r#""}"#);
        b
    } else {
        serde_json::to_string(&Body { error, message }).unwrap_or_default()
    }
}

fn json(status: StatusCode, body: axum::body::Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE),
        );
    }
    r
}

/// A JSON error response; 401s carry `WWW-Authenticate`.
pub fn error(status: StatusCode, error: &str, message: &str) -> Response {
    json(status, body(error, message).into())
}

/// [`error`] for fixed words (the gate's refusals): each thread builds the body and
/// headers of a refusal once and copies them after, so a refusal costs no formatting,
/// allocation of its body or header hashing.
pub fn refusal(status: StatusCode, error: &'static str, message: &'static str) -> Response {
    type Made = (
        StatusCode,
        (usize, usize),
        (usize, usize),
        axum::body::Bytes,
        HeaderMap,
    );
    thread_local! {
        static MADE: std::cell::RefCell<Vec<Made>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // A `&'static str` is its address and length: the same pair is the same words.
    let e = (error.as_ptr() as usize, error.len());
    let m = (message.as_ptr() as usize, message.len());
    MADE.with(|made| {
        let mut made = made.borrow_mut();
        let i = match made
            .iter()
            .position(|x| x.0 == status && x.1 == e && x.2 == m)
        {
            Some(i) => i,
            None => {
                let built = json(status, axum::body::Body::empty());
                // A handful of distinct refusals exist; the bound is a safeguard.
                if made.len() >= 64 {
                    made.clear();
                }
                let body = axum::body::Bytes::from(body(error, message));
                made.push((status, e, m, body, built.headers().clone()));
                made.len() - 1
            }
        };
        let x = &made[i];
        let mut r = Response::new(axum::body::Body::from(x.3.clone()));
        *r.status_mut() = status;
        r.headers_mut().clone_from(&x.4);
        r
    })
}

/// The body of [`too_many_failures`], written out once: a client that fails too often
/// is refused as cheaply as possible.
const TOO_MANY_FAILURES: &str = r#"{"error":"too_many_failures","message":"too many failed attempts from this address; try again later"}"#;

/// The refusal of a client that failed too often: `status` (429, or 403 for nginx,
/// which passes nothing else on) with `Retry-After`.
pub fn too_many_failures(status: StatusCode, retry_after_secs: u64) -> Response {
    let mut r = json(status, TOO_MANY_FAILURES.into());
    r.headers_mut()
        .insert(header::RETRY_AFTER, retry_after_secs.into());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_the_json_serde_writes() {
        for (e, m) in [
            ("unauthorized", "unknown API key"),
            ("bad", "a \"quoted\" \\ message\n"),
            ("x", "é"),
        ] {
            let direct: serde_json::Value = serde_json::from_str(&body(e, m)).unwrap();
            assert_eq!(direct, serde_json::json!({"error": e, "message": m}));
        }
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(TOO_MANY_FAILURES).unwrap(),
            serde_json::json!({"error": "too_many_failures",
                "message": "too many failed attempts from this address; try again later"})
        );
    }
}
