//! The embedded store's usage-limit counters: credit balances and rate-limit windows,
//! each lease one durable write transaction (a restart or a crash resets nothing).

use super::*;

#[async_trait]
impl CounterStore for RedbStore {
    /// One write transaction (made durable before it answers) per lease: what is
    /// granted is on disk before it is spent.
    async fn take_window(&self, w: &WindowLease<'_>) -> Result<Granted, StoreError> {
        let (slot, start, window_ms) = (w.slot.to_owned(), w.window_start_ms, w.window_ms);
        let (limit, want) = (w.limit, w.want);
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let granted = {
                let mut t = tx.open_table(WINDOWS).map_err(be)?;
                let key = window_key(&slot, start);
                let used = t
                    .get(key.as_str())
                    .map_err(be)?
                    .map_or(0, |v| window_value(v.value()).0);
                let granted = want.min(limit.saturating_sub(used));
                if granted > 0 {
                    let end = start.saturating_add(window_ms);
                    t.insert(key.as_str(), encode_window(used + granted, end).as_slice())
                        .map_err(be)?;
                    if used == 0 {
                        // A new window of this counter: the ended ones before it go.
                        let from = format!("{slot}|");
                        t.retain_in(from.as_str()..key.as_str(), |k, _| !is_window_of(k, &from))
                            .map_err(be)?;
                    }
                }
                Granted {
                    granted,
                    left: limit.saturating_sub(used + granted),
                    epoch: 0,
                }
            };
            tx.commit().map_err(be)?;
            Ok(granted)
        })
        .await
    }

    async fn return_window(&self, slot: &str, start: i64, n: u64) -> Result<(), StoreError> {
        let key = window_key(slot, start);
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut t = tx.open_table(WINDOWS).map_err(be)?;
                let found = t
                    .get(key.as_str())
                    .map_err(be)?
                    .map(|v| window_value(v.value()));
                if let Some((used, end)) = found {
                    t.insert(
                        key.as_str(),
                        encode_window(used.saturating_sub(n), end).as_slice(),
                    )
                    .map_err(be)?;
                }
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn take_credits(&self, c: &CreditLease<'_>) -> Result<Granted, StoreError> {
        let (slot, want, refill, init) = (c.slot.to_owned(), c.want, c.refill, c.init);
        let epochs = self.epochs.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let granted = {
                let mut t = tx.open_table(CREDITS).map_err(be)?;
                let current = t
                    .get(slot.as_str())
                    .map_err(be)?
                    .map(|v| Balance::decode(v.value()))
                    .transpose()?;
                let lease = CreditLease {
                    slot: &slot,
                    want,
                    refill,
                    init,
                };
                let (next, mut granted) = Balance::take(current, &lease);
                granted.epoch = epochs.get(&slot);
                if let Some(b) = next
                    && Some(b) != current
                {
                    t.insert(slot.as_str(), b.encode().as_str()).map_err(be)?;
                }
                granted
            };
            tx.commit().map_err(be)?;
            Ok(granted)
        })
        .await
    }

    async fn return_credits(
        &self,
        slot: &str,
        period: i64,
        epoch: u64,
        n: u64,
    ) -> Result<(), StoreError> {
        let slot = slot.to_owned();
        let epochs = self.epochs.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            if epochs.get(&slot) != epoch {
                return Ok(()); // set since: the new balance wins
            }
            {
                let mut t = tx.open_table(CREDITS).map_err(be)?;
                let current = t
                    .get(slot.as_str())
                    .map_err(be)?
                    .map(|v| Balance::decode(v.value()))
                    .transpose()?;
                if let Some(mut b) = current
                    && b.period_ms == period
                {
                    b.left = b.left.saturating_add(n);
                    t.insert(slot.as_str(), b.encode().as_str()).map_err(be)?;
                }
            }
            tx.commit().map_err(be)
        })
        .await
    }

    async fn set_credits(&self, slot: &str, balance: Option<Balance>) -> Result<u64, StoreError> {
        let slot = slot.to_owned();
        let epochs = self.epochs.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            {
                let mut t = tx.open_table(CREDITS).map_err(be)?;
                match balance {
                    Some(b) => t.insert(slot.as_str(), b.encode().as_str()).map(|_| ()),
                    None => t.remove(slot.as_str()).map(|_| ()),
                }
                .map_err(be)?;
            }
            // Bumped inside the transaction: a lease taken or given back before it is of
            // the old epoch, one after it of the new.
            let epoch = epochs.bump(&slot);
            tx.commit().map_err(be)?;
            Ok(epoch)
        })
        .await
    }

    async fn get_credits(&self, slots: &[String]) -> Result<Vec<Option<Balance>>, StoreError> {
        let slots = slots.to_vec();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(be)?;
            let t = tx.open_table(CREDITS).map_err(be)?;
            slots
                .iter()
                .map(|s| {
                    t.get(s.as_str())
                        .map_err(be)?
                        .map(|v| Balance::decode(v.value()))
                        .transpose()
                })
                .collect()
        })
        .await
    }

    async fn prune_windows(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(be)?;
            let removed = {
                let mut t = tx.open_table(WINDOWS).map_err(be)?;
                let before = t.len().map_err(be)?;
                t.retain(|_, v| window_value(v).1 > now_ms).map_err(be)?;
                before.saturating_sub(t.len().map_err(be)?)
            };
            tx.commit().map_err(be)?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }
}

/// The key of a rate-limit window counter: the slot, `|`, the start in 20 digits (so a
/// counter's windows sort by start).
fn window_key(slot: &str, start_ms: i64) -> String {
    format!("{slot}|{:020}", start_ms.max(0))
}

/// Whether `key` is a window of the counter whose keys start with `prefix` (and not of
/// another counter whose name merely starts the same).
fn is_window_of(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 20 && rest.bytes().all(|b| b.is_ascii_digit()))
}

fn encode_window(used: u64, end_ms: i64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&used.to_le_bytes());
    v[8..].copy_from_slice(&end_ms.to_le_bytes());
    v
}

/// (uses granted, end ms); a damaged value reads as a used-up window that has ended
/// (nothing more is granted from it, and the next prune removes it).
fn window_value(v: &[u8]) -> (u64, i64) {
    match (v.get(..8), v.get(8..16)) {
        (Some(u), Some(e)) if v.len() == 16 => (
            u64::from_le_bytes(u.try_into().unwrap_or([0xff; 8])),
            i64::from_le_bytes(e.try_into().unwrap_or([0; 8])),
        ),
        _ => (u64::MAX, 0),
    }
}
