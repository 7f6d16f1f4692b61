//! The events facet: the durable outbox that management and the gate write events to,
//! and the webhook deliveries made from it (`crate::events`). The store sees opaque
//! bytes; what an event and a delivery are is the events service's business.
//!
//! Two queues, so that each event reaches each endpoint once whichever replica takes it:
//! - the **outbox** — events in the order written; a consumer claims a batch, fans each
//!   event out into one delivery per endpoint that wants it, then acknowledges it. An
//!   event claimed by a consumer that stopped before acknowledging is claimed again by
//!   another after `stale_ms` (Valkey: a stream with a consumer group and `XAUTOCLAIM`).
//! - the **deliveries** — one row per (event, endpoint) with the time its next attempt is
//!   due; claiming a due delivery moves that time forward by a lease, so a replica that
//!   stops mid-attempt leaves it to another once the lease runs out.

use async_trait::async_trait;

use super::StoreError;

/// One delivery as the store keeps it.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryRow<'a> {
    /// `{event id}.{endpoint id}`: a fan-out run twice for one event finds it there.
    pub id: &'a str,
    pub endpoint: &'a str,
    /// When it was made (unix ms): an endpoint's deliveries are listed newest first.
    pub created_ms: i64,
    /// When its next attempt is due (unix ms); `None`: no attempt pending (delivered, or
    /// given up).
    pub due_ms: Option<i64>,
    pub body: &'a [u8],
}

/// Deliveries kept per endpoint: past this, the oldest finished ones are dropped (a
/// pending one stays until it is delivered or given up).
pub const DELIVERIES_KEPT: usize = 2_000;

