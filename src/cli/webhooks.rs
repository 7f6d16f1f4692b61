//! `keygate webhook`: webhook endpoints, their deliveries and replays — on the store, or
//! through a running keygate's API with `--server`. Both answer JSON as the API does,
//! so every command is written once over [`Target`] and printed from that JSON.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Api, segment};
use crate::clock::Clock;
use crate::config::Config;
use crate::events::{EndpointPatch, Events, NewEndpoint};

#[derive(Args, Debug)]
pub struct WebhookArgs {
    /// Go through this running server's API (with --admin-key) instead of opening the store
    #[arg(long, global = true, env = "KEYGATE_SERVER")]
    pub server: Option<String>,
    #[command(subcommand)]
    pub command: WebhookCommand,
}

#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// The endpoints, with their filters and state
    List {
        #[arg(long)]
        json: bool,
    },
    /// The event types keygate sends
    Types,
    /// Register an endpoint; its signing secret is printed this once
    Create {
        /// http(s) URL; loopback and private addresses need events.allow_private_addresses
        url: String,
        #[arg(long)]
        description: Option<String>,
        /// Event type or family (key.revoked, key.*), repeatable; none: every type
        #[arg(long = "event-type", value_name = "TYPE")]
        event_types: Vec<String>,
        /// Only events about this owner's keys, repeatable; none: every owner
        #[arg(long = "owner", value_name = "OWNER")]
        owners: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change an endpoint
    Update {
        id: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Replaces the type filter, repeatable
        #[arg(
            long = "event-type",
            value_name = "TYPE",
            conflicts_with = "all_event_types"
        )]
        event_types: Vec<String>,
        /// Every event type
        #[arg(long)]
        all_event_types: bool,
        /// Replaces the owner filter, repeatable
        #[arg(long = "owner", value_name = "OWNER", conflicts_with = "all_owners")]
        owners: Vec<String>,
        /// Every owner
        #[arg(long)]
        all_owners: bool,
        /// Stop sending to it
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Send to it again (also after keygate disabled it)
        #[arg(long)]
        enable: bool,
    },
    /// Remove an endpoint
    Delete { id: String },
    /// A new signing secret, printed this once; the old one keeps signing for --overlap
    RotateSecret {
        id: String,
        /// How long the old secret keeps signing beside the new one (0s to 7d)
        #[arg(long, default_value = "1d")]
        overlap: String,
    },
    /// Send a webhook.test event to the endpoint now
    Test { id: String },
    /// The endpoint's deliveries with their attempts, newest first
    Deliveries {
        id: String,
        /// At most this many (1-200)
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery again now (the same webhook-id)
    Replay { id: String, delivery: String },
}

/// Where the commands go: the store (through the events service) or a server's API.
enum Target {
    Local(Arc<Events>),
    Remote(Api),
}

fn to_json<T: serde::Serialize>(v: T) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(v)?)
}

impl Target {
    async fn run(&self, cmd: &WebhookCommand) -> anyhow::Result<Value> {
        match self {
            Target::Local(ev) => local(ev, cmd).await,
            Target::Remote(api) => remote(api, cmd).await,
        }
    }
}

async fn local(ev: &Events, cmd: &WebhookCommand) -> anyhow::Result<Value> {
    use WebhookCommand as C;
    Ok(match cmd {
        C::List { .. } => json!({"endpoints": ev.endpoints().await?}),
        C::Types => Value::Null,
        C::Create {
            url,
            description,
            event_types,
            owners,
            ..
        } => {
            let (endpoint, secret) = ev
                .create(NewEndpoint {
                    url: url.clone(),
                    description: description.clone().unwrap_or_default(),
                    event_types: event_types.clone(),
                    owners: owners.clone(),
                })
                .await?;
            json!({"endpoint": endpoint, "secret": secret})
        }
        C::Update { id, .. } => to_json(ev.update(id, patch(cmd)).await?)?,
        C::Delete { id } => {
            ev.delete(id).await?;
            Value::Null
        }
        C::RotateSecret { id, overlap } => {
            let (endpoint, secret) = ev.rotate_secret(id, overlap_of(overlap)?).await?;
            json!({"endpoint": endpoint, "secret": secret})
        }
        C::Test { id } => to_json(ev.test(id).await?)?,
        C::Deliveries { id, limit, .. } => {
            json!({"deliveries": ev.deliveries(id, None, *limit).await?})
        }
        C::Replay { id, delivery } => {
            let d = ev.delivery(delivery).await?;
            if d.endpoint_id != *id {
                anyhow::bail!("no delivery {delivery} of endpoint {id}");
            }
            to_json(ev.replay(delivery).await?)?
        }
    })
}

