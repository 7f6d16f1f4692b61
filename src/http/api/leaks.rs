//! Leaked keys: GitHub's secret-scanning partner endpoint (`POST /api/leaks/github`,
//! signed by GitHub, no bearer) and the same response for administrators relaying an
//! internal scanner (`POST /api/leaks`). A live key gets `leaks.action`; every report
//! is answered key by key as a true or false positive.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, body};
use super::principal::Principal;
use crate::app::App;
use crate::config::LeakAction;
use crate::manage::{Actor, Found};
use crate::token::{KeyHash, Shape};

/// The largest report body accepted (about 20 000 matches).
pub const MAX_REPORT_BYTES: usize = 8 << 20;

/// One match in GitHub's report.
#[derive(Deserialize)]
struct GithubMatch {
    token: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    source: String,
}

/// One answer in GitHub's format: the token by its SHA-256, never echoed.
#[derive(Serialize, ToSchema)]
pub struct GithubLabel {
    token_hash: String,
    token_type: String,
    /// `true_positive` (a key of this keygate) or `false_positive`.
    label: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// The key as found.
    key: String,
    /// Where it was found (a URL or a description; kept in the audit log).
    found_at: String,
    /// The scanner or source that found it.
    #[serde(default)]
    source: String,
    /// Instead of `leaks.action`: `notify`, `disable` or `revoke`.
    #[serde(default)]
    action: Option<LeakAction>,
}

#[derive(Serialize, ToSchema)]
pub struct LeakAnswer {
    /// `true_positive` (a key of this keygate) or `false_positive`.
    label: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    /// What was done: `notify`, `disable`, `revoke`, or `none`.
    action: &'static str,
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// GitHub's secret-scanning partner endpoint: the body's ECDSA signature is checked
/// against GitHub's published keys before anything in it is read.
pub(crate) async fn github(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Json<Vec<GithubLabel>>, ApiError> {
    let Some(keys) = app.github_keys.get() else {
        return Err(ApiError::not_found());
    };
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Err(e) = keys
        .verify(
            &raw,
            h("github-public-key-identifier"),
            h("github-public-key-signature"),
        )
        .await
    {
        tracing::warn!(error = %e, "refused a leaked-key report");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            e.to_string(),
        ));
    }
    let matches: Vec<GithubMatch> = serde_json::from_slice(&raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("not a list of {{token, type, url, source}}: {e}"),
        )
    })?;
    let max = app.config.leaks.max_entries;
    if matches.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_entries",
            format!(
                "{} tokens; at most {max} a report (leaks.max_entries)",
                matches.len()
            ),
        ));
    }
    let actor = Actor {
        subject: "github".into(),
        auth: "github-secret-scanning",
        client: None,
        may_raise_limits: false,
        may_grant_any: false,
    };
    let action = app.config.leaks.action;
    let mut out = Vec::with_capacity(matches.len());
    for m in matches {
        // Only our key shape with a right checksum is looked up at all.
        let ours = crate::token::precheck(&m.token, &app.gate.settings().policy.prefix, false)
            == Ok(Shape::Ours);
        let live = if ours {
            let hash = KeyHash::of(app.keys.salt(), &m.token);
            let found = Found {
                url: m.url,
                source: m.source,
                kind: m.kind.clone(),
            };
            app.keys
                .leaked(&hash, &found, action, &actor)
                .await?
                .record
                .is_some()
        } else {
            false
        };
        out.push(GithubLabel {
            token_hash: sha256_hex(&m.token),
            token_type: m.kind,
            label: if live {
                "true_positive"
            } else {
                "false_positive"
            },
        });
    }
    Ok(Json(out))
}

/// Report a key found by an internal scanner (admin): `leaks.action` (or `action`) on the
/// key if it is one of this keygate's, an audit entry naming where it was found, and a
/// `key.leaked` event.
#[utoipa::path(post, path = "/api/leaks", tag = "admin", security(("bearer" = [])), request_body = LeakReport,
    responses((status = 200, body = LeakAnswer), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn report(
    State(app): State<Arc<App>>,
    p: Principal,
    b: Result<Json<LeakReport>, JsonRejection>,
) -> Result<Json<LeakAnswer>, ApiError> {
    p.require_admin()?;
    let req = body(b)?;
    if req.found_at.trim().is_empty() {
        return Err(ApiError::invalid("found_at", "say where the key was found"));
    }
    let policy = &app.gate.settings().policy;
    if policy.check(&req.key).is_err() {
        return Ok(Json(LeakAnswer {
            label: "false_positive",
            key_id: None,
            owner: None,
            action: "none",
        }));
    }
    let hash = KeyHash::of(app.keys.salt(), &req.key);
    let found = Found {
        url: req.found_at,
        source: req.source,
        kind: "keygate".into(),
    };
    let action = req.action.unwrap_or(app.config.leaks.action);
    let outcome = app.keys.leaked(&hash, &found, action, &p.actor()).await?;
    Ok(Json(match outcome.record {
        Some(r) => LeakAnswer {
            label: "true_positive",
            key_id: Some(r.id.to_string()),
            owner: Some(r.owner),
            action: outcome.done,
        },
        None => LeakAnswer {
            label: "false_positive",
            key_id: None,
            owner: None,
            action: "none",
        },
    }))
}
