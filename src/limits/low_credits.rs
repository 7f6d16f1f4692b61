//! Credit balances seen low, for webhooks' `credits.low`: noted by the engine when it
//! takes a lease from the store (never per request) and drained in the background.

use std::sync::Mutex;

/// Credit balances a lease left at or below `threshold` (0: not watched), noted when a
/// lease is taken from the store — never per request — and drained in the background.
#[derive(Default)]
pub struct LowCredits {
    threshold: std::sync::atomic::AtomicU64,
    pending: Mutex<Vec<(String, u64)>>,
}

impl LowCredits {
    /// Watch for balances at or below `n` (0: stop).
    pub fn set_threshold(&self, n: u64) {
        self.threshold
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn check(&self, slot: &str, left: u64) {
        let t = self.threshold.load(std::sync::atomic::Ordering::Relaxed);
        if t == 0 || left > t {
            return;
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < 10_000 && !p.iter().any(|(s, _)| s == slot) {
            p.push((slot.to_owned(), left));
        }
    }

    /// (slot, balance) noted since the last call.
    pub fn take(&self) -> Vec<(String, u64)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
