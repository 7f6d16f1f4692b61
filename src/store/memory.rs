//! An in-process store: for tests and for trying keygate out. Nothing survives a restart.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::events::{Claimed, DeliveryRow, EventStore};
use super::{
    AUDIT_MAX, AUDIT_MAX_PER_OWNER, AuditEvent, AuditQuery, AuditStore, CounterStore, CreditLease,
    FollowStore, Granted, Listing, MetaStore, RecordStore, StoreError, TokenId, TokenRecord, Touch,
    UsageStore, WindowLease, counters,
};
use crate::token::KeyHash;

#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
    windows: counters::Windows,
    credits: counters::Credits,
    /// (step, slot, bucket) → counts.
    usage:
        std::sync::Mutex<std::collections::BTreeMap<(u8, String, i64), crate::analytics::Counts>>,
    events: std::sync::Mutex<super::events::MemoryEvents>,
    /// Each key's recent requests, oldest first.
    recent:
        std::sync::Mutex<HashMap<TokenId, std::collections::VecDeque<crate::model::RecentRequest>>>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<TokenId, TokenRecord>,
    by_hash: HashMap<KeyHash, TokenId>,
    meta: HashMap<String, Vec<u8>>,
    audit: Vec<AuditEvent>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the maps half-written (every write
    // below is a single insert/remove pair done after all checks), so a poisoned lock is
    // still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn events(&self) -> std::sync::MutexGuard<'_, super::events::MemoryEvents> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl RecordStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn insert(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let mut g = self.write();
        if g.by_id.contains_key(&record.id) || g.by_hash.contains_key(&record.hash) {
            return Err(StoreError::Conflict(
                "a key with this id or hash exists".into(),
            ));
        }
        g.by_hash.insert(record.hash, record.id.clone());
        g.by_id.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn get_by_hash(&self, hash: &KeyHash) -> Result<Option<TokenRecord>, StoreError> {
        let g = self.read();
        Ok(g.by_hash.get(hash).and_then(|id| g.by_id.get(id)).cloned())
    }

    async fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.read().by_id.get(id).cloned())
    }

    async fn update(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let mut g = self.write();
        let slot = g.by_id.get_mut(&record.id).ok_or(StoreError::NotFound)?;
        if slot.hash != record.hash || slot.owner != record.owner {
            return Err(StoreError::Conflict(
                "a key's hash and owner never change".into(),
            ));
        }
        let last_used = slot.last_used_at;
        *slot = record.clone();
        slot.last_used_at = last_used;
        Ok(())
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let mut g = self.write();
        let removed = g.by_id.remove(id);
        if let Some(r) = &removed {
            g.by_hash.remove(&r.hash);
        }
        drop(g);
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(removed)
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Listing, StoreError> {
        let records = self
            .read()
            .by_id
            .values()
            .filter(|r| r.owner == owner)
            .cloned()
            .collect();
        Ok(Listing {
            records,
            ..Listing::default()
        }
        .sorted())
    }

    async fn list_all(&self) -> Result<Listing, StoreError> {
        let records = self.read().by_id.values().cloned().collect();
        Ok(Listing {
            records,
            ..Listing::default()
        }
        .sorted())
    }

    /// Records are kept decoded here: none is ever damaged, this is a plain delete.
    async fn remove_damaged(&self, id: &TokenId) -> Result<Option<KeyHash>, StoreError> {
        Ok(self.delete(id).await?.map(|r| r.hash))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.read().by_id.len() as u64)
    }

    async fn touch(&self, used: &[Touch]) -> Result<(), StoreError> {
        let mut g = self.write();
        for (id, at) in used {
            if let Some(r) = g.by_id.get_mut(id) {
                r.last_used_at = r.last_used_at.max(Some(*at));
            }
        }
        Ok(())
    }

    /// Records are kept decoded here, in no format: every one is in any format already.
    async fn convert_records(
        &self,
        _to: super::RecordFormat,
        _rewrite: bool,
    ) -> Result<super::Converted, StoreError> {
        Ok(super::Converted {
            already: self.read().by_id.len() as u64,
            ..Default::default()
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn push_events(&self, events: &[Vec<u8>]) -> Result<(), StoreError> {
        self.events().push(events);
        Ok(())
    }

    async fn claim_events(
        &self,
        _consumer: &str,
        max: usize,
        now_ms: i64,
        stale_ms: u64,
    ) -> Result<Claimed, StoreError> {
        Ok(self.events().claim(max, now_ms, stale_ms))
    }

    async fn ack_events(&self, tags: &[String]) -> Result<(), StoreError> {
        self.events().ack(tags);
        Ok(())
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        Ok(self.events().outbox_len())
    }

    async fn add_deliveries(&self, rows: &[DeliveryRow<'_>]) -> Result<usize, StoreError> {
        let mut g = self.events();
        Ok(rows.iter().filter(|d| g.put(d, true)).count())
    }

    async fn put_deliveries(&self, rows: &[DeliveryRow<'_>]) -> Result<(), StoreError> {
        let mut g = self.events();
        for d in rows {
            g.put(d, false);
        }
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.events().claim_due(now_ms, lease_ms, max))
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.events().get(id))
    }

    async fn list_deliveries(
        &self,
        endpoint: &str,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.events().list(endpoint, before, limit))
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        let mut g = self.write();
        let seq = g.audit.last().map_or(1, |e| e.seq + 1);
        g.audit.push(AuditEvent {
            seq,
            ..event.clone()
        });
        let owner = &event.owner;
        if g.audit.iter().filter(|e| e.owner == *owner).count() > AUDIT_MAX_PER_OWNER
            && let Some(i) = g.audit.iter().position(|e| e.owner == *owner)
        {
            g.audit.remove(i);
        }
        if g.audit.len() as u64 > AUDIT_MAX {
            g.audit.remove(0);
        }
        Ok(seq)
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .read()
            .audit
            .iter()
            .rev()
            .filter(|e| q.matches(e))
            .take(q.limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl MetaStore for MemoryStore {
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read().meta.get(name).cloned())
    }

    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let mut w = self.write();
        if w.meta.get(name).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        w.meta.insert(name.to_owned(), value.to_vec());
        Ok(true)
    }

    async fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write().meta.insert(name.to_owned(), value.to_vec());
        Ok(())
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn take_window(&self, w: &WindowLease<'_>) -> Result<Granted, StoreError> {
        Ok(self.windows.take(w))
    }

    async fn return_window(&self, slot: &str, start: i64, n: u64) -> Result<(), StoreError> {
        self.windows.give_back(slot, start, n);
        Ok(())
    }

    async fn take_credits(&self, c: &CreditLease<'_>) -> Result<Granted, StoreError> {
        Ok(self.credits.take(c))
    }

    async fn return_credits(
        &self,
        slot: &str,
        period: i64,
        epoch: u64,
        n: u64,
    ) -> Result<(), StoreError> {
        self.credits.give_back(slot, period, epoch, n);
        Ok(())
    }

    async fn set_credits(
        &self,
        slot: &str,
        balance: Option<counters::Balance>,
    ) -> Result<u64, StoreError> {
        Ok(self.credits.set(slot, balance))
    }

    async fn get_credits(
        &self,
        slots: &[String],
    ) -> Result<Vec<Option<counters::Balance>>, StoreError> {
        Ok(slots.iter().map(|s| self.credits.get(s)).collect())
    }
}

/// Written by this process only: nothing to follow.
impl FollowStore for MemoryStore {}

#[async_trait]
impl UsageStore for MemoryStore {
    async fn add_usage(
        &self,
        batch: &[crate::analytics::UsageAdd],
        _retention: crate::analytics::Retention,
    ) -> Result<(), StoreError> {
        let mut m = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        for ((slot, step, bucket), c) in crate::analytics::expand(batch) {
            crate::analytics::add(
                m.entry((step.as_u8(), slot, bucket))
                    .or_insert([0; crate::analytics::COUNTS]),
                &c,
            );
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
        let m = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let day = crate::analytics::Step::Day.as_u8();
        let mut sums: HashMap<String, crate::analytics::Counts> = HashMap::new();
        for ((step, slot, bucket), c) in m.iter() {
            if *step == day && slot.starts_with(prefix) && (from_day_ms..to_day_ms).contains(bucket)
            {
                crate::analytics::add(
                    sums.entry(slot.clone())
                        .or_insert([0; crate::analytics::COUNTS]),
                    c,
                );
            }
        }
        Ok(crate::analytics::top(sums, limit, by))
    }

    async fn add_recent(
        &self,
        batch: &[crate::model::RecentRequest],
        keep: usize,
    ) -> Result<(), StoreError> {
        let known: std::collections::HashSet<&TokenId> = {
            let g = self.read();
            batch
                .iter()
                .map(|r| &r.id)
                .filter(|id| g.by_id.contains_key(*id))
                .collect()
        };
        let mut m = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        // A key deleted since its requests were noted keeps none.
        for r in batch.iter().filter(|r| known.contains(&r.id)) {
            let q = m.entry(r.id.clone()).or_default();
            q.push_back(r.clone());
            while q.len() > keep {
                q.pop_front();
            }
        }
        Ok(())
    }

    async fn recent(
        &self,
        id: &TokenId,
        limit: usize,
    ) -> Result<Vec<crate::model::RecentRequest>, StoreError> {
        let m = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        Ok(m.get(id)
            .map(|q| q.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn usage_in_range(
        &self,
        prefix: &str,
        step: crate::analytics::Step,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<super::UsageRow>, StoreError> {
        if step == crate::analytics::Step::Day {
            return Err(super::no_day_index());
        }
        let m = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let s = step.as_u8();
        Ok(m.iter()
            .filter(|((st, slot, b), _)| {
                *st == s && slot.starts_with(prefix) && (from_ms..to_ms).contains(b)
            })
            .map(|((_, slot, b), c)| (slot.clone(), *b, *c))
            .collect())
    }

    async fn read_usage(
        &self,
        slot: &str,
        step: crate::analytics::Step,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, crate::analytics::Counts)>, StoreError> {
        let m = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let (s, o) = (step.as_u8(), slot.to_owned());
        Ok(m.range((s, o.clone(), from_ms)..(s, o, to_ms))
            .map(|((_, _, b), c)| (*b, *c))
            .collect())
    }
}