/// Events claimed from the outbox: (tag to acknowledge with, the event's bytes).
pub type Claimed = Vec<(String, Vec<u8>)>;

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends events to the outbox; they are durable (as the store is) once this
    /// returns.
    async fn push_events(&self, events: &[Vec<u8>]) -> Result<(), StoreError>;

    /// Up to `max` events for `consumer`: ones claimed more than `stale_ms` before
    /// `now_ms` and never acknowledged first, then new ones. (Valkey measures staleness
    /// by its own clock.)
    async fn claim_events(
        &self,
        consumer: &str,
        max: usize,
        now_ms: i64,
        stale_ms: u64,
    ) -> Result<Claimed, StoreError>;

    /// Done with these events (tags from [`EventStore::claim_events`]).
    async fn ack_events(&self, tags: &[String]) -> Result<(), StoreError>;

    /// How many events are in the outbox, claimed or not (`/metrics`, tests).
    async fn outbox_len(&self) -> Result<u64, StoreError>;

    /// Stores new deliveries, skipping those whose id exists (a fan-out run twice);
    /// returns how many were new.
    async fn add_deliveries(&self, rows: &[DeliveryRow<'_>]) -> Result<usize, StoreError>;

    /// Replaces deliveries (after attempts, or to replay one).
    async fn put_deliveries(&self, rows: &[DeliveryRow<'_>]) -> Result<(), StoreError>;

    /// Up to `max` deliveries due at `now_ms`, each then due again at `now_ms + lease_ms`
    /// unless put back first.
    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError>;

    async fn get_delivery(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// An endpoint's deliveries, newest first, at most `limit`; with `before` (the
    /// `created_ms` and id of the last one seen), those listed after it.
    async fn list_deliveries(
        &self,
        endpoint: &str,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError>;
}

/// The order of an endpoint's deliveries, as one sortable string: creation time, then id.
pub fn delivery_order(created_ms: i64, id: &str) -> String {
    format!("{:015}|{id}", created_ms.max(0))
}

/// The queues in process memory: the memory store's, and the claims of the redb store's
/// outbox (one process uses that file, so who holds what need not outlive it).
#[derive(Default)]
pub(crate) struct Claims {
    /// Outbox tag → when it was claimed (unix ms).
    pub(crate) taken: std::collections::HashMap<u64, i64>,
}

impl Claims {
    /// Of `tags` (oldest first), up to `max` that nobody holds or that were claimed
    /// before `stale_before`, now claimed at `now`.
    pub(crate) fn take(
        &mut self,
        tags: impl Iterator<Item = u64>,
        max: usize,
        now: i64,
        stale_before: i64,
    ) -> Vec<u64> {
        let mut out = Vec::new();
        for tag in tags {
            if out.len() >= max {
                break;
            }
            match self.taken.get(&tag) {
                Some(at) if *at >= stale_before => {}
                _ => {
                    self.taken.insert(tag, now);
                    out.push(tag);
                }
            }
        }
        out
    }
}

/// The memory store's events: nothing survives a restart.
#[derive(Default)]
pub(crate) struct MemoryEvents {
    next: u64,
    outbox: std::collections::BTreeMap<u64, Vec<u8>>,
    claims: Claims,
    /// id → (endpoint, order, due, body).
    deliveries: std::collections::HashMap<String, (String, String, Option<i64>, Vec<u8>)>,
}

impl MemoryEvents {
    pub(crate) fn push(&mut self, events: &[Vec<u8>]) {
        for e in events {
            self.next += 1;
            self.outbox.insert(self.next, e.clone());
        }
    }

    pub(crate) fn claim(&mut self, max: usize, now: i64, stale_ms: u64) -> Claimed {
        let stale_before = now.saturating_sub(i64::try_from(stale_ms).unwrap_or(i64::MAX));
        let tags = self
            .claims
            .take(self.outbox.keys().copied(), max, now, stale_before);
        tags.into_iter()
            .filter_map(|t| self.outbox.get(&t).map(|b| (t.to_string(), b.clone())))
            .collect()
    }

    pub(crate) fn ack(&mut self, tags: &[String]) {
        for t in tags.iter().filter_map(|t| t.parse::<u64>().ok()) {
            self.outbox.remove(&t);
            self.claims.taken.remove(&t);
        }
    }

    pub(crate) fn outbox_len(&self) -> u64 {
        self.outbox.len() as u64
    }

    pub(crate) fn put(&mut self, d: &DeliveryRow<'_>, only_new: bool) -> bool {
        if only_new && self.deliveries.contains_key(d.id) {
            return false;
        }
        self.deliveries.insert(
            d.id.to_owned(),
            (
                d.endpoint.to_owned(),
                delivery_order(d.created_ms, d.id),
                d.due_ms,
                d.body.to_vec(),
            ),
        );
        if only_new {
            self.trim(d.endpoint);
        }
        true
    }

    /// Drops an endpoint's oldest finished deliveries past [`DELIVERIES_KEPT`].
    fn trim(&mut self, endpoint: &str) {
        let mut mine: Vec<(String, String, bool)> = self
            .deliveries
            .iter()
            .filter(|(_, v)| v.0 == endpoint)
            .map(|(id, v)| (v.1.clone(), id.clone(), v.2.is_none()))
            .collect();
        if mine.len() <= DELIVERIES_KEPT {
            return;
        }
        mine.sort();
        let excess = mine.len() - DELIVERIES_KEPT;
        let gone: Vec<String> = mine
            .into_iter()
            .filter(|m| m.2)
            .take(excess)
            .map(|m| m.1)
            .collect();
        for id in gone {
            self.deliveries.remove(&id);
        }
    }

    pub(crate) fn claim_due(&mut self, now: i64, lease: i64, max: usize) -> Vec<Vec<u8>> {
        let mut due: Vec<(i64, String)> = self
            .deliveries
            .iter()
            .filter_map(|(id, v)| v.2.filter(|t| *t <= now).map(|t| (t, id.clone())))
            .collect();
        due.sort();
        due.truncate(max);
        due.into_iter()
            .filter_map(|(_, id)| {
                let v = self.deliveries.get_mut(&id)?;
                v.2 = Some(now.saturating_add(lease));
                Some(v.3.clone())
            })
            .collect()
    }

    pub(crate) fn get(&self, id: &str) -> Option<Vec<u8>> {
        self.deliveries.get(id).map(|v| v.3.clone())
    }

    pub(crate) fn list(
        &self,
        endpoint: &str,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Vec<Vec<u8>> {
        let bound = before.map(|(ms, id)| delivery_order(ms, id));
        let mut mine: Vec<(&String, &Vec<u8>)> = self
            .deliveries
            .values()
            .filter(|v| v.0 == endpoint && bound.as_ref().is_none_or(|b| v.1 < *b))
            .map(|v| (&v.1, &v.3))
            .collect();
        mine.sort_by(|a, b| b.0.cmp(a.0));
        mine.into_iter().take(limit).map(|v| v.1.clone()).collect()
    }
}
