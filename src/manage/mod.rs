//! Creating and changing keys: the one place that validates a key's settings, writes the
//! store and drops the gate's cached answer. The CLI and the REST API both use it.

mod audit;
mod error;
mod leak;
mod limits;
mod listing;
pub use listing::EVERYONE_TTL_MS;
mod roles;
pub mod search;
use audit::changes;
pub use error::ManageError;
use error::{invalid, not_found};
pub use leak::{Found, LeakOutcome};
mod view;
pub use limits::*;
pub use roles::{
    EffectivePermission, Grantable, GrantsPatch, KeyGrants, OfferedRole, RolePatch, RoleView,
};
pub use view::{RefusedNow, TokenView, status_of};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::rules::{self, Rule};
use crate::store::{GatePort, HashAlg, SharedStore, StoreError, TokenId, TokenRecord};
use crate::token::{self, KeyHash, KeyPrefix, NewKey, Salt};

pub use crate::model::text::{
    MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN, MAX_METADATA_VALUE_LEN, MAX_NAME_LEN,
    MAX_OWNER_LEN, allowed_char, validate_metadata, validate_name, validate_owner,
};

/// What a new key should be.
#[derive(Clone, Debug, Default)]
pub struct NewToken {
    pub owner: String,
    pub name: String,
    pub expires_at: Option<Timestamp>,
    pub rules: Vec<Rule>,
    pub metadata: BTreeMap<String, String>,
    /// `None`: the configured defaults for new keys.
    pub limits: Option<LimitsView>,
    pub grants: KeyGrants,
}

/// A change to a key's settings; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default)]
pub struct Patch {
    pub name: Option<String>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<Timestamp>>,
    pub rules: Option<Vec<Rule>>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub disabled: Option<bool>,
    pub limits: Option<LimitsPatch>,
    pub grants: Option<GrantsPatch>,
}

/// Who makes a change, for `created_by` and the audit log.
#[derive(Clone, Debug)]
pub struct Actor {
    /// An OIDC subject, `admin` (the admin key) or `cli`.
    pub subject: String,
    /// `oidc`, `admin-key` or `cli`.
    pub auth: &'static str,
    /// The caller's address, for changes made over HTTP.
    pub client: Option<String>,
    /// May loosen usage limits (administrators, the CLI, or everyone with
    /// `limits.users_may_raise`); others may only tighten them.
    pub may_raise_limits: bool,
    /// May attach any role or permission to a key (administrators, the CLI); others
    /// only what their owner's roles cover.
    pub may_grant_any: bool,
}

impl Actor {
    pub fn cli() -> Self {
        Actor {
            subject: "cli".into(),
            auth: "cli",
            client: None,
            may_raise_limits: true,
            may_grant_any: true,
        }
    }
}

/// The key service: validation, store writes, cache invalidation and the audit log.
#[derive(Clone)]
pub struct Keys {
    store: SharedStore,
    salt: Salt,
    prefix: KeyPrefix,
    clock: Clock,
    gate: Option<Arc<dyn GatePort>>,
    /// Where key events go (webhooks), when the events service runs.
    events: Option<Arc<dyn crate::store::EventPort>>,
    max_keys_per_owner: usize,
    /// Everyone's keys as last read, for the admin lists ([`listing`]).
    everyone: Arc<listing::Everyone>,
    /// Limits and starting balance of new keys (`[limits]`).
    key_defaults: (crate::limits::Limits, Option<u64>),
    /// Default owner limits and starting balance (`[limits.owner]`).
    owner_defaults: (crate::limits::Limits, Option<u64>),
}

/// The default of `max_keys_per_owner`.
pub const DEFAULT_MAX_KEYS_PER_OWNER: usize = 1000;

impl Keys {
    pub fn new(
        store: SharedStore,
        salt: Salt,
        prefix: KeyPrefix,
        clock: Clock,
        gate: Option<Arc<dyn GatePort>>,
    ) -> Self {
        Keys {
            store,
            salt,
            prefix,
            clock,
            gate,
            events: None,
            max_keys_per_owner: DEFAULT_MAX_KEYS_PER_OWNER,
            everyone: Arc::default(),
            key_defaults: Default::default(),
            owner_defaults: Default::default(),
        }
    }

    /// Key changes become events (webhooks) through `events`.
    pub fn with_events(mut self, events: Arc<dyn crate::store::EventPort>) -> Self {
        self.events = Some(events);
        self
    }

    pub fn with_max_keys_per_owner(mut self, n: usize) -> Self {
        self.max_keys_per_owner = n;
        self
    }

