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
