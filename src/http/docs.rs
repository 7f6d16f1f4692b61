//! `/openapi.json` (generated from the code by utoipa) and `/docs`, a small page that
//! renders it. The page loads nothing from elsewhere and runs no inline script, so it
//! satisfies a strict Content-Security-Policy.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;

use super::api::ApiDoc;
use crate::app::App;

const PAGE: &str = include_str!("docs/index.html");
const SCRIPT: &str = include_str!("docs/docs.js");
const STYLE: &str = include_str!("docs/docs.css");

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/openapi.json", get(spec))
        // A relative redirect, so it also works under a path prefix.
        .route(
            "/docs",
            get(|| async {
                (
                    axum::http::StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, "docs/")],
                )
            }),
        )
        .route(
            "/docs/",
            get(|| async { page(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/docs/docs.js",
            get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/docs/docs.css",
            get(|| async { page(STYLE, "text/css; charset=utf-8") }),
        )
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

async fn spec() -> Response {
    axum::Json(openapi()).into_response()
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
