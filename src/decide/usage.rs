//! Last-used times, off the hot path.
//!
//! An allow stores the time in the cached entry (one atomic store) and, the first time
//! the entry becomes dirty since the last flush, queues it (one short lock per key per
//! flush period, not per request). A background task flushes the queue every
//! `last_used_flush_secs` in one store call; the store keeps the later time, so replicas
//! sharing a store merge correctly.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Arc, Mutex};

use super::Known;
use crate::clock::Timestamp;
use crate::store::Touch;

#[derive(Default)]
pub struct Usage {
    pending: Mutex<Vec<Arc<Known>>>,
    /// Entries whose flush failed, retried next time.
    retry: Mutex<Vec<Touch>>,
}

impl Usage {
    pub(super) fn record(&self, known: &Arc<Known>, now: i64) {
        // Plain loads first: on a hot key most requests change nothing and so write no
        // shared cache line.
        if known.last_used.load(Relaxed) < now {
            known.last_used.fetch_max(now, SeqCst);
        }
        if !known.dirty.load(Relaxed) && !known.dirty.swap(true, SeqCst) {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(known.clone());
        }
    }

    /// Takes everything recorded since the last drain.
    pub fn drain(&self) -> Vec<Touch> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut out = std::mem::take(&mut *self.retry.lock().unwrap_or_else(|e| e.into_inner()));
        for k in pending {
            // Clear the flag before reading the time: a use that lands after this sees a
            // clean entry and queues it again, so no use is lost.
            k.dirty.store(false, SeqCst);
            out.push((
                k.record.id.clone(),
                Timestamp::from_unix(k.last_used.load(SeqCst)),
            ));
        }
        out
    }

    pub(super) fn restore(&self, batch: Vec<Touch>) {
        let mut r = self.retry.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a store that stays down must not make this grow without end.
        if r.len() < 1_000_000 {
            r.extend(batch);
        }
    }
}
