//! The commands that talk to a running keygate over its API (`--server`): `status`,
//! `token …`, `owner-limits …`; and the small HTTP client they share.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::clock::Clock;
use crate::manage::TokenView;

use super::limits::{OwnerLimitsCommand, check_quota, limits_patch_json, needs_quota};
use super::print::{print_owner_limits, print_view, print_views, report_damaged};
use super::token::{TokenCommand, new_token, parse_grace, parse_id, rotate_expiry};

/// `keygate status`: fetches `/status` and prints it readably.
pub async fn status(server: &str, admin_key: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let Some(key) = admin_key else {
        bail!("give the admin key with --admin-key or KEYGATE_ADMIN_KEY(_FILE)");
    };
    let url = format!("{}/status", server.trim_end_matches('/'));
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?
        .get(&url)
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let code = resp.status();
    let body: serde_json::Value = resp
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if !code.is_success() {
        bail!(
            "{url} answered {code}: {}",
            body["message"].as_str().unwrap_or("no message")
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    println!("keygate {}", s(&body["version"]));
    let store = &body["store"];
    println!(
        "store:      {} ({}), {} keys",
        s(&store["kind"]),
        if store["healthy"] == true {
            "healthy"
        } else {
            "UNREACHABLE"
        },
        s(&store["keys"])
    );
    match body["uploaded"].as_object() {
        Some(u) => println!(
            "uploaded:   {} keys ({}), loaded {}, sha256 {}",
            s(&u["file_key_count"]),
            s(&u["format"]),
            s(&u["file_date"]),
            s(&u["file_hash"])
        ),
        None => println!("uploaded:   none"),
    }
    for f in body["key_files"].as_array().into_iter().flatten() {
        println!(
            "key file:   {} — {} keys ({}), owner {}, loaded {}{}",
            s(&f["source"]),
            s(&f["key_count"]),
            s(&f["format"]),
            s(&f["owner"]),
            s(&f["loaded_at"]),
            f["last_error"]
                .as_str()
                .map(|e| format!(", LAST ERROR: {e}"))
                .unwrap_or_default()
        );
    }
    let l = &body["limits"];
    println!(
        "limits:     key_prefix {}, key_length {}, foreign_key_prefix {:?}, load_max_bytes {}",
        s(&l["key_prefix"]),
        s(&l["key_length"]),
        s(&l["foreign_key_prefix"]),
        s(&l["load_max_bytes"])
    );
    Ok(ExitCode::SUCCESS)
}

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
    fn new(server: &str, admin_key: Option<&str>) -> anyhow::Result<Api> {
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

    async fn call(
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
            bail!(
                "{code}: {}",
                json["message"].as_str().unwrap_or("no message")
            );
        }
        Ok(json)
    }
}

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

/// `keygate token … --server URL`: the same commands through the management API, as
/// the admin, so the embedded store never has to be stopped.
pub async fn remote_token(
    server: &str,
    admin_key: Option<&str>,
    cmd: TokenCommand,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(server, admin_key)?;
    use reqwest::Method;
    let mut out = std::io::stdout().lock();
    let now = Clock::system().now();
    match cmd {
        TokenCommand::Create {
            owner,
            name,
            expires,
            rules,
            metadata,
            limits,
        } => {
            let t = new_token(owner, name, expires, &rules, &metadata, now)?;
            let mut body = serde_json::json!({
                "name": t.name, "expires_at": t.expires_at, "rules": t.rules, "metadata": t.metadata,
            });
            if let Some(l) = limits.view()? {
                body["limits"] = serde_json::to_value(l)?;
            }
            let r = api
                .call(
                    Method::POST,
                    &format!("/api/users/{}/tokens", segment(&t.owner)),
                    Some(body),
                )
                .await?;
            writeln!(out, "{}", r["key"].as_str().unwrap_or_default())?;
            eprintln!(
                "created key {} ({}) for {}",
                r["id"].as_str().unwrap_or("?"),
                r["hint"].as_str().unwrap_or("?"),
                t.owner
            );
        }
        TokenCommand::Update(args) => {
            let (id, patch) = args.patch(now)?;
            let path = format!("/api/tokens/{id}");
            if let Some(l) = &patch.limits
                && needs_quota(l)
            {
                let v = api.call(Method::GET, &path, None).await?;
                check_quota(l, !v["limits"]["credits"].is_null())?;
            }
            let mut body = serde_json::Map::new();
            if let Some(n) = &patch.name {
                body.insert("name".into(), n.clone().into());
            }
            if let Some(e) = patch.expires_at {
                body.insert("expires_at".into(), serde_json::to_value(e)?);
            }
            if let Some(l) = &patch.limits {
                body.insert("limits".into(), limits_patch_json(l));
            }
            let r = api
                .call(Method::PATCH, &path, Some(serde_json::Value::Object(body)))
                .await?;
            eprintln!("updated key {id} ({})", r["hint"].as_str().unwrap_or("?"));
        }
        TokenCommand::List { owner, json } => {
            let path = match &owner {
                Some(o) => format!("/api/users/{}/tokens", segment(o)),
                None => "/api/tokens".to_owned(),
            };
            let (views, damaged) = list_all_pages(&api, &path).await?;
            print_views(&mut out, &views, json)?;
            report_damaged(&damaged);
        }
        TokenCommand::Show { id, json } => {
            let id = parse_id(&id)?;
            let v: TokenView = serde_json::from_value(
                api.call(Method::GET, &format!("/api/tokens/{id}"), None)
                    .await?,
            )?;
            print_view(&mut out, &v, json)?;
        }
        TokenCommand::Revoke { id } => {
            let id = parse_id(&id)?;
            api.call(Method::DELETE, &format!("/api/tokens/{id}"), None)
                .await?;
            eprintln!("revoked key {id}");
        }
        TokenCommand::Disable { id } => set_disabled(&api, &id, true).await?,
        TokenCommand::Enable { id } => set_disabled(&api, &id, false).await?,
        TokenCommand::Rotate {
            id,
            grace,
            expires,
            no_expiry,
        } => {
            let grace = parse_grace(&grace)?;
            let id = parse_id(&id)?;
            let mut body = serde_json::json!({"grace_seconds": grace.as_secs()});
            if let Some(e) = rotate_expiry(expires, no_expiry, now)? {
                body["expires_at"] = serde_json::to_value(e)?;
            }
            let r = api
                .call(
                    Method::POST,
                    &format!("/api/tokens/{id}/rotate"),
                    Some(body),
                )
                .await?;
            writeln!(out, "{}", r["key"].as_str().unwrap_or_default())?;
            eprintln!(
                "rotated key {id} into {} ({})",
                r["id"].as_str().unwrap_or("?"),
                r["hint"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `keygate owner-limits … --server URL`: the same commands through the management API.
pub async fn remote_owner_limits(
    server: &str,
    admin_key: Option<&str>,
    cmd: OwnerLimitsCommand,
) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    let api = Api::new(server, admin_key)?;
    let mut out = std::io::stdout().lock();
    let path = |owner: &str| format!("/api/users/{}/limits", segment(owner));
    match cmd {
        OwnerLimitsCommand::Get { owner, json } => {
            let v = api.call(Method::GET, &path(&owner), None).await?;
            print_owner_limits(&mut out, &v, json)?;
        }
        OwnerLimitsCommand::Set {
            owner,
            limits,
            json,
        } => {
            let view = limits.view()?.unwrap_or_default();
            let v = api
                .call(
                    Method::PUT,
                    &path(&owner),
                    Some(serde_json::to_value(view)?),
                )
                .await?;
            print_owner_limits(&mut out, &v, json)?;
            eprintln!("set the limits of owner {owner}");
        }
        OwnerLimitsCommand::Clear { owner } => {
            api.call(Method::DELETE, &path(&owner), None).await?;
            eprintln!("cleared the limits of owner {owner}: the default applies again");
        }
    }
    Ok(ExitCode::SUCCESS)
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

pub(super) async fn set_disabled(api: &Api, id: &str, disabled: bool) -> anyhow::Result<()> {
    let id = parse_id(id)?;
    let body = serde_json::json!({ "disabled": disabled });
    api.call(
        reqwest::Method::PATCH,
        &format!("/api/tokens/{id}"),
        Some(body),
    )
    .await?;
    eprintln!("{} key {id}", if disabled { "disabled" } else { "enabled" });
    Ok(())
}
