//! Valkey's audit log: a sorted set of events by sequence number, with the per-owner
//! and global bounds.

use super::*;

#[async_trait]
impl AuditStore for ValkeyStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        let (kseq, klist) = (
            format!("{}:audit:seq", self.ns),
            format!("{}:audit", self.ns),
        );
        let mut c = self.conn.clone();
        let seq: u64 = self.run(async { c.incr(&kseq, 1u64).await }).await?;
        let e = AuditEvent {
            seq,
            ..event.clone()
        };
        let json = serde_json::to_string(&e).map_err(|e| StoreError::Backend(e.to_string()))?;
        let max = isize::try_from(AUDIT_MAX).unwrap_or(isize::MAX);
        // The same event in its owner's list too: past the per-owner limit, that
        // owner's oldest event leaves both lists (found from the tail, where it is).
        let kowner = format!("{}:audit:o:{}", self.ns, e.owner);
        self.run(async {
            c.lpush::<_, _, ()>(&klist, &json).await?;
            let held: usize = c.lpush(&kowner, &json).await?;
            if held > AUDIT_MAX_PER_OWNER {
                let oldest: Option<String> = c.rpop(&kowner, None).await?;
                if let Some(old) = oldest {
                    c.lrem::<_, _, ()>(&klist, -1, &old).await?;
                }
            }
            c.ltrim::<_, ()>(&klist, 0, max - 1).await
        })
        .await?;
        Ok(seq)
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let klist = format!("{}:audit", self.ns);
        let mut out = Vec::new();
        let mut start: isize = 0;
        const CHUNK: isize = 500;
        loop {
            let mut c = self.conn.clone();
            let page: Vec<String> = self
                .run(async { c.lrange(&klist, start, start + CHUNK - 1).await })
                .await?;
            if page.is_empty() {
                return Ok(out);
            }
            for raw in &page {
                let Ok(e) = serde_json::from_str::<AuditEvent>(raw) else {
                    continue;
                };
                if q.matches(&e) {
                    out.push(e);
                    if out.len() >= q.limit {
                        return Ok(out);
                    }
                }
            }
            start += CHUNK;
        }
    }
}
