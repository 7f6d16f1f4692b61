//! Permissions and roles (vocabulary): names, queries, the catalogue of roles and owner
//! grants, and a key's effective set.
//!
//! A key holds permissions directly, roles (named sets of permissions), and — unless it
//! opts out — the roles granted to its owner. Its effective permissions are the union
//! ([`Catalogue::sources`] says where each comes from). A proxy route, `/verify` or an
//! inline route asks a [`Query`] of that set ([`Granted`], built once per cached key).
//!
//! The catalogue is one value kept in the store's meta entry [`CATALOGUE_META`] and
//! written with a compare-and-set, so two replicas changing roles at once never lose one
//! of the changes; every replica keeps it in memory and reads it again when told it
//! changed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

mod name;
mod query;

pub use name::{MAX_PERMISSION_LEN, MAX_ROLE_NAME_LEN, MAX_SEGMENTS, Permission, RoleName, covers};
pub use query::{MAX_DEPTH, MAX_QUERY_LEN, MAX_TERMS, Query, QueryError, all_of};

/// The meta entry holding the [`Catalogue`] (JSON).
pub const CATALOGUE_META: &str = "permissions";

/// Most permissions in one role.
pub const MAX_ROLE_PERMISSIONS: usize = 256;
/// Most roles on one key or one owner.
pub const MAX_ROLES_HELD: usize = 64;
/// Most permissions attached directly to one key.
pub const MAX_KEY_PERMISSIONS: usize = 256;
/// Most roles in all.
pub const MAX_ROLES: usize = 1000;
/// Longest role description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// A named set of permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Every role, and the roles granted to owners.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    /// Bumped by every change.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub roles: BTreeMap<RoleName, Role>,
    /// Roles every key of the owner inherits (unless it opts out).
    #[serde(default)]
    pub owners: BTreeMap<String, Vec<RoleName>>,
}

/// What a key is granted: its own permissions and roles, and whether it inherits its
/// owner's roles.
#[derive(Clone, Copy, Debug)]
pub struct Grants<'a> {
    pub owner: &'a str,
    pub roles: &'a [RoleName],
    pub permissions: &'a [Permission],
    pub inherit_owner_roles: bool,
}

/// Where a permission of a key comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Attached to the key itself.
    Key,
    /// From a role on the key.
    Role(RoleName),
    /// From a role granted to the key's owner.
    OwnerRole(RoleName),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Key => f.write_str("key"),
            Source::Role(r) => write!(f, "role:{r}"),
            Source::OwnerRole(r) => write!(f, "owner-role:{r}"),
        }
    }
}

impl Catalogue {
    /// Decodes the stored catalogue (absent: empty).
    pub fn decode(raw: Option<&[u8]>) -> Result<Catalogue, String> {
        match raw {
            None => Ok(Catalogue::default()),
            Some(b) => serde_json::from_slice(b)
                .map_err(|e| format!("the stored permissions catalogue does not decode: {e}")),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether nothing is defined (no roles, no owner grants).
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.owners.is_empty()
    }

    /// The roles granted to `owner`.
    pub fn owner_roles(&self, owner: &str) -> &[RoleName] {
        self.owners.get(owner).map_or(&[], Vec::as_slice)
    }

    /// The permissions of `role` (none when it does not exist).
    pub fn role_permissions(&self, role: &RoleName) -> &[Permission] {
        self.roles
            .get(role)
            .map_or(&[], |r| r.permissions.as_slice())
    }

    /// Every effective permission of `g` with where it comes from, sorted by permission.
    pub fn sources(&self, g: Grants<'_>) -> BTreeMap<Permission, BTreeSet<Source>> {
        let mut out: BTreeMap<Permission, BTreeSet<Source>> = BTreeMap::new();
        for p in g.permissions {
            out.entry(p.clone()).or_default().insert(Source::Key);
        }
        for r in g.roles {
            for p in self.role_permissions(r) {
                out.entry(p.clone())
                    .or_default()
                    .insert(Source::Role(r.clone()));
            }
        }
        if g.inherit_owner_roles {
            for r in self.owner_roles(g.owner) {
                for p in self.role_permissions(r) {
                    out.entry(p.clone())
                        .or_default()
                        .insert(Source::OwnerRole(r.clone()));
                }
            }
        }
        out
    }

    /// The effective set of `g`, ready to be asked.
    pub fn granted(&self, g: Grants<'_>) -> Granted {
        let mut all: Vec<Permission> = g.permissions.to_vec();
        for r in g.roles {
            all.extend_from_slice(self.role_permissions(r));
        }
        if g.inherit_owner_roles {
            for r in self.owner_roles(g.owner) {
                all.extend_from_slice(self.role_permissions(r));
            }
        }
        Granted::of(all)
    }

    /// Where `role` is held: the owners granted it.
    pub fn owners_of(&self, role: &RoleName) -> Vec<String> {
        self.owners
            .iter()
            .filter(|(_, roles)| roles.contains(role))
            .map(|(o, _)| o.clone())
            .collect()
    }
}

/// A query as the gate asks it: compiled once (a configured route's at start, a
/// requirement header's once per distinct text), with an identity under which each
/// cached key remembers its last answers, so a key asked the same query again pays a
/// load and a compare.
#[derive(Clone, Debug)]
pub struct Need {
    id: u64,
    pub query: Query,
}

impl Need {
    pub fn new(query: Query) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Need {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            query,
        }
    }

    /// Unique to this compiled query (never 0).
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// A key's effective permissions, prepared for queries: exact names sorted (looked up
/// by binary search), wildcard grants apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    exact: Vec<Box<str>>,
    wild: Vec<Permission>,
    /// Every permission, sorted and without repeats (for `/verify`, the upstream header
    /// and the assertion).
    all: Vec<Permission>,
    /// A digest of `all` (equal sets, equal digests).
    fingerprint: u64,
}

impl Granted {
    pub fn of(mut all: Vec<Permission>) -> Granted {
        all.sort();
        all.dedup();
        let mut g = Granted {
            all,
            ..Granted::default()
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&g.all, &mut h);
        g.fingerprint = std::hash::Hasher::finish(&h);
        for p in &g.all {
            if p.is_wild() {
                g.wild.push(p.clone());
            } else {
                g.exact.push(p.as_str().into());
            }
        }
        g
    }

    /// Whether `wanted` is granted (by name, or by a wildcard that covers it).
    pub fn has(&self, wanted: &Permission) -> bool {
        self.exact
            .binary_search_by(|e| (**e).cmp(wanted.as_str()))
            .is_ok()
            || self.wild.iter().any(|w| w.covers(wanted.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Every permission, sorted.
    pub fn list(&self) -> &[Permission] {
        &self.all
    }

    /// A digest of the set: two sets with the same permissions have the same one.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// About how many heap bytes this holds (for the cache's bound).
    pub fn footprint(&self) -> usize {
        self.all.iter().map(|p| 2 * p.as_str().len() + 64).sum()
    }
}

/// Whether some permission of `held` covers `wanted`: the self-service rule (a user may
/// attach what their owner's grants cover).
pub fn covered_by(held: &[Permission], wanted: &Permission) -> bool {
    held.iter().any(|h| h.covers(wanted.as_str()))
}

#[cfg(test)]
mod tests;
