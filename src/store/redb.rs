//! The embedded store: one redb file in `data_dir`, the default.
//!
//! redb is synchronous and transactional; each trait call is one transaction run on
//! tokio's blocking pool, so a slow disk never stalls the async workers — except the
//! gate's lookup by hash, a short read transaction run inline (see `get_by_hash`).
//! redb locks its file, so a second process (the CLI while a server runs) gets a clear
//! "in use" error.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{
    Database, MultimapTableDefinition, ReadableMultimapTable, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};

use super::counters::Balance;
use super::{
    AUDIT_MAX, AUDIT_MAX_PER_OWNER, AuditEvent, AuditQuery, Listing, StoreError, TokenId,
    TokenRecord, TokenStore, Touch, decode, decode_for, encode, salvage,
};
use super::{CreditLease, Granted, WindowLease};
use crate::clock::Timestamp;
use crate::token::KeyHash;

/// hash → record (JSON).
const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");
/// id → hash.
const IDS: TableDefinition<&str, &[u8]> = TableDefinition::new("ids");
/// owner → ids.
const OWNERS: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("owners");
/// id → unix seconds of last use.
const LAST_USED: TableDefinition<&str, i64> = TableDefinition::new("last_used");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// analytics: `[step][slot][0xFF][bucket, big-endian, sign bit flipped]` → 5 × u64 LE.
const USAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("usage");
/// credit slot → balance (`left period_ms`).
const CREDITS: TableDefinition<&str, &str> = TableDefinition::new("credits");
/// rate-limit window counter `<slot>|<window start ms, 20 digits>` → uses granted (u64
/// LE) and the window's end (i64 LE, unix ms): written with each lease, so a restart or
/// a crash resets no window.
const WINDOWS: TableDefinition<&str, &[u8]> = TableDefinition::new("windows");
/// seq → audit event (JSON).
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// owner → seqs of the audit events about their keys (for the per-owner limit).
const AUDIT_OWNERS: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("audit_owners");

pub const FILE_NAME: &str = "keygate.redb";

pub struct RedbStore {
    db: Arc<Database>,
    /// Credit balance epochs live in memory: one process uses this file, and no lease
    /// outlives the process that took it.
    /// Read and bumped inside the write transactions that take from and set a balance
    /// (redb runs one write transaction at a time), so a grant names the epoch of the
    /// balance it came from.
    epochs: Arc<super::counters::Epochs>,
}

fn be<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl RedbStore {
    /// Opens (or creates) `dir/keygate.redb` with redb's cache at the default size
    /// (`redb_cache_mib`).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, crate::config::DEFAULT_REDB_CACHE_MIB << 20)
    }

    /// Opens (or creates) `dir/keygate.redb`; redb keeps at most `cache_bytes` of the
    /// file in memory.
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        // Owner-only, like the salt next to it (the file is made before redb opens it).
        crate::private_fs::dir(dir).map_err(|e| {
            StoreError::Backend(format!("cannot create data dir {}: {e}", dir.display()))
        })?;
        let path = dir.join(FILE_NAME);
        crate::private_fs::file(&path)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", path.display())))?;
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
                    "{} is in use by another keygate process (a running server?); stop it or \
                 manage keys through its API",
                    path.display()
                )),
                redb::DatabaseError::Storage(redb::StorageError::Io(io))
                    if io.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    StoreError::Unavailable(format!(
                        "{} is in use by another keygate process (a running server?); stop it or \
                     manage keys through its API",
                        path.display()
                    ))
                }
                other => StoreError::Backend(format!("cannot open {}: {other}", path.display())),
            })?;
        // Create every table once so that read transactions never meet a missing one.
        let tx = db.begin_write().map_err(be)?;
        {
            tx.open_table(RECORDS).map_err(be)?;
            tx.open_table(IDS).map_err(be)?;
            tx.open_multimap_table(OWNERS).map_err(be)?;
            tx.open_table(LAST_USED).map_err(be)?;
            tx.open_table(META).map_err(be)?;
            tx.open_table(CREDITS).map_err(be)?;
            tx.open_table(WINDOWS).map_err(be)?;
            tx.open_table(USAGE).map_err(be)?;
            tx.open_table(AUDIT).map_err(be)?;
            tx.open_multimap_table(AUDIT_OWNERS).map_err(be)?;
        }
        tx.commit().map_err(be)?;
        Ok(RedbStore {
            db: Arc::new(db),
            epochs: Arc::default(),
        })
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

