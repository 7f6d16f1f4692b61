//! Where keys live: the store's facets, the blanket [`TokenStore`] over them, and the
//! backends.
//!
//! A facet per concern — [`RecordStore`] (key records, last-used times),
//! [`AuditStore`], [`MetaStore`], [`CounterStore`] (usage-limit counters),
//! [`UsageStore`] (analytics), [`FollowStore`] (other replicas' writes),
//! [`EventStore`] (the events outbox and webhook deliveries) — and each
//! backend split the same way (`redb/{records,audit,counters,usage}.rs`,
//! `valkey/{records,audit,counters,usage,follow}.rs`), so the embedded and Valkey
//! stores read side by side. The server holds an `Arc<dyn TokenStore>` and never asks
//! which backend it has; the differences (transactions in redb, write ordering across
//! hash slots in Valkey) stay inside each backend. One conformance suite
//! (`tests/api/store_conformance.rs`) runs against all of them. The ports through which
//! services reach each other ([`Invalidate`], [`GatePort`], [`EventPort`]) live here too.

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Timestamp;
pub use crate::model::{
    AUDIT_MAX, AUDIT_MAX_PER_OWNER, AuditChange, AuditEvent, AuditQuery, HashAlg, TokenId,
    TokenRecord,
};
use crate::token::KeyHash;
pub use codec::{Converted, RECORD_FORMAT_META, RecordFormat};

pub mod codec;
pub mod counters;
pub mod events;
pub use events::EventStore;
pub mod memory;
pub mod redb;
pub mod valkey;

impl From<crate::model::NoRandomness> for StoreError {
    fn from(e: crate::model::NoRandomness) -> Self {
        StoreError::Backend(e.to_string())
    }
}

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
    /// or by a bug) — or, with `newer_format`, is in a record format newer than this
    /// keygate reads: not damage, but nothing this keygate can use either. It can be
    /// deleted ([`TokenStore::remove_damaged`]), nothing else.
    #[error("{}", damaged_text(.id, .detail, *.newer_format))]
    Damaged {
        id: TokenId,
        /// The owner, when the damaged bytes still name one (JSON with an `owner`, a
        /// binary record's header).
        owner: Option<String>,
        detail: String,
        /// `Some(n)`: the record is in binary format `n`, newer than this keygate reads
        /// (`detail` says so). `keygate doctor --fix` leaves such records alone.
        newer_format: Option<u8>,
    },
}

fn damaged_text(id: &TokenId, detail: &str, newer_format: Option<u8>) -> String {
    match newer_format {
        Some(_) => detail.to_owned(),
        None => format!("the stored record of key {id} is damaged: {detail}"),
    }
}

/// Records as listed: those that decode, oldest first, and the ids of those that do not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub records: Vec<TokenRecord>,
    pub damaged: Vec<TokenId>,
    /// Of the `damaged`, those in a record format newer than this keygate reads, with
    /// that format's version.
    pub newer: std::collections::BTreeMap<TokenId, u8>,
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
            Err(StoreError::Damaged {
                id, newer_format, ..
            }) => {
                if let Some(v) = newer_format {
                    self.newer.insert(id.clone(), v);
                }
                self.damaged.push(id)
            }
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
    /// The permissions catalogue (roles, owner grants) changed: read it again before
    /// the next key is judged, and drop what was judged with the old one.
    fn permissions_changed(&self);
}

/// What management needs of the gate running in this process — the port through which
/// it reaches the gate without importing it (services never import each other): the
/// invalidations of [`Invalidate`], plus giving back a slot's leases before a balance
/// is written over them, and re-reading owner limits.
#[async_trait]
pub trait GatePort: Invalidate {
    /// Gives back the leases this process holds of `slot` and forgets its local state.
    async fn reset_slot(&self, slot: &str);
    /// Owner limits changed: cached owner policies are read again.
    fn owner_limits_changed(&self);
}

