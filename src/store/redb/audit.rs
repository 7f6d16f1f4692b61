//! The embedded store's audit log: events by sequence number, an owner → events index
//! for the per-owner bound.

use super::*;

#[async_trait]
impl AuditStore for RedbStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        let mut e = event.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let seq = {
                let mut audit = tx.open_table(AUDIT).map_err(be)?;
                let last = audit.last().map_err(be)?.map_or(0, |(k, _)| k.value());
                e.seq = last + 1;
                let bytes = serde_json::to_vec(&e).map_err(be)?;
                audit.insert(e.seq, bytes.as_slice()).map_err(be)?;
                let mut by_owner = tx.open_multimap_table(AUDIT_OWNERS).map_err(be)?;
                by_owner.insert(e.owner.as_str(), e.seq).map_err(be)?;
                let oldest = {
                    let held = by_owner.get(e.owner.as_str()).map_err(be)?;
                    if held.len() > AUDIT_MAX_PER_OWNER as u64 {
                        held.into_iter()
                            .next()
                            .transpose()
                            .map_err(be)?
                            .map(|v| v.value())
                    } else {
                        None
                    }
                };
                if let Some(seq) = oldest {
                    by_owner.remove(e.owner.as_str(), seq).map_err(be)?;
                    audit.remove(seq).map_err(be)?;
                }
                if e.seq > AUDIT_MAX {
                    let gone = e.seq - AUDIT_MAX;
                    let owner = audit
                        .remove(gone)
                        .map_err(be)?
                        .and_then(|v| serde_json::from_slice::<AuditEvent>(v.value()).ok())
                        .map(|old| old.owner);
                    if let Some(o) = owner {
                        by_owner.remove(o.as_str(), gone).map_err(be)?;
                    }
                }
                e.seq
            };
            tx.commit().map_err(be)?;
            Ok(seq)
        })
        .await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let q = q.clone();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let audit = tx.open_table(AUDIT).map_err(be)?;
            let mut out = Vec::new();
            let upper = q.before.unwrap_or(u64::MAX);
            for entry in audit.range(..upper).map_err(be)?.rev() {
                let (_, v) = entry.map_err(be)?;
                let e: AuditEvent = serde_json::from_slice(v.value()).map_err(be)?;
                if q.matches(&e) {
                    out.push(e);
                    if out.len() >= q.limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }
}