/// Reads the record stored under `hash`; with `id`, as that id's record (a record that
/// does not decode is then [`StoreError::Damaged`]).
fn read_record(
    records: &impl ReadableTable<&'static [u8], &'static [u8]>,
    last_used: &impl ReadableTable<&'static str, i64>,
    hash: &[u8],
    id: Option<&TokenId>,
) -> Result<Option<TokenRecord>, StoreError> {
    let Some(bytes) = records.get(hash).map_err(be)? else {
        return Ok(None);
    };
    let mut r = match id {
        Some(id) => decode_for(id, bytes.value())?,
        None => decode(bytes.value())?,
    };
    if let Some(t) = last_used.get(r.id.as_str()).map_err(be)? {
        r.last_used_at = Some(Timestamp::from_unix(t.value()));
    }
    Ok(Some(r))
}

/// Reads `id`'s record, in a listing: damage is reported, not an error.
fn list_one(
    ids: &impl ReadableTable<&'static str, &'static [u8]>,
    records: &impl ReadableTable<&'static [u8], &'static [u8]>,
    last_used: &impl ReadableTable<&'static str, i64>,
    raw_id: &str,
    out: &mut Listing,
) -> Result<(), StoreError> {
    let Ok(id) = TokenId::parse(raw_id) else {
        return Ok(());
    };
    let Some(hash) = ids.get(raw_id).map_err(be)? else {
        return Ok(());
    };
    out.push(read_record(records, last_used, hash.value(), Some(&id)))
}

/// Removes everything under `id` in one write transaction without decoding its record.
fn remove_raw(tx: &redb::WriteTransaction, id: &str) -> Result<Option<KeyHash>, StoreError> {
    let mut ids = tx.open_table(IDS).map_err(be)?;
    let Some(hash) = ids.remove(id).map_err(be)?.map(|h| h.value().to_vec()) else {
        return Ok(None);
    };
    let mut records = tx.open_table(RECORDS).map_err(be)?;
    let bytes = records
        .remove(hash.as_slice())
        .map_err(be)?
        .map(|b| b.value().to_vec());
    let mut owners = tx.open_multimap_table(OWNERS).map_err(be)?;
    match bytes.as_deref().and_then(|b| salvage(b, "owner")) {
        Some(owner) => {
            owners.remove(owner.as_str(), id).map_err(be)?;
        }
        None => {
            // The owner cannot be read: find the id's entries in the owner index.
            let mut holders = Vec::new();
            for entry in owners.iter().map_err(be)? {
                let (owner, values) = entry.map_err(be)?;
                for v in values {
                    if v.map_err(be)?.value() == id {
                        holders.push(owner.value().to_owned());
                    }
                }
            }
            for owner in holders {
                owners.remove(owner.as_str(), id).map_err(be)?;
            }
        }
    }
    let mut last_used = tx.open_table(LAST_USED).map_err(be)?;
    last_used.remove(id).map_err(be)?;
    Ok(<[u8; 32]>::try_from(hash.as_slice()).ok().map(KeyHash))
}

