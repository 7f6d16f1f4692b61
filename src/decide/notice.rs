//! Limit refusals worth telling someone about (webhooks: `ratelimit.exceeded`,
//! `credits.exhausted`), noted off the answer: a refused request of a cached key checks
//! one atomic in its entry and, at most once per [`MIN_GAP_MS`] per entry and kind,
//! queues a notice. The composition root drains the queue in the background, applies
//! the real cooldown (across replicas) and hands the survivors to the events service —
//! the gate never imports it.

use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;

use super::known::Known;
use crate::limits::{Exceeded, Scope};
use crate::store::TokenId;

/// The least time between two notices of one kind from one cached entry.
pub const MIN_GAP_MS: i64 = 10_000;
/// Notices held at most between drains (more are dropped and counted).
pub const MAX_PENDING: usize = 10_000;

/// Which limit refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    RateLimited,
    CreditsExhausted,
}

/// A limit refused a key's request.
#[derive(Clone, Debug)]
pub struct Notice {
    pub kind: NoticeKind,
    /// Whose limit: the key's own or its owner's.
    pub scope: Scope,
    pub key_id: TokenId,
    pub owner: String,
    pub name: String,
    /// The limit's name (a rate limit's), when it has one.
    pub limit: String,
    pub retry_after: Option<u64>,
    pub at_ms: i64,
}

/// The queue of notices.
#[derive(Default)]
pub struct Notices {
    pending: Mutex<Vec<Notice>>,
    pub dropped: std::sync::atomic::AtomicU64,
}

impl Notices {
    /// Notes a refusal by `e` of `known`'s request, unless this entry noted one of the
    /// kind within [`MIN_GAP_MS`]: one atomic load on the way out of a refusal.
    pub(super) fn note(&self, known: &Known, e: Exceeded, now_ms: i64) {
        let (kind, retry_after) = match e {
            Exceeded::Rate { retry_after, .. } => (NoticeKind::RateLimited, Some(retry_after)),
            Exceeded::Credits { retry_after, .. } => (NoticeKind::CreditsExhausted, retry_after),
        };
        let last = &known.noted[kind as usize];
        let seen = last.load(Relaxed);
        if now_ms.saturating_sub(seen) < MIN_GAP_MS
            || last
                .compare_exchange(seen, now_ms, Relaxed, Relaxed)
                .is_err()
        {
            return;
        }
        let notice = Notice {
            kind,
            scope: e.scope(),
            key_id: known.record.id.clone(),
            owner: known.record.owner.clone(),
            name: known.record.name.clone(),
            limit: known.limit_name(e).to_owned(),
            retry_after,
            at_ms: now_ms,
        };
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < MAX_PENDING {
            p.push(notice);
        } else {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Everything noted since the last call.
    pub fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
