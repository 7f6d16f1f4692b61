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

use super::codec::{
    self, Converted, RECORD_FORMAT_META, RecordFormat, decode, decode_for, salvage,
};
use super::counters::Balance;
use super::{
    AUDIT_MAX, AUDIT_MAX_PER_OWNER, AuditEvent, AuditQuery, AuditStore, CounterStore, FollowStore,
    Listing, MetaStore, RecordStore, StoreError, TokenId, TokenRecord, Touch, UsageStore,
};
use super::{CreditLease, Granted, WindowLease};
use crate::clock::Timestamp;
use crate::token::KeyHash;

mod audit;
mod counters;
mod events;
mod records;
mod usage;

/// hash → record (JSON or binary: `store::codec`).
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
/// Each key's recent requests (JSON): (id, time, index) → request.
const RECENT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("recent");
/// The same minute and hour counts of keys and owners by time: (step, bucket, slot).
const USAGE_TIME: TableDefinition<&[u8], &[u8]> = TableDefinition::new("usage_time");
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
    /// The outbox events this process has claimed (`events.rs`).
    claims: events::OutboxClaims,
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
            usage::index_by_time(&tx)?;
            tx.open_table(RECENT).map_err(be)?;
            tx.open_table(AUDIT).map_err(be)?;
            tx.open_multimap_table(AUDIT_OWNERS).map_err(be)?;
            tx.open_table(events::EVENTS).map_err(be)?;
            tx.open_table(events::DELIVERIES).map_err(be)?;
            tx.open_table(events::DELIVERY_INFO).map_err(be)?;
            tx.open_table(events::DELIVERY_DUE).map_err(be)?;
            tx.open_table(events::DELIVERY_INDEX).map_err(be)?;
        }
        tx.commit().map_err(be)?;
        Ok(RedbStore {
            db: Arc::new(db),
            epochs: Arc::default(),
            claims: Arc::default(),
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

/// The format records are written in, read in the write transaction `tx` (before it
/// opens `records`): the store's marker; without one, `binary` for a store that holds
/// no record yet (marked so here) and JSON for a store of an earlier keygate, until
/// `keygate store migrate`.
fn write_format(tx: &redb::WriteTransaction) -> Result<RecordFormat, StoreError> {
    let mut meta = tx.open_table(META).map_err(be)?;
    if let Some(v) = meta.get(RECORD_FORMAT_META).map_err(be)? {
        return RecordFormat::of_marker(Some(v.value()));
    }
    if !tx.open_table(RECORDS).map_err(be)?.is_empty().map_err(be)? {
        return Ok(RecordFormat::Json);
    }
    meta.insert(RECORD_FORMAT_META, RecordFormat::Binary.name().as_bytes())
        .map_err(be)?;
    Ok(RecordFormat::Binary)
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
    usage::remove_recent(tx, id)?;
    Ok(<[u8; 32]>::try_from(hash.as_slice()).ok().map(KeyHash))
}

#[async_trait]
impl MetaStore for RedbStore {
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

    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let (name, expected, value) = (
            name.to_owned(),
            expected.map(<[u8]>::to_vec),
            value.to_vec(),
        );
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut meta = tx.open_table(META).map_err(be)?;
                let now = meta
                    .get(name.as_str())
                    .map_err(be)?
                    .map(|v| v.value().to_vec());
                if now != expected {
                    return Ok(false);
                }
                meta.insert(name.as_str(), value.as_slice()).map_err(be)?;
            }
            tx.commit().map_err(be)?;
            Ok(true)
        })
        .await
    }
}

/// Written by this process only: nothing to follow.
impl FollowStore for RedbStore {}