#[async_trait]
impl TokenStore for RedbStore {
    fn kind(&self) -> &'static str {
        "redb"
    }

    async fn insert(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let r = record.clone();
        let bytes = encode(&r)?;
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut ids = tx.open_table(IDS).map_err(be)?;
                let mut records = tx.open_table(RECORDS).map_err(be)?;
                if ids.get(r.id.as_str()).map_err(be)?.is_some()
                    || records.get(r.hash.0.as_slice()).map_err(be)?.is_some()
                {
                    return Err(StoreError::Conflict(
                        "a key with this id or hash exists".into(),
                    ));
                }
                ids.insert(r.id.as_str(), r.hash.0.as_slice()).map_err(be)?;
                records
                    .insert(r.hash.0.as_slice(), bytes.as_slice())
                    .map_err(be)?;
                let mut owners = tx.open_multimap_table(OWNERS).map_err(be)?;
                owners.insert(r.owner.as_str(), r.id.as_str()).map_err(be)?;
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn get_by_hash(&self, hash: &KeyHash) -> Result<Option<TokenRecord>, StoreError> {
        // The lookup of every cache miss runs inline, not on the blocking pool: a read
        // transaction over pages in redb's cache or the page cache takes a few µs, and
        // the hop to a pool thread and back cost more CPU than the read itself
        // (docs/benchmarks.md, "What each change bought"). Writes stay on the pool.
        let tx = self.db.begin_read().map_err(be)?;
        let records = tx.open_table(RECORDS).map_err(be)?;
        let last_used = tx.open_table(LAST_USED).map_err(be)?;
        read_record(&records, &last_used, &hash.0, None)
    }

    async fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let id = id.clone();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let ids = tx.open_table(IDS).map_err(be)?;
            let Some(hash) = ids.get(id.as_str()).map_err(be)? else {
                return Ok(None);
            };
            let records = tx.open_table(RECORDS).map_err(be)?;
            let last_used = tx.open_table(LAST_USED).map_err(be)?;
            read_record(&records, &last_used, hash.value(), Some(&id))
        })
        .await
    }

    async fn update(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let r = record.clone();
        let bytes = encode(&r)?;
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let ids = tx.open_table(IDS).map_err(be)?;
                let mut records = tx.open_table(RECORDS).map_err(be)?;
                let hash = ids
                    .get(r.id.as_str())
                    .map_err(be)?
                    .map(|h| h.value().to_vec())
                    .ok_or(StoreError::NotFound)?;
                let old = records
                    .get(hash.as_slice())
                    .map_err(be)?
                    .map(|b| decode_for(&r.id, b.value()))
                    .transpose()?
                    .ok_or(StoreError::NotFound)?;
                if old.hash != r.hash || old.owner != r.owner {
                    return Err(StoreError::Conflict(
                        "a key's hash and owner never change".into(),
                    ));
                }
                records
                    .insert(hash.as_slice(), bytes.as_slice())
                    .map_err(be)?;
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let id = id.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let removed = {
                let mut ids = tx.open_table(IDS).map_err(be)?;
                let Some(hash) = ids
                    .remove(id.as_str())
                    .map_err(be)?
                    .map(|h| h.value().to_vec())
                else {
                    return Ok(None);
                };
                let mut records = tx.open_table(RECORDS).map_err(be)?;
                let removed = records
                    .remove(hash.as_slice())
                    .map_err(be)?
                    .map(|b| decode_for(&id, b.value()))
                    .transpose()?;
                if let Some(r) = &removed {
                    let mut owners = tx.open_multimap_table(OWNERS).map_err(be)?;
                    owners.remove(r.owner.as_str(), id.as_str()).map_err(be)?;
                }
                let mut last_used = tx.open_table(LAST_USED).map_err(be)?;
                last_used.remove(id.as_str()).map_err(be)?;
                removed
            };
            tx.commit().map_err(be)?;
            Ok(removed)
        })
        .await
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Listing, StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let owners = tx.open_multimap_table(OWNERS).map_err(be)?;
            let ids = tx.open_table(IDS).map_err(be)?;
            let records = tx.open_table(RECORDS).map_err(be)?;
            let last_used = tx.open_table(LAST_USED).map_err(be)?;
            let mut out = Listing::default();
            for id in owners.get(owner.as_str()).map_err(be)? {
                let id = id.map_err(be)?;
                list_one(&ids, &records, &last_used, id.value(), &mut out)?;
            }
            Ok(out.sorted())
        })
        .await
    }

    async fn list_all(&self) -> Result<Listing, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let ids = tx.open_table(IDS).map_err(be)?;
            let records = tx.open_table(RECORDS).map_err(be)?;
            let last_used = tx.open_table(LAST_USED).map_err(be)?;
            let mut out = Listing::default();
            for entry in ids.iter().map_err(be)? {
                let (id, _) = entry.map_err(be)?;
                list_one(&ids, &records, &last_used, id.value(), &mut out)?;
            }
            Ok(out.sorted())
        })
        .await
    }

    async fn remove_damaged(&self, id: &TokenId) -> Result<Option<KeyHash>, StoreError> {
        let id = id.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let hash = remove_raw(&tx, id.as_str())?;
            tx.commit().map_err(be)?;
            Ok(hash)
        })
        .await
    }

    async fn check(&self, repair: bool) -> Result<Vec<String>, StoreError> {
        let damaged = self.list_all().await?.damaged;
        let problems = damaged
            .iter()
            .map(|id| format!("key {id}: its stored record is damaged (it cannot be read or used)"))
            .collect();
        if repair && !damaged.is_empty() {
            self.blocking(move |db| {
                let tx = db.begin_write().map_err(be)?;
                for id in &damaged {
                    remove_raw(&tx, id.as_str())?;
                }
                tx.commit().map_err(be)
            })
            .await?;
        }
        Ok(problems)
    }

    async fn insert_many(&self, records: &[TokenRecord]) -> Result<usize, StoreError> {
        let records = records.to_vec();
        self.blocking(move |db| {
            // One transaction for the whole batch: one fsync, not one per key.
            let tx = db.begin_write().map_err(be)?;
            let mut n = 0;
            {
                let mut ids = tx.open_table(IDS).map_err(be)?;
                let mut table = tx.open_table(RECORDS).map_err(be)?;
                let mut owners = tx.open_multimap_table(OWNERS).map_err(be)?;
                for r in &records {
                    if ids.get(r.id.as_str()).map_err(be)?.is_some()
                        || table.get(r.hash.0.as_slice()).map_err(be)?.is_some()
                    {
                        continue;
                    }
                    let bytes = encode(r)?;
                    ids.insert(r.id.as_str(), r.hash.0.as_slice()).map_err(be)?;
                    table
                        .insert(r.hash.0.as_slice(), bytes.as_slice())
                        .map_err(be)?;
                    owners.insert(r.owner.as_str(), r.id.as_str()).map_err(be)?;
                    n += 1;
                }
            }
            tx.commit().map_err(be)?;
            Ok(n)
        })
        .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let ids = tx.open_table(IDS).map_err(be)?;
            ids.len().map_err(be)
        })
        .await
    }

    async fn touch(&self, used: &[Touch]) -> Result<(), StoreError> {
        let used = used.to_vec();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let ids = tx.open_table(IDS).map_err(be)?;
                let mut last_used = tx.open_table(LAST_USED).map_err(be)?;
                for (id, at) in &used {
                    if ids.get(id.as_str()).map_err(be)?.is_none() {
                        continue; // deleted since it was used
                    }
                    let prev = last_used.get(id.as_str()).map_err(be)?.map(|v| v.value());
                    if prev.is_none_or(|p| p < at.unix()) {
                        last_used.insert(id.as_str(), at.unix()).map_err(be)?;
                    }
                }
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        let mut e = event.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let seq = {
                let mut audit = tx.open_table(AUDIT).map_err(be)?;
                let last = audit.last().map_err(be)?.map_or(0, |(k, _)| k.value());
                e.seq = last + 1;
                let bytes = serde_json::to_vec(&e).map_err(be)?;
                audit.insert(e.seq, bytes.as_slice()).map_err(be)?;
                let mut by_owner = tx.open_multimap_table(AUDIT_OWNERS).map_err(be)?;
                by_owner.insert(e.owner.as_str(), e.seq).map_err(be)?;
                let oldest = {
                    let held = by_owner.get(e.owner.as_str()).map_err(be)?;
                    if held.len() > AUDIT_MAX_PER_OWNER as u64 {
                        held.into_iter()
                            .next()
                            .transpose()
                            .map_err(be)?
                            .map(|v| v.value())
                    } else {
                        None
                    }
                };
                if let Some(seq) = oldest {
                    by_owner.remove(e.owner.as_str(), seq).map_err(be)?;
                    audit.remove(seq).map_err(be)?;
                }
                if e.seq > AUDIT_MAX {
                    let gone = e.seq - AUDIT_MAX;
                    let owner = audit
                        .remove(gone)
                        .map_err(be)?
                        .and_then(|v| serde_json::from_slice::<AuditEvent>(v.value()).ok())
                        .map(|old| old.owner);
                    if let Some(o) = owner {
                        by_owner.remove(o.as_str(), gone).map_err(be)?;
                    }
                }
                e.seq
            };
            tx.commit().map_err(be)?;
            Ok(seq)
        })
        .await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let q = q.clone();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let audit = tx.open_table(AUDIT).map_err(be)?;
            let mut out = Vec::new();
            let upper = q.before.unwrap_or(u64::MAX);
            for entry in audit.range(..upper).map_err(be)?.rev() {
                let (_, v) = entry.map_err(be)?;
                let e: AuditEvent = serde_json::from_slice(v.value()).map_err(be)?;
                if q.matches(&e) {
                    out.push(e);
                    if out.len() >= q.limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let meta = tx.open_table(META).map_err(be)?;
            Ok(meta
                .get(name.as_str())
                .map_err(be)?
                .map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut meta = tx.open_table(META).map_err(be)?;
                meta.insert(name.as_str(), value.as_slice()).map_err(be)?;
            }
            tx.commit().map_err(be)
        })
        .await
    }

    /// One write transaction (made durable before it answers) per lease: what is
    /// granted is on disk before it is spent.
    async fn take_window(&self, w: &WindowLease<'_>) -> Result<Granted, StoreError> {
        let (slot, start, window_ms) = (w.slot.to_owned(), w.window_start_ms, w.window_ms);
        let (limit, want) = (w.limit, w.want);
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let granted = {
                let mut t = tx.open_table(WINDOWS).map_err(be)?;
                let key = window_key(&slot, start);
                let used = t
                    .get(key.as_str())
                    .map_err(be)?
                    .map_or(0, |v| window_value(v.value()).0);
                let granted = want.min(limit.saturating_sub(used));
                if granted > 0 {
                    let end = start.saturating_add(window_ms);
                    t.insert(key.as_str(), encode_window(used + granted, end).as_slice())
                        .map_err(be)?;
                    if used == 0 {
                        // A new window of this counter: the ended ones before it go.
                        let from = format!("{slot}|");
                        t.retain_in(from.as_str()..key.as_str(), |k, _| !is_window_of(k, &from))
                            .map_err(be)?;
                    }
                }
                Granted {
                    granted,
                    left: limit.saturating_sub(used + granted),
                    epoch: 0,
                }
            };
            tx.commit().map_err(be)?;
            Ok(granted)
        })
        .await
    }

    async fn return_window(&self, slot: &str, start: i64, n: u64) -> Result<(), StoreError> {
        let key = window_key(slot, start);
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut t = tx.open_table(WINDOWS).map_err(be)?;
                let found = t
                    .get(key.as_str())
                    .map_err(be)?
                    .map(|v| window_value(v.value()));
                if let Some((used, end)) = found {
                    t.insert(
                        key.as_str(),
                        encode_window(used.saturating_sub(n), end).as_slice(),
                    )
                    .map_err(be)?;
                }
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn take_credits(&self, c: &CreditLease<'_>) -> Result<Granted, StoreError> {
        let (slot, want, refill, init) = (c.slot.to_owned(), c.want, c.refill, c.init);
        let epochs = self.epochs.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let granted = {
                let mut t = tx.open_table(CREDITS).map_err(be)?;
                let current = t
                    .get(slot.as_str())
                    .map_err(be)?
                    .map(|v| Balance::decode(v.value()))
                    .transpose()?;
                let lease = CreditLease {
                    slot: &slot,
                    want,
                    refill,
                    init,
                };
                let (next, mut granted) = Balance::take(current, &lease);
                granted.epoch = epochs.get(&slot);
                if let Some(b) = next
                    && Some(b) != current
                {
                    t.insert(slot.as_str(), b.encode().as_str()).map_err(be)?;
                }
                granted
            };
            tx.commit().map_err(be)?;
            Ok(granted)
        })
        .await
    }

    async fn return_credits(
        &self,
        slot: &str,
        period: i64,
        epoch: u64,
        n: u64,
    ) -> Result<(), StoreError> {
        let slot = slot.to_owned();
        let epochs = self.epochs.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            if epochs.get(&slot) != epoch {
                return Ok(()); // set since: the new balance wins
            }
            {
                let mut t = tx.open_table(CREDITS).map_err(be)?;
                let current = t
                    .get(slot.as_str())
                    .map_err(be)?
                    .map(|v| Balance::decode(v.value()))
                    .transpose()?;
                if let Some(mut b) = current
                    && b.period_ms == period
                {
                    b.left = b.left.saturating_add(n);
                    t.insert(slot.as_str(), b.encode().as_str()).map_err(be)?;
                }
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn set_credits(&self, slot: &str, balance: Option<Balance>) -> Result<u64, StoreError> {
        let slot = slot.to_owned();
        let epochs = self.epochs.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut t = tx.open_table(CREDITS).map_err(be)?;
                match balance {
                    Some(b) => t.insert(slot.as_str(), b.encode().as_str()).map(|_| ()),
                    None => t.remove(slot.as_str()).map(|_| ()),
                }
                .map_err(be)?;
            }
            // Bumped inside the transaction: a lease taken or given back before it is of
            // the old epoch, one after it of the new.
            let epoch = epochs.bump(&slot);
            tx.commit().map_err(be)?;
            Ok(epoch)
        })
        .await
    }

    async fn get_credits(&self, slots: &[String]) -> Result<Vec<Option<Balance>>, StoreError> {
        let slots = slots.to_vec();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let t = tx.open_table(CREDITS).map_err(be)?;
            slots
                .iter()
                .map(|s| {
                    t.get(s.as_str())
                        .map_err(be)?
                        .map(|v| Balance::decode(v.value()))
                        .transpose()
                })
                .collect()
        })
        .await
    }

    async fn add_usage(
        &self,
        batch: &[crate::analytics::UsageAdd],
        _retention: crate::analytics::Retention,
    ) -> Result<(), StoreError> {
        let rows = crate::analytics::expand(batch);
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut t = tx.open_table(USAGE).map_err(be)?;
                for ((slot, step, bucket), c) in rows {
                    let key = usage_key(step, &slot, bucket);
                    let mut sum = t
                        .get(key.as_slice())
                        .map_err(be)?
                        .map(|v| decode_counts(v.value()))
                        .unwrap_or_default();
                    crate::analytics::add(&mut sum, &c);
                    t.insert(key.as_slice(), encode_counts(&sum).as_slice())
                        .map_err(be)?;
                }
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn read_usage(
        &self,
        slot: &str,
        step: crate::analytics::Step,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, crate::analytics::Counts)>, StoreError> {
        let (lo, hi) = (usage_key(step, slot, from_ms), usage_key(step, slot, to_ms));
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let t = tx.open_table(USAGE).map_err(be)?;
            let mut out = Vec::new();
            for row in t.range(lo.as_slice()..hi.as_slice()).map_err(be)? {
                let (k, v) = row.map_err(be)?;
                out.push((usage_bucket(k.value()), decode_counts(v.value())));
            }
            Ok(out)
        })
        .await
    }

    async fn top_usage(
        &self,
        prefix: &str,
        from_day_ms: i64,
        to_day_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, crate::analytics::Counts)>, StoreError> {
        let mut lo = vec![crate::analytics::Step::Day.as_u8()];
        lo.extend_from_slice(prefix.as_bytes());
        let mut hi = lo.clone();
        // Every slot starting with `prefix`: up to the next byte after it.
        if let Some(last) = hi.last_mut() {
            *last += 1;
        }
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let t = tx.open_table(USAGE).map_err(be)?;
            let mut sums: std::collections::HashMap<String, crate::analytics::Counts> =
                std::collections::HashMap::new();
            for row in t.range(lo.as_slice()..hi.as_slice()).map_err(be)? {
                let (k, v) = row.map_err(be)?;
                let k = k.value();
                let bucket = usage_bucket(k);
                if !(from_day_ms..to_day_ms).contains(&bucket) || k.len() < 10 {
                    continue;
                }
                let slot = String::from_utf8_lossy(&k[1..k.len() - 9]).into_owned();
                crate::analytics::add(
                    sums.entry(slot).or_insert([0; crate::analytics::OUTCOMES]),
                    &decode_counts(v.value()),
                );
            }
            Ok(crate::analytics::top(sums, limit))
        })
        .await
    }

    async fn prune_usage(
        &self,
        now_ms: i64,
        retention: crate::analytics::Retention,
    ) -> Result<usize, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let removed = {
                let mut t = tx.open_table(USAGE).map_err(be)?;
                let old: Vec<Vec<u8>> = t
                    .iter()
                    .map_err(be)?
                    .filter_map(Result::ok)
                    .map(|(k, _)| k.value().to_vec())
                    .filter(|k| {
                        let step = match k.first() {
                            Some(0) => crate::analytics::Step::Minute,
                            Some(1) => crate::analytics::Step::Hour,
                            _ => crate::analytics::Step::Day,
                        };
                        usage_bucket(k) < now_ms - retention.of(step)
                    })
                    .collect();
                for k in &old {
                    t.remove(k.as_slice()).map_err(be)?;
                }
                old.len()
            };
            tx.commit().map_err(be)?;
            Ok(removed)
        })
        .await
    }

    async fn prune_windows(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let removed = {
                let mut t = tx.open_table(WINDOWS).map_err(be)?;
                let before = t.len().map_err(be)?;
                t.retain(|_, v| window_value(v).1 > now_ms).map_err(be)?;
                before.saturating_sub(t.len().map_err(be)?)
            };
            tx.commit().map_err(be)?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The key of a rate-limit window counter: the slot, `|`, the start in 20 digits (so a
/// counter's windows sort by start).
fn window_key(slot: &str, start_ms: i64) -> String {
    format!("{slot}|{:020}", start_ms.max(0))
}

/// Whether `key` is a window of the counter whose keys start with `prefix` (and not of
/// another counter whose name merely starts the same).
fn is_window_of(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 20 && rest.bytes().all(|b| b.is_ascii_digit()))
}

fn encode_window(used: u64, end_ms: i64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&used.to_le_bytes());
    v[8..].copy_from_slice(&end_ms.to_le_bytes());
    v
}

