//! The one JSON error shape, `{"error": "...", "message": "..."}`, for every endpoint.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="keygate", error="invalid_token""#;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

/// A JSON error response; 401s carry `WWW-Authenticate`.
pub fn error(status: StatusCode, error: &str, message: &str) -> Response {
    let mut r = (status, Json(Body { error, message })).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE),
        );
    }
    r
}

/// The refusal of a client that failed too often: `status` (429, or 403 for nginx,
/// which passes nothing else on) with `Retry-After`.
pub fn too_many_failures(status: StatusCode, retry_after_secs: u64) -> Response {
    let mut r = error(
        status,
        "too_many_failures",
        "too many failed attempts from this address; try again later",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, retry_after_secs.into());
    r
}
