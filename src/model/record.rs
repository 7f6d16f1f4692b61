//! The key record: what keygate knows about one key (DESIGN §3), and its public id.
//!
//! Vocabulary: imported by the store, the gate and management alike, importing nothing
//! of theirs (only other vocabulary: the key format, rules, limits, time).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::limits::Limits;
use crate::permissions::{Permission, RoleName};
use crate::rules::Rule;
use crate::token::KeyHash;

/// The OS had no randomness to give (a new id could not be made).
#[derive(Debug, thiserror::Error)]
#[error("no randomness from the OS: {0}")]
pub struct NoRandomness(pub getrandom::Error);

/// The public id of a key: 16 base62 characters, random, URL-safe.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    pub const LEN: usize = 16;

    pub fn generate() -> Result<Self, NoRandomness> {
        crate::token::random_base62(Self::LEN)
            .map(TokenId)
            .map_err(NoRandomness)
    }

    /// Accepts any 1–64 characters of `[0-9A-Za-z_-]` (imported ids may be longer).
    pub fn parse(s: &str) -> Result<Self, String> {
        if (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Ok(TokenId(s.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a key id",
                s.chars().take(80).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id built by keygate itself from hex digits (ids of key-file keys).
    pub fn derived(hex_id: String) -> Self {
        debug_assert!(TokenId::parse(&hex_id).is_ok());
        TokenId(hex_id)
    }
}

impl TryFrom<String> for TokenId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TokenId::parse(&s)
    }
}

impl From<TokenId> for String {
    fn from(t: TokenId) -> String {
        t.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which digest a record's `hash` is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// `blake3::keyed_hash(token_salt, key)`: every key keygate makes or imports in clear.
    #[default]
    Keyed,
    /// Plain SHA-256 of the key: keys imported from AKAS sha256 files, whose clear text
    /// keygate never saw.
    Sha256,
}

impl HashAlg {
    fn is_keyed(&self) -> bool {
        *self == HashAlg::Keyed
    }
}

/// Everything keygate knows about one key (DESIGN §3). The key itself is never here,
/// only its keyed hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub hash: KeyHash,
    #[serde(default, skip_serializing_if = "HashAlg::is_keyed")]
    pub hash_alg: HashAlg,
    /// OIDC subject, or a service name.
    pub owner: String,
    pub name: String,
    /// `kg_AbCd…wxyz`.
    pub hint: String,
    pub created_at: Timestamp,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// Kept apart from the record in the stores (written in batches by the hot path's
    /// coalescer); filled in when a record is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    /// Allow-list; empty = anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The key this one was rotated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<TokenId>,
    /// The key that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<TokenId>,
    /// After a rotation the old key keeps working until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_until: Option<Timestamp>,
    /// Rate limits and credits; empty = unlimited (the owner's limits may still apply).
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// The key whose counters this one spends: set on rotation, so that a key and its
    /// successor share one quota (rotating never buys credits). `None`: its own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_of: Option<TokenId>,
    /// Roles held by the key itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleName>,
    /// Permissions attached to the key itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// Whether the key also holds the roles granted to its owner (the default).
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub inherit_owner_roles: bool,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

impl TokenRecord {
    /// A plain record — no expiry, rules, metadata or rotation — for keys that come from
    /// elsewhere (imports, key files, the uploaded set).
    #[allow(clippy::too_many_arguments)]
    pub fn plain(
        id: TokenId,
        hash: KeyHash,
        hash_alg: HashAlg,
        owner: String,
        name: String,
        hint: String,
        created_at: Timestamp,
        created_by: String,
    ) -> Self {
        TokenRecord {
            id,
            hash,
            hash_alg,
            owner,
            name,
            hint,
            created_at,
            created_by,
            expires_at: None,
            disabled: false,
            last_used_at: None,
            rules: Vec::new(),
            metadata: BTreeMap::new(),
            replaces: None,
            replaced_by: None,
            grace_until: None,
            limits: Limits::default(),
            usage_of: None,
            roles: Vec::new(),
            permissions: Vec::new(),
            inherit_owner_roles: true,
        }
    }

    /// What the key is granted, for the permissions catalogue.
    pub fn grants(&self) -> crate::permissions::Grants<'_> {
        crate::permissions::Grants {
            owner: &self.owner,
            roles: &self.roles,
            permissions: &self.permissions,
            inherit_owner_roles: self.inherit_owner_roles,
        }
    }

    /// The store slot of this key's counters: `k:<id>` (the id of the first key of a
    /// rotation chain).
    pub fn usage_slot(&self) -> String {
        format!("k:{}", self.usage_of.as_ref().unwrap_or(&self.id))
    }

    /// Why this record may not be used at `now`, if it may not.
    pub fn unusable_at(&self, now: Timestamp) -> Option<&'static str> {
        if self.disabled {
            Some("the key is disabled")
        } else if self.expires_at.is_some_and(|t| t <= now) {
            Some("the key has expired")
        } else if self.grace_until.is_some_and(|t| t <= now) {
            Some("the key was rotated and its grace period is over")
        } else {
            None
        }
    }
}
