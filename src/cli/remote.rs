//! The commands that talk to a running keygate over its API (`--server`): `status`, and
//! `token …` / `owner-limits …` / `role …` run with the API's [`super::ops::Remote`] (the same code
//! as on the local store).

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::clock::Clock;

use super::client::Api;
use super::limits::OwnerLimitsCommand;
use super::ops::Remote;
use super::roles::RoleCommand;
use super::token::TokenCommand;

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

/// `keygate token … --server URL`: the same commands through the management API, as
/// the admin, so the embedded store never has to be stopped.
pub async fn remote_token(
    server: &str,
    admin_key: Option<&str>,
    cmd: TokenCommand,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(server, admin_key)?;
    super::token::run(&Remote { api }, cmd, Clock::system().now()).await
}

/// `keygate owner-limits … --server URL`: the same commands through the management API.
pub async fn remote_owner_limits(
    server: &str,
    admin_key: Option<&str>,
    cmd: OwnerLimitsCommand,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(server, admin_key)?;
    super::limits::run_owner_limits(&Remote { api }, cmd).await
}

/// `keygate role … --server URL`: the same commands through the management API.
pub async fn remote_role(
    server: &str,
    admin_key: Option<&str>,
    cmd: RoleCommand,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(server, admin_key)?;
    super::roles::run(&Remote { api }, cmd).await
}
