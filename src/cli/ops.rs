//! What the key commands do to keys, said once: [`KeyOps`], implemented on the local
//! store ([`Local`], the key service) and on a running keygate's API ([`Remote`],
//! `--server`). `keygate token …` is written once against it (`token::run`), so the two
//! ways cannot drift apart.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Api, list_all_pages, segment};
use crate::clock::{Clock, Timestamp};
use crate::manage::{
    Actor, EffectivePermission, GrantsPatch, Keys, LimitsPatch, LimitsView, NewToken, Patch,
    Removed, TokenView,
};
use crate::store::TokenId;

/// A key just made (created or rotated into): the only time `key` is shown.
pub struct Made {
    pub key: String,
    pub id: String,
    pub hint: String,
    pub owner: String,
}

/// A key that was changed: its id and, when the answer said it, its hint.
pub struct Changed {
    pub id: String,
    pub hint: Option<String>,
}

/// What a revoke removed.
pub enum Revoked {
    /// The key, as it was.
    Key {
        id: String,
        hint: String,
        owner: String,
    },
    /// A record that no longer decoded.
    Damaged { id: String },
    /// The key of this id (the API answers 204 without saying more).
    Id(String),
}

/// A key left out of a listing: its record does not decode — or, with `newer` (the
/// message saying so), is in a record format newer than this keygate reads.
pub struct Unlisted {
    pub id: String,
    pub newer: Option<String>,
}

/// The key operations of the CLI.
#[async_trait]
pub trait KeyOps: Send + Sync {
    async fn create(&self, t: NewToken) -> anyhow::Result<Made>;
    /// One key as people see it (with its live balance).
    async fn view(&self, id: &TokenId) -> anyhow::Result<TokenView>;
    /// Every key (of `owner`), and the records that no longer decode.
    async fn list(&self, owner: Option<&str>) -> anyhow::Result<(Vec<TokenView>, Vec<Unlisted>)>;
    async fn update(&self, id: &TokenId, patch: Patch) -> anyhow::Result<Changed>;
    async fn set_disabled(&self, id: &TokenId, disabled: bool) -> anyhow::Result<Changed>;
    async fn revoke(&self, id: &TokenId) -> anyhow::Result<Revoked>;
    async fn rotate(
        &self,
        id: &TokenId,
        grace: Duration,
        expiry: Option<Option<Timestamp>>,
    ) -> anyhow::Result<Made>;
    /// An owner's limits, in the API's shape (`GET /api/users/{sub}/limits`).
    async fn owner_limits(&self, owner: &str) -> anyhow::Result<Value>;
    async fn set_owner_limits(&self, owner: &str, limits: LimitsView) -> anyhow::Result<Value>;
    async fn clear_owner_limits(&self, owner: &str) -> anyhow::Result<()>;
    /// A key's effective permissions, sorted, each with where it comes from.
    async fn permissions(&self, id: &TokenId) -> anyhow::Result<Vec<EffectivePermission>>;
}

/// The key service on the configured store (`keygate token …` without `--server`).
pub struct Local {
    pub keys: Keys,
    pub clock: Clock,
}

#[async_trait]
impl KeyOps for Local {
    async fn create(&self, t: NewToken) -> anyhow::Result<Made> {
        let (key, r) = self.keys.create(t, &Actor::cli()).await?;
        Ok(Made {
            key: key.expose().to_owned(),
            id: r.id.to_string(),
            hint: r.hint,
            owner: r.owner,
        })
    }

    async fn view(&self, id: &TokenId) -> anyhow::Result<TokenView> {
        let r = self
            .keys
            .get(id)
            .await
            .map_err(|e| not_found(e, id.as_str()))?;
        let balance = self
            .keys
            .balances(std::slice::from_ref(&r))
            .await?
            .pop()
            .flatten();
        Ok(TokenView::of(&r, self.clock.now(), balance))
    }

    async fn list(&self, owner: Option<&str>) -> anyhow::Result<(Vec<TokenView>, Vec<Unlisted>)> {
        let list = self.keys.list(owner).await?;
        let balances = self.keys.balances(&list.records).await?;
        let now = self.clock.now();
        let views = list
            .records
            .iter()
            .zip(balances)
            .map(|(r, b)| TokenView::of(r, now, b))
            .collect();
        let unlisted = list
            .damaged
            .iter()
            .map(|id| Unlisted {
                id: id.to_string(),
                newer: list
                    .newer
                    .get(id)
                    .map(|v| crate::store::codec::newer_format_message(id.as_str(), *v)),
            })
            .collect();
        Ok((views, unlisted))
    }

