//! What the role commands do to roles and owner grants, said once: [`RoleOps`],
//! implemented on the local store ([`Local`]) and on a running keygate's API
//! ([`Remote`]), as [`super::ops::KeyOps`] is for keys. Both answer a refusal in the
//! same words (`no role `x``, `give --detach …`), so the CLI reads the same either way.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Refused, segment};
use super::ops::{Local, Remote};
use crate::manage::{Actor, ManageError, RolePatch, RoleView};
use crate::permissions::{Permission, RoleName};

/// The role operations of the CLI.
#[async_trait]
pub trait RoleOps: Send + Sync {
    /// Every role, sorted by name.
    async fn roles(&self) -> anyhow::Result<Vec<RoleView>>;
    async fn role(&self, name: &RoleName) -> anyhow::Result<RoleView>;
    async fn create_role(
        &self,
        name: &RoleName,
        description: String,
        permissions: Vec<Permission>,
    ) -> anyhow::Result<RoleView>;
    async fn update_role(&self, name: &RoleName, patch: RolePatch) -> anyhow::Result<RoleView>;
    /// Refused while keys or owners hold the role, unless `detach`.
    async fn delete_role(&self, name: &RoleName, detach: bool) -> anyhow::Result<()>;
    /// The roles granted to `owner`.
    async fn owner_roles(&self, owner: &str) -> anyhow::Result<Vec<String>>;
    /// Grants `owner` exactly `roles`; answers what they hold now.
    async fn set_owner_roles(&self, owner: &str, roles: &[RoleName])
    -> anyhow::Result<Vec<String>>;
}

/// The words for a role that does not exist.
fn no_role(name: &RoleName) -> anyhow::Error {
    anyhow::anyhow!("no role `{name}`")
}

/// The words for deleting a role still held: the CLI's flag, not the API's parameter.
fn in_use(name: &RoleName, held: &str) -> anyhow::Error {
    anyhow::anyhow!("role `{name}` {held}; give --detach to take it off them first")
}

#[async_trait]
impl RoleOps for Local {
    async fn roles(&self) -> anyhow::Result<Vec<RoleView>> {
        Ok(self.keys.roles().await?)
    }

    async fn role(&self, name: &RoleName) -> anyhow::Result<RoleView> {
        self.keys.role(name).await.map_err(|e| local(e, name))
    }

    async fn create_role(
        &self,
        name: &RoleName,
        description: String,
        permissions: Vec<Permission>,
    ) -> anyhow::Result<RoleView> {
        Ok(self
            .keys
            .create_role(name.clone(), description, permissions, &Actor::cli())
            .await?)
    }

    async fn update_role(&self, name: &RoleName, patch: RolePatch) -> anyhow::Result<RoleView> {
        self.keys
            .update_role(name, patch, &Actor::cli())
            .await
            .map_err(|e| local(e, name))
    }

    async fn delete_role(&self, name: &RoleName, detach: bool) -> anyhow::Result<()> {
        self.keys
            .delete_role(name, detach, &Actor::cli())
            .await
            .map_err(|e| local(e, name))
    }

    async fn owner_roles(&self, owner: &str) -> anyhow::Result<Vec<String>> {
        let roles = self.keys.owner_roles(owner).await?;
        Ok(roles.iter().map(ToString::to_string).collect())
    }

    async fn set_owner_roles(
        &self,
        owner: &str,
        roles: &[RoleName],
    ) -> anyhow::Result<Vec<String>> {
        let roles = self
            .keys
            .set_owner_roles(owner, roles.to_vec(), &Actor::cli())
            .await?;
        Ok(roles.iter().map(ToString::to_string).collect())
    }
}

/// The key service's refusals about `name` in the CLI's words.
fn local(e: ManageError, name: &RoleName) -> anyhow::Error {
    match e {
        ManageError::RoleNotFound => no_role(name),
        ManageError::RoleInUse { keys, owners } => in_use(
            name,
            &format!("is held by {keys} key(s) and {owners} owner(s)"),
        ),
        e => e.into(),
    }
}

fn role_path(name: &RoleName) -> String {
    format!("/api/roles/{}", segment(name.as_str()))
}

