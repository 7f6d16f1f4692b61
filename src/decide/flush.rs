//! Writing what the hot path collected in memory: analytics tallies and last-used
//! times, in chunks, putting back what a failed write did not take.

use std::sync::Mutex;

use super::Gate;
use crate::store::StoreError;

pub use crate::store::FLUSH_CHUNK;

impl Gate {
    /// Writes the analytics tallies collected since the previous flush (and what an
    /// earlier failed flush left in `retry`), [`FLUSH_CHUNK`] tallies a write, so that a
    /// flush never holds more than one chunk's rows (and, on the embedded store, one
    /// chunk's dirty pages) at once. Returns how many tallies were written.
    pub async fn flush_analytics(
        &self,
        retention: crate::analytics::Retention,
        retry: &Mutex<Vec<crate::analytics::UsageAdd>>,
    ) -> Result<usize, StoreError> {
        let Some(t) = &self.tally else { return Ok(0) };
        let mut batch = std::mem::take(&mut *retry.lock().unwrap_or_else(|e| e.into_inner()));
        let mut written = 0;
        let size = self.store.usage_chunk().max(1);
        for shard in 0..crate::analytics::SHARDS {
            batch.extend(t.drain_shard(shard));
            // From the end, so that what is left keeps its place (order does not
            // matter: the stores add the counts up).
            while !batch.is_empty() {
                let chunk = batch.split_off(batch.len().saturating_sub(size));
                if let Err(e) = self.store.add_usage(&chunk, retention).await {
                    // Kept for the next flush, within the same bound as the tallies;
                    // the shards not taken yet stay where they are.
                    batch.extend(chunk);
                    batch.truncate(crate::analytics::MAX_PENDING);
                    *retry.lock().unwrap_or_else(|e| e.into_inner()) = batch;
                    return Err(e);
                }
                written += chunk.len();
            }
        }
        Ok(written)
    }

    /// Writes the requests noted since the previous flush to their keys' recent
    /// requests. What a failed write held is dropped: the panel shows recent traffic,
    /// and the next second brings more.
    pub async fn flush_recent(&self) -> Result<usize, StoreError> {
        let Some(r) = &self.recent else { return Ok(0) };
        let batch = r.drain();
        if batch.is_empty() {
            return Ok(0);
        }
        self.store
            .add_recent(&batch, self.settings.recent_requests)
            .await?;
        Ok(batch.len())
    }

    /// Writes the last-used times collected since the previous flush, [`FLUSH_CHUNK`]
    /// keys a write.
    pub async fn flush_usage(&self) -> Result<usize, StoreError> {
        let mut taken = self.usage.drain();
        let mut written = 0;
        loop {
            let chunk: Vec<_> = taken.by_ref().take(FLUSH_CHUNK).collect();
            if chunk.is_empty() {
                return Ok(written);
            }
            if let Err(e) = self.store.touch(&chunk).await {
                // Put them back so the next flush tries again.
                self.usage.restore(chunk.into_iter().chain(taken));
                return Err(e);
            }
            written += chunk.len();
        }
    }
}