/// What the services that make events (management, the gate's background flushes) need
/// of the events service — the port through which they reach it without importing it.
#[async_trait]
pub trait EventPort: Send + Sync {
    /// Writes an event to the durable outbox before returning. A failure is logged and
    /// counted, not returned: the change the event tells of is already done.
    async fn emit(&self, kind: &'static str, owner: Option<&str>, data: serde_json::Value);
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

/// The storage seam, as facets a backend implements one by one (lldap's handler traits):
/// [`RecordStore`], [`AuditStore`], [`MetaStore`], [`CounterStore`], [`UsageStore`],
/// [`FollowStore`]. [`TokenStore`] is all of them; the server holds an
/// `Arc<dyn TokenStore>`. Every method is one logical operation; backends make each one
/// atomic or, where they cannot (Valkey across hash slots), order the writes so a crash
/// part-way never leaves a usable key that its owner cannot see or revoke.
pub trait TokenStore:
    RecordStore
    + AuditStore
    + MetaStore
    + CounterStore
    + UsageStore
    + FollowStore
    + EventStore
    + 'static
{
}

impl<T> TokenStore for T where
    T: RecordStore
        + AuditStore
        + MetaStore
        + CounterStore
        + UsageStore
        + FollowStore
        + EventStore
        + 'static
{
}

/// Key records: the lookup by hash, the owner index, last-used times, and the
/// consistency check. Every method is one logical operation.
#[async_trait]
pub trait RecordStore: Send + Sync {
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

    /// Brings every record into format `to` (with `rewrite`), or only counts what that
    /// would take: `keygate store migrate` and `keygate doctor`. Each record is read and
    /// compared again as it is written, so a change made meanwhile is never overwritten
    /// with the record as it was. Damaged records and records in a newer format are
    /// left alone and named.
    async fn convert_records(
        &self,
        to: RecordFormat,
        rewrite: bool,
    ) -> Result<Converted, StoreError>;

    /// Looks for inconsistencies a crash part-way through a change could leave, and
    /// records that do not decode (not those in a newer record format: they are left
    /// for the keygate that wrote them); with `repair`, removes them. Returns what was
    /// found, in words.
    async fn check(&self, _repair: bool) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// Cheap reachability check for `/health/ready`.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The audit log: every management change, kept with per-owner and global bounds.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an audit event; returns the `seq` it was given.
    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError>;

    /// Audit events matching `q`, newest first, at most `q.limit`.
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Small named values kept beside the keys (generated admin key hash, uploaded key
/// set, owner limits, layout version).
#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Small named values kept beside the keys (generated admin key hash, uploaded key
    /// set, layout version).
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    async fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Sets `name` to `value` only if it holds `expected` now (`None`: absent), atomically
    /// (across replicas on a shared store). `false`: it held something else, nothing was
    /// written.
    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError>;
}

/// The counters behind usage limits: rate-limit windows and credit balances, each
/// taken from atomically (docs/scaling.md, "Usage limits across replicas").
#[async_trait]
pub trait CounterStore: Send + Sync {
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
}

/// One slot's counts in one bucket: [`UsageStore::usage_in_range`].
pub type UsageRow = (String, i64, crate::analytics::Counts);

/// The error of [`UsageStore::usage_in_range`] at the day step.
pub(crate) fn no_day_index() -> StoreError {
    StoreError::Backend("analytics are kept by time for minutes and hours only".into())
}

/// Analytics: counts per key and owner in minute, hour and day buckets.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// How many tallies one [`UsageStore::add_usage`] should take at most (each call is
    /// one atomic write).
    fn usage_chunk(&self) -> usize {
        FLUSH_CHUNK
    }

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
    /// (or refusals: `by`) counted in the day buckets `from_day_ms <= start <
    /// to_day_ms`: at most `limit`, most first, with their counts.
    async fn top_usage(
        &self,
        prefix: &str,
        from_day_ms: i64,
        to_day_ms: i64,
        limit: usize,
        by: crate::analytics::Rank,
    ) -> Result<Vec<(String, crate::analytics::Counts)>, StoreError>;

    /// Every slot starting with `prefix` (`k:`, `o:`) that counted anything in the
    /// buckets of `step` with `from_ms <= start < to_ms`, as `(slot, bucket, counts)`.
    /// Kept by time for the minute and hour steps, so that the cost follows the range's
    /// activity, not how many keys there are; the day step has its rankings instead
    /// ([`UsageStore::top_usage`]) and answers an error here.
    async fn usage_in_range(
        &self,
        prefix: &str,
        step: crate::analytics::Step,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<UsageRow>, StoreError>;

    /// Adds `batch` (oldest first) to each key's recent requests, keeping the newest
    /// `keep` of each key.
    async fn add_recent(
        &self,
        batch: &[crate::model::RecentRequest],
        keep: usize,
    ) -> Result<(), StoreError>;

    /// A key's recent requests, newest first, at most `limit`.
    async fn recent(
        &self,
        id: &TokenId,
        limit: usize,
    ) -> Result<Vec<crate::model::RecentRequest>, StoreError>;

    /// Drops analytics buckets past their retention, for stores that do not expire
    /// them by themselves.
    async fn prune_usage(
        &self,
        _now_ms: i64,
        _retention: crate::analytics::Retention,
    ) -> Result<usize, StoreError> {
        Ok(0)
    }
}

/// Following other processes that write the same store (replicas on Valkey).
#[async_trait]
pub trait FollowStore: Send + Sync {
    /// Whether other processes write this store too (several replicas on Valkey), so
    /// a cache of it needs [`FollowStore::watch`] to stay correct.
    fn shared(&self) -> bool {
        false
    }

    /// Follows changes made by other processes and passes them to `target` until the
    /// task is dropped. Stores written by one process only return at once.
    async fn watch(&self, _target: std::sync::Arc<dyn Invalidate>) {}

    /// Tells other replicas to drop everything they cached (owner limits changed).
    async fn announce_all(&self) {}

    /// Tells other replicas that the permissions catalogue changed
    /// ([`Invalidate::permissions_changed`]).
    async fn announce_permissions(&self) {}
}

/// How many analytics tallies or last-used times one store write takes. A flush of a
/// whole batch at once (up to 200 000 tallies after a stream of new keys) held all its
/// rows and redb's dirty pages together: +65 MiB of RSS during the flush of a
/// 100 000-key miss stream (docs/benchmarks.md, "Scale").
pub const FLUSH_CHUNK: usize = 2_000;

pub type SharedStore = Arc<dyn TokenStore>;

/// Sorts records oldest first, then by id.
pub(crate) fn sort_records(v: &mut [TokenRecord]) {
    v.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
}
