//! The gate as the store and management reach it: invalidations from this and other
//! replicas ([`crate::store::Invalidate`]) and what management asks of it
//! ([`crate::store::GatePort`]).

use std::sync::atomic::Ordering;

use super::Gate;
use crate::token::KeyHash;

#[async_trait::async_trait]
impl crate::store::GatePort for Gate {
    async fn reset_slot(&self, slot: &str) {
        self.limits.reset(slot).await;
    }

    fn owner_limits_changed(&self) {
        Gate::owner_limits_changed(self);
    }
}

impl crate::store::Invalidate for Gate {
    fn forget(&self, hash: &KeyHash) {
        Gate::forget(self, hash);
    }

    fn forget_all(&self) {
        Gate::forget_all(self);
    }

    fn drop_leases(&self, slot: &str, epoch: u64) {
        self.limits.drop_leases(slot, epoch);
    }

    fn permissions_changed(&self) {
        Gate::permissions_changed(self);
    }

    fn trust(&self, trusted: bool) {
        if trusted {
            // Following again: start afresh (a change to the roles may have been
            // missed too), then use the cache.
            self.permissions_changed();
            self.cache_trusted.store(true, Ordering::Release);
            self.follows.fetch_add(1, Ordering::AcqRel);
        } else {
            // From now on the cache is bypassed (kept only to answer while the store
            // itself cannot be reached), and nothing new is cached.
            self.epoch.fetch_add(1, Ordering::AcqRel);
            self.cache_trusted.store(false, Ordering::Release);
        }
    }
}
