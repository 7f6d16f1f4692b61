//! Usage analytics: how often each key (and each owner's keys together) was allowed or
//! refused, in time buckets.
//!
//! The decision path adds one to an in-memory tally per (key, minute) — a sharded map
//! keyed by the key's hash, no allocation after the key's first use in a flush
//! interval — and a background task flushes the tallies to the store every
//! `analytics.flush_secs` in one batch. The store adds each tally into three buckets per
//! key and per owner: the minute (kept `analytics.minute_retention_hours`, default 48 h),
//! the hour (`hour_retention_days`, 90 d) and the day (`day_retention_days`, 730 d).
//! Replicas on Valkey add into the same buckets (`HINCRBY`), so the figures are the
//! deployment's. A clean shutdown flushes; a crash loses at most one flush interval.
//!
//! Memory is bounded: at most [`MAX_PENDING`] (key, minute) tallies wait for a flush
//! (about 200 bytes each, 40 MB at most; docs/benchmarks.md measures it); past that a flush is started early and, while it runs,
//! further new tallies are dropped and counted (`keygate_analytics_dropped_total`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use crate::model::TokenRecord;

mod activity;
pub use activity::{ACTIVITY_HOURS, Activity, activities, activity_range};

/// What happened to a request that carried a known key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed = 0,
    /// The key's rules do not allow the request.
    Forbidden = 1,
    /// The key is disabled, expired, or past its rotation grace.
    Refused = 2,
    RateLimited = 3,
    UsageExceeded = 4,
}

pub const OUTCOMES: usize = 5;
pub const OUTCOME_NAMES: [&str; OUTCOMES] = [
    "allowed",
    "forbidden",
    "refused",
    "rate_limited",
    "usage_exceeded",
];

/// What the upstream answered a request the inline proxy let through (`src/proxy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamClass {
    /// 1xx and 2xx.
    Success = 0,
    Redirect = 1,
    ClientError = 2,
    ServerError = 3,
    /// No answer: keygate said 502 or 504.
    Failed = 4,
}

impl UpstreamClass {
    /// The class of an upstream's status; `None`: no answer came.
    pub fn of(status: Option<u16>) -> Self {
        match status {
            None => UpstreamClass::Failed,
            Some(s) if s < 300 => UpstreamClass::Success,
            Some(s) if s < 400 => UpstreamClass::Redirect,
            Some(s) if s < 500 => UpstreamClass::ClientError,
            Some(_) => UpstreamClass::ServerError,
        }
    }
}

pub const CLASSES: usize = 5;

/// Counted per key and bucket: the decision outcomes, then the upstream's answers.
/// Stores keep them by index, so rows written with fewer read as zeros for the rest
/// (and older versions ignore indexes they do not know).
pub const COUNTS: usize = OUTCOMES + CLASSES;

/// Counts per outcome, in [`Outcome`] order, then per [`UpstreamClass`].
pub type Counts = [u64; COUNTS];

/// Requests decided: the sum of the outcomes (upstream answers are of those requests).
pub fn requests(c: &Counts) -> u64 {
    c[..OUTCOMES].iter().sum()
}

/// Requests refused, whatever the reason (forbidden, refused, rate limited, usage
/// exceeded).
pub fn refusals(c: &Counts) -> u64 {
    c[1..OUTCOMES].iter().sum()
}

/// What a ranking of slots counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    Requests,
    Refusals,
}

impl Rank {
    pub fn of(self, c: &Counts) -> u64 {
        match self {
            Rank::Requests => requests(c),
            Rank::Refusals => refusals(c),
        }
    }
}

/// Tallies waiting for a flush, at most.
pub const MAX_PENDING: usize = 200_000;

/// Tallies waiting that start a flush before its time: a stream of keys each used once
/// (a tally each) otherwise held up to a flush period's worth, 100 000 and more, with
/// their share of the allocator's memory (docs/benchmarks.md, issue 23).
pub const EARLY_FLUSH: usize = 16_384;

/// A bucket size.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Minute,
    Hour,
    Day,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Minute, Step::Hour, Step::Day];

    pub fn millis(self) -> i64 {
        match self {
            Step::Minute => 60_000,
            Step::Hour => 3_600_000,
            Step::Day => 86_400_000,
        }
    }

    /// The bucket holding `ms`.
    pub fn bucket(self, ms: i64) -> i64 {
        ms - ms.rem_euclid(self.millis())
    }

    /// The buckets of this step are stored in containers of this many milliseconds (a
    /// Valkey hash each): an hour of minutes, a day of hours, 32 days of days.
    pub fn container(self) -> i64 {
        match self {
            Step::Minute => 3_600_000,
            Step::Hour => 86_400_000,
            Step::Day => 32 * 86_400_000,
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Step::Minute => 0,
            Step::Hour => 1,
            Step::Day => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::Minute => "minute",
            Step::Hour => "hour",
            Step::Day => "day",
        }
    }
}

