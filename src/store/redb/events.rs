//! The embedded store's events: the outbox as a table by sequence number (claims are
//! held in memory: one process uses this file), deliveries by id with a due-time index
//! and a per-endpoint index for listing.

use std::sync::Mutex;

use super::*;
use crate::store::events::{
    Claimed, Claims, DELIVERIES_KEPT, DeliveryRow, EventStore, delivery_order,
};

/// seq → event.
pub(super) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// delivery id → its bytes.
pub(super) const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("deliveries");
/// delivery id → (due ms, `i64::MIN` when none; endpoint; order).
pub(super) const DELIVERY_INFO: TableDefinition<&str, (i64, &str, &str)> =
    TableDefinition::new("delivery_info");
/// (due ms, delivery id) → ().
pub(super) const DELIVERY_DUE: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("delivery_due");
/// (endpoint, order) → delivery id.
pub(super) const DELIVERY_INDEX: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("delivery_index");

const NO_DUE: i64 = i64::MIN;

/// The outbox claims of this process.
pub(super) type OutboxClaims = Arc<Mutex<Claims>>;

/// Writes a delivery's row and indexes; `only_new`: nothing when it exists.
fn write_delivery(
    tx: &redb::WriteTransaction,
    id: &str,
    endpoint: &str,
    created_ms: i64,
    due: Option<i64>,
    body: &[u8],
    only_new: bool,
) -> Result<bool, StoreError> {
    let mut info = tx.open_table(DELIVERY_INFO).map_err(be)?;
    let mut due_ix = tx.open_table(DELIVERY_DUE).map_err(be)?;
    let old = info
        .get(id)
        .map_err(be)?
        .map(|v| (v.value().0, v.value().2.to_owned()));
    let order = match old {
        Some(_) if only_new => return Ok(false),
        Some((old_due, order)) => {
            if old_due != NO_DUE {
                due_ix.remove((old_due, id)).map_err(be)?;
            }
            order
        }
        None => {
            let order = delivery_order(created_ms, id);
            tx.open_table(DELIVERY_INDEX)
                .map_err(be)?
                .insert((endpoint, order.as_str()), id)
                .map_err(be)?;
            order
        }
    };
    let d = due.unwrap_or(NO_DUE);
    info.insert(id, (d, endpoint, order.as_str())).map_err(be)?;
    if d != NO_DUE {
        due_ix.insert((d, id), ()).map_err(be)?;
    }
    tx.open_table(DELIVERIES)
        .map_err(be)?
        .insert(id, body)
        .map_err(be)?;
    Ok(true)
}

/// Drops an endpoint's oldest finished deliveries past [`DELIVERIES_KEPT`] (looking at
/// a bounded number of the oldest each time).
fn trim(tx: &redb::WriteTransaction, endpoint: &str) -> Result<(), StoreError> {
    let mut index = tx.open_table(DELIVERY_INDEX).map_err(be)?;
    let held = index
        .range((endpoint, "")..(endpoint, "\u{10FFFF}"))
        .map_err(be)?
        .rev()
        .nth(DELIVERIES_KEPT)
        .is_some();
    if !held {
        return Ok(());
    }
    let mut info = tx.open_table(DELIVERY_INFO).map_err(be)?;
    let mut rows = tx.open_table(DELIVERIES).map_err(be)?;
    let oldest: Vec<(String, String)> = index
        .range((endpoint, "")..(endpoint, "\u{10FFFF}"))
        .map_err(be)?
        .take(8)
        .map(|e| e.map(|(k, v)| (k.value().1.to_owned(), v.value().to_owned())))
        .collect::<Result<_, _>>()
        .map_err(be)?;
    for (order, id) in oldest {
        let finished = info
            .get(id.as_str())
            .map_err(be)?
            .is_none_or(|v| v.value().0 == NO_DUE);
        if finished {
            index.remove((endpoint, order.as_str())).map_err(be)?;
            info.remove(id.as_str()).map_err(be)?;
            rows.remove(id.as_str()).map_err(be)?;
            return Ok(());
        }
    }
    Ok(())
}