/// (uses granted, end ms); a damaged value reads as a used-up window that has ended
/// (nothing more is granted from it, and the next prune removes it).
fn window_value(v: &[u8]) -> (u64, i64) {
    match (v.get(..8), v.get(8..16)) {
        (Some(u), Some(e)) if v.len() == 16 => (
            u64::from_le_bytes(u.try_into().unwrap_or([0xff; 8])),
            i64::from_le_bytes(e.try_into().unwrap_or([0; 8])),
        ),
        _ => (u64::MAX, 0),
    }
}

fn usage_key(step: crate::analytics::Step, slot: &str, bucket: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(slot.len() + 10);
    k.push(step.as_u8());
    k.extend_from_slice(slot.as_bytes());
    // 0xFF never occurs in UTF-8: the slot ends here, whatever it holds.
    k.push(0xFF);
    k.extend_from_slice(&((bucket as u64) ^ (1 << 63)).to_be_bytes());
    k
}

fn usage_bucket(key: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    if key.len() >= 8 {
        b.copy_from_slice(&key[key.len() - 8..]);
    }
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

fn encode_counts(c: &crate::analytics::Counts) -> Vec<u8> {
    c.iter().flat_map(|n| n.to_le_bytes()).collect()
}

fn decode_counts(v: &[u8]) -> crate::analytics::Counts {
    let mut c = [0u64; crate::analytics::OUTCOMES];
    for (i, chunk) in v
        .chunks_exact(8)
        .take(crate::analytics::OUTCOMES)
        .enumerate()
    {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        c[i] = u64::from_le_bytes(b);
    }
    c
}
