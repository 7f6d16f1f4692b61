//! The embedded store's analytics: one row per (step, slot, bucket) with five counts.

use super::*;

#[async_trait]
impl UsageStore for RedbStore {
    /// A transaction holds every page it changed until it commits, and the rows of keys
    /// used once each land on pages of their own: 2 000 tallies (12 000 rows) in one
    /// transaction held tens of MiB during a stream of new keys (docs/benchmarks.md,
    /// issue 23). About 1 000 rows a transaction.
    fn usage_chunk(&self) -> usize {
        170
    }

    async fn add_usage(
        &self,
        batch: &[crate::analytics::UsageAdd],
        _retention: crate::analytics::Retention,
    ) -> Result<(), StoreError> {
        let expanded = crate::analytics::expand(batch);
        let mut by_time: Vec<_> = expanded
            .iter()
            .filter(|((slot, step, _), _)| by_time_kept(slot, *step))
            .map(|((slot, step, bucket), c)| (time_key(*step, *bucket, slot), *c))
            .collect();
        let mut rows: Vec<_> = expanded
            .into_iter()
            .map(|((slot, step, bucket), c)| (usage_key(step, &slot, bucket), c))
            .collect();
        // In key order: inserts that share a page come together.
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        by_time.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            add_rows(&mut tx.open_table(USAGE).map_err(be)?, rows)?;
            add_rows(&mut tx.open_table(USAGE_TIME).map_err(be)?, by_time)?;
            tx.commit().map_err(be)
        })
        .await
    }

    async fn add_recent(
        &self,
        batch: &[crate::model::RecentRequest],
        keep: usize,
    ) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(batch.len());
        for (i, r) in batch.iter().enumerate() {
            let value = serde_json::to_vec(r)
                .map_err(|e| StoreError::Backend(format!("cannot encode a request: {e}")))?;
            rows.push((r.id.clone(), recent_key(&r.id, r.at_ms, i as u32), value));
        }
        let ids: std::collections::BTreeSet<TokenId> = batch.iter().map(|r| r.id.clone()).collect();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                // A key deleted since its requests were noted keeps none.
                let known = tx.open_table(IDS).map_err(be)?;
                let mut gone = std::collections::BTreeSet::new();
                for id in &ids {
                    if known.get(id.as_str()).map_err(be)?.is_none() {
                        gone.insert(id);
                    }
                }
                let mut t = tx.open_table(RECENT).map_err(be)?;
                for (id, k, v) in &rows {
                    if !gone.contains(id) {
                        t.insert(k.as_slice(), v.as_slice()).map_err(be)?;
                    }
                }
                // The newest `keep` of each key stay.
                for id in ids {
                    let (lo, hi) = recent_span(id.as_str());
                    let old: Vec<Vec<u8>> = t
                        .range(lo.as_slice()..hi.as_slice())
                        .map_err(be)?
                        .rev()
                        .skip(keep)
                        .filter_map(Result::ok)
                        .map(|(k, _)| k.value().to_vec())
                        .collect();
                    for k in old {
                        t.remove(k.as_slice()).map_err(be)?;
                    }
                }
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn recent(
        &self,
        id: &TokenId,
        limit: usize,
    ) -> Result<Vec<crate::model::RecentRequest>, StoreError> {
        let (lo, hi) = recent_span(id.as_str());
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let t = tx.open_table(RECENT).map_err(be)?;
            let mut out = Vec::new();
            for row in t.range(lo.as_slice()..hi.as_slice()).map_err(be)?.rev() {
                let (_, v) = row.map_err(be)?;
                // A row that does not decode is passed over, not an error for the page.
                if let Ok(r) = serde_json::from_slice(v.value()) {
                    out.push(r);
                }
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    async fn usage_in_range(
        &self,
        prefix: &str,
        step: crate::analytics::Step,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<crate::store::UsageRow>, StoreError> {
        if step == crate::analytics::Step::Day {
            return Err(crate::store::no_day_index());
        }
        let (lo, hi) = (time_key(step, from_ms, ""), time_key(step, to_ms, ""));
        let prefix = prefix.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let t = tx.open_table(USAGE_TIME).map_err(be)?;
            let mut out = Vec::new();
            for row in t.range(lo.as_slice()..hi.as_slice()).map_err(be)? {
                let (k, v) = row.map_err(be)?;
                let k = k.value();
                let Some(slot) = k.get(9..).and_then(|s| std::str::from_utf8(s).ok()) else {
                    continue;
                };
                if slot.starts_with(&prefix) {
                    out.push((slot.to_owned(), time_bucket(k), decode_counts(v.value())));
                }
            }
            Ok(out)
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
        by: crate::analytics::Rank,
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
                    sums.entry(slot).or_insert([0; crate::analytics::COUNTS]),
                    &decode_counts(v.value()),
                );
            }
            Ok(crate::analytics::top(sums, limit, by))
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
                // The index by time: the old buckets of each step are one range.
                let mut by_time = tx.open_table(USAGE_TIME).map_err(be)?;
                for step in [crate::analytics::Step::Minute, crate::analytics::Step::Hour] {
                    let (lo, hi) = (
                        time_key(step, i64::MIN, ""),
                        time_key(step, now_ms - retention.of(step), ""),
                    );
                    by_time
                        .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)
                        .map_err(be)?;
                }
                old.len()
            };
            tx.commit().map_err(be)?;
            Ok(removed)
        })
        .await
    }
}

