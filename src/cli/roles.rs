//! `keygate role`: roles (named sets of permissions) and the roles granted to owners;
//! and the grant flags of `token create`/`update` (`--role`, `--permission`, whether a
//! key inherits its owner's roles).
//!
//! Every command is written once against [`RoleOps`] (the store, or a running keygate's
//! API with `--server`). Names are parsed here, before anything is sent, so a bad one is
//! refused with the flag that carried it and the position of the fault.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::clock::Clock;
use crate::config::Config;
use crate::manage::{GrantsPatch, KeyGrants, RolePatch};
use crate::permissions::{Permission, RoleName};

use super::local::local_keys;
use super::ops::Local;
use super::print::{print_owner_roles, print_role, print_roles};
use super::role_ops::{RoleOps, name_flags};

#[derive(Args, Debug)]
pub struct RoleArgs {
    /// Go through this running server's API (with --admin-key) instead of opening the store
    #[arg(long, global = true, env = "KEYGATE_SERVER")]
    pub server: Option<String>,
    #[command(subcommand)]
    pub command: RoleCommand,
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// List the roles: their permissions and the owners granted each
    List {
        /// JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Show one role
    Show {
        name: String,
        /// JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Create a role: 1-64 of A-Z a-z 0-9 _ . : -, beginning with a letter or digit
    Create {
        name: String,
        /// What the role is for (at most 500 characters)
        #[arg(long)]
        description: Option<String>,
        /// Permission, repeatable: billing.read, docs.* (a `*` segment matches one segment; at the end, one or more)
        #[arg(long = "permission", value_name = "P")]
        permissions: Vec<String>,
        /// Print the role as JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Change a role's description or permissions; every key holding it is judged by the new set at once
    Update {
        name: String,
        /// A new description
        #[arg(long)]
        description: Option<String>,
        /// Permission, repeatable; the ones given replace the role's list
        #[arg(
            long = "permission",
            value_name = "P",
            conflicts_with = "clear_permissions"
        )]
        permissions: Vec<String>,
        /// Remove every permission of the role
        #[arg(long)]
        clear_permissions: bool,
        /// Print the role as JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Delete a role; one that keys or owners hold is refused unless --detach
    Delete {
        name: String,
        /// Take the role off every key and owner holding it first
        #[arg(long)]
        detach: bool,
    },
    /// Grant roles to an owner: every key of theirs holds them (unless made with --no-owner-roles)
    Grant {
        owner: String,
        #[arg(required = true, value_name = "ROLE")]
        roles: Vec<String>,
        /// Print the owner's roles as JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Take roles from an owner (their keys' own roles stay)
    Revoke {
        owner: String,
        #[arg(required = true, value_name = "ROLE")]
        roles: Vec<String>,
        /// Print the owner's roles as JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
    /// Show the roles granted to an owner
    Owner {
        owner: String,
        /// JSON, as the API answers
        #[arg(long)]
        json: bool,
    },
}

/// The grant flags of `token create`.
#[derive(Args, Debug, Default, Clone)]
pub struct GrantFlags {
    /// Role the key holds itself, repeatable (`keygate role list`)
    #[arg(long = "role", value_name = "NAME")]
    pub roles: Vec<String>,
    /// Permission attached to the key itself, repeatable: billing.read, docs.*
    #[arg(long = "permission", value_name = "P")]
    pub permissions: Vec<String>,
    /// The key does not hold its owner's roles (`keygate role grant`)
    #[arg(long)]
    pub no_owner_roles: bool,
}

impl GrantFlags {
    pub fn grants(&self) -> anyhow::Result<KeyGrants> {
        Ok(KeyGrants {
            roles: role_flags(&self.roles)?,
            permissions: permission_flags(&self.permissions)?,
            inherit_owner_roles: !self.no_owner_roles,
        })
    }
}

/// The grant flags of `token update`.
#[derive(Args, Debug, Default)]
pub struct GrantUpdateFlags {
    /// Role, repeatable; the ones given replace the key's roles
    #[arg(long = "role", value_name = "NAME", conflicts_with = "clear_roles")]
    roles: Vec<String>,
    /// Remove every role of the key
    #[arg(long)]
    clear_roles: bool,
    /// Permission, repeatable; the ones given replace the key's own permissions
    #[arg(
        long = "permission",
        value_name = "P",
        conflicts_with = "clear_permissions"
    )]
    permissions: Vec<String>,
    /// Remove every permission attached to the key itself
    #[arg(long)]
    clear_permissions: bool,
    /// Whether the key holds its owner's roles
    #[arg(long, value_name = "true|false")]
    owner_roles: Option<bool>,
}

impl GrantUpdateFlags {
    /// The change these flags ask for (`None`: no grant flag was given).
    pub fn patch(&self) -> anyhow::Result<Option<GrantsPatch>> {
        let replace = |given: bool, clear: bool| given || clear;
        let p = GrantsPatch {
            roles: replace(!self.roles.is_empty(), self.clear_roles)
                .then(|| role_flags(&self.roles))
                .transpose()?,
            permissions: replace(!self.permissions.is_empty(), self.clear_permissions)
                .then(|| permission_flags(&self.permissions))
                .transpose()?,
            inherit_owner_roles: self.owner_roles,
        };
        Ok((!p.is_empty()).then_some(p))
    }
}

/// The fields of a key's grants and the flags that set them, for [`name_flags`].
pub const GRANT_FLAGS: &[(&str, &str)] = &[("roles", "--role"), ("permissions", "--permission")];

/// `--role` values, each a well-formed role name.
pub fn role_flags(items: &[String]) -> anyhow::Result<Vec<RoleName>> {
    items
        .iter()
        .map(|r| RoleName::parse(r).map_err(|e| anyhow::anyhow!("--role: {e}")))
        .collect()
}

/// `--permission` values, each a well-formed permission (the message names the
/// position of the fault).
pub fn permission_flags(items: &[String]) -> anyhow::Result<Vec<Permission>> {
    items
        .iter()
        .map(|p| Permission::parse(p).map_err(|e| anyhow::anyhow!("--permission: {e}")))
        .collect()
}

/// A role name given as an argument (its message names the value and what is wrong).
fn role_arg(s: &str) -> anyhow::Result<RoleName> {
    RoleName::parse(s).map_err(anyhow::Error::msg)
}

/// `keygate role …` on the configured store.
pub(super) async fn role_command(config: Config, cmd: RoleCommand) -> anyhow::Result<ExitCode> {
    let clock = Clock::system();
    let keys = local_keys(&config, &clock)?;
    run(&Local { keys, clock }, cmd).await
}

/// The fields of a role and the flags that set them, for [`name_flags`].
const ROLE_FLAGS: &[(&str, &str)] = &[
    ("permissions", "--permission"),
    ("description", "--description"),
    ("name", ""),
];

/// Every `keygate role` command, written once against [`RoleOps`].
pub(super) async fn run(ops: &dyn RoleOps, cmd: RoleCommand) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        RoleCommand::List { json } => print_roles(&mut out, &ops.roles().await?, json)?,
        RoleCommand::Show { name, json } => {
            print_role(&mut out, &ops.role(&role_arg(&name)?).await?, json)?;
        }
        RoleCommand::Create {
            name,
            description,
            permissions,
            json,
        } => {
            let name = role_arg(&name)?;
            let permissions = permission_flags(&permissions)?;
            let role = ops
                .create_role(&name, description.unwrap_or_default(), permissions)
                .await
                .map_err(|e| name_flags(e, ROLE_FLAGS))?;
            print_role(&mut out, &role, json)?;
            eprintln!("created role {name}");
        }
        RoleCommand::Update {
            name,
            description,
            permissions,
            clear_permissions,
            json,
        } => {
            let name = role_arg(&name)?;
            let permissions = (clear_permissions || !permissions.is_empty())
                .then(|| permission_flags(&permissions))
                .transpose()?;
            if description.is_none() && permissions.is_none() {
                bail!("nothing to change: give --description, --permission or --clear-permissions");
            }
            let patch = RolePatch {
                description,
                permissions,
            };
            let role = ops
                .update_role(&name, patch)
                .await
                .map_err(|e| name_flags(e, ROLE_FLAGS))?;
            print_role(&mut out, &role, json)?;
            eprintln!("updated role {name}");
        }
        RoleCommand::Delete { name, detach } => {
            let name = role_arg(&name)?;
            ops.delete_role(&name, detach).await?;
            eprintln!("deleted role {name}");
        }
        RoleCommand::Grant { owner, roles, json } => {
            let given = roles
                .iter()
                .map(|r| role_arg(r))
                .collect::<Result<Vec<_>, _>>()?;
            let before = owner_roles(ops, &owner).await?;
            let mut held = before.clone();
            for r in given {
                if held.contains(&r) {
                    eprintln!("owner {owner} holds role {r} already");
                } else {
                    held.push(r);
                }
            }
            let now = set(ops, &owner, &before, &held).await?;
            print_owner_roles(&mut out, &owner, &now, json)?;
        }
        RoleCommand::Revoke { owner, roles, json } => {
            let given = roles
                .iter()
                .map(|r| role_arg(r))
                .collect::<Result<Vec<_>, _>>()?;
            let before = owner_roles(ops, &owner).await?;
            for r in given.iter().filter(|r| !before.contains(r)) {
                eprintln!("owner {owner} does not hold role {r}");
            }
            let mut held = before.clone();
            held.retain(|r| !given.contains(r));
            let now = set(ops, &owner, &before, &held).await?;
            print_owner_roles(&mut out, &owner, &now, json)?;
        }
        RoleCommand::Owner { owner, json } => {
            let roles = ops.owner_roles(&owner).await?;
            print_owner_roles(&mut out, &owner, &roles, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An owner's roles, parsed (they were valid names when granted).
///
/// `grant` and `revoke` read the owner's roles, change them and set the result: a
/// change made by someone else in between is overwritten. The API offers only "set
/// exactly these", and an operator granting roles by hand does not race themselves.
async fn owner_roles(ops: &dyn RoleOps, owner: &str) -> anyhow::Result<Vec<RoleName>> {
    ops.owner_roles(owner)
        .await?
        .iter()
        .map(|r| role_arg(r))
        .collect()
}

/// Sets an owner's roles when they change (`before` → `roles`) and says so; an unknown
/// role is refused in the service's words (`there is no role `x``), the argument that
/// carried it being plain.
async fn set(
    ops: &dyn RoleOps,
    owner: &str,
    before: &[RoleName],
    roles: &[RoleName],
) -> anyhow::Result<Vec<String>> {
    if before == roles {
        eprintln!(
            "nothing changed; owner {owner} holds {} role(s)",
            roles.len()
        );
        return Ok(roles.iter().map(ToString::to_string).collect());
    }
    let now = ops
        .set_owner_roles(owner, roles)
        .await
        .map_err(|e| name_flags(e, &[("roles", "")]))?;
    eprintln!("owner {owner} now holds {} role(s)", now.len());
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_flags_parse_and_name_the_flag() {
        let g = GrantFlags {
            roles: vec!["reader".into()],
            permissions: vec!["docs.*".into()],
            no_owner_roles: true,
        }
        .grants()
        .unwrap();
        assert_eq!(g.roles[0].as_str(), "reader");
        assert!(!g.inherit_owner_roles);
        let e = permission_flags(&["a..b".into()]).unwrap_err().to_string();
        assert!(
            e.starts_with("--permission: ") && e.contains("at position 3"),
            "{e}"
        );
        let e = role_flags(&["-x".into()]).unwrap_err().to_string();
        assert!(e.starts_with("--role: "), "{e}");
    }

    #[test]
    fn update_flags_replace_clear_or_leave() {
        let none = GrantUpdateFlags::default();
        assert!(none.patch().unwrap().is_none());
        let clear = GrantUpdateFlags {
            clear_roles: true,
            owner_roles: Some(false),
            ..GrantUpdateFlags::default()
        };
        let p = clear.patch().unwrap().unwrap();
        assert_eq!(p.roles, Some(vec![]));
        assert!(p.permissions.is_none());
        assert_eq!(p.inherit_owner_roles, Some(false));
    }
}