async fn remote(api: &Api, cmd: &WebhookCommand) -> anyhow::Result<Value> {
    use WebhookCommand as C;
    let ep = |id: &str| format!("/api/webhooks/{}", segment(id));
    Ok(match cmd {
        C::List { .. } => api.get("/api/webhooks").await?,
        C::Types => Value::Null,
        C::Create {
            url,
            description,
            event_types,
            owners,
            ..
        } => {
            let body = json!({"url": url, "description": description.clone().unwrap_or_default(),
                "event_types": event_types, "owners": owners});
            api.call(Method::POST, "/api/webhooks", Some(body)).await?
        }
        C::Update { id, .. } => {
            let p = patch(cmd);
            let mut body = serde_json::Map::new();
            for (k, v) in [
                ("url", p.url.map(Value::from)),
                ("description", p.description.map(Value::from)),
                ("event_types", p.event_types.map(Value::from)),
                ("owners", p.owners.map(Value::from)),
                ("disabled", p.disabled.map(Value::from)),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), v);
                }
            }
            api.call(Method::PATCH, &ep(id), Some(Value::Object(body)))
                .await?
        }
        C::Delete { id } => api.call(Method::DELETE, &ep(id), None).await?,
        C::RotateSecret { id, overlap } => {
            let secs = overlap_of(overlap)?.as_secs();
            api.call(
                Method::POST,
                &format!("{}/rotate-secret", ep(id)),
                Some(json!({"overlap_secs": secs})),
            )
            .await?
        }
        C::Test { id } => {
            api.call(Method::POST, &format!("{}/test", ep(id)), None)
                .await?
        }
        C::Deliveries { id, limit, .. } => {
            api.get(&format!("{}/deliveries?limit={limit}", ep(id)))
                .await?
        }
        C::Replay { id, delivery } => {
            api.call(
                Method::POST,
                &format!("{}/deliveries/{}/replay", ep(id), segment(delivery)),
                None,
            )
            .await?
        }
    })
}

fn patch(cmd: &WebhookCommand) -> EndpointPatch {
    let WebhookCommand::Update {
        url,
        description,
        event_types,
        all_event_types,
        owners,
        all_owners,
        disable,
        enable,
        ..
    } = cmd
    else {
        return EndpointPatch::default();
    };
    EndpointPatch {
        url: url.clone(),
        description: description.clone(),
        event_types: (*all_event_types || !event_types.is_empty()).then(|| event_types.clone()),
        owners: (*all_owners || !owners.is_empty()).then(|| owners.clone()),
        disabled: match (disable, enable) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
    }
}

fn overlap_of(s: &str) -> anyhow::Result<Duration> {
    let d = humantime::parse_duration(s)
        .map_err(|e| anyhow::anyhow!("--overlap {s:?}: {e} (e.g. 1d, 12h, 0s)"))?;
    if d > Duration::from_secs(7 * 86_400) {
        anyhow::bail!("--overlap is at most 7d");
    }
    Ok(d)
}

/// Runs a command on the store (`server: None`) or a server's API.
pub async fn webhook_command(
    config: Option<Config>,
    server: Option<(&str, Option<&str>)>,
    cmd: WebhookCommand,
) -> anyhow::Result<ExitCode> {
    let target = match (server, config) {
        (Some((url, admin)), _) => Target::Remote(super::client::api(url, admin)?),
        (None, Some(config)) => {
            let (store, _) = crate::app::open_store(&config)?;
            let settings =
                crate::events::Settings::from_config(&config.events).map_err(anyhow::Error::msg)?;
            Target::Local(Arc::new(
                Events::new(store, Clock::system(), settings).map_err(anyhow::Error::msg)?,
            ))
        }
        (None, None) => anyhow::bail!("no configuration"),
    };
    if let WebhookCommand::Types = cmd {
        for (t, what) in crate::model::event::EVENT_TYPES {
            println!("{t:<16} {what}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let out = target.run(&cmd).await?;
    print(&cmd, &out)?;
    Ok(ExitCode::SUCCESS)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(t) => t.clone(),
        Value::Null => "-".into(),
        Value::Array(a) if a.is_empty() => "all".into(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn print_endpoint(e: &Value) {
    let state = if e["disabled"] == true {
        format!("DISABLED {}", e["disabled_reason"].as_str().unwrap_or(""))
    } else if !e["failing_since"].is_null() {
        format!("failing since {}", s(&e["failing_since"]))
    } else {
        "active".into()
    };
    println!(
        "{}  {}  types={} owners={}  {}  secret {}",
        s(&e["id"]),
        s(&e["url"]),
        s(&e["event_types"]),
        s(&e["owners"]),
        state.trim(),
        s(&e["secret_hint"])
    );
}

fn print(cmd: &WebhookCommand, out: &Value) -> anyhow::Result<()> {
    use WebhookCommand as C;
    let json_wanted = matches!(
        cmd,
        C::List { json: true } | C::Create { json: true, .. } | C::Deliveries { json: true, .. }
    );
    if json_wanted {
        println!("{}", serde_json::to_string_pretty(out)?);
        return Ok(());
    }
    match cmd {
        C::List { .. } => {
            let list = out["endpoints"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no webhook endpoints");
            }
            list.iter().for_each(print_endpoint);
        }
        C::Create { .. } | C::RotateSecret { .. } => {
            print_endpoint(&out["endpoint"]);
            println!(
                "signing secret (shown once; give it to the receiver):\n{}",
                s(&out["secret"])
            );
        }
        C::Update { .. } => print_endpoint(out),
        C::Delete { id } => println!("deleted {id}"),
        C::Test { .. } | C::Replay { .. } => {
            println!(
                "queued delivery {} ({})",
                s(&out["id"]),
                s(&out["event_type"])
            );
        }
        C::Deliveries { .. } => {
            for d in out["deliveries"].as_array().cloned().unwrap_or_default() {
                let attempts = d["attempts"].as_array().cloned().unwrap_or_default();
                let last = attempts.last().map_or_else(
                    || "no attempt yet".to_owned(),
                    |a| match (&a["status"], &a["error"]) {
                        (Value::Number(n), Value::Null) => format!("{n}"),
                        (st, e) => format!("{} {}", s(st), s(e)),
                    },
                );
                println!(
                    "{}  {}  {}  {} attempt(s), last: {last}",
                    s(&d["id"]),
                    s(&d["event_type"]),
                    s(&d["state"]),
                    attempts.len()
                );
            }
        }
        C::Types => {}
    }
    Ok(())
}
