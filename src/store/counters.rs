//! Counters behind usage limits, for the stores that live in one process (memory, and
//! the rate-limit windows of redb). Valkey keeps the same counters with scripts
//! (`valkey.rs`); the semantics are in [`super::TokenStore::take_window`] and
//! [`super::TokenStore::take_credits`].

use std::collections::HashMap;
use std::sync::Mutex;

use super::{CreditLease, Granted, StoreError, WindowLease};

/// Rate-limit windows: uses granted per (slot, window start).
#[derive(Default)]
pub struct Windows {
    used: Mutex<HashMap<(String, i64), (u64, i64)>>,
}

impl Windows {
    pub fn take(&self, w: &WindowLease<'_>) -> Granted {
        let mut m = self.used.lock().unwrap_or_else(|e| e.into_inner());
        // Windows that have ended are dropped as new ones open (bounded by the number
        // of slots in use within the longest window).
        if m.len() > 4096 {
            m.retain(|_, (_, end)| *end > w.now_ms);
        }
        let e = m
            .entry((w.slot.to_owned(), w.window_start_ms))
            .or_insert((0, w.window_start_ms.saturating_add(w.window_ms)));
        let granted = w.want.min(w.limit.saturating_sub(e.0));
        e.0 += granted;
        Granted {
            granted,
            left: w.limit.saturating_sub(e.0),
            epoch: 0,
        }
    }

    pub fn give_back(&self, slot: &str, window_start_ms: i64, n: u64) {
        let mut m = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = m.get_mut(&(slot.to_owned(), window_start_ms)) {
            e.0 = e.0.saturating_sub(n);
        }
    }
}

/// A credit balance: what is left and the start of the refill period it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    pub left: u64,
    pub period_ms: i64,
}

impl Balance {
    /// The text form the stores keep: `left period_ms`.
    pub fn encode(self) -> String {
        format!("{} {}", self.left, self.period_ms)
    }

    pub fn decode(s: &str) -> Result<Balance, StoreError> {
        let bad = || StoreError::Backend(format!("a stored credit balance is damaged: `{s}`"));
        let (l, p) = s.split_once(' ').ok_or_else(bad)?;
        Ok(Balance {
            left: l.parse().map_err(|_| bad())?,
            period_ms: p.parse().map_err(|_| bad())?,
        })
    }

    /// Takes from this balance as [`super::TokenStore::take_credits`] says: a due refill
    /// first, then at most `want`. `None` in, `None` out when there is no balance and
    /// no `init`.
    pub fn take(current: Option<Balance>, c: &CreditLease<'_>) -> (Option<Balance>, Granted) {
        let mut b = match (current, c.init) {
            (Some(b), _) => b,
            (None, Some(init)) => Balance {
                left: init,
                period_ms: c.refill.map_or(0, |(p, _)| p),
            },
            (None, None) => return (None, Granted::default()),
        };
        if let Some((period, amount)) = c.refill
            && period > b.period_ms
        {
            b = Balance {
                left: amount,
                period_ms: period,
            };
        }
        let granted = c.want.min(b.left);
        b.left -= granted;
        (
            Some(b),
            Granted {
                granted,
                left: b.left,
                epoch: 0,
            },
        )
    }
}

/// Credit balances in memory, with their epochs.
#[derive(Default)]
pub struct Credits {
    balances: Mutex<HashMap<String, Balance>>,
    epochs: Epochs,
}

impl Credits {
    pub fn take(&self, c: &CreditLease<'_>) -> Granted {
        let mut m = self.balances.lock().unwrap_or_else(|e| e.into_inner());
        let (b, mut g) = Balance::take(m.get(c.slot).copied(), c);
        if let Some(b) = b {
            m.insert(c.slot.to_owned(), b);
        }
        g.epoch = self.epochs.get(c.slot);
        g
    }

    /// Returns `n` unspent credits leased in the period starting at `period_ms` and in
    /// epoch `epoch`; a balance refilled or set since keeps what it has.
    pub fn give_back(&self, slot: &str, period_ms: i64, epoch: u64, n: u64) {
        let mut m = self.balances.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = m.get_mut(slot)
            && b.period_ms == period_ms
            && self.epochs.get(slot) == epoch
        {
            b.left = b.left.saturating_add(n);
        }
    }

    pub fn set(&self, slot: &str, balance: Option<Balance>) -> u64 {
        let mut m = self.balances.lock().unwrap_or_else(|e| e.into_inner());
        match balance {
            Some(b) => m.insert(slot.to_owned(), b),
            None => m.remove(slot),
        };
        self.epochs.bump(slot)
    }

    pub fn get(&self, slot: &str) -> Option<Balance> {
        self.balances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(slot)
            .copied()
    }
}

/// Balance epochs of a store that one process owns (memory, redb): kept in memory, since
/// no lease outlives the process that took it. A slot never set is at epoch 0.
#[derive(Default)]
pub struct Epochs(Mutex<HashMap<String, u64>>);

impl Epochs {
    pub fn get(&self, slot: &str) -> u64 {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(slot).copied().unwrap_or(0)
    }

    /// Bumps `slot`'s epoch and returns the new one.
    pub fn bump(&self, slot: &str) -> u64 {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.entry(slot.to_owned()).or_insert(0);
        *e += 1;
        *e
    }
}
