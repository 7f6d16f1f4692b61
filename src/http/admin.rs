//! Operator endpoints behind the admin key: `POST /load` (replace the uploaded key set,
//! AKAS-compatible) and `GET /status` (what is loaded, AKAS's fields included).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::error::error;
use crate::app::App;
use crate::keyfile::{Format, UPLOAD};
use crate::sources::LoadError;

pub fn router(load_max_bytes: usize) -> Router<Arc<App>> {
    Router::new()
        // Room for the multipart framing around a file of the largest allowed size.
        .route(
            "/load",
            post(load).layer(DefaultBodyLimit::max(
                load_max_bytes.saturating_add(64 * 1024),
            )),
        )
        .route("/status", get(status))
}

/// `Ok` when the request carries the admin key as `Authorization: Bearer`. A wrong key
/// counts as a failed attempt of the client (the gate's throttle, same trusted-proxy
/// rules), and a client over the limit is refused before its key is looked at.
pub fn require_admin(app: &App, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if !app.has_admin_key() {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "no admin key is configured: set admin_key in keygate.toml, KEYGATE_ADMIN_KEY(_FILE) or --admin-key",
        )));
    }
    let client = app.gate.client_address(super::peer().ip(), headers);
    if let Some(retry) = app.gate.throttled(client) {
        return Err(Box::new(super::error::too_many_failures(
            StatusCode::TOO_MANY_REQUESTS,
            retry,
        )));
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, k)| k.trim());
    match presented {
        Some(k) if app.is_admin_key(k) => Ok(()),
        Some(_) => {
            app.gate.failed(client);
            Err(Box::new(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong admin key",
            )))
        }
        None => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin key as `Authorization: Bearer <admin key>`",
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadOptions {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    hash_input_file: Option<String>,
}

fn too_large(app: &App) -> Response {
    let m = format!(
        "the upload is larger than load_max_bytes ({} bytes)",
        app.config.load_max_bytes
    );
    error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &m)
}

fn bad_request(message: impl AsRef<str>) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message.as_ref())
}

async fn load(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let response = load_inner(&app, &headers, multipart).await;
    app.gate
        .metrics()
        .api_request("/load", response.status().as_u16());
    response
}

async fn load_inner(
    app: &App,
    headers: &HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Err(r) = require_admin(app, headers) {
        return *r;
    }
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(e) => {
            return bad_request(format!(
                "expected multipart/form-data with a `file` part: {e}"
            ));
        }
    };
    let mut file: Option<Vec<u8>> = None;
    let mut options: Option<LoadOptions> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return too_large(app);
            }
            Err(e) => return bad_request(format!("malformed multipart body: {e}")),
        };
        let name = field.name().unwrap_or("").to_owned();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return too_large(app);
            }
            Err(e) => return bad_request(format!("cannot read part `{name}`: {e}")),
        };
        match name.as_str() {
            "file" if file.is_none() => file = Some(bytes.to_vec()),
            "json" if options.is_none() => match serde_json::from_slice::<LoadOptions>(&bytes) {
                Ok(o) => options = Some(o),
                Err(e) => return bad_request(format!("the `json` part is not valid: {e}")),
            },
            "file" | "json" => return bad_request(format!("part `{name}` appears twice")),
            other => {
                return bad_request(format!(
                    "unknown part `{}` (expected `file` and optionally `json`)",
                    crate::access_log::clip(other, 64)
                ));
            }
        }
    }
    let Some(file) = file else {
        return bad_request("the `file` part is missing");
    };
    if file.len() > app.config.load_max_bytes {
        return too_large(app);
    }
    let options = options.unwrap_or(LoadOptions {
        format: None,
        hash_input_file: None,
    });
    let format = match Format::parse(options.format.as_deref().unwrap_or("plain")) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    match app
        .sources()
        .apply_upload(&file, format, options.hash_input_file.as_deref())
        .await
    {
        Ok(info) => Json(json!({
            "status": "loaded",
            "format": info.format,
            "file_hash": info.file_hash,
            "file_date": info.file_date,
            "file_key_count": info.key_count,
        }))
        .into_response(),
        Err(LoadError::Store(e)) => {
            tracing::error!(error = %e, "could not keep the uploaded key set in the store");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the key store is unavailable; nothing was changed",
            )
        }
        Err(e) => bad_request(format!("{e}; nothing was changed")),
    }
}

async fn status(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let response = match require_admin(&app, &headers) {
        Err(r) => *r,
        Ok(()) => Json(status_body(&app).await).into_response(),
    };
    app.gate
        .metrics()
        .api_request("/status", response.status().as_u16());
    response
}

/// The `/status` document.
pub async fn status_body(app: &App) -> serde_json::Value {
    let store = app.keys.store();
    let timeout = app.gate.settings().store_timeout;
    let count = tokio::time::timeout(timeout, store.count())
        .await
        .ok()
        .and_then(Result::ok);
    let healthy = matches!(
        tokio::time::timeout(timeout, store.ping()).await,
        Ok(Ok(()))
    );
    let all = app.gate.keysets().status();
    let upload = all.get(UPLOAD).filter(|u| u.file_hash.is_some());
    let files: Vec<_> = all.iter().skip(1).collect();
    let c = &app.config;
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "store": {"kind": store.kind(), "healthy": healthy, "keys": count},
        "uploaded": upload.map(|u| json!({
            "format": u.format,
            "file_hash": u.file_hash,
            "file_date": u.loaded_at,
            "file_key_count": u.key_count,
        })),
        "key_files": files,
        "limits": {
            "key_prefix": c.key_prefix,
            "key_length": c.key_length,
            "foreign_key_prefix": c.foreign_key_prefix,
            "accept_foreign_keys": c.accept_foreign_keys,
            "original_length": c.original_length,
            "metadata_length": c.metadata_length,
            "load_max_bytes": c.load_max_bytes,
            "store_timeout_ms": c.store_timeout_ms,
            "cache_ttl_secs": c.cache.ttl_secs,
            "throttle": if c.throttle.enabled {
                json!({"max_failures": c.throttle.max_failures, "window_secs": c.throttle.window_secs})
            } else {
                serde_json::Value::Null
            },
        },
        // AKAS's fields, for scripts that read them.
        "file_hash": upload.and_then(|u| u.file_hash.clone()),
        "file_date": upload.and_then(|u| u.loaded_at),
        "file_key_count": upload.map_or(0, |u| u.key_count),
        "key_length": c.key_length,
        "key_prefix": c.key_prefix,
    })
}
