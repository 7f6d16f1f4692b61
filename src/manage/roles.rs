//! Roles, owner grants and the grants on keys: the catalogue written with a
//! compare-and-set (so replicas changing roles at once never lose a change), the checks
//! that keep self-service keys within their owner's grants, and the audit of every
//! change.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::invalid;
use super::{Actor, Keys, ManageError};
use crate::clock::Timestamp;
use crate::permissions::{
    CATALOGUE_META, Catalogue, MAX_DESCRIPTION_LEN, MAX_KEY_PERMISSIONS, MAX_ROLE_PERMISSIONS,
    MAX_ROLES, MAX_ROLES_HELD, Permission, Role, RoleName, covered_by,
};
use crate::store::{AuditChange, TokenRecord};

/// What a key is granted directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGrants {
    pub roles: Vec<RoleName>,
    pub permissions: Vec<Permission>,
    pub inherit_owner_roles: bool,
}

impl Default for KeyGrants {
    fn default() -> Self {
        KeyGrants {
            roles: Vec::new(),
            permissions: Vec::new(),
            inherit_owner_roles: true,
        }
    }
}

impl KeyGrants {
    pub fn of(r: &TokenRecord) -> Self {
        KeyGrants {
            roles: r.roles.clone(),
            permissions: r.permissions.clone(),
            inherit_owner_roles: r.inherit_owner_roles,
        }
    }
}

/// A change of a key's grants: absent fields stay; lists replace.
#[derive(Clone, Debug, Default)]
pub struct GrantsPatch {
    pub roles: Option<Vec<RoleName>>,
    pub permissions: Option<Vec<Permission>>,
    pub inherit_owner_roles: Option<bool>,
}

impl GrantsPatch {
    pub fn is_empty(&self) -> bool {
        self.roles.is_none() && self.permissions.is_none() && self.inherit_owner_roles.is_none()
    }

    pub(super) fn apply(&self, old: &KeyGrants) -> KeyGrants {
        KeyGrants {
            roles: self.roles.clone().unwrap_or_else(|| old.roles.clone()),
            permissions: self
                .permissions
                .clone()
                .unwrap_or_else(|| old.permissions.clone()),
            inherit_owner_roles: self.inherit_owner_roles.unwrap_or(old.inherit_owner_roles),
        }
    }
}