    async fn update(&self, id: &TokenId, patch: Patch) -> anyhow::Result<Changed> {
        let r = self
            .keys
            .update(id, patch, &Actor::cli())
            .await
            .map_err(|e| not_found(e, id.as_str()))?;
        Ok(Changed {
            id: r.id.to_string(),
            hint: Some(r.hint),
        })
    }

    async fn set_disabled(&self, id: &TokenId, disabled: bool) -> anyhow::Result<Changed> {
        let r = self
            .keys
            .set_disabled(id, disabled, &Actor::cli())
            .await
            .map_err(|e| not_found(e, id.as_str()))?;
        Ok(Changed {
            id: r.id.to_string(),
            hint: Some(r.hint),
        })
    }

    async fn revoke(&self, id: &TokenId) -> anyhow::Result<Revoked> {
        match self.keys.revoke(id, &Actor::cli()).await {
            Ok(Removed::Key(r)) => Ok(Revoked::Key {
                id: r.id.to_string(),
                hint: r.hint,
                owner: r.owner,
            }),
            Ok(Removed::Damaged { id, .. }) => Ok(Revoked::Damaged { id: id.to_string() }),
            Err(e) => Err(not_found(e, id.as_str())),
        }
    }

    async fn rotate(
        &self,
        id: &TokenId,
        grace: Duration,
        expiry: Option<Option<Timestamp>>,
    ) -> anyhow::Result<Made> {
        let r = self
            .keys
            .rotate_with(id, grace, expiry, &Actor::cli())
            .await
            .map_err(|e| not_found(e, id.as_str()))?;
        Ok(Made {
            key: r.key.expose().to_owned(),
            id: r.new.id.to_string(),
            hint: r.new.hint,
            owner: r.new.owner,
        })
    }

    async fn owner_limits(&self, owner: &str) -> anyhow::Result<Value> {
        Ok(serde_json::to_value(self.keys.owner_limits(owner).await?)?)
    }

    async fn set_owner_limits(&self, owner: &str, limits: LimitsView) -> anyhow::Result<Value> {
        let v = self
            .keys
            .set_owner_limits(owner, &limits, &Actor::cli())
            .await?;
        Ok(serde_json::to_value(v)?)
    }

    async fn clear_owner_limits(&self, owner: &str) -> anyhow::Result<()> {
        Ok(self.keys.clear_owner_limits(owner, &Actor::cli()).await?)
    }

    async fn permissions(&self, id: &TokenId) -> anyhow::Result<Vec<EffectivePermission>> {
        let r = self
            .keys
            .get(id)
            .await
            .map_err(|e| not_found(e, id.as_str()))?;
        Ok(self.keys.effective(&r).await?)
    }
}

/// A running keygate's management API, as the admin (`--server`), so the embedded
/// store never has to be stopped.
pub struct Remote {
    pub api: Api,
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or("?").to_owned()
}

#[async_trait]
impl KeyOps for Remote {
    async fn create(&self, t: NewToken) -> anyhow::Result<Made> {
        let mut body = json!({
            "name": t.name, "expires_at": t.expires_at, "rules": t.rules, "metadata": t.metadata,
        });
        if let Some(l) = &t.limits {
            body["limits"] = serde_json::to_value(l)?;
        }
        let g = &t.grants;
        body["roles"] = json!(g.roles);
        body["permissions"] = json!(g.permissions);
        body["inherit_owner_roles"] = g.inherit_owner_roles.into();
        let r = self
            .api
            .call(
                Method::POST,
                &format!("/api/users/{}/tokens", segment(&t.owner)),
                Some(body),
            )
            .await?;
        Ok(Made {
            key: r["key"].as_str().unwrap_or_default().to_owned(),
            id: text(&r, "id"),
            hint: text(&r, "hint"),
            owner: t.owner,
        })
    }