/// (id, 0xFF, time, index): a key's requests together, in time order.
fn recent_key(id: &TokenId, at_ms: i64, index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.as_str().len() + 13);
    k.extend_from_slice(id.as_str().as_bytes());
    k.push(0xFF);
    k.extend_from_slice(&((at_ms as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// Removes `id`'s recent requests (with the key: they name its paths and callers).
pub(super) fn remove_recent(tx: &redb::WriteTransaction, id: &str) -> Result<(), StoreError> {
    let (lo, hi) = recent_span(id);
    let mut t = tx.open_table(RECENT).map_err(be)?;
    t.retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)
        .map_err(be)
}

/// Every row of `id` falls within this range.
fn recent_span(id: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = id.as_bytes().to_vec();
    lo.push(0xFF);
    let mut hi = id.as_bytes().to_vec();
    hi.extend_from_slice(&[
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    (lo, hi)
}

/// Adds each row's counts into the table's.
fn add_rows(
    t: &mut redb::Table<&[u8], &[u8]>,
    rows: Vec<(Vec<u8>, crate::analytics::Counts)>,
) -> Result<(), StoreError> {
    for (key, c) in rows {
        let mut sum = t
            .get(key.as_slice())
            .map_err(be)?
            .map(|v| decode_counts(v.value()))
            .unwrap_or_default();
        crate::analytics::add(&mut sum, &c);
        t.insert(key.as_slice(), encode_counts(&sum).as_slice())
            .map_err(be)?;
    }
    Ok(())
}

/// Whether a row is also kept by time: keys' and owners' minutes and hours.
fn by_time_kept(slot: &str, step: crate::analytics::Step) -> bool {
    step != crate::analytics::Step::Day && !slot.starts_with("g:")
}

/// (step, bucket, slot): a range of buckets holds every slot counted then.
fn time_key(step: crate::analytics::Step, bucket: i64, slot: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(slot.len() + 9);
    k.push(step.as_u8());
    k.extend_from_slice(&((bucket as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(slot.as_bytes());
    k
}

fn time_bucket(key: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    if let Some(s) = key.get(1..9) {
        b.copy_from_slice(s);
    }
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// Creates the index by time, filled from the counts a store of an earlier keygate
/// holds (once: an empty index beside counts).
pub(super) fn index_by_time(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut by_time = tx.open_table(USAGE_TIME).map_err(be)?;
    if !by_time.is_empty().map_err(be)? {
        return Ok(());
    }
    let usage = tx.open_table(USAGE).map_err(be)?;
    for row in usage.iter().map_err(be)? {
        let (k, v) = row.map_err(be)?;
        let k = k.value();
        let step = match k.first() {
            Some(0) => crate::analytics::Step::Minute,
            Some(1) => crate::analytics::Step::Hour,
            _ => continue,
        };
        let Some(slot) = k
            .len()
            .checked_sub(9)
            .and_then(|end| k.get(1..end))
            .and_then(|s| std::str::from_utf8(s).ok())
        else {
            continue;
        };
        if by_time_kept(slot, step) {
            let key = time_key(step, usage_bucket(k), slot);
            by_time.insert(key.as_slice(), v.value()).map_err(be)?;
        }
    }
    Ok(())
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
    let mut c = [0u64; crate::analytics::COUNTS];
    for (i, chunk) in v.chunks_exact(8).take(crate::analytics::COUNTS).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        c[i] = u64::from_le_bytes(b);
    }
    c
}
