//! Valkey's analytics: hash fields in hashes of an hour of minutes, a day of hours and
//! 32 days of days, each expiring with its retention, and a per-day ranking.

use super::*;

#[async_trait]
impl UsageStore for ValkeyStore {
    async fn add_usage(
        &self,
        batch: &[crate::analytics::UsageAdd],
        retention: crate::analytics::Retention,
    ) -> Result<(), StoreError> {
        let rows = crate::analytics::expand(batch);
        let mut cmds = Vec::new();
        let mut expiring = std::collections::BTreeMap::new();
        for ((slot, step, bucket), c) in rows {
            let container = bucket - bucket.rem_euclid(step.container());
            let key = self.k_usage(&slot, step, container);
            let index = (bucket - container) / step.millis();
            for (o, n) in c.iter().enumerate() {
                if *n > 0 {
                    cmds.push(
                        redis::cmd("HINCRBY")
                            .arg(&key)
                            .arg(format!("{index}:{o}"))
                            .arg(*n)
                            .clone(),
                    );
                }
            }
            // Kept for the step's retention after the container ends.
            let until = container + step.container() + retention.of(step);
            expiring.insert(key, until);
            // By time too (keys' and owners' minutes and hours): one hash per bucket.
            if step != crate::analytics::Step::Day && !slot.starts_with("g:") {
                let key = self.k_usage_time(step, bucket);
                for (o, n) in c.iter().enumerate() {
                    if *n > 0 {
                        cmds.push(
                            redis::cmd("HINCRBY")
                                .arg(&key)
                                .arg(format!("{o}|{slot}"))
                                .arg(*n)
                                .clone(),
                        );
                    }
                }
                expiring.insert(key, bucket + step.millis() + retention.of(step));
            }
        }
        // Per day, a ranking of keys and of owners by requests (for the admin overview).
        for u in batch {
            let day = crate::analytics::Step::Day.bucket(u.minute_ms);
            let n = crate::analytics::requests(&u.counts);
            let refused = crate::analytics::refusals(&u.counts);
            for (kind, slot) in [("k", &u.key_slot), ("o", &u.owner_slot)] {
                // And of refusals, for the slots refused anything.
                let refusals = format!("{kind}r");
                let rankings = [(kind, n), (refusals.as_str(), refused)];
                for (kind, n) in rankings.into_iter().filter(|(_, n)| *n > 0) {
                    let key = self.k_top(kind, day);
                    cmds.push(redis::cmd("ZINCRBY").arg(&key).arg(n).arg(slot).clone());
                    let until = day + 86_400_000 + retention.day_ms;
                    expiring.insert(key, until);
                }
            }
        }
        for (key, until_ms) in expiring {
            cmds.push(redis::cmd("PEXPIREAT").arg(key).arg(until_ms).clone());
        }
        // In chunks, so one flush never holds the shared connection for long.
        for chunk in cmds.chunks(1000) {
            self.batch(chunk.to_vec()).await?;
        }
        Ok(())
    }

    async fn top_usage(
        &self,
        prefix: &str,
        from_day_ms: i64,
        to_day_ms: i64,
        limit: usize,
        by: crate::analytics::Rank,
    ) -> Result<Vec<(String, crate::analytics::Counts)>, StoreError> {
        let kind = match (prefix.starts_with('o'), by) {
            (true, crate::analytics::Rank::Requests) => "o",
            (true, crate::analytics::Rank::Refusals) => "or",
            (false, crate::analytics::Rank::Requests) => "k",
            (false, crate::analytics::Rank::Refusals) => "kr",
        };
        let day_ms = crate::analytics::Step::Day.millis();
        let mut days = Vec::new();
        let mut d = from_day_ms;
        while d < to_day_ms && days.len() < 1000 {
            days.push(d);
            d += day_ms;
        }
        // The ranking per day gives the candidates (the top `limit` of each day); their
        // counts by outcome come from their day buckets.
        let cmds = days
            .iter()
            .map(|d| {
                redis::cmd("ZREVRANGE")
                    .arg(self.k_top(kind, *d))
                    .arg(0)
                    .arg(limit.saturating_sub(1))
                    .clone()
            })
            .collect();
        let mut candidates = std::collections::BTreeSet::new();
        for v in self.batch(cmds).await? {
            let members: Vec<String> = redis::FromRedisValue::from_redis_value(v)
                .map_err(|e| StoreError::Backend(format!("analytics ranking is damaged: {e}")))?;
            candidates.extend(members.into_iter().filter(|m| m.starts_with(prefix)));
        }
        let mut sums = std::collections::HashMap::new();
        for slot in candidates {
            let mut c = [0; crate::analytics::COUNTS];
            for (_, counts) in self
                .read_usage(&slot, crate::analytics::Step::Day, from_day_ms, to_day_ms)
                .await?
            {
                crate::analytics::add(&mut c, &counts);
            }
            sums.insert(slot, c);
        }
        Ok(crate::analytics::top(sums, limit, by))
    }

