//! Where keys live: the [`TokenStore`] trait and its backends.
//!
//! The server holds an `Arc<dyn TokenStore>` and never asks which backend it has; the
//! differences (transactions in redb, write ordering across hash slots in Valkey) stay
//! inside each backend. One conformance suite (`tests/api/store_conformance.rs`) runs
//! against all of them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::limits::Limits;
use crate::rules::Rule;
use crate::token::KeyHash;

pub mod counters;
pub mod memory;
pub mod redb;
pub mod valkey;
mod valkey_conn;

/// The public id of a key: 16 base62 characters, random, URL-safe.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    pub const LEN: usize = 16;

    pub fn generate() -> Result<Self, StoreError> {
        crate::token::random_base62(Self::LEN)
            .map(TokenId)
            .map_err(|e| StoreError::Backend(format!("no randomness from the OS: {e}")))
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
    pub(crate) fn derived(hex_id: String) -> Self {
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

/// One management change, kept in the store (DESIGN §3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Assigned by the store, increasing; the paging cursor.
    #[serde(default)]
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Who: an OIDC subject, `admin` (admin key) or `cli`.
    pub actor: String,
    /// How they proved it: `oidc`, `admin-key`, `cli`.
    pub auth: String,
    /// `create`, `update`, `disable`, `enable`, `rotate`, `delete`, `import`.
    pub action: String,
    pub owner: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub token_id: Option<TokenId>,
    /// The caller's address, when the change came over HTTP.
    #[serde(default)]
    pub client: Option<String>,
    /// The key's name at the time (absent for events about an owner or an import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What an update changed, field by field (never a key or a hash).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AuditChange>,
}

/// One field an update changed: its values before and after, as text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditChange {
    pub field: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

/// Which audit events to list: newest first, filtered, paged by `before`.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub owner: Option<String>,
    pub actor: Option<String>,
    pub token_id: Option<TokenId>,
    /// Only events with `seq` below this.
    pub before: Option<u64>,
    pub limit: usize,
    pub action: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
}

impl AuditQuery {
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.before.is_none_or(|b| e.seq < b)
            && self.action.as_ref().is_none_or(|a| *a == e.action)
            && self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at < t)
            && self.owner.as_ref().is_none_or(|o| *o == e.owner)
            && self.actor.as_ref().is_none_or(|a| *a == e.actor)
            && self
                .token_id
                .as_ref()
                .is_none_or(|t| e.token_id.as_ref() == Some(t))
    }
}

/// Audit events kept at most (the oldest are dropped beyond this).
pub const AUDIT_MAX: u64 = 100_000;

/// Audit events kept at most about one owner's keys: beyond this, that owner's oldest
/// event is dropped, so one user changing their keys in a loop only ever pushes out
/// their own history, never other people's (it takes more than
/// `AUDIT_MAX / AUDIT_MAX_PER_OWNER` busy owners to reach the global limit).
pub const AUDIT_MAX_PER_OWNER: usize = 1000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the store did not answer within {0} ms")]
    Timeout(u64),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Backend(String),
    /// The stored record of this id does not decode (written by hand, by an old version
    /// or by a bug). It can be deleted ([`TokenStore::remove_damaged`]), nothing else.
    #[error("the stored record of key {id} is damaged: {detail}")]
    Damaged {
        id: TokenId,
        /// The owner, when the damaged bytes still name one (JSON with an `owner`).
        owner: Option<String>,
        detail: String,
    },
}

/// Records as listed: those that decode, oldest first, and the ids of those that do not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub records: Vec<TokenRecord>,
    pub damaged: Vec<TokenId>,
}

impl Listing {
    /// Sorts the records oldest first (then by id) and the damaged ids, so every
    /// backend lists in the same order.
    pub(crate) fn sorted(mut self) -> Self {
        sort_records(&mut self.records);
        self.damaged.sort();
        self
    }

