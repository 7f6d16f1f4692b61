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
        let mut rows: Vec<_> = crate::analytics::expand(batch)
            .into_iter()
            .map(|((slot, step, bucket), c)| (usage_key(step, &slot, bucket), c))
            .collect();
        // In key order: inserts that share a page come together.
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut t = tx.open_table(USAGE).map_err(be)?;
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
                    sums.entry(slot).or_insert([0; crate::analytics::COUNTS]),
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