    async fn view(&self, id: &TokenId) -> anyhow::Result<TokenView> {
        let v = self
            .api
            .call(Method::GET, &format!("/api/tokens/{id}"), None)
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    async fn list(&self, owner: Option<&str>) -> anyhow::Result<(Vec<TokenView>, Vec<Unlisted>)> {
        let path = match owner {
            Some(o) => format!("/api/users/{}/tokens", segment(o)),
            None => "/api/tokens".to_owned(),
        };
        let (views, damaged) = list_all_pages(&self.api, &path).await?;
        let unlisted = damaged
            .into_iter()
            .map(|id| Unlisted { id, newer: None })
            .collect();
        Ok((views, unlisted))
    }

    async fn update(&self, id: &TokenId, patch: Patch) -> anyhow::Result<Changed> {
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
        if let Some(g) = &patch.grants {
            grants_patch_json(g, &mut body);
        }
        let r = self
            .api
            .call(
                Method::PATCH,
                &format!("/api/tokens/{id}"),
                Some(Value::Object(body)),
            )
            .await?;
        Ok(Changed {
            id: id.to_string(),
            hint: Some(text(&r, "hint")),
        })
    }

    async fn set_disabled(&self, id: &TokenId, disabled: bool) -> anyhow::Result<Changed> {
        self.api
            .call(
                Method::PATCH,
                &format!("/api/tokens/{id}"),
                Some(json!({ "disabled": disabled })),
            )
            .await?;
        Ok(Changed {
            id: id.to_string(),
            hint: None,
        })
    }

    async fn revoke(&self, id: &TokenId) -> anyhow::Result<Revoked> {
        self.api
            .call(Method::DELETE, &format!("/api/tokens/{id}"), None)
            .await?;
        Ok(Revoked::Id(id.to_string()))
    }

    async fn rotate(
        &self,
        id: &TokenId,
        grace: Duration,
        expiry: Option<Option<Timestamp>>,
    ) -> anyhow::Result<Made> {
        let mut body = json!({"grace_seconds": grace.as_secs()});
        if let Some(e) = expiry {
            body["expires_at"] = serde_json::to_value(e)?;
        }
        let r = self
            .api
            .call(
                Method::POST,
                &format!("/api/tokens/{id}/rotate"),
                Some(body),
            )
            .await?;
        Ok(Made {
            key: r["key"].as_str().unwrap_or_default().to_owned(),
            id: text(&r, "id"),
            hint: text(&r, "hint"),
            owner: String::new(),
        })
    }

    async fn owner_limits(&self, owner: &str) -> anyhow::Result<Value> {
        self.api.call(Method::GET, &owner_path(owner), None).await
    }

    async fn set_owner_limits(&self, owner: &str, limits: LimitsView) -> anyhow::Result<Value> {
        self.api
            .call(
                Method::PUT,
                &owner_path(owner),
                Some(serde_json::to_value(limits)?),
            )
            .await
    }

    async fn clear_owner_limits(&self, owner: &str) -> anyhow::Result<()> {
        self.api
            .call(Method::DELETE, &owner_path(owner), None)
            .await
            .map(|_| ())
    }

    async fn permissions(&self, id: &TokenId) -> anyhow::Result<Vec<EffectivePermission>> {
        let v = self
            .api
            .call(Method::GET, &format!("/api/tokens/{id}/permissions"), None)
            .await?;
        Ok(serde_json::from_value(v["permissions"].clone())?)
    }
}

fn owner_path(owner: &str) -> String {
    format!("/api/users/{}/limits", segment(owner))
}

fn not_found(e: crate::manage::ManageError, id: &str) -> anyhow::Error {
    match e {
        crate::manage::ManageError::NotFound => anyhow::anyhow!("no key with id `{id}`"),
        e => e.into(),
    }
}

/// A change of grants into the API's PATCH body (absent: unchanged; lists replace).
fn grants_patch_json(g: &GrantsPatch, body: &mut serde_json::Map<String, Value>) {
    if let Some(r) = &g.roles {
        body.insert("roles".into(), json!(r));
    }
    if let Some(p) = &g.permissions {
        body.insert("permissions".into(), json!(p));
    }
    if let Some(i) = g.inherit_owner_roles {
        body.insert("inherit_owner_roles".into(), i.into());
    }
}

/// A change of limits as the API's PATCH body takes it.
pub fn limits_patch_json(p: &LimitsPatch) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(r) = &p.rate_limits {
        m.insert("rate_limits".into(), serde_json::json!(r));
    }
    match &p.credits {
        None => {}
        Some(None) => {
            m.insert("credits".into(), Value::Null);
        }
        Some(Some(c)) => {
            let mut cm = serde_json::Map::new();
            if let Some(n) = c.remaining {
                cm.insert("remaining".into(), n.into());
            }
            match c.refill {
                None => {}
                Some(None) => {
                    cm.insert("refill".into(), Value::Null);
                }
                Some(Some(r)) => {
                    cm.insert("refill".into(), serde_json::json!(r));
                }
            }
            m.insert("credits".into(), Value::Object(cm));
        }
    }
    Value::Object(m)
}
