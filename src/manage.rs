//! Creating and changing keys: the one place that validates a key's settings, writes the
//! store and drops the gate's cached answer. The CLI uses it now, the REST API later.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::{Clock, Timestamp};
use crate::decide::Gate;
use crate::rules::{self, Rule};
use crate::store::{HashAlg, SharedStore, StoreError, TokenId, TokenRecord};
use crate::token::{self, KeyHash, KeyPrefix, NewKey, Salt};

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_OWNER_LEN: usize = 256;
pub const MAX_METADATA_ENTRIES: usize = 16;
pub const MAX_METADATA_KEY_LEN: usize = 64;
pub const MAX_METADATA_VALUE_LEN: usize = 512;

/// What a new key should be.
#[derive(Clone, Debug, Default)]
pub struct NewToken {
    pub owner: String,
    pub name: String,
    pub expires_at: Option<Timestamp>,
    pub rules: Vec<Rule>,
    pub metadata: BTreeMap<String, String>,
    /// Who asked for it (a subject, `cli`, `admin-key`).
    pub created_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no key with that id")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> ManageError {
    ManageError::Invalid {
        field,
        message: message.into(),
    }
}

#[derive(Clone)]
pub struct Keys {
    store: SharedStore,
    salt: Salt,
    prefix: KeyPrefix,
    clock: Clock,
    gate: Option<Arc<Gate>>,
}

impl Keys {
    pub fn new(
        store: SharedStore,
        salt: Salt,
        prefix: KeyPrefix,
        clock: Clock,
        gate: Option<Arc<Gate>>,
    ) -> Self {
        Keys {
            store,
            salt,
            prefix,
            clock,
            gate,
        }
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Makes a key; the returned [`NewKey`] is the only time the key exists in clear.
    pub async fn create(&self, t: NewToken) -> Result<(NewKey, TokenRecord), ManageError> {
        validate_owner(&t.owner)?;
        validate_name(&t.name)?;
        validate_metadata(&t.metadata)?;
        rules::validate_all(&t.rules).map_err(|m| invalid("rules", m))?;
        let now = self.clock.now();
        if let Some(exp) = t.expires_at
            && exp <= now
        {
            return Err(invalid("expires_at", format!("{exp} is not in the future")));
        }
        let key = token::generate(&self.prefix)
            .map_err(|e| StoreError::Backend(format!("no randomness from the OS: {e}")))?;
        let record = TokenRecord {
            id: TokenId::generate()?,
            hash: KeyHash::of(&self.salt, key.expose()),
            hash_alg: HashAlg::Keyed,
            owner: t.owner,
            name: t.name,
            hint: token::hint(key.expose()),
            created_at: now,
            created_by: t.created_by,
            expires_at: t.expires_at,
            disabled: false,
            last_used_at: None,
            rules: t.rules,
            metadata: t.metadata,
            replaces: None,
            replaced_by: None,
            grace_until: None,
        };
        self.store.insert(&record).await?;
        self.forget(&record.hash);
        Ok((key, record))
    }

    pub async fn get(&self, id: &TokenId) -> Result<TokenRecord, ManageError> {
        self.store.get(id).await?.ok_or(ManageError::NotFound)
    }

    pub async fn list(&self, owner: Option<&str>) -> Result<Vec<TokenRecord>, ManageError> {
        Ok(match owner {
            Some(o) => self.store.list_by_owner(o).await?,
            None => self.store.list_all().await?,
        })
    }

    /// Deletes a key for good.
    pub async fn revoke(&self, id: &TokenId) -> Result<TokenRecord, ManageError> {
        let r = self.store.delete(id).await?.ok_or(ManageError::NotFound)?;
        self.forget(&r.hash);
        Ok(r)
    }

    pub async fn set_disabled(
        &self,
        id: &TokenId,
        disabled: bool,
    ) -> Result<TokenRecord, ManageError> {
        let mut r = self.get(id).await?;
        r.disabled = disabled;
        self.store.update(&r).await.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound,
            e => e.into(),
        })?;
        self.forget(&r.hash);
        Ok(r)
    }

    fn forget(&self, hash: &KeyHash) {
        if let Some(g) = &self.gate {
            g.forget(hash);
        }
    }
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

pub fn validate_owner(s: &str) -> Result<(), ManageError> {
    if s.trim().is_empty() || s.len() > MAX_OWNER_LEN || !printable(s) || s.trim() != s {
        return Err(invalid(
            "owner",
            format!(
                "must be 1 to {MAX_OWNER_LEN} characters without control characters or surrounding spaces"
            ),
        ));
    }
    Ok(())
}

pub fn validate_name(s: &str) -> Result<(), ManageError> {
    let n = s.chars().count();
    if s.trim().is_empty() || n > MAX_NAME_LEN || !printable(s) {
        return Err(invalid(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} characters without control characters"),
        ));
    }
    Ok(())
}

pub fn validate_metadata(m: &BTreeMap<String, String>) -> Result<(), ManageError> {
    if m.len() > MAX_METADATA_ENTRIES {
        return Err(invalid(
            "metadata",
            format!("at most {MAX_METADATA_ENTRIES} entries"),
        ));
    }
    for (k, v) in m {
        let key_ok = (1..=MAX_METADATA_KEY_LEN).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !key_ok {
            return Err(invalid(
                "metadata",
                format!(
                    "key `{k}` must be 1 to {MAX_METADATA_KEY_LEN} of letters, digits, `_`, `-`, `.`"
                ),
            ));
        }
        if v.len() > MAX_METADATA_VALUE_LEN || !printable(v) {
            return Err(invalid(
                "metadata",
                format!(
                    "value of `{k}` must be at most {MAX_METADATA_VALUE_LEN} bytes without control characters"
                ),
            ));
        }
    }
    Ok(())
}

/// A key as shown to people (CLI, API): the record without its hash, plus a status.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenView {
    pub id: TokenId,
    pub owner: String,
    pub name: String,
    pub hint: String,
    /// `active`, `disabled`, `expired` or `rotating` (replaced, still in its grace period).
    pub status: &'static str,
    pub created_at: Timestamp,
    pub created_by: String,
    pub expires_at: Option<Timestamp>,
    pub disabled: bool,
    pub last_used_at: Option<Timestamp>,
    pub rules: Vec<Rule>,
    pub metadata: BTreeMap<String, String>,
    pub replaces: Option<TokenId>,
    pub replaced_by: Option<TokenId>,
    pub grace_until: Option<Timestamp>,
}

impl TokenView {
    pub fn of(r: &TokenRecord, now: Timestamp) -> Self {
        let status = if r.disabled {
            "disabled"
        } else if r.expires_at.is_some_and(|t| t <= now) || r.grace_until.is_some_and(|t| t <= now)
        {
            "expired"
        } else if r.replaced_by.is_some() {
            "rotating"
        } else {
            "active"
        };
        TokenView {
            id: r.id.clone(),
            owner: r.owner.clone(),
            name: r.name.clone(),
            hint: r.hint.clone(),
            status,
            created_at: r.created_at,
            created_by: r.created_by.clone(),
            expires_at: r.expires_at,
            disabled: r.disabled,
            last_used_at: r.last_used_at,
            rules: r.rules.clone(),
            metadata: r.metadata.clone(),
            replaces: r.replaces.clone(),
            replaced_by: r.replaced_by.clone(),
            grace_until: r.grace_until,
        }
    }
}
