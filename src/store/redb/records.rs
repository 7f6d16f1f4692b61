//! The embedded (redb) store's key records: insert, lookups by hash and id, the owner index,
//! last-used times, removal, and the check for leftovers of interrupted changes.

use super::*;

#[async_trait]
impl RecordStore for RedbStore {
    fn kind(&self) -> &'static str {
        "redb"
    }

    async fn insert(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let r = record.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let bytes = codec::encode(&r, write_format(&tx)?)?;
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
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let bytes = codec::encode(&r, write_format(&tx)?)?;
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
                usage::remove_recent(&tx, id.as_str())?;
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

    async fn convert_records(
        &self,
        to: RecordFormat,
        rewrite: bool,
    ) -> Result<Converted, StoreError> {
        self.blocking(move |db| {
            let mut out = Converted::default();
            if !rewrite {
                let tx = db.begin_read().map_err(be)?;
                let ids = tx.open_table(IDS).map_err(be)?;
                let records = tx.open_table(RECORDS).map_err(be)?;
                for entry in ids.iter().map_err(be)? {
                    let (id, hash) = entry.map_err(be)?;
                    let (Ok(id), Some(bytes)) = (
                        TokenId::parse(id.value()),
                        records.get(hash.value()).map_err(be)?,
                    ) else {
                        continue;
                    };
                    let what = codec::rewrite(&id, bytes.value(), to);
                    out.tally(id, &what);
                }
                return Ok(out);
            }
            // In transactions of a few thousand records: each one short, and a rewrite
            // read in the transaction that writes it (redb runs one writer at a time).
            let mut after: Option<String> = None;
            loop {
                let tx = db.begin_write().map_err(be)?;
                after = convert_chunk(&tx, after.as_deref(), to, &mut out)?;
                tx.commit().map_err(be)?;
                if after.is_none() {
                    return Ok(out);
                }
            }
        })
        .await
    }

    async fn check(&self, repair: bool) -> Result<Vec<String>, StoreError> {
        let listing = self.list_all().await?;
        let mut damaged = listing.damaged;
        damaged.retain(|id| !listing.newer.contains_key(id));
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
            let format = write_format(&tx)?;
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
                    let bytes = codec::encode(r, format)?;
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

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Records rewritten per transaction by `convert_records`.
const CONVERT_CHUNK: usize = 2000;

/// Brings up to [`CONVERT_CHUNK`] records with ids after `after` into format `to`;
/// returns the last id done, `None` at the end.
fn convert_chunk(
    tx: &redb::WriteTransaction,
    after: Option<&str>,
    to: RecordFormat,
    out: &mut Converted,
) -> Result<Option<String>, StoreError> {
    use std::ops::Bound;
    let ids = tx.open_table(IDS).map_err(be)?;
    let mut records = tx.open_table(RECORDS).map_err(be)?;
    let range = ids
        .range::<&str>((
            after.map_or(Bound::Unbounded, Bound::Excluded),
            Bound::Unbounded,
        ))
        .map_err(be)?;
    let (mut last, mut seen) = (None, 0);
    for entry in range.take(CONVERT_CHUNK) {
        let (raw, hash) = entry.map_err(be)?;
        last = Some(raw.value().to_owned());
        seen += 1;
        let Ok(id) = TokenId::parse(raw.value()) else {
            continue;
        };
        let Some(bytes) = records
            .get(hash.value())
            .map_err(be)?
            .map(|b| b.value().to_vec())
        else {
            continue;
        };
        let what = codec::rewrite(&id, &bytes, to);
        if let codec::Rewrite::Write(new) = &what {
            records.insert(hash.value(), new.as_slice()).map_err(be)?;
        }
        out.tally(id, &what);
    }
    Ok(last.filter(|_| seen == CONVERT_CHUNK))
}