    /// Default limits of new keys and of owners (`[limits]`, already validated).
    pub fn with_limit_defaults(
        mut self,
        keys: (crate::limits::Limits, Option<u64>),
        owners: (crate::limits::Limits, Option<u64>),
    ) -> Self {
        self.key_defaults = keys;
        self.owner_defaults = owners;
        self
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    pub fn salt(&self) -> &Salt {
        &self.salt
    }

    fn check_expiry(&self, exp: Option<Timestamp>) -> Result<(), ManageError> {
        match exp {
            Some(t) if t <= self.clock.now() => {
                Err(invalid("expires_at", format!("{t} is not in the future")))
            }
            _ => Ok(()),
        }
    }

    /// Makes a key; the returned [`NewKey`] is the only time the key exists in clear.
    pub async fn create(
        &self,
        mut t: NewToken,
        actor: &Actor,
    ) -> Result<(NewKey, TokenRecord), ManageError> {
        validate_owner(&t.owner)?;
        let owner = t.owner.clone();
        self.check_grants(&owner, &mut t.grants, None, actor)
            .await?;
        validate_name(&t.name)?;
        validate_metadata(&t.metadata)?;
        rules::validate_all(&t.rules).map_err(|m| invalid("rules", m))?;
        self.check_expiry(t.expires_at)?;
        // Counted before the insert: two creates racing at the limit may both pass, so
        // the limit can be exceeded by the number of concurrent creates, no more.
        let (limits, balance) = self.new_limits(t.limits.as_ref(), actor)?;
        if self.store.count_by_owner(&t.owner).await? >= self.max_keys_per_owner {
            return Err(ManageError::TooManyKeys(self.max_keys_per_owner));
        }
        let (key, mut record) = self.mint(t, actor, None)?;
        record.limits = limits;
        // The balance first: the key is usable once its record is in, and then its
        // quota must exist.
        if let Some(left) = balance {
            let b = balance_now(&record.limits, left, self.clock.now_ms());
            self.store
                .set_credits(&record.usage_slot(), Some(b))
                .await?;
        }
        self.store.insert(&record).await?;
        self.forget(&record.hash);
        self.audit_record(actor, "create", &record, Vec::new())
            .await;
        Ok((key, record))
    }

    fn mint(
        &self,
        t: NewToken,
        actor: &Actor,
        replaces: Option<TokenId>,
    ) -> Result<(NewKey, TokenRecord), ManageError> {
        let key = token::generate(&self.prefix)
            .map_err(|e| StoreError::Backend(format!("no randomness from the OS: {e}")))?;
        let record = TokenRecord {
            id: TokenId::generate().map_err(StoreError::from)?,
            hash: KeyHash::of(&self.salt, key.expose()),
            hash_alg: HashAlg::Keyed,
            owner: t.owner,
            name: t.name,
            hint: token::hint(key.expose()),
            created_at: self.clock.now(),
            created_by: actor.subject.clone(),
            expires_at: t.expires_at,
            disabled: false,
            last_used_at: None,
            rules: t.rules,
            metadata: t.metadata,
            replaces,
            replaced_by: None,
            grace_until: None,
            limits: crate::limits::Limits::default(),
            usage_of: None,
            roles: t.grants.roles,
            permissions: t.grants.permissions,
            inherit_owner_roles: t.grants.inherit_owner_roles,
        };
        Ok((key, record))
    }

    pub async fn get(&self, id: &TokenId) -> Result<TokenRecord, ManageError> {
        self.store.get(id).await?.ok_or(ManageError::NotFound)
    }

    /// Changes a key's settings (its owner and hash never change).
    pub async fn update(
        &self,
        id: &TokenId,
        p: Patch,
        actor: &Actor,
    ) -> Result<TokenRecord, ManageError> {
        if let Some(n) = &p.name {
            validate_name(n)?;
        }
        if let Some(m) = &p.metadata {
            validate_metadata(m)?;
        }
        if let Some(r) = &p.rules {
            rules::validate_all(r).map_err(|m| invalid("rules", m))?;
        }
        if let Some(exp) = p.expires_at {
            self.check_expiry(exp)?;
        }
        let mut r = self.get(id).await?;
        let before = r.clone();
        let grants = match &p.grants {
            Some(g) if !g.is_empty() => {
                let old = KeyGrants::of(&r);
                let mut next = g.apply(&old);
                self.check_grants(&r.owner, &mut next, Some(&old), actor)
                    .await?;
                Some(next)
            }
            _ => None,
        };
        let limits = match &p.limits {
            Some(lp) => {
                let (next, balance) = lp.apply(&r.limits)?;
                if !actor.may_raise_limits {
                    let old_balance = self
                        .balances(std::slice::from_ref(&r))
                        .await?
                        .pop()
                        .flatten();
                    if !next.within(balance, &r.limits, old_balance) {
                        return Err(locked());
                    }
                }
                Some((next, balance))
            }
            None => None,
        };
        let only_disabled = p.name.is_none()
            && p.expires_at.is_none()
            && p.rules.is_none()
            && p.metadata.is_none()
            && p.limits.is_none()
            && grants.is_none();
        if let Some(n) = p.name {
            r.name = n;
        }
        if let Some(e) = p.expires_at {
            r.expires_at = e;
        }
        if let Some(rules) = p.rules {
            r.rules = rules;
        }
        if let Some(m) = p.metadata {
            r.metadata = m;
        }
        if let Some(d) = p.disabled {
            r.disabled = d;
        }
        if let Some(g) = grants {
            r.roles = g.roles;
            r.permissions = g.permissions;
            r.inherit_owner_roles = g.inherit_owner_roles;
        }
        let limits_changed = limits
            .as_ref()
            .is_some_and(|(l, b)| *l != r.limits || b.is_some());
        let new_balance = limits.as_ref().and_then(|(_, b)| *b);
        // The balance before a new one is written over it, for the audit entry.
        let old_balance = match new_balance {
            Some(_) => self
                .balances(std::slice::from_ref(&r))
                .await?
                .pop()
                .flatten(),
            None => None,
        };
        if let Some((l, balance)) = limits {
            let slot = r.usage_slot();
            if let Some(g) = &self.gate {
                // Local leases go back before a new balance is written over them.
                g.reset_slot(&slot).await;
            }
            let mut set_epoch = None;
            if l.credits.is_none() && r.limits.credits.is_some() {
                set_epoch = Some(self.store.set_credits(&slot, None).await?);
            } else if let Some(left) = balance {
                let b = balance_now(&l, left, self.clock.now_ms());
                set_epoch = Some(self.store.set_credits(&slot, Some(b)).await?);
            } else if r.limits.credits.is_some()
                && l.credits.and_then(|c| c.refill) != r.limits.credits.and_then(|c| c.refill)
            {
                // A new refill counts from now: the balance stays what it is (no
                // `remaining` keeps it) instead of being refilled at once because it
                // was written in an earlier period (or under no refill at all).
                let left = self
                    .balances(std::slice::from_ref(&r))
                    .await?
                    .pop()
                    .flatten();
                if let Some(left) = left {
                    let b = balance_now(&l, left, self.clock.now_ms());
                    set_epoch = Some(self.store.set_credits(&slot, Some(b)).await?);
                }
            }
            // The set balance wins over what this process leased before it (other
            // replicas hear of it from the store).
            if let (Some(g), Some(epoch)) = (&self.gate, set_epoch) {
                g.drop_leases(&slot, epoch);
            }
            r.limits = l;
        }
        self.store.update(&r).await.map_err(not_found)?;
        self.forget(&r.hash);
        let mut changes = changes(&before, &r);
        if let Some(left) = new_balance {
            changes.push(crate::store::AuditChange {
                field: "credits.remaining".into(),
                from: old_balance.map(|b| b.to_string()),
                to: Some(left.to_string()),
            });
        }
        if limits_changed {
            let (limit_changes, rest): (Vec<_>, Vec<_>) = changes
                .into_iter()
                .partition(|c| c.field == "limits" || c.field == "credits.remaining");
            self.audit_record(actor, "limits", &r, limit_changes).await;
            changes = rest;
        }
        let action = match (only_disabled, p.disabled) {
            (true, Some(true)) => "disable",
            (true, Some(false)) => "enable",
            _ => "update",
        };
        // A save that changed nothing is not a change: no audit entry, no event.
        if !changes.is_empty() {
            self.audit_record(actor, action, &r, changes).await;
        }
        Ok(r)
    }

    pub async fn set_disabled(
        &self,
        id: &TokenId,
        disabled: bool,
        actor: &Actor,
    ) -> Result<TokenRecord, ManageError> {
        self.update(
            id,
            Patch {
                disabled: Some(disabled),
                ..Patch::default()
            },
            actor,
        )
        .await
    }

    /// Deletes a key for good, damaged or not.
    pub async fn revoke(&self, id: &TokenId, actor: &Actor) -> Result<Removed, ManageError> {
        let r = match self.store.delete(id).await {
            Err(StoreError::Damaged { owner, detail, .. }) => {
                return self.remove_damaged(id, owner, &detail, actor).await;
            }
            r => r?.ok_or(ManageError::NotFound)?,
        };
        self.forget(&r.hash);
        self.drop_balance(&r).await;
        self.audit_record(actor, "delete", &r, Vec::new()).await;
        Ok(Removed::Key(Box::new(r)))
    }

    /// Removes a record that does not decode, without reading it.
    async fn remove_damaged(
        &self,
        id: &TokenId,
        owner: Option<String>,
        detail: &str,
        actor: &Actor,
    ) -> Result<Removed, ManageError> {
        let Some(hash) = self.store.remove_damaged(id).await? else {
            return Err(ManageError::NotFound);
        };
        tracing::warn!(token_id = %id, error = %detail, "removed a damaged key record");
        self.forget(&hash);
        self.audit(actor, "delete", owner.as_deref().unwrap_or(""), id)
            .await;
        Ok(Removed::Damaged {
            id: id.clone(),
            owner,
        })
    }

    /// Issues a new key with the same settings. The old key keeps working for `grace`
    /// (zero: it is deleted at once) and points at its successor.
    pub async fn rotate(
        &self,
        id: &TokenId,
        grace: Duration,
        actor: &Actor,
    ) -> Result<Rotated, ManageError> {
        self.rotate_with(id, grace, None, actor).await
    }

    /// [`Keys::rotate`], choosing the new key's expiry. `expires`: `None` keeps the old
    /// key's expiry, which must then be in the future or absent — an expired key's
    /// successor never silently becomes a key that never expires: its expiry must be
    /// given (`Some(None)`: none, on purpose).
    pub async fn rotate_with(
        &self,
        id: &TokenId,
        grace: Duration,
        expires: Option<Option<Timestamp>>,
        actor: &Actor,
    ) -> Result<Rotated, ManageError> {
        let old = self.get(id).await?;
        if old.replaced_by.is_some() {
            return Err(invalid(
                "id",
                "this key was already rotated; rotate its successor",
            ));
        }
        let expires_at = match expires {
            Some(e) => {
                self.check_expiry(e)?;
                e
            }
            None => match old.expires_at {
                Some(t) if t <= self.clock.now() => {
                    return Err(invalid(
                        "expires_at",
                        format!(
                            "this key expired at {t}: say when its successor expires (`expires_at`, or null for a key that never expires)"
                        ),
                    ));
                }
                e => e,
            },
        };
        let t = NewToken {
            owner: old.owner.clone(),
            name: old.name.clone(),
            expires_at,
            rules: old.rules.clone(),
            metadata: old.metadata.clone(),
            limits: None,
            grants: KeyGrants::of(&old),
        };
        let (key, mut new) = self.mint(t, actor, Some(old.id.clone()))?;
        // The successor spends the same counters: rotating never buys credits.
        new.limits = old.limits.clone();
        new.usage_of = Some(old.usage_of.clone().unwrap_or_else(|| old.id.clone()));
        self.store.insert(&new).await?;
        self.forget(&new.hash);
        let old = if grace.is_zero() {
            self.store.delete(&old.id).await?;
            self.forget(&old.hash);
            None
        } else {
            let mut o = old;
            o.replaced_by = Some(new.id.clone());
            o.grace_until = Some(self.clock.now().plus(grace));
            self.store.update(&o).await.map_err(not_found)?;
            self.forget(&o.hash);
            Some(o)
        };
        self.audit_record(actor, "rotate", &new, Vec::new()).await;
        Ok(Rotated { key, new, old })
    }

    /// Removes a deleted key's credit balance, unless another key of its rotation chain
    /// still spends it. A failure leaves an orphan counter, logged.
    async fn drop_balance(&self, r: &TokenRecord) {
        if r.limits.credits.is_none() || r.replaced_by.is_some() {
            return;
        }
        if let Some(first) = &r.usage_of
            && !matches!(self.store.get(first).await, Ok(None))
        {
            return;
        }
        if let Err(e) = self.store.set_credits(&r.usage_slot(), None).await {
            tracing::warn!(token_id = %r.id, error = %e, "could not remove a deleted key's credit balance");
        }
    }

    /// After a write: the gate's cached entry and the listing of everyone's keys.
    fn forget(&self, hash: &KeyHash) {
        self.everyone.forget();
        if let Some(g) = &self.gate {
            g.forget(hash);
        }
    }
}

/// What a revocation removed.
#[derive(Debug)]
pub enum Removed {
    Key(Box<TokenRecord>),
    /// A record that did not decode; its owner when the damaged bytes named one.
    Damaged {
        id: TokenId,
        owner: Option<String>,
    },
}

/// What a rotation made.
pub struct Rotated {
    pub key: NewKey,
    pub new: TokenRecord,
    /// The old key in its grace period (`None`: deleted at once).
    pub old: Option<TokenRecord>,
}