/// How long each step's buckets are kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub minute_ms: i64,
    pub hour_ms: i64,
    pub day_ms: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            minute_ms: 48 * 3_600_000,
            hour_ms: 90 * 86_400_000,
            day_ms: 730 * 86_400_000,
        }
    }
}

impl Retention {
    pub fn of(self, step: Step) -> i64 {
        match step {
            Step::Minute => self.minute_ms,
            Step::Hour => self.hour_ms,
            Step::Day => self.day_ms,
        }
    }
}

/// One flushed tally: a key's (and so its owner's) counts in one minute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageAdd {
    /// `k:<id>`.
    pub key_slot: String,
    /// `o:<owner>`.
    pub owner_slot: String,
    pub minute_ms: i64,
    pub counts: Counts,
}

/// The slot of a key's own analytics.
pub fn key_slot(id: &crate::model::TokenId) -> String {
    format!("k:{id}")
}

/// The slot of an owner's analytics (all their keys together).
pub fn owner_slot(owner: &str) -> String {
    format!("o:{owner}")
}

/// How many locks the tallies are spread over.
pub const SHARDS: usize = 8;

/// (key's hash, minute) → what a flush needs and no more: holding the key's whole
/// cached entry kept every entry alive until the flush, and with the cache off (or a
/// stream of keys each used once) that was one entry per request — 300 MiB in a bench
/// run of 100 000 keys.
type Shard = HashMap<([u8; 32], i64), Pending, std::hash::BuildHasherDefault<DigestHasher>>;

/// The tallies' hasher: their keys begin with a key's digest (keyed BLAKE3, or SHA-256
/// of an imported key that exists), which no client can choose to collide, so
/// SipHash's protection against chosen keys buys nothing here — and it was on every
/// request. Folds the bytes eight at a time with a multiply (as FxHash does).
#[derive(Default, Clone, Copy)]
pub struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One waiting tally, 104 bytes and one allocation (the two slot names in one string):
/// up to [`MAX_PENDING`] of them wait for a flush.
struct Pending {
    /// The key slot followed by the owner slot.
    slots: Box<str>,
    /// Where the owner slot starts.
    split: u32,
    /// Counts in one minute of one key: 2^32 would take 70 million requests a second.
    counts: [u32; COUNTS],
}

impl Pending {
    /// [`key_slot`]`(id)` and [`owner_slot`]`(owner)`, written into one string.
    fn new(id: &crate::model::TokenId, owner: &str) -> Self {
        let id = id.as_str();
        let mut slots = String::with_capacity(4 + id.len() + owner.len());
        slots.push_str("k:");
        slots.push_str(id);
        let split = slots.len();
        slots.push_str("o:");
        slots.push_str(owner);
        Pending {
            slots: slots.into_boxed_str(),
            split: u32::try_from(split).unwrap_or(u32::MAX),
            counts: [0; COUNTS],
        }
    }

    fn into_add(self, minute_ms: i64) -> UsageAdd {
        let (k, o) = self
            .slots
            .split_at((self.split as usize).min(self.slots.len()));
        UsageAdd {
            key_slot: k.to_owned(),
            owner_slot: o.to_owned(),
            minute_ms,
            counts: self.counts.map(u64::from),
        }
    }
}

/// The in-memory tallies of the decision path.
pub struct Tally {
    shards: [Mutex<Shard>; SHARDS],
    len: AtomicUsize,
    dropped: AtomicU64,
    /// Woken when the tallies are full, so the flusher runs early.
    pub full: tokio::sync::Notify,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::default())),
            len: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            full: tokio::sync::Notify::new(),
        }
    }
}

impl Tally {
    /// Counts one request of the key whose record is `record` at `now_ms` (by its hash,
    /// id and owner: the gate's cache entry is not this module's business).
    pub fn record(&self, record: &TokenRecord, outcome: Outcome, now_ms: i64) {
        self.count(record, outcome as usize, now_ms);
    }

    /// Counts the upstream's answer to a request of this key that the inline proxy let
    /// through.
    pub fn record_upstream(&self, record: &TokenRecord, class: UpstreamClass, now_ms: i64) {
        self.count(record, OUTCOMES + class as usize, now_ms);
    }

    fn count(&self, record: &TokenRecord, index: usize, now_ms: i64) {
        let hash = record.hash.0;
        let minute = Step::Minute.bucket(now_ms);
        let shard = &self.shards[usize::from(hash[0]) % SHARDS];
        let mut m = shard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = m.get_mut(&(hash, minute)) {
            p.counts[index] = p.counts[index].saturating_add(1);
            return;
        }
        if self.len.load(Ordering::Relaxed) >= MAX_PENDING {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.full.notify_one();
            return;
        }
        let mut p = Pending::new(&record.id, &record.owner);
        p.counts[index] = 1;
        m.insert((hash, minute), p);
        if self.len.fetch_add(1, Ordering::Relaxed) + 1 == EARLY_FLUSH {
            self.full.notify_one();
        }
    }

