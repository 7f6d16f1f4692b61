//! Last-used times, off the hot path.
//!
//! Uses are collected in memory, one entry per key (the latest time), and written by a
//! background task every `last_used_flush_secs` in one store call; the store keeps the
//! later time, so replicas sharing a store merge correctly.
//!
//! A cached key is queued at most once per flush period: its entry remembers the flush
//! generation it was queued in, so later uses cost one atomic load and no lock. Memory
//! is bounded by the number of distinct keys used between two flushes (an earlier
//! version queued every use of an uncached key and grew by hundreds of megabytes a
//! minute under a stream of cache misses — docs/benchmarks.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Known;
use crate::clock::Timestamp;
use crate::store::{TokenId, Touch};

/// Keys kept at most when the store stays unwritable (beyond, the oldest news is lost).
const MAX_PENDING: usize = 1_000_000;

/// Keys waiting that start a flush before its time: the tallies' bound
/// ([`crate::analytics::EARLY_FLUSH`]), for the same reason.
pub const EARLY_FLUSH: usize = crate::analytics::EARLY_FLUSH;

#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<TokenId, i64>>,
    /// Woken when [`EARLY_FLUSH`] keys are waiting, so the flusher runs early.
    pub full: tokio::sync::Notify,
    /// Bumped by every drain; an entry queued in the current generation is not queued
    /// again.
    generation: AtomicU64,
}

impl Usage {
    pub(super) fn record(&self, known: &Known, now: i64) {
        let generation = self.generation.load(Ordering::Acquire);
        if known.queued.load(Ordering::Relaxed) == generation
            && known.last_used.load(Ordering::Relaxed) >= now
        {
            return;
        }
        known.queued.store(generation, Ordering::Relaxed);
        known.last_used.fetch_max(now, Ordering::Relaxed);
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < MAX_PENDING || p.contains_key(&known.record.id) {
            let t = p.entry(known.record.id.clone()).or_insert(now);
            *t = (*t).max(now);
            if p.len() == EARLY_FLUSH {
                self.full.notify_one();
            }
        }
    }

    /// Takes everything recorded since the last drain.
    /// (An iterator, so that a flush can take it in chunks without a second copy.)
    pub fn drain(&self) -> impl Iterator<Item = Touch> + use<> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        // Entries used from now on are queued again.
        self.generation.fetch_add(1, Ordering::AcqRel);
        taken
            .into_iter()
            .map(|(id, t)| (id, Timestamp::from_unix(t)))
    }

    /// Puts back what a failed flush could not write.
    pub(super) fn restore(&self, batch: impl IntoIterator<Item = Touch>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (id, t) in batch {
            if p.len() >= MAX_PENDING && !p.contains_key(&id) {
                continue;
            }
            let e = p.entry(id).or_insert(t.unix());
            *e = (*e).max(t.unix());
        }
    }

    /// Keys waiting to be written.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
