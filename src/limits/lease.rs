//! The local state of one slot's leases, without I/O: the windows and the credit
//! balance it holds allowances of, how they move on with the clock, and how large the
//! next lease should be. The engine ([`super::engine`]) takes and returns the leases.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Limits, Scope, counter_ids};

pub(super) struct State {
    pub(super) limits: Arc<Limits>,
    /// The store counter of each rate limit (its window).
    pub(super) counters: Vec<String>,
    /// When a lease attempt last failed: requests that were already waiting share it.
    pub(super) failed_at: Option<tokio::time::Instant>,
    /// Credits leased in an epoch below this were taken before an absolute set and are
    /// dropped, not spent or given back.
    pub(super) min_epoch: u64,
    /// A balance that does not exist yet starts at this (owner defaults).
    pub(super) init_credits: Option<u64>,
    pub(super) windows: Vec<Win>,
    pub(super) credits: Option<Cred>,
    pub(super) last_use_ms: i64,
}

#[derive(Clone, Copy, Default)]
pub(super) struct Win {
    pub(super) start_ms: i64,
    /// Uses leased and not spent yet.
    pub(super) left: u64,
    /// Left in the store after our last lease.
    pub(super) store_left: u64,
    /// The store had nothing more for this window.
    pub(super) exhausted: bool,
    pub(super) want: u64,
    pub(super) taken_ms: i64,
}

#[derive(Clone, Copy, Default)]
pub(super) struct Cred {
    /// The refill period the lease belongs to (0 without refills).
    pub(super) period_ms: i64,
    /// The balance's epoch the lease was taken in (bumped by every absolute set).
    pub(super) epoch: u64,
    /// When that period ends (`i64::MAX` without refills; 0: not worked out yet).
    pub(super) period_end_ms: i64,
    pub(super) left: u64,
    pub(super) store_left: Option<u64>,
    /// "None left" is believed until then.
    pub(super) exhausted_until_ms: i64,
    pub(super) want: u64,
    pub(super) taken_ms: i64,
}

/// What a request lacks before it can be decided.
#[derive(Clone, Copy)]
pub(super) enum Need {
    Window(usize),
    Credits,
}

pub(super) fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    pub(super) fn new(limits: Arc<Limits>, init_credits: Option<u64>) -> Self {
        let mut s = State {
            limits: Arc::new(Limits::default()),
            counters: Vec::new(),
            failed_at: None,
            min_epoch: 0,
            init_credits,
            windows: Vec::new(),
            credits: None,
            last_use_ms: 0,
        };
        s.configure(limits, init_credits);
        s
    }

    /// Takes new limits, keeping the leases of windows that stay the same (a renamed
    /// limit, or one with a new number, is the same window).
    pub(super) fn configure(&mut self, limits: Arc<Limits>, init_credits: Option<u64>) {
        let old = std::mem::take(&mut self.windows);
        let counters = counter_ids(&limits.rate_limits);
        self.windows = counters
            .iter()
            .map(|c| {
                self.counters
                    .iter()
                    .position(|o| o == c)
                    .and_then(|i| old.get(i).copied())
                    .unwrap_or_default()
            })
            .collect();
        self.counters = counters;
        self.credits = match (limits.credits, self.credits) {
            (None, _) => None,
            // The refill may have changed: work the period out again.
            (Some(_), Some(c)) => Some(Cred {
                period_end_ms: 0,
                ..c
            }),
            (Some(_), None) => Some(Cred::default()),
        };
        self.limits = limits;
        self.init_credits = init_credits;
    }

    /// Moves every window and refill period on to the one holding `now`.
    pub(super) fn roll(&mut self, now: i64) {
        for (w, r) in self.windows.iter_mut().zip(&self.limits.rate_limits) {
            let len = r.window.millis().max(1);
            let start = now - now.rem_euclid(len);
            if start != w.start_ms {
                *w = Win {
                    start_ms: start,
                    store_left: r.limit,
                    want: w.want,
                    taken_ms: w.taken_ms,
                    ..Win::default()
                };
            }
        }
        if let (Some(c), Some(policy)) = (&mut self.credits, self.limits.credits) {
            if now < c.period_end_ms {
                return;
            }
            let (period, end) = policy.refill.map_or((0, i64::MAX), |r| {
                (r.interval.period_start(now), r.interval.next_start(now))
            });
            c.period_end_ms = end;
            if period != c.period_ms {
                // Credits leased in an earlier period are gone with it.
                *c = Cred {
                    period_ms: period,
                    period_end_ms: end,
                    epoch: c.epoch,
                    want: c.want,
                    taken_ms: c.taken_ms,
                    ..Cred::default()
                };
            }
        }
    }
}

/// The next lease size: doubled when the last one went within 100 ms, halved when it
/// lasted over a second, within 1..=cap.
pub(super) fn next_want(prev: u64, taken_ms: i64, now: i64, cap: u64) -> u64 {
    let w = if prev == 0 {
        1
    } else if now - taken_ms < 100 {
        prev.saturating_mul(2)
    } else if now - taken_ms > 1000 {
        prev / 2
    } else {
        prev
    };
    w.clamp(1, cap.max(1))
}

pub(super) fn secs_until(at_ms: i64, now_ms: i64) -> u64 {
    u64::try_from((at_ms - now_ms).max(0))
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1)
}

/// What is left, for headers and `/verify` (computed only when asked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub rates: Vec<RateLeft>,
    /// Credits left: the key's when it has a quota, else its owner's.
    pub credits: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLeft {
    pub scope: Scope,
    pub name: String,
    pub limit: u64,
    /// Left in the current window, as far as this replica knows.
    pub remaining: u64,
    /// Unix ms at which the window ends.
    pub reset_ms: i64,
    pub window_secs: u64,
}

impl RateLeft {
    /// Seconds until the window ends (at least 1).
    pub fn reset_secs(&self, now_ms: i64) -> u64 {
        secs_until(self.reset_ms, now_ms)
    }
}
