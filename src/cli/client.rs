//! The small HTTP client of the management API that the `--server` commands share: the
//! admin key as bearer, JSON both ways, errors with the server's message, paging.

use anyhow::{Context, bail};

use crate::manage::TokenView;

/// A small client of the management API, as the admin.
pub(super) struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// A client of `server`'s API with the admin key (for other commands' modules).
pub(super) fn api(server: &str, admin_key: Option<&str>) -> anyhow::Result<Api> {
    Api::new(server, admin_key)
}

impl Api {
    /// GET `path`, its JSON answer.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// A client of `server`'s API with the admin key.
    pub(super) fn new(server: &str, admin_key: Option<&str>) -> anyhow::Result<Api> {
        let Some(admin_key) = admin_key else {
            bail!("--server needs the admin key: --admin-key or KEYGATE_ADMIN_KEY(_FILE)");
        };
        Ok(Api {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            base: server.trim_end_matches('/').to_owned(),
            key: admin_key.to_owned(),
        })
    }

    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let base = &self.base;
        let mut req = self
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let code = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json: serde_json::Value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("{base} did not answer JSON"))?
        };
        if !code.is_success() {
            let text = |f: &str| json[f].as_str().map(str::to_owned);
            return Err(Refused {
                status: code,
                code: text("error").unwrap_or_default(),
                message: text("message").unwrap_or_else(|| "no message".into()),
                field: text("field"),
            }
            .into());
        }
        Ok(json)
    }
}

/// A refusal by the API, kept whole so that a command can say which of its flags the
/// refusal is about (`field`) or answer a known `code` in its own words.
#[derive(Debug)]
pub(super) struct Refused {
    pub status: reqwest::StatusCode,
    /// The error body's stable code (`invalid`, `role_in_use`, …).
    pub code: String,
    pub message: String,
    /// The offending field, on validation errors.
    pub field: Option<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for Refused {}

/// Percent-encodes a path segment (owners may hold `/`, spaces, anything).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Pages the CLI reads at most (of [`PAGE`] keys each) before it stops with a warning.
pub(super) const MAX_PAGES: usize = 1000;

pub(super) const PAGE: usize = 500;

/// Every page of a key listing, following `next_cursor`; and the damaged ids it named.
pub(super) async fn list_all_pages(
    api: &Api,
    path: &str,
) -> anyhow::Result<(Vec<TokenView>, Vec<String>)> {
    let mut views = Vec::new();
    let mut damaged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = format!("{path}?limit={PAGE}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = api.call(reqwest::Method::GET, &url, None).await?;
        let tokens: Vec<TokenView> = serde_json::from_value(page["tokens"].clone())?;
        views.extend(tokens);
        if damaged.is_empty() {
            damaged = page["damaged"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d["id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
        }
        match page["next_cursor"].as_str() {
            // Cursors are hex: safe in a query string as they are.
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok((views, damaged)),
        }
    }
    eprintln!(
        "warning: stopped after {} keys ({MAX_PAGES} pages); the list is incomplete",
        views.len()
    );
    Ok((views, damaged))
}