    /// Takes the tallies of one of the [`SHARDS`] shards (`shard` < [`SHARDS`]): a flush
    /// takes them a shard at a time, so that it never holds every tally twice.
    pub fn drain_shard(&self, shard: usize) -> Vec<UsageAdd> {
        let taken =
            std::mem::take(&mut *self.shards[shard].lock().unwrap_or_else(|e| e.into_inner()));
        self.len.fetch_sub(taken.len(), Ordering::Relaxed);
        taken
            .into_iter()
            .map(|((_, minute), p)| p.into_add(minute))
            .collect()
    }

    /// Tallies dropped because too many were waiting.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Tallies waiting.
    pub fn pending(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

/// The slot of everyone's analytics together.
pub const GLOBAL_SLOT: &str = "g:all";

/// The most buckets one series holds.
pub const MAX_POINTS: i64 = 1500;

/// Checks a range and picks its step: bucket-aligned start, exclusive end. The default
/// step is minutes up to 6 h, hours up to 31 days, days beyond.
pub fn range(
    from_ms: i64,
    to_ms: i64,
    step: Option<Step>,
) -> Result<(i64, i64, Step), (&'static str, String)> {
    if from_ms >= to_ms {
        return Err(("from", "must be before `to`".into()));
    }
    let span = to_ms - from_ms;
    let step = step.unwrap_or(if span <= 6 * 3_600_000 {
        Step::Minute
    } else if span <= 31 * 86_400_000 {
        Step::Hour
    } else {
        Step::Day
    });
    let from = step.bucket(from_ms);
    // The bucket holding the last millisecond before `to` is the last one.
    let to = step.bucket(to_ms - 1) + step.millis();
    if (to - from) / step.millis() > MAX_POINTS {
        return Err((
            "step",
            format!(
                "that range holds more than {MAX_POINTS} {}s; use a coarser step or a shorter range",
                step.name()
            ),
        ));
    }
    Ok((from, to, step))
}

/// Counts per outcome, by name.
#[derive(
    Serialize, serde::Deserialize, utoipa::ToSchema, Default, Clone, Copy, Debug, PartialEq, Eq,
)]
pub struct OutcomeCounts {
    pub allowed: u64,
    /// Refused by the key's rules.
    pub forbidden: u64,
    /// The key was disabled, expired or past its rotation grace.
    pub refused: u64,
    pub rate_limited: u64,
    pub usage_exceeded: u64,
    /// What the upstream answered the requests the inline proxy let through, by status
    /// class (`upstream_failed`: no answer; keygate said 502 or 504). Absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upstream_2xx: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upstream_3xx: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upstream_4xx: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upstream_5xx: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upstream_failed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<Counts> for OutcomeCounts {
    fn from(c: Counts) -> Self {
        OutcomeCounts {
            allowed: c[0],
            forbidden: c[1],
            refused: c[2],
            rate_limited: c[3],
            usage_exceeded: c[4],
            upstream_2xx: c[5],
            upstream_3xx: c[6],
            upstream_4xx: c[7],
            upstream_5xx: c[8],
            upstream_failed: c[9],
        }
    }
}

impl OutcomeCounts {
    pub fn get(&self, o: usize) -> u64 {
        [
            self.allowed,
            self.forbidden,
            self.refused,
            self.rate_limited,
            self.usage_exceeded,
        ]
        .get(o)
        .copied()
        .unwrap_or(0)
    }
}

#[derive(Serialize, serde::Deserialize, utoipa::ToSchema, Clone, Debug)]
pub struct UsagePoint {
    /// The bucket's start.
    #[schema(value_type = String, format = DateTime)]
    pub t: crate::clock::Timestamp,
    #[serde(flatten)]
    pub counts: OutcomeCounts,
}

/// A series: every bucket of a range, empty ones included, and the totals.
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema, Clone, Debug)]
#[schema(example = json!({"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T02:00:00Z", "step": "hour",
    "totals": {"allowed": 1200, "forbidden": 3, "refused": 0, "rate_limited": 41, "usage_exceeded": 0},
    "points": [{"t": "2026-12-01T00:00:00Z", "allowed": 700, "forbidden": 3, "refused": 0, "rate_limited": 41, "usage_exceeded": 0},
               {"t": "2026-12-01T01:00:00Z", "allowed": 500, "forbidden": 0, "refused": 0, "rate_limited": 0, "usage_exceeded": 0}]}))]
pub struct UsageSeries {
    #[schema(value_type = String, format = DateTime)]
    pub from: crate::clock::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: crate::clock::Timestamp,
    pub step: Step,
    pub totals: OutcomeCounts,
    pub points: Vec<UsagePoint>,
}

