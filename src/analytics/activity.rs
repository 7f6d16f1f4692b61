//! The last 24 hours of a key or an owner, as lists show them: requests and refusals,
//! hour by hour.

use std::collections::HashMap;

use serde::Serialize;

use super::{Counts, Step, refusals, requests};

/// A key's or owner's last 24 hours, for lists: what it asked and was refused, hour by
/// hour.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Activity {
    pub requests: u64,
    /// Refused for any reason (forbidden, refused, rate limited, usage exceeded).
    pub refusals: u64,
    /// The 24 hours up to now, oldest first, each `[allowed, refused]`.
    pub hourly: Vec<[u64; 2]>,
}

/// Hours in an [`Activity`].
pub const ACTIVITY_HOURS: i64 = 24;

/// The hours of an [`Activity`] at `now_ms`: from 23 hours before the current one to
/// the end of the current one.
pub fn activity_range(now_ms: i64) -> (i64, i64) {
    let end = Step::Hour.bucket(now_ms) + Step::Hour.millis();
    (end - ACTIVITY_HOURS * Step::Hour.millis(), end)
}

/// Each slot's [`Activity`] from its hour rows within `from_ms..` ([`activity_range`]).
pub fn activities(rows: Vec<(String, i64, Counts)>, from_ms: i64) -> HashMap<String, Activity> {
    let mut out: HashMap<String, Activity> = HashMap::new();
    for (slot, bucket, c) in rows {
        let a = out.entry(slot).or_insert_with(|| Activity {
            hourly: vec![[0, 0]; ACTIVITY_HOURS as usize],
            ..Activity::default()
        });
        let (asked, refused) = (requests(&c), refusals(&c));
        a.requests += asked;
        a.refusals += refused;
        let hour = (bucket - from_ms) / Step::Hour.millis();
        if let Some(h) = usize::try_from(hour).ok().and_then(|h| a.hourly.get_mut(h)) {
            h[0] += asked - refused;
            h[1] += refused;
        }
    }
    out
}
