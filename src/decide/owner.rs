//! Owner limits on the hot path: the configured default, or an owner's own limits read
//! from the store once per cache TTL and kept beside the key cache (a flag says whether
//! any owner has limits of their own: until one does, nothing is looked up).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Gate, OwnerPolicy, SHA256_META};
use crate::store::StoreError;

impl Gate {
    /// The limits of `owner`: their own when they have any, else the configured default.
    pub(super) async fn owner_policy(
        &self,
        owner: &str,
        now_ms: i64,
    ) -> Result<Option<OwnerPolicy>, StoreError> {
        if !self.owner_limits_in_use.load(Ordering::Acquire) {
            return Ok(self.owner_defaults.clone());
        }
        if let Some((until, p)) = self.owner_cache.get(owner)
            && until > now_ms
            && self.cache_trusted.load(Ordering::Acquire)
        {
            return Ok(p);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let raw = tokio::time::timeout(
            self.settings.store_timeout,
            self.store.get_meta(&format!(
                "{}{owner}",
                crate::limits::owner::OWNER_LIMITS_META
            )),
        )
        .await
        .map_err(|_| StoreError::Timeout(0))??;
        let own = match raw.as_deref().map(crate::limits::owner::parse_owner_limits) {
            Some(Ok(Some(l))) => Some(Arc::new((Arc::new(l), None))),
            Some(Ok(None)) | None => None,
            Some(Err(e)) => {
                tracing::warn!(owner, error = %e, "an owner's stored limits are damaged; using the default");
                None
            }
        };
        let p = own.or_else(|| self.owner_defaults.clone());
        let ttl = i64::try_from(self.settings.cache_ttl.as_millis()).unwrap_or(i64::MAX);
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.owner_cache
                .insert(owner.to_owned(), (now_ms.saturating_add(ttl), p.clone()));
        }
        Ok(p)
    }

    /// Owner limits were changed here: look them up again from now on.
    pub fn owner_limits_changed(&self) {
        self.owner_limits_in_use.store(true, Ordering::Release);
        self.forget_all();
    }

    /// Looks again whether the store holds SHA-256 imports (at start, and periodically
    /// so that an import by another process is seen).
    pub async fn refresh_store_flags(&self) -> Result<(), StoreError> {
        if self
            .store
            .get_meta(crate::limits::owner::OWNER_LIMITS_IN_USE)
            .await?
            .is_some()
            && !self.owner_limits_in_use.swap(true, Ordering::AcqRel)
        {
            self.forget_all();
        }
        self.check_catalogue().await?;
        let has = self.store.get_meta(SHA256_META).await?.is_some();
        if has && !self.sha256_in_store.swap(true, Ordering::Relaxed) {
            // Unknown keys cached before may be SHA-256 imports now.
            self.forget_all();
        }
        Ok(())
    }
}