    /// Adds what one id read back as: a record, nothing (deleted meanwhile) or damage.
    pub(crate) fn push(
        &mut self,
        read: Result<Option<TokenRecord>, StoreError>,
    ) -> Result<(), StoreError> {
        match read {
            Ok(Some(r)) => self.records.push(r),
            Ok(None) => {}
            Err(StoreError::Damaged { id, .. }) => self.damaged.push(id),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Receives cache invalidations from a store that other processes write too.
pub trait Invalidate: Send + Sync {
    /// Drop what is cached for this key.
    fn forget(&self, hash: &KeyHash);
    /// Drop everything cached.
    fn forget_all(&self);
    /// `false`: invalidations may be missed (the subscription is down), so the cache
    /// must be emptied and bypassed; `true`: following again, start afresh.
    fn trust(&self, trusted: bool);
    /// A credit balance was set to an absolute value (epoch `epoch`): drop the credits
    /// leased from it before.
    fn drop_leases(&self, slot: &str, epoch: u64);
}

/// A request for allowances from a rate-limit window (usage limits).
#[derive(Clone, Copy, Debug)]
pub struct WindowLease<'a> {
    /// Whose limit and which: `k:<id>|<window>` or `o:<owner>|<window>` (a limit is
    /// counted by its window, so a rename keeps the count; `crate::limits::counter_ids`).
    pub slot: &'a str,
    /// Unix ms at which the window began (windows are aligned to the epoch).
    pub window_start_ms: i64,
    pub window_ms: i64,
    pub limit: u64,
    /// How many uses to take at most.
    pub want: u64,
    /// For stores that clean up ended windows themselves.
    pub now_ms: i64,
}

/// A request for credits from a balance.
#[derive(Clone, Copy, Debug)]
pub struct CreditLease<'a> {
    /// `k:<id>` or `o:<owner>`.
    pub slot: &'a str,
    pub want: u64,
    /// (start of the current refill period, refill amount): when the balance belongs to
    /// an earlier period, it is first set to the amount. At most once per period, however
    /// many replicas ask.
    pub refill: Option<(i64, u64)>,
    /// A balance that does not exist yet starts at this (owner defaults from the
    /// configuration); `None`: no balance means nothing to take.
    pub init: Option<u64>,
}

/// What a lease got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    pub granted: u64,
    /// Left in the store after this grant.
    pub left: u64,
    /// Credits: the balance's epoch, bumped by every [`TokenStore::set_credits`]; a lease
    /// is given back only into the epoch it came from. 0 for windows.
    pub epoch: u64,
}

/// One key's last use, as collected by the decision path.
pub type Touch = (TokenId, Timestamp);

