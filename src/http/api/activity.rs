//! The last 24 hours of keys and owners, for lists: [`crate::analytics::Activity`].
//!
//! Read by time for every key at once when a list sorts or filters by it, or when its
//! page is large (one range of hour buckets: the cost follows the day's activity, not
//! the number of keys), else for the keys of a small page alone.

use std::collections::HashMap;

use super::error::ApiError;
use crate::analytics::{Activity, Step, activities, activity_range, key_slot};
use crate::app::App;
use crate::store::TokenRecord;

/// Every slot starting with `prefix` (`k:` keys, `o:` owners) that asked anything in the
/// last 24 hours.
pub(super) async fn all(app: &App, prefix: &str) -> Result<HashMap<String, Activity>, ApiError> {
    let (from, to) = activity_range(app.clock.now_ms());
    let rows = app
        .keys
        .store()
        .usage_in_range(prefix, Step::Hour, from, to)
        .await?;
    Ok(activities(rows, from))
}

/// The activity of each of `records` (a page), in order; `None` for a key that asked
/// nothing.
pub(super) async fn of_keys(
    app: &App,
    records: &[TokenRecord],
) -> Result<Vec<Option<Activity>>, ApiError> {
    // A large page (the console asks for 500): one read by time for every key beats
    // one read per key.
    if records.len() > 16 {
        let mut every = all(app, "k:").await?;
        return Ok(records
            .iter()
            .map(|r| every.remove(&key_slot(&r.id)))
            .collect());
    }
    let (from, to) = activity_range(app.clock.now_ms());
    let store = app.keys.store();
    let mut out = Vec::with_capacity(records.len());
    // A few reads at a time: each is one small range (or two hashes on Valkey).
    for chunk in records.chunks(16) {
        let mut reads = Vec::with_capacity(chunk.len());
        for r in chunk {
            reads.push(hours_of(store, key_slot(&r.id), from, to));
        }
        for rows in futures_util::future::join_all(reads).await {
            let (slot, rows) = rows?;
            let rows = rows
                .into_iter()
                .map(|(b, c)| (slot.clone(), b, c))
                .collect();
            out.push(activities(rows, from).remove(&slot));
        }
    }
    Ok(out)
}

/// The hour buckets of `slot` within `from..to`, with the slot.
async fn hours_of(
    store: &crate::store::SharedStore,
    slot: String,
    from: i64,
    to: i64,
) -> Result<(String, Vec<(i64, crate::analytics::Counts)>), crate::store::StoreError> {
    let rows = store.read_usage(&slot, Step::Hour, from, to).await?;
    Ok((slot, rows))
}
