//! Key lists: one owner's from the store's owner index, everyone's from a copy kept for
//! [`EVERYONE_TTL_MS`] (5 s; last-used times are written every 10 s anyway) — at 50 000
//! keys reading and decoding every record takes about 200 ms (docs/benchmarks.md), and
//! the console asks for everyone's keys on every search. This process's own writes drop
//! the copy at once ([`Keys`]' `forget`), and so do other replicas' writes as the store
//! follows them (Valkey, [`Keys::changed_elsewhere`]); one missed while that subscription
//! was down shows within the TTL.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Keys, ManageError};
use crate::store::Listing;

/// How long a copy of everyone's keys is used.
pub const EVERYONE_TTL_MS: i64 = 5_000;

/// The copy of everyone's keys, and when it was read.
#[derive(Default)]
pub(super) struct Everyone {
    copy: Mutex<Option<(i64, Arc<Listing>)>>,
    /// Bumped by every write, so that a read begun before one is not kept after it.
    writes: AtomicU64,
}

impl Everyone {
    pub(super) fn forget(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        *self.copy.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Keys {
    /// Another process changed a key (a replica's write, followed through the store):
    /// the copy of everyone's keys is read again on the next request, not after its TTL.
    pub fn changed_elsewhere(&self) {
        self.everyone.forget();
    }

    /// One owner's keys (`None`: everyone's), and the ids of damaged records, each
    /// named in the log.
    pub async fn list(&self, owner: Option<&str>) -> Result<Listing, ManageError> {
        let listing = match owner {
            Some(o) => self.store.list_by_owner(o).await?,
            None => self.store.list_all().await?,
        };
        for id in &listing.damaged {
            match listing.newer.get(id) {
                Some(v) => {
                    tracing::warn!(token_id = %id, "{} (left out of a listing)", crate::store::codec::newer_format_message(id.as_str(), *v))
                }
                None => {
                    tracing::warn!(token_id = %id, "a stored key record is damaged and was left out of a listing; delete it or run `keygate doctor --fix`")
                }
            }
        }
        Ok(listing)
    }

    /// Every owner with how many keys they have, by owner.
    pub async fn owners(&self) -> Result<Vec<(String, usize)>, ManageError> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for r in &self.everyone().await?.records {
            *counts.entry(r.owner.clone()).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    /// Everyone's keys (as [`Keys::list`] with no owner), shared: read from the store
    /// at most every [`EVERYONE_TTL_MS`], and again after any write made here.
    pub async fn everyone(&self) -> Result<Arc<Listing>, ManageError> {
        let now = self.clock.now_ms();
        if let Some((at, copy)) = &*self.everyone.copy.lock().unwrap_or_else(|e| e.into_inner())
            && now.saturating_sub(*at) < EVERYONE_TTL_MS
            && *at <= now
        {
            return Ok(copy.clone());
        }
        let writes = self.everyone.writes.load(Ordering::Acquire);
        let listing = Arc::new(self.list(None).await?);
        let mut copy = self.everyone.copy.lock().unwrap_or_else(|e| e.into_inner());
        if self.everyone.writes.load(Ordering::Acquire) == writes {
            *copy = Some((now, listing.clone()));
        }
        Ok(listing)
    }
}