#[async_trait]
impl EventStore for RedbStore {
    async fn push_events(&self, events: &[Vec<u8>]) -> Result<(), StoreError> {
        let events = events.to_vec();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut t = tx.open_table(EVENTS).map_err(be)?;
                let mut next = t.last().map_err(be)?.map_or(0, |(k, _)| k.value());
                for e in &events {
                    next += 1;
                    t.insert(next, e.as_slice()).map_err(be)?;
                }
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn claim_events(
        &self,
        _consumer: &str,
        max: usize,
        now: i64,
        stale_ms: u64,
    ) -> Result<Claimed, StoreError> {
        let claims = self.claims.clone();
        self.blocking(move |db| {
            let stale_before = now.saturating_sub(i64::try_from(stale_ms).unwrap_or(i64::MAX));
            let tx = db.begin_read().map_err(be)?;
            let t = tx.open_table(EVENTS).map_err(be)?;
            let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
            // Look at a bounded window of the oldest: claimed ones are skipped.
            let tags: Vec<u64> = t
                .iter()
                .map_err(be)?
                .take(max + c.taken.len())
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()
                .map_err(be)?;
            let mut out = Vec::new();
            for tag in c.take(tags.into_iter(), max, now, stale_before) {
                if let Some(v) = t.get(tag).map_err(be)? {
                    out.push((tag.to_string(), v.value().to_vec()));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn ack_events(&self, tags: &[String]) -> Result<(), StoreError> {
        let tags: Vec<u64> = tags.iter().filter_map(|t| t.parse().ok()).collect();
        let claims = self.claims.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut t = tx.open_table(EVENTS).map_err(be)?;
                for tag in &tags {
                    t.remove(*tag).map_err(be)?;
                }
            }
            tx.commit().map_err(be)?;
            let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
            for tag in &tags {
                c.taken.remove(tag);
            }
            Ok(())
        })
        .await
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        self.blocking(|db| {
            let tx = db.begin_read().map_err(be)?;
            tx.open_table(EVENTS).map_err(be)?.len().map_err(be)
        })
        .await
    }

    async fn add_deliveries(&self, rows: &[DeliveryRow<'_>]) -> Result<usize, StoreError> {
        self.put(rows, true).await
    }

    async fn put_deliveries(&self, rows: &[DeliveryRow<'_>]) -> Result<(), StoreError> {
        self.put(rows, false).await.map(|_| ())
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.blocking(move |db| {
            // Most polls find nothing due: a read says so without a write (and its fsync).
            {
                let tx = db.begin_read().map_err(be)?;
                let due_ix = tx.open_table(DELIVERY_DUE).map_err(be)?;
                let first = due_ix
                    .range((NO_DUE + 1, "")..=(now_ms, "\u{10FFFF}"))
                    .map_err(be)?
                    .next();
                if first.is_none() {
                    return Ok(Vec::new());
                }
            }
            let tx = db.begin_write().map_err(be)?;
            let mut out = Vec::new();
            {
                let mut due_ix = tx.open_table(DELIVERY_DUE).map_err(be)?;
                let mut info = tx.open_table(DELIVERY_INFO).map_err(be)?;
                let rows = tx.open_table(DELIVERIES).map_err(be)?;
                let due: Vec<(i64, String)> = due_ix
                    .range((NO_DUE + 1, "")..=(now_ms, "\u{10FFFF}"))
                    .map_err(be)?
                    .take(max)
                    .map(|e| e.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
                    .collect::<Result<_, _>>()
                    .map_err(be)?;
                let again = now_ms.saturating_add(lease_ms);
                for (at, id) in due {
                    due_ix.remove((at, id.as_str())).map_err(be)?;
                    let Some((endpoint, order)) = info
                        .get(id.as_str())
                        .map_err(be)?
                        .map(|v| (v.value().1.to_owned(), v.value().2.to_owned()))
                    else {
                        continue;
                    };
                    info.insert(id.as_str(), (again, endpoint.as_str(), order.as_str()))
                        .map_err(be)?;
                    due_ix.insert((again, id.as_str()), ()).map_err(be)?;
                    if let Some(v) = rows.get(id.as_str()).map_err(be)? {
                        out.push(v.value().to_vec());
                    }
                }
            }
            tx.commit().map_err(be)?;
            Ok(out)
        })
        .await
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let t = tx.open_table(DELIVERIES).map_err(be)?;
            Ok(t.get(id.as_str()).map_err(be)?.map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn list_deliveries(
        &self,
        endpoint: &str,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let endpoint = endpoint.to_owned();
        let bound = before.map_or_else(
            || "\u{10FFFF}".to_owned(),
            |(ms, id)| delivery_order(ms, id),
        );
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let index = tx.open_table(DELIVERY_INDEX).map_err(be)?;
            let rows = tx.open_table(DELIVERIES).map_err(be)?;
            let mut out = Vec::new();
            for e in index
                .range((endpoint.as_str(), "")..(endpoint.as_str(), bound.as_str()))
                .map_err(be)?
                .rev()
                .take(limit)
            {
                let (_, id) = e.map_err(be)?;
                if let Some(v) = rows.get(id.value()).map_err(be)? {
                    out.push(v.value().to_vec());
                }
            }
            Ok(out)
        })
        .await
    }
}

/// A delivery row, owned, for the blocking pool.
struct Row {
    id: String,
    endpoint: String,
    created_ms: i64,
    due_ms: Option<i64>,
    body: Vec<u8>,
}

impl RedbStore {
    /// Writes rows in one transaction; returns how many were written.
    async fn put(&self, rows: &[DeliveryRow<'_>], only_new: bool) -> Result<usize, StoreError> {
        let rows: Vec<Row> = rows
            .iter()
            .map(|d| Row {
                id: d.id.to_owned(),
                endpoint: d.endpoint.to_owned(),
                created_ms: d.created_ms,
                due_ms: d.due_ms,
                body: d.body.to_vec(),
            })
            .collect();
        if rows.is_empty() {
            return Ok(0);
        }
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let mut n = 0;
            for r in &rows {
                let wrote = write_delivery(
                    &tx,
                    &r.id,
                    &r.endpoint,
                    r.created_ms,
                    r.due_ms,
                    &r.body,
                    only_new,
                )?;
                if wrote {
                    n += 1;
                    if only_new {
                        trim(&tx, &r.endpoint)?;
                    }
                }
            }
            tx.commit().map_err(be)?;
            Ok(n)
        })
        .await
    }
}