/// A role as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    /// The owners granted this role (their keys inherit it).
    pub owners: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl RoleView {
    fn of(c: &Catalogue, name: &RoleName, r: &Role) -> Self {
        RoleView {
            name: name.to_string(),
            description: r.description.clone(),
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
            owners: c.owners_of(name),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A change of a role: absent fields stay.
#[derive(Clone, Debug, Default)]
pub struct RolePatch {
    pub description: Option<String>,
    pub permissions: Option<Vec<Permission>>,
}

/// A role as offered to someone attaching it: what it grants, not who else holds it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OfferedRole {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

/// What a caller may attach to keys of an owner.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Grantable {
    /// Anything (administrators, the CLI).
    pub any: bool,
    pub roles: Vec<OfferedRole>,
    /// Every permission of those roles: a permission they cover may be attached.
    pub permissions: Vec<String>,
}

/// One effective permission of a key and where it comes from.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EffectivePermission {
    pub permission: String,
    /// `key`, `role:<name>` (a role on the key), `owner-role:<name>` (a role granted to
    /// the owner).
    pub sources: Vec<String>,
}

/// How many times a catalogue change is tried against concurrent writers.
const SWAP_ATTEMPTS: usize = 16;

fn check_permissions(
    field: &'static str,
    list: &[Permission],
    max: usize,
) -> Result<Vec<Permission>, ManageError> {
    if list.len() > max {
        return Err(invalid(field, format!("at most {max} permissions")));
    }
    let mut seen = BTreeSet::new();
    Ok(list
        .iter()
        .filter(|p| seen.insert((*p).clone()))
        .cloned()
        .collect())
}

fn check_description(d: &str) -> Result<(), ManageError> {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(invalid(
            "description",
            format!("at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    if d.chars().any(char::is_control) {
        return Err(invalid("description", "control characters are not allowed"));
    }
    Ok(())
}

fn names<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn change(field: &str, from: String, to: String) -> Vec<AuditChange> {
    if from == to {
        return Vec::new();
    }
    vec![AuditChange {
        field: field.into(),
        from: Some(from),
        to: Some(to),
    }]
}

impl Keys {
    /// The catalogue as stored now.
    pub async fn catalogue(&self) -> Result<Catalogue, ManageError> {
        Ok(self.stored_catalogue().await?.1)
    }

    /// The stored bytes (what a compare-and-set expects) and the catalogue they hold.
    async fn stored_catalogue(&self) -> Result<(Option<Vec<u8>>, Catalogue), ManageError> {
        let raw = self.store.get_meta(CATALOGUE_META).await?;
        let c = Catalogue::decode(raw.as_deref())
            .map_err(|e| ManageError::Store(crate::store::StoreError::Backend(e)))?;
        Ok((raw, c))
    }

    /// Applies `f` to the stored catalogue and writes it back if nobody wrote it
    /// meanwhile (else tries again); then tells the gate here and the other replicas.
    async fn change_catalogue<T>(
        &self,
        f: impl Fn(&mut Catalogue) -> Result<T, ManageError>,
    ) -> Result<(T, Catalogue), ManageError> {
        for _ in 0..SWAP_ATTEMPTS {
            let (raw, mut c) = self.stored_catalogue().await?;
            let out = f(&mut c)?;
            c.version = c.version.wrapping_add(1);
            if self
                .store
                .swap_meta(CATALOGUE_META, raw.as_deref(), &c.encode())
                .await?
            {
                if let Some(g) = &self.gate {
                    g.permissions_changed();
                }
                self.store.announce_permissions().await;
                return Ok((out, c));
            }
        }
        Err(ManageError::Store(crate::store::StoreError::Conflict(
            "the roles were changed by others many times at once; try again".into(),
        )))
    }

    pub async fn roles(&self) -> Result<Vec<RoleView>, ManageError> {
        let c = self.catalogue().await?;
        Ok(c.roles
            .iter()
            .map(|(n, r)| RoleView::of(&c, n, r))
            .collect())
    }

    pub async fn role(&self, name: &RoleName) -> Result<RoleView, ManageError> {
        let c = self.catalogue().await?;
        let r = c.roles.get(name).ok_or(ManageError::RoleNotFound)?;
        Ok(RoleView::of(&c, name, r))
    }

    pub async fn create_role(
        &self,
        name: RoleName,
        description: String,
        permissions: Vec<Permission>,
        actor: &Actor,
    ) -> Result<RoleView, ManageError> {
        check_description(&description)?;
        let permissions = check_permissions("permissions", &permissions, MAX_ROLE_PERMISSIONS)?;
        let now = self.clock.now();
        let (_, c) = self
            .change_catalogue(|c| {
                if c.roles.contains_key(&name) {
                    return Err(ManageError::RoleExists(name.to_string()));
                }
                if c.roles.len() >= MAX_ROLES {
                    return Err(invalid(
                        "name",
                        format!("there are already {MAX_ROLES} roles, the most allowed"),
                    ));
                }
                c.roles.insert(
                    name.clone(),
                    Role {
                        description: description.clone(),
                        permissions: permissions.clone(),
                        created_at: now,
                        updated_at: now,
                    },
                );
                Ok(())
            })
            .await?;
        let mut changes = change("permissions", String::new(), names(&permissions));
        changes.extend(change("description", String::new(), description.clone()));
        self.audit_role(actor, "role.create", &name, changes).await;
        let r = c.roles.get(&name).ok_or(ManageError::RoleNotFound)?;
        Ok(RoleView::of(&c, &name, r))
    }

    pub async fn update_role(
        &self,
        name: &RoleName,
        p: RolePatch,
        actor: &Actor,
    ) -> Result<RoleView, ManageError> {
        if let Some(d) = &p.description {
            check_description(d)?;
        }
        let permissions = p
            .permissions
            .as_deref()
            .map(|l| check_permissions("permissions", l, MAX_ROLE_PERMISSIONS))
            .transpose()?;
        let now = self.clock.now();
        let (before, c) = self
            .change_catalogue(|c| {
                let r = c.roles.get_mut(name).ok_or(ManageError::RoleNotFound)?;
                let before = r.clone();
                if let Some(d) = &p.description {
                    r.description = d.clone();
                }
                if let Some(l) = &permissions {
                    r.permissions = l.clone();
                }
                r.updated_at = now;
                Ok(before)
            })
            .await?;
        let r = c.roles.get(name).ok_or(ManageError::RoleNotFound)?;
        let mut changes = change(
            "permissions",
            names(&before.permissions),
            names(&r.permissions),
        );
        changes.extend(change(
            "description",
            before.description.clone(),
            r.description.clone(),
        ));
        if !changes.is_empty() {
            self.audit_role(actor, "role.update", name, changes).await;
        }
        Ok(RoleView::of(&c, name, r))
    }

    /// Deletes a role. Held by keys or owners, it is refused unless `detach`, which
    /// takes it off them first (each change audited).
    pub async fn delete_role(
        &self,
        name: &RoleName,
        detach: bool,
        actor: &Actor,
    ) -> Result<(), ManageError> {
        let c = self.catalogue().await?;
        let role = c.roles.get(name).ok_or(ManageError::RoleNotFound)?.clone();
        let owners = c.owners_of(name);
        let holders: Vec<TokenRecord> = self
            .list(None)
            .await?
            .records
            .into_iter()
            .filter(|r| r.roles.contains(name))
            .collect();
        if !detach && (!holders.is_empty() || !owners.is_empty()) {
            return Err(ManageError::RoleInUse {
                keys: holders.len(),
                owners: owners.len(),
            });
        }
        for r in holders {
            let roles: Vec<RoleName> = r.roles.iter().filter(|n| *n != name).cloned().collect();
            self.update(
                &r.id,
                super::Patch {
                    grants: Some(GrantsPatch {
                        roles: Some(roles),
                        ..GrantsPatch::default()
                    }),
                    ..super::Patch::default()
                },
                &Actor {
                    may_grant_any: true,
                    ..actor.clone()
                },
            )
            .await?;
        }
        let (detached, _) = self
            .change_catalogue(|c| {
                c.roles.remove(name).ok_or(ManageError::RoleNotFound)?;
                let mut detached = Vec::new();
                for (owner, roles) in c.owners.iter_mut() {
                    if roles.contains(name) {
                        let before = names(roles);
                        roles.retain(|n| n != name);
                        detached.push((owner.clone(), before, names(roles)));
                    }
                }
                c.owners.retain(|_, roles| !roles.is_empty());
                Ok(detached)
            })
            .await?;
        for (owner, from, to) in detached {
            self.audit_event(
                actor,
                "grant",
                &owner,
                None,
                None,
                change("roles", from, to),
            )
            .await;
        }
        let changes = change("permissions", names(&role.permissions), String::new());
        self.audit_role(actor, "role.delete", name, changes).await;
        Ok(())
    }

    /// The roles granted to `owner`.
    pub async fn owner_roles(&self, owner: &str) -> Result<Vec<RoleName>, ManageError> {
        Ok(self.catalogue().await?.owner_roles(owner).to_vec())
    }

    /// Grants `owner` exactly `roles` (every one must exist).
    pub async fn set_owner_roles(
        &self,
        owner: &str,
        roles: Vec<RoleName>,
        actor: &Actor,
    ) -> Result<Vec<RoleName>, ManageError> {
        super::validate_owner(owner)?;
        if roles.len() > MAX_ROLES_HELD {
            return Err(invalid("roles", format!("at most {MAX_ROLES_HELD} roles")));
        }
        let mut seen = BTreeSet::new();
        let roles: Vec<RoleName> = roles
            .into_iter()
            .filter(|r| seen.insert(r.clone()))
            .collect();
        let (before, _) = self
            .change_catalogue(|c| {
                if let Some(unknown) = roles.iter().find(|r| !c.roles.contains_key(*r)) {
                    return Err(invalid("roles", format!("there is no role `{unknown}`")));
                }
                let before = c.owner_roles(owner).to_vec();
                if roles.is_empty() {
                    c.owners.remove(owner);
                } else {
                    c.owners.insert(owner.to_owned(), roles.clone());
                }
                Ok(before)
            })
            .await?;
        let changes = change("roles", names(&before), names(&roles));
        if !changes.is_empty() {
            self.audit_event(actor, "grant", owner, None, None, changes)
                .await;
        }
        Ok(roles)
    }

    /// What `actor` may attach to the keys of `owner`.
    pub async fn grantable(&self, owner: &str, actor: &Actor) -> Result<Grantable, ManageError> {
        let c = self.catalogue().await?;
        let roles: Vec<RoleName> = if actor.may_grant_any {
            c.roles.keys().cloned().collect()
        } else {
            c.owner_roles(owner).to_vec()
        };
        let mut permissions = BTreeSet::new();
        let mut views = Vec::new();
        for n in &roles {
            if let Some(r) = c.roles.get(n) {
                permissions.extend(r.permissions.iter().map(ToString::to_string));
                views.push(OfferedRole {
                    name: n.to_string(),
                    description: r.description.clone(),
                    permissions: r.permissions.iter().map(ToString::to_string).collect(),
                });
            }
        }
        Ok(Grantable {
            any: actor.may_grant_any,
            roles: views,
            permissions: permissions.into_iter().collect(),
        })
    }

    /// A key's effective permissions and where each comes from.
    pub async fn effective(
        &self,
        r: &TokenRecord,
    ) -> Result<Vec<EffectivePermission>, ManageError> {
        let c = self.catalogue().await?;
        Ok(c.sources(r.grants())
            .into_iter()
            .map(|(p, from)| EffectivePermission {
                permission: p.to_string(),
                sources: from.iter().map(ToString::to_string).collect(),
            })
            .collect())
    }

    /// Checks grants for a key of `owner` (`old`: what it has now). Every role must
    /// exist; unless `actor` may grant anything, what is added must be among the
    /// owner's roles or covered by their permissions — a key may keep or narrow what it
    /// holds, never widen it.
    pub(super) async fn check_grants(
        &self,
        owner: &str,
        next: &mut KeyGrants,
        old: Option<&KeyGrants>,
        actor: &Actor,
    ) -> Result<(), ManageError> {
        if next.roles.len() > MAX_ROLES_HELD {
            return Err(invalid("roles", format!("at most {MAX_ROLES_HELD} roles")));
        }
        let mut seen = BTreeSet::new();
        next.roles.retain(|r| seen.insert(r.clone()));
        next.permissions =
            check_permissions("permissions", &next.permissions, MAX_KEY_PERMISSIONS)?;
        let added_roles: Vec<&RoleName> = next
            .roles
            .iter()
            .filter(|r| old.is_none_or(|o| !o.roles.contains(r)))
            .collect();
        let added_perms: Vec<&Permission> = next
            .permissions
            .iter()
            .filter(|p| old.is_none_or(|o| !o.permissions.contains(p)))
            .collect();
        if added_roles.is_empty() && added_perms.is_empty() {
            return Ok(());
        }
        let c = self.catalogue().await?;
        if let Some(unknown) = added_roles.iter().find(|r| !c.roles.contains_key(**r)) {
            return Err(invalid("roles", format!("there is no role `{unknown}`")));
        }
        if actor.may_grant_any {
            return Ok(());
        }
        let owned = c.owner_roles(owner);
        let not_held: Vec<&&RoleName> = added_roles
            .iter()
            .filter(|r| !owned.contains(**r))
            .collect();
        if !not_held.is_empty() {
            return Err(invalid(
                "roles",
                format!(
                    "you may attach only roles granted to you; not granted: {}",
                    names(&not_held)
                ),
            ));
        }
        let held: Vec<Permission> = owned
            .iter()
            .flat_map(|r| c.role_permissions(r).iter().cloned())
            .collect();
        let uncovered: Vec<&&Permission> = added_perms
            .iter()
            .filter(|p| !covered_by(&held, p))
            .collect();
        if !uncovered.is_empty() {
            return Err(invalid(
                "permissions",
                format!(
                    "you may attach only permissions your roles cover; not covered: {}",
                    names(&uncovered)
                ),
            ));
        }
        Ok(())
    }

    async fn audit_role(
        &self,
        actor: &Actor,
        action: &str,
        role: &RoleName,
        changes: Vec<AuditChange>,
    ) {
        self.audit_event(actor, action, "", None, Some(role.to_string()), changes)
            .await;
    }
}

/// The grants of a key as audit text (roles, permissions, inheritance), field by field.
pub(super) fn grant_changes(a: &TokenRecord, b: &TokenRecord) -> Vec<AuditChange> {
    let mut out = change("roles", names(&a.roles), names(&b.roles));
    out.extend(change(
        "permissions",
        names(&a.permissions),
        names(&b.permissions),
    ));
    out.extend(change(
        "inherit_owner_roles",
        a.inherit_owner_roles.to_string(),
        b.inherit_owner_roles.to_string(),
    ));
    out
}