/// The storage seam. Every method is one logical operation; backends make each one
/// atomic or, where they cannot (Valkey across hash slots), order the writes so a crash
/// part-way never leaves a usable key that its owner cannot see or revoke.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// `memory`, `redb` or `valkey`, for `/status` and logs.
    fn kind(&self) -> &'static str;

    /// Stores a new record. `Conflict` when its id or hash already exists.
    async fn insert(&self, record: &TokenRecord) -> Result<(), StoreError>;

    /// The hot path's lookup.
    async fn get_by_hash(&self, hash: &KeyHash) -> Result<Option<TokenRecord>, StoreError>;

    async fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError>;

    /// Replaces the record with the same id. `NotFound` when there is none; the hash and
    /// owner of a record never change.
    async fn update(&self, record: &TokenRecord) -> Result<(), StoreError>;

    /// Removes a record; returns what was removed.
    async fn delete(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError>;

    /// One owner's records, oldest first, and the ids of their records that do not
    /// decode.
    async fn list_by_owner(&self, owner: &str) -> Result<Listing, StoreError>;

    /// How many keys (damaged ones included) an owner holds: the per-owner limit asks
    /// on every create, so a store that can count without reading records says so.
    async fn count_by_owner(&self, owner: &str) -> Result<usize, StoreError> {
        let held = self.list_by_owner(owner).await?;
        Ok(held.records.len() + held.damaged.len())
    }

    /// Every record, oldest first (admin listings, export), and the ids of the records
    /// that do not decode.
    async fn list_all(&self) -> Result<Listing, StoreError>;

    /// Removes everything stored under `id` without decoding its record: the way out
    /// for a [`StoreError::Damaged`] one. Returns the hash it was stored under, `None`
    /// when there was nothing.
    async fn remove_damaged(&self, id: &TokenId) -> Result<Option<KeyHash>, StoreError>;

    /// Stores many new records at once (imports); records whose id or hash exists are
    /// skipped. Returns how many were stored.
    async fn insert_many(&self, records: &[TokenRecord]) -> Result<usize, StoreError> {
        let mut n = 0;
        for r in records {
            match self.insert(r).await {
                Ok(()) => n += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// How many records there are.
    async fn count(&self) -> Result<u64, StoreError>;

    /// Records last-used times; a later time wins over an earlier one.
    async fn touch(&self, used: &[Touch]) -> Result<(), StoreError>;

    /// Takes up to `want` uses from a rate-limit window, never more than its limit in
    /// total, atomically (with other replicas on a shared store).
    async fn take_window(&self, w: &WindowLease<'_>) -> Result<Granted, StoreError>;

    /// Gives back `n` unused uses of a window (a lease not spent).
    async fn return_window(
        &self,
        slot: &str,
        window_start_ms: i64,
        n: u64,
    ) -> Result<(), StoreError>;

    /// Removes rate-limit window counters that ended before `now_ms` (stores that do not
    /// expire them by themselves); how many went.
    async fn prune_windows(&self, _now_ms: i64) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Takes up to `want` credits from a balance, atomically, after a due refill.
    async fn take_credits(&self, c: &CreditLease<'_>) -> Result<Granted, StoreError>;

    /// Gives back `n` unspent credits taken in the refill period that began at
    /// `period_ms` and in balance epoch `epoch` (nothing is given back into a later
    /// period, nor into a balance set since: an absolute set wins over leases).
    async fn return_credits(
        &self,
        slot: &str,
        period_ms: i64,
        epoch: u64,
        n: u64,
    ) -> Result<(), StoreError>;

    /// Sets a balance (`None`: removes it). `period_ms`: the refill period it counts as.
    /// Bumps the balance's epoch and returns it; a shared store tells every replica to
    /// drop the leases it holds of the old one ([`Invalidate::drop_leases`]).
    async fn set_credits(
        &self,
        slot: &str,
        balance: Option<counters::Balance>,
    ) -> Result<u64, StoreError>;

    /// Balances, one per slot (`None`: no balance).
    async fn get_credits(
        &self,
        slots: &[String],
    ) -> Result<Vec<Option<counters::Balance>>, StoreError>;

    /// Adds analytics tallies into their minute, hour and day buckets, per key and per
    /// owner; buckets older than `retention` may be dropped.
    async fn add_usage(
        &self,
        batch: &[crate::analytics::UsageAdd],
        retention: crate::analytics::Retention,
    ) -> Result<(), StoreError>;

    /// The non-empty buckets of `slot` at `step` with `from_ms <= start < to_ms`, oldest
    /// first.
    async fn read_usage(
        &self,
        slot: &str,
        step: crate::analytics::Step,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, crate::analytics::Counts)>, StoreError>;

    /// The slots starting with `prefix` (`k:` keys, `o:` owners) with the most requests
    /// counted in the day buckets `from_day_ms <= start < to_day_ms`: at most `limit`,
    /// most first, with their counts.
    async fn top_usage(
        &self,
        prefix: &str,
        from_day_ms: i64,
        to_day_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, crate::analytics::Counts)>, StoreError>;

    /// Drops analytics buckets past their retention, for stores that do not expire
    /// them by themselves.
    async fn prune_usage(
        &self,
        _now_ms: i64,
        _retention: crate::analytics::Retention,
    ) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Tells other replicas to drop everything they cached (owner limits changed).
    async fn announce_all(&self) {}

    /// Appends an audit event; returns the `seq` it was given.
    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError>;

    /// Audit events matching `q`, newest first, at most `q.limit`.
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;

    /// Small named values kept beside the keys (generated admin key hash, uploaded key
    /// set, layout version).
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Whether other processes write this store too (several replicas on Valkey), so
    /// a cache of it needs [`TokenStore::watch`] to stay correct.
    fn shared(&self) -> bool {
        false
    }

    /// Follows changes made by other processes and passes them to `target` until the
    /// task is dropped. Stores written by one process only return at once.
    async fn watch(&self, _target: std::sync::Arc<dyn Invalidate>) {}

    /// Looks for inconsistencies a crash part-way through a change could leave; with
    /// `repair`, removes them. Returns what was found, in words.
    async fn check(&self, _repair: bool) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// Cheap reachability check for `/health/ready`.
    async fn ping(&self) -> Result<(), StoreError>;
}

pub type SharedStore = Arc<dyn TokenStore>;

/// Sorts records oldest first, then by id.
pub(crate) fn sort_records(v: &mut [TokenRecord]) {
    v.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
}

pub(crate) fn encode(record: &TokenRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Backend(format!("encode record: {e}")))
}

/// Decodes a record found by its hash (the gate's lookup): a damaged one is an error
/// that names its id when the bytes still hold one, and the gate refuses the key.
pub(crate) fn decode(bytes: &[u8]) -> Result<TokenRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let id = salvage(bytes, "id").unwrap_or_else(|| "unknown".into());
        StoreError::Backend(format!("corrupt record (key id {id}): {e}"))
    })
}

/// Decodes the record stored for `id`; a damaged one is [`StoreError::Damaged`].
pub(crate) fn decode_for(id: &TokenId, bytes: &[u8]) -> Result<TokenRecord, StoreError> {
    match serde_json::from_slice::<TokenRecord>(bytes) {
        Ok(r) if r.id == *id => Ok(r),
        Ok(r) => Err(StoreError::Damaged {
            id: id.clone(),
            owner: Some(r.owner),
            detail: format!("the record stored for it is key {}", r.id),
        }),
        Err(e) => Err(StoreError::Damaged {
            id: id.clone(),
            owner: salvage(bytes, "owner"),
            detail: e.to_string(),
        }),
    }
}

/// A top-level string field of a record that does not decode as a whole, if the bytes
/// are still a JSON object holding it.
pub(crate) fn salvage(bytes: &[u8], field: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    v.get(field)?.as_str().map(str::to_owned)
}