fn owner_path(owner: &str) -> String {
    format!("/api/users/{}/roles", segment(owner))
}

/// The names of an `OwnerRoles` answer.
fn names(v: &Value) -> Vec<String> {
    v["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

#[async_trait]
impl RoleOps for Remote {
    async fn roles(&self) -> anyhow::Result<Vec<RoleView>> {
        let v = self.api.call(Method::GET, "/api/roles", None).await?;
        Ok(serde_json::from_value(v["roles"].clone())?)
    }

    async fn role(&self, name: &RoleName) -> anyhow::Result<RoleView> {
        let v = self
            .api
            .call(Method::GET, &role_path(name), None)
            .await
            .map_err(|e| remote(e, name))?;
        Ok(serde_json::from_value(v)?)
    }

    async fn create_role(
        &self,
        name: &RoleName,
        description: String,
        permissions: Vec<Permission>,
    ) -> anyhow::Result<RoleView> {
        let body = json!({"name": name, "description": description, "permissions": permissions});
        let v = self
            .api
            .call(Method::POST, "/api/roles", Some(body))
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    async fn update_role(&self, name: &RoleName, patch: RolePatch) -> anyhow::Result<RoleView> {
        let mut body = serde_json::Map::new();
        if let Some(d) = patch.description {
            body.insert("description".into(), d.into());
        }
        if let Some(p) = patch.permissions {
            body.insert("permissions".into(), json!(p));
        }
        let v = self
            .api
            .call(Method::PATCH, &role_path(name), Some(Value::Object(body)))
            .await
            .map_err(|e| remote(e, name))?;
        Ok(serde_json::from_value(v)?)
    }

    async fn delete_role(&self, name: &RoleName, detach: bool) -> anyhow::Result<()> {
        let mut path = role_path(name);
        if detach {
            path.push_str("?detach=true");
        }
        self.api
            .call(Method::DELETE, &path, None)
            .await
            .map(|_| ())
            .map_err(|e| remote(e, name))
    }

    async fn owner_roles(&self, owner: &str) -> anyhow::Result<Vec<String>> {
        let v = self.api.call(Method::GET, &owner_path(owner), None).await?;
        Ok(names(&v))
    }

    async fn set_owner_roles(
        &self,
        owner: &str,
        roles: &[RoleName],
    ) -> anyhow::Result<Vec<String>> {
        let v = self
            .api
            .call(
                Method::PUT,
                &owner_path(owner),
                Some(json!({ "roles": roles })),
            )
            .await?;
        Ok(names(&v))
    }
}

/// The API's refusals about `name` in the CLI's words (its in-use message names the
/// query parameter `detach=true`; the CLI's flag is `--detach`).
fn remote(e: anyhow::Error, name: &RoleName) -> anyhow::Error {
    let Some(r) = e.downcast_ref::<Refused>() else {
        return e;
    };
    match r.code.as_str() {
        "not_found" => no_role(name),
        "role_in_use" => {
            let held = r.message.split(';').next().unwrap_or_default();
            in_use(name, held.strip_prefix("the role ").unwrap_or(held))
        }
        _ => e,
    }
}

/// Says which flag a refusal of the key service or the API is about: a refusal of
/// field `roles` becomes `--role: there is no role `x`` with `("roles", "--role")`. An
/// empty flag gives the message alone (for positional arguments, whose message names
/// the value already).
pub(super) fn name_flags(e: anyhow::Error, flags: &[(&str, &str)]) -> anyhow::Error {
    let said = match (e.downcast_ref::<ManageError>(), e.downcast_ref::<Refused>()) {
        (Some(ManageError::Invalid { field, message }), _) => Some((*field, message)),
        (
            _,
            Some(Refused {
                field: Some(field),
                message,
                ..
            }),
        ) => Some((field.as_str(), message)),
        _ => None,
    };
    let Some((field, message)) = said else {
        return e;
    };
    match flags.iter().find(|(f, _)| *f == field) {
        Some((_, "")) => anyhow::anyhow!("{message}"),
        Some((_, flag)) => anyhow::anyhow!("{flag}: {message}"),
        None => e,
    }
}