impl UsageSeries {
    /// The dense series of `rows` (sparse, sorted, as the stores answer) over a range
    /// from [`range`].
    pub fn of(rows: Vec<(i64, Counts)>, from: i64, to: i64, step: Step) -> UsageSeries {
        use crate::clock::Timestamp;
        let mut totals = [0; COUNTS];
        let mut rows = rows.into_iter().peekable();
        let mut points = Vec::new();
        let mut t = from;
        while t < to {
            let mut c = [0; COUNTS];
            while let Some((b, _)) = rows.peek() {
                if *b > t {
                    break;
                }
                if let Some((b, counts)) = rows.next()
                    && b == t
                {
                    c = counts;
                }
            }
            add(&mut totals, &c);
            points.push(UsagePoint {
                t: Timestamp::from_unix(t.div_euclid(1000)),
                counts: c.into(),
            });
            t += step.millis();
        }
        UsageSeries {
            from: Timestamp::from_unix(from.div_euclid(1000)),
            to: Timestamp::from_unix(to.div_euclid(1000)),
            step,
            totals: totals.into(),
            points,
        }
    }
}

/// A terminal sparkline of `values` (`▁`–`█` scaled to the largest; a space for zero).
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if v == 0 || max == 0 {
                ' '
            } else {
                let i = ((v as f64 / max as f64) * 7.0).round() as usize;
                BARS[i.min(7)]
            }
        })
        .collect()
}

/// The `limit` slots with the most of `by` (ties by slot; none with zero), from
/// per-slot sums.
pub fn top(sums: HashMap<String, Counts>, limit: usize, by: Rank) -> Vec<(String, Counts)> {
    let mut v: Vec<(String, Counts)> = sums.into_iter().filter(|(_, c)| by.of(c) > 0).collect();
    v.sort_by(|a, b| by.of(&b.1).cmp(&by.of(&a.1)).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

/// Adds `b` into `a`.
pub fn add(a: &mut Counts, b: &Counts) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Sums a batch per (slot, step, bucket): what the stores write.
pub fn expand(batch: &[UsageAdd]) -> HashMap<(String, Step, i64), Counts> {
    let mut out: HashMap<(String, Step, i64), Counts> = HashMap::new();
    let global = GLOBAL_SLOT.to_owned();
    for u in batch {
        for slot in [&u.key_slot, &u.owner_slot, &global] {
            for step in Step::ALL {
                add(
                    out.entry((slot.clone(), step, step.bucket(u.minute_ms)))
                        .or_insert([0; COUNTS]),
                    &u.counts,
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_tally_gives_back_the_slots_and_counts() {
        let id = crate::model::TokenId::parse("01JZZK7Q2X").unwrap();
        let mut p = Pending::new(&id, "alice@example.com\nk:x");
        p.counts = [3, 0, 1, 0, u32::MAX, 0, 0, 0, 0, 0];
        let add = p.into_add(60_000);
        assert_eq!(add.key_slot, key_slot(&id));
        assert_eq!(add.owner_slot, owner_slot("alice@example.com\nk:x"));
        assert_eq!(add.minute_ms, 60_000);
        assert_eq!(add.counts, [3, 0, 1, 0, u64::from(u32::MAX), 0, 0, 0, 0, 0]);
        assert_eq!(std::mem::size_of::<(([u8; 32], i64), Pending)>(), 104);
    }

    #[test]
    fn buckets_and_expansion() {
        let t = 1_796_119_234_567; // 2026-12-01T10:00:34.567Z
        assert_eq!(Step::Minute.bucket(t), 1_796_119_200_000);
        assert_eq!(Step::Hour.bucket(t), 1_796_119_200_000);
        assert_eq!(Step::Day.bucket(t), 1_796_083_200_000);
        let batch = vec![
            UsageAdd {
                key_slot: "k:a".into(),
                owner_slot: "o:x".into(),
                minute_ms: Step::Minute.bucket(t),
                counts: [2, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            },
            UsageAdd {
                key_slot: "k:b".into(),
                owner_slot: "o:x".into(),
                minute_ms: Step::Minute.bucket(t + 60_000),
                counts: [1, 0, 0, 3, 0, 0, 0, 0, 0, 0],
            },
        ];
        let e = expand(&batch);
        assert_eq!(
            e[&("o:x".to_owned(), Step::Hour, Step::Hour.bucket(t))],
            [3, 1, 0, 3, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            e[&("k:a".to_owned(), Step::Day, Step::Day.bucket(t))],
            [2, 1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // k:a and k:b: 3 buckets each; o:x and g:all: two minutes, one hour, one day.
        assert_eq!(e.len(), 14);
        assert_eq!(sparkline(&[0, 1, 4, 8]), " ▂▅█");
    }
}