    async fn add_recent(
        &self,
        batch: &[crate::model::RecentRequest],
        keep: usize,
    ) -> Result<(), StoreError> {
        // A key deleted since its requests were noted keeps none.
        let ids: Vec<&TokenId> = batch
            .iter()
            .map(|r| &r.id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut known = std::collections::BTreeSet::new();
        for chunk in ids.chunks(1000) {
            let asks = chunk
                .iter()
                .map(|id| redis::cmd("EXISTS").arg(self.k_id(id)).clone())
                .collect();
            for (id, v) in chunk.iter().zip(self.batch(asks).await?) {
                if redis::FromRedisValue::from_redis_value(v) == Ok(1i64) {
                    known.insert(*id);
                }
            }
        }
        let mut cmds = Vec::with_capacity(batch.len() + 2);
        let mut keys = std::collections::BTreeSet::new();
        for r in batch.iter().filter(|r| known.contains(&r.id)) {
            let value = serde_json::to_string(r)
                .map_err(|e| StoreError::Backend(format!("cannot encode a request: {e}")))?;
            let key = self.k_recent(&r.id);
            cmds.push(redis::cmd("LPUSH").arg(&key).arg(value).clone());
            keys.insert(key);
        }
        for key in keys {
            cmds.push(
                redis::cmd("LTRIM")
                    .arg(&key)
                    .arg(0)
                    .arg(keep.max(1) - 1)
                    .clone(),
            );
            // Deleting a key deletes its list; one deleted while this batch was written
            // goes a week after its last request.
            cmds.push(redis::cmd("PEXPIRE").arg(&key).arg(7 * 86_400_000).clone());
        }
        for chunk in cmds.chunks(1000) {
            self.batch(chunk.to_vec()).await?;
        }
        Ok(())
    }

    async fn recent(
        &self,
        id: &TokenId,
        limit: usize,
    ) -> Result<Vec<crate::model::RecentRequest>, StoreError> {
        let cmd = redis::cmd("LRANGE")
            .arg(self.k_recent(id))
            .arg(0)
            .arg(limit.max(1) - 1)
            .clone();
        let mut out = Vec::new();
        for v in self.batch(vec![cmd]).await? {
            let items: Vec<String> = redis::FromRedisValue::from_redis_value(v)
                .map_err(|e| StoreError::Backend(format!("recent requests are damaged: {e}")))?;
            out.extend(items.iter().filter_map(|i| serde_json::from_str(i).ok()));
        }
        Ok(out)
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
        let mut buckets = Vec::new();
        let mut b = step.bucket(from_ms);
        while b < to_ms && buckets.len() < crate::analytics::MAX_POINTS as usize {
            if b >= from_ms {
                buckets.push(b);
            }
            b += step.millis();
        }
        let cmds = buckets
            .iter()
            .map(|b| {
                redis::cmd("HGETALL")
                    .arg(self.k_usage_time(step, *b))
                    .clone()
            })
            .collect();
        let mut out = Vec::new();
        for (bucket, v) in buckets.iter().zip(self.batch(cmds).await?) {
            let fields: std::collections::HashMap<String, u64> =
                redis::FromRedisValue::from_redis_value(v).map_err(|e| {
                    StoreError::Backend(format!("analytics by time are damaged: {e}"))
                })?;
            let mut slots: std::collections::BTreeMap<String, crate::analytics::Counts> =
                std::collections::BTreeMap::new();
            for (field, n) in fields {
                let Some((o, slot)) = field.split_once('|') else {
                    continue;
                };
                match o.parse::<usize>() {
                    Ok(o) if o < crate::analytics::COUNTS && slot.starts_with(prefix) => {
                        slots
                            .entry(slot.to_owned())
                            .or_insert([0; crate::analytics::COUNTS])[o] += n;
                    }
                    _ => {}
                }
            }
            out.extend(slots.into_iter().map(|(slot, c)| (slot, *bucket, c)));
        }
        Ok(out)
    }

    async fn read_usage(
        &self,
        slot: &str,
        step: crate::analytics::Step,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, crate::analytics::Counts)>, StoreError> {
        let size = step.container();
        let mut containers = Vec::new();
        let mut c = from_ms - from_ms.rem_euclid(size);
        while c < to_ms && containers.len() < 10_000 {
            containers.push(c);
            c += size;
        }
        let cmds = containers
            .iter()
            .map(|c| {
                redis::cmd("HGETALL")
                    .arg(self.k_usage(slot, step, *c))
                    .clone()
            })
            .collect();
        let mut out: std::collections::BTreeMap<i64, crate::analytics::Counts> =
            std::collections::BTreeMap::new();
        for (container, v) in containers.iter().zip(self.batch(cmds).await?) {
            let fields: std::collections::HashMap<String, u64> =
                redis::FromRedisValue::from_redis_value(v).map_err(|e| {
                    StoreError::Backend(format!("analytics bucket is damaged: {e}"))
                })?;
            for (field, n) in fields {
                let Some((i, o)) = field.split_once(':') else {
                    continue;
                };
                let (Ok(i), Ok(o)) = (i.parse::<i64>(), o.parse::<usize>()) else {
                    continue;
                };
                let bucket = container + i * step.millis();
                if o < crate::analytics::COUNTS && bucket >= from_ms && bucket < to_ms {
                    out.entry(bucket).or_insert([0; crate::analytics::COUNTS])[o] += n;
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}
