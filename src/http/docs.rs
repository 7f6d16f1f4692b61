//! `/openapi.json` (generated from the code by utoipa) and `/docs`, a small page that
//! renders it. The page loads nothing from elsewhere and runs no inline script, so it
//! satisfies a strict Content-Security-Policy.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
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

/// The OpenAPI document: utoipa's, completed by [`complete`].
pub fn openapi() -> Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    complete(&mut doc);
    doc
}

async fn spec() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| openapi().to_string());
    ([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

/// What every operation shares and the per-handler annotations leave out, filled in once
/// here so that the document says exactly what the server does (schemathesis checks it in
/// `make test`): the path parameters of the templates, and the error answers every route
/// can give — malformed query or body, no or bad credentials, throttled, store down; 403
/// on admin routes; 404 and 422 where an id or a body is taken; 413 and 415 for bodies.
fn complete(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let params: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            add_path_params(op, &params);
            let admin = op["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "admin"));
            let has_body = op.get("requestBody").is_some();
            let mut errors = vec![
                ("400", "A malformed query string or body."),
                ("401", "No credentials, or ones keygate does not accept."),
                (
                    "429",
                    "Too many failed attempts from this client; retry later.",
                ),
                ("503", "The store did not answer in time."),
            ];
            if admin {
                errors.push(("403", "The caller is not an administrator."));
            }
            if !params.is_empty() {
                errors.push(("404", "No such key (or not one the caller may see)."));
            }
            if has_body || !params.is_empty() {
                errors.push((
                    "422",
                    "A field or path parameter is not valid; `field` names it.",
                ));
            }
            if has_body {
                errors.push(("413", "The body is larger than `api_max_body_bytes`."));
                errors.push(("415", "The body is not `application/json`."));
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for (status, description) in errors {
                responses.entry(status).or_insert_with(|| {
                    json!({
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                    })
                });
            }
        }
    }
}

fn add_path_params(op: &mut Value, names: &[&str]) {
    let Some(op) = op.as_object_mut() else {
        return;
    };
    let list = op.entry("parameters").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for name in names {
        let declared = list.iter().any(|p| p["in"] == "path" && p["name"] == *name);
        if declared {
            continue;
        }
        let description = match *name {
            "id" => "A key's id (`TokenView.id`).",
            "sub" => "An owner: an OIDC subject or a service name.",
            _ => "",
        };
        list.push(json!({
            "name": name, "in": "path", "required": true,
            "description": description,
            "schema": {"type": "string", "minLength": 1}
        }));
    }
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation declares the parameters of its path template and the errors every
    /// route can answer; a body-taking one also 413, 415 and 422.
    #[test]
    fn every_operation_is_complete() {
        let doc = openapi();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 10);
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                for name in path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                {
                    let declared = op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|p| p["in"] == "path" && p["name"] == name)
                        .count();
                    assert_eq!(declared, 1, "{method} {path}: parameter {name}");
                }
                let responses = op["responses"].as_object().unwrap();
                for status in ["400", "401", "429", "503"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
                if op.get("requestBody").is_some() {
                    for status in ["413", "415", "422"] {
                        assert!(responses.contains_key(status), "{method} {path}: {status}");
                    }
                }
            }
        }
    }
}
