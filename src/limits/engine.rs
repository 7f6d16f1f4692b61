//! Enforcing usage limits on the hot path, from leases.
//!
//! Every limit of a key or owner (a rate-limit window, a credit balance) is counted by
//! the store, and this process takes allowances from it in batches ("leases") with one
//! atomic store call each (`TokenStore::take_window`, `take_credits`). A request spends
//! from the local lease under one short lock per scope; the store is asked again only
//! when a lease is used up. What the store grants never exceeds the limit (or the
//! balance), so the whole deployment cannot go over it, however many replicas share it;
//! an unspent lease is at worst lost (an undershoot), never spent twice.
//!
//! Lease sizes adapt to the traffic: a lease used up within 100 ms is doubled next time,
//! one that lasted over a second is halved, between 1 and a cap (1 % of a rate limit,
//! 1/16 of the credits left), so a quiet key or a small limit is counted one use at a
//! time (exact) and a busy key costs a store call per thousands of requests. Leases
//! unused for [`IDLE_RETURN`] are given back, and all of them at a clean shutdown.
//!
//! A window or balance the store says is used up is remembered locally, so refusals
//! cost no store call: until the window ends, or (credits) for a second at most before
//! asking again — a top-up by an administrator is seen within that second.
//!
//! A window is counted by its length (`1m`), not by the limit's name
//! ([`super::counter_ids`]): a rename keeps the count. A credit balance carries an epoch
//! that every absolute set bumps; a lease taken before the set is dropped where it is
//! held ([`Engine::drop_leases`], reached on other replicas through the store's
//! invalidation feed) and is never added back to the new balance.
//!
//! A request waiting for a lease waits at most `store_timeout_ms` in all, however many
//! requests queue for the same slot: every wait and store call runs against one deadline
//! taken when the request first needs a lease, and a lease attempt that failed while a
//! request queued answers for it too (it is not asked again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lease::{Cred, Need, State, lock, next_want, secs_until};
pub use super::lease::{RateLeft, Report};
use super::{Exceeded, Limits, Scope};
use crate::clock::Clock;
use crate::store::{CreditLease, SharedStore, StoreError, WindowLease};

/// Leases unused for this long are given back to the store.
pub const IDLE_RETURN: Duration = Duration::from_secs(2);
/// Slots unused for this long leave the registry (their leases given back first).
const FORGET_AFTER_MS: i64 = 300_000;
/// How long "no credits left" is believed before the store is asked again.
const CREDITS_RECHECK_MS: i64 = 1000;

pub use super::OnStoreError;

/// The answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Exceeded(Exceeded),
    /// No lease could be had and `on_store_error = "deny"`.
    Unavailable,
}

/// One scope's limits and its local leases: a key (`k:<id>`) or an owner (`o:<owner>`).
/// Shared by every cached entry that names it.
pub struct Slot {
    name: String,
    scope: Scope,
    state: Mutex<State>,
    /// One lease request at a time per slot: the others wait for it and then spend it.
    fetching: tokio::sync::Mutex<()>,
}

pub struct Engine {
    store: SharedStore,
    clock: Clock,
    timeout: Duration,
    on_error: OnStoreError,
    registry: Mutex<HashMap<String, Arc<Slot>>>,
    /// Balances seen at or below a threshold (webhooks' `credits.low`).
    low: super::low_credits::LowCredits,
}

impl Engine {
    pub fn low_credits(&self) -> &super::low_credits::LowCredits {
        &self.low
    }
    pub fn new(
        store: SharedStore,
        clock: Clock,
        timeout: Duration,
        on_error: OnStoreError,
    ) -> Self {
        Engine {
            store,
            clock,
            timeout,
            on_error,
            registry: Mutex::new(HashMap::new()),
            low: Default::default(),
        }
    }

    /// The slot of a key (`k:<id>`) or owner (`o:<owner>`) with these limits, made or
    /// brought up to date.
    pub fn slot(
        &self,
        scope: Scope,
        name: String,
        limits: Arc<Limits>,
        init_credits: Option<u64>,
    ) -> Arc<Slot> {
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = reg.get(&name) {
            let mut st = lock(&s.state);
            if *st.limits != *limits || st.init_credits != init_credits {
                st.configure(limits, init_credits);
            }
            return s.clone();
        }
        let slot = Arc::new(Slot {
            name: name.clone(),
            scope,
            state: Mutex::new(State::new(limits, init_credits)),
            fetching: tokio::sync::Mutex::new(()),
        });
        reg.insert(name, slot.clone());
        slot
    }

    /// Drops the local state of a slot (its leases are given back first), so that a
    /// balance set by an administrator is read afresh.
    pub async fn reset(&self, name: &str) {
        let slot = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        if let Some(s) = slot {
            let _f = s.fetching.lock().await;
            self.give_back(&s, true).await;
            let mut st = lock(&s.state);
            let (limits, init) = (st.limits.clone(), st.init_credits);
            *st = State::new(limits, init);
        }
    }

    /// Decides whether one more use fits every limit of `slots` (a key's, then its
    /// owner's), and spends it when it does. Nothing is spent on a refusal.
    /// `now_ms`: the decision's clock reading (read again after waiting for a lease).
    /// `store_failed`: the store just failed to answer this request (its key was served
    /// from the cache), so a new lease is not asked for: the request is answered at once
    /// as `limits.on_store_error` says.
    pub async fn check(
        &self,
        slots: [Option<&Arc<Slot>>; 2],
        report: bool,
        now_ms: i64,
        store_failed: bool,
    ) -> (Verdict, Option<Report>) {
        self.check_cost(slots, 1, report, now_ms, store_failed)
            .await
    }

    /// [`Engine::check`] for a request that spends `cost` credits (a route's price; 0:
    /// free, refused only by rate limits). Rate limits count it as one request. Refused
    /// when fewer than `cost` credits are left, spending nothing.
    pub async fn check_cost(
        &self,
        slots: [Option<&Arc<Slot>>; 2],
        cost: u32,
        report: bool,
        now_ms: i64,
        store_failed: bool,
    ) -> (Verdict, Option<Report>) {
        let cost = u64::from(cost);
        // Bounded: each round either decides or adds a lease; concurrent requests can
        // spend a fresh lease before this one gets to it, a few times at most. No heap
        // allocation on the way to an answer.
        // Taken when a lease is first needed: every wait and store call of this request
        // ends by then (one `store_timeout_ms` in all).
        let mut deadline: Option<tokio::time::Instant> = None;
        for round in 0..16 {
            let now = if round == 0 {
                now_ms
            } else {
                self.clock.now_ms()
            };
            let need = {
                let mut g0 = slots[0].map(|s| lock(&s.state));
                let mut g1 = slots[1].map(|s| lock(&s.state));
                let mut need: Option<(usize, Need)> = None;
                for (si, g) in [(0, g0.as_deref_mut()), (1, g1.as_deref_mut())] {
                    let Some(g) = g else { continue };
                    let scope = slots[si].map_or(Scope::Key, |s| s.scope);
                    g.roll(now);
                    for (i, (w, r)) in g.windows.iter().zip(&g.limits.rate_limits).enumerate() {
                        if w.exhausted {
                            let end = w.start_ms + r.window.millis();
                            return (
                                Verdict::Exceeded(Exceeded::Rate {
                                    scope,
                                    index: u8::try_from(i).unwrap_or(u8::MAX),
                                    retry_after: secs_until(end, now),
                                }),
                                None,
                            );
                        }
                        if w.left == 0 && need.is_none() {
                            need = Some((si, Need::Window(i)));
                        }
                    }
                    if let Some(c) = &g.credits
                        && c.left < cost
                    {
                        if c.exhausted_until_ms > now {
                            let refill = g.limits.credits.and_then(|p| p.refill);
                            return (
                                Verdict::Exceeded(Exceeded::Credits {
                                    scope,
                                    retry_after: refill
                                        .map(|r| secs_until(r.interval.next_start(now), now)),
                                }),
                                None,
                            );
                        }
                        if need.is_none() {
                            need = Some((si, Need::Credits));
                        }
                    }
                }
                if need.is_none() {
                    for g in [g0.as_deref_mut(), g1.as_deref_mut()].into_iter().flatten() {
                        for w in &mut g.windows {
                            w.left -= 1;
                        }
                        if let Some(c) = &mut g.credits {
                            c.left -= cost;
                        }
                        g.last_use_ms = now;
                    }
                    let r = report.then(|| report_of(slots, [g0.as_deref(), g1.as_deref()]));
                    return (Verdict::Allow, r);
                }
                need
            };
            let Some((si, n)) = need else { continue };
            let Some(slot) = slots[si] else { continue };
            let result = if store_failed {
                Err(StoreError::Unavailable(
                    "the store did not answer this request's lookup".into(),
                ))
            } else {
                let until =
                    *deadline.get_or_insert_with(|| tokio::time::Instant::now() + self.timeout);
                self.lease(slot, n, cost, until).await
            };
            if let Err(e) = result {
                tracing::warn!(slot = %slot.name, error = %e, "no usage lease from the store");
                return match self.on_error {
                    OnStoreError::Deny => (Verdict::Unavailable, None),
                    OnStoreError::Allow => (Verdict::Allow, None),
                };
            }
        }
        (Verdict::Unavailable, None)
    }

    /// What is left, without spending anything (`/verify` on a refusal).
    pub fn peek(&self, slots: [Option<&Arc<Slot>>; 2]) -> Report {
        let now = self.clock.now_ms();
        let mut g0 = slots[0].map(|s| lock(&s.state));
        let mut g1 = slots[1].map(|s| lock(&s.state));
        for g in [g0.as_deref_mut(), g1.as_deref_mut()].into_iter().flatten() {
            g.roll(now);
        }
        report_of(slots, [g0.as_deref(), g1.as_deref()])
    }

    /// Gets a new lease for what `slot` lacks, unless another request got one meanwhile,
    /// by `deadline`. A lease attempt that failed while this request waited for its turn
    /// is this request's answer too.
    async fn lease(
        &self,
        slot: &Slot,
        need: Need,
        cost: u64,
        deadline: tokio::time::Instant,
    ) -> Result<(), StoreError> {
        let began = deadline.checked_sub(self.timeout).unwrap_or(deadline);
        let Ok(_one) = tokio::time::timeout_at(deadline, slot.fetching.lock()).await else {
            return Err(self.timeout_error());
        };
        if lock(&slot.state).failed_at.is_some_and(|at| at >= began) {
            return Err(StoreError::Unavailable(
                "the store did not answer the lease request this one waited for".into(),
            ));
        }
        let result = self.lease_now(slot, need, cost, deadline).await;
        if result.is_err() {
            lock(&slot.state).failed_at = Some(tokio::time::Instant::now());
        }
        result
    }

    fn timeout_error(&self) -> StoreError {
        StoreError::Timeout(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX))
    }

    async fn lease_now(
        &self,
        slot: &Slot,
        need: Need,
        cost: u64,
        deadline: tokio::time::Instant,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        match need {
            Need::Window(i) => {
                let (start, limit, window_ms, want, slot_name) = {
                    let mut st = lock(&slot.state);
                    st.roll(now);
                    let (Some(w), Some(r)) =
                        (st.windows.get(i).copied(), st.limits.rate_limits.get(i))
                    else {
                        return Ok(());
                    };
                    if w.left > 0 || w.exhausted {
                        return Ok(());
                    }
                    let cap = (r.limit / 100).max(1);
                    (
                        w.start_ms,
                        r.limit,
                        r.window.millis(),
                        next_want(w.want, w.taken_ms, now, cap),
                        format!(
                            "{}|{}",
                            slot.name,
                            st.counters.get(i).map_or("", |c| c.as_str())
                        ),
                    )
                };
                let lease = WindowLease {
                    slot: &slot_name,
                    window_start_ms: start,
                    window_ms,
                    limit,
                    want,
                    now_ms: now,
                };
                let g = self.until(deadline, self.store.take_window(&lease)).await?;
                let mut st = lock(&slot.state);
                if let Some(w) = st.windows.get_mut(i)
                    && w.start_ms == start
                {
                    w.left += g.granted;
                    w.store_left = g.left;
                    w.exhausted = g.granted == 0;
                    w.want = want;
                    w.taken_ms = now;
                }
            }
            Need::Credits => {
                let (period, refill, init, want) = {
                    let mut st = lock(&slot.state);
                    st.roll(now);
                    let refill = st.limits.credits.and_then(|p| p.refill);
                    let init = st.init_credits;
                    let Some(c) = st.credits else { return Ok(()) };
                    if c.left >= cost.max(1) || c.exhausted_until_ms > now {
                        return Ok(());
                    }
                    let cap = c.store_left.map_or(1, |l| l / 16);
                    // At least what this request lacks.
                    let want = next_want(c.want, c.taken_ms, now, cap).max(cost - c.left);
                    (c.period_ms, refill, init, want)
                };
                let lease = CreditLease {
                    slot: &slot.name,
                    want,
                    refill: refill.map(|r| (period, r.amount)),
                    init,
                };
                let g = self
                    .until(deadline, self.store.take_credits(&lease))
                    .await?;
                self.low.check(&slot.name, g.left.saturating_add(g.granted)); // all that is left
                let stale = {
                    let mut st = lock(&slot.state);
                    let min_epoch = st.min_epoch;
                    match &mut st.credits {
                        // Taken before an absolute set that this replica has heard of:
                        // the set balance wins, the lease is dropped.
                        Some(_) if g.epoch < min_epoch => 0,
                        Some(c) if c.period_ms == period => {
                            if c.epoch != g.epoch {
                                // A set happened since the last lease: what was held
                                // belonged to the old balance.
                                c.left = 0;
                                c.epoch = g.epoch;
                            }
                            c.left += g.granted;
                            c.store_left = Some(g.left);
                            c.want = want;
                            c.taken_ms = now;
                            if g.granted == 0 {
                                let next = refill.map_or(i64::MAX, |r| r.interval.next_start(now));
                                c.exhausted_until_ms = (now + CREDITS_RECHECK_MS).min(next);
                            }
                            0
                        }
                        // The period turned (or the quota went) while asking.
                        _ => g.granted,
                    }
                };
                if stale > 0 {
                    let _ = self
                        .store
                        .return_credits(&slot.name, period, g.epoch, stale)
                        .await;
                }
            }
        }
        Ok(())
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r,
            Err(_) => Err(self.timeout_error()),
        }
    }

    async fn until<T>(
        &self,
        deadline: tokio::time::Instant,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout_at(deadline, f).await {
            Ok(r) => r,
            Err(_) => Err(self.timeout_error()),
        }
    }

    /// Gives back what `slot` holds unspent (`all`), or only leases idle for
    /// [`IDLE_RETURN`].
    async fn give_back(&self, slot: &Slot, all: bool) {
        let now = self.clock.now_ms();
        let idle_ms = i64::try_from(IDLE_RETURN.as_millis()).unwrap_or(i64::MAX);
        let (windows, credits) = {
            let mut st = lock(&slot.state);
            if !all && now - st.last_use_ms < idle_ms {
                return;
            }
            st.roll(now);
            let names = st.counters.clone();
            let mut windows = Vec::new();
            for (w, name) in st.windows.iter_mut().zip(names) {
                if w.left > 0 {
                    windows.push((format!("{}|{name}", slot.name), w.start_ms, w.left));
                    w.store_left = w.store_left.saturating_add(w.left);
                    w.left = 0;
                }
            }
            let credits = st.credits.as_mut().and_then(|c| {
                (c.left > 0).then(|| {
                    let n = std::mem::take(&mut c.left);
                    c.store_left = c.store_left.map(|l| l.saturating_add(n));
                    (c.period_ms, c.epoch, n)
                })
            });
            (windows, credits)
        };
        for (name, start, n) in windows {
            if let Err(e) = self.timed(self.store.return_window(&name, start, n)).await {
                tracing::debug!(slot = %name, error = %e, "could not give back a rate-limit lease");
            }
        }
        if let Some((period, epoch, n)) = credits
            && let Err(e) = self
                .timed(self.store.return_credits(&slot.name, period, epoch, n))
                .await
        {
            // Lost: an undershoot of at most this lease, never an overspend.
            tracing::warn!(slot = %slot.name, credits = n, error = %e, "could not give back unspent credits");
        }
    }

    /// Gives back idle leases and forgets slots nobody used for a while (every second,
    /// from the server's background task).
    pub async fn sweep(&self) {
        let now = self.clock.now_ms();
        let slots: Vec<Arc<Slot>> = {
            let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            reg.retain(|_, s| {
                Arc::strong_count(s) > 1 || now - lock(&s.state).last_use_ms < FORGET_AFTER_MS
            });
            reg.values().cloned().collect()
        };
        for s in slots {
            if let Ok(_one) = s.fetching.try_lock() {
                self.give_back(&s, false).await;
            }
        }
    }

    /// Drops the credits `slot` holds when they were leased before the balance's epoch
    /// `epoch` (an absolute set, here or on another replica): they are neither spent nor
    /// given back, and the next request takes a lease from the new balance.
    pub fn drop_leases(&self, slot: &str, epoch: u64) {
        let found = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(slot)
            .cloned();
        let Some(s) = found else { return };
        let mut st = lock(&s.state);
        st.min_epoch = st.min_epoch.max(epoch);
        if let Some(c) = &mut st.credits
            && c.epoch < epoch
        {
            *c = Cred {
                want: c.want,
                taken_ms: c.taken_ms,
                ..Cred::default()
            };
        }
    }

    /// Gives back every unspent lease (clean shutdown).
    pub async fn give_back_all(&self) {
        let slots: Vec<Arc<Slot>> = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for s in slots {
            let _one = s.fetching.lock().await;
            self.give_back(&s, true).await;
        }
    }

    /// Unspent allowances held by this process: (rate-limit uses, credits). For tests
    /// and `/status`.
    pub fn held(&self) -> (u64, u64) {
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        reg.values().fold((0, 0), |(w, c), s| {
            let st = lock(&s.state);
            (
                w + st.windows.iter().map(|x| x.left).sum::<u64>(),
                c + st.credits.map_or(0, |x| x.left),
            )
        })
    }
}

impl Slot {
    pub fn limits(&self) -> Arc<Limits> {
        lock(&self.state).limits.clone()
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }
}

fn report_of(slots: [Option<&Arc<Slot>>; 2], states: [Option<&State>; 2]) -> Report {
    let mut r = Report::default();
    for (si, g) in states.into_iter().enumerate() {
        let Some(g) = g else { continue };
        let scope = slots[si].map_or(Scope::Key, |s| s.scope);
        for (w, l) in g.windows.iter().zip(&g.limits.rate_limits) {
            let remaining = if w.exhausted {
                0
            } else {
                w.store_left.saturating_add(w.left).min(l.limit)
            };
            r.rates.push(RateLeft {
                scope,
                name: l.name.clone(),
                limit: l.limit,
                remaining,
                reset_ms: w.start_ms + l.window.millis(),
                window_secs: l.window.secs(),
            });
        }
        if let Some(c) = &g.credits
            && r.credits.is_none()
        {
            r.credits = Some(c.store_left.unwrap_or(0).saturating_add(c.left));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{CreditPolicy, RateLimit, Refill};
    use crate::store::CounterStore;
    use crate::store::memory::MemoryStore;

    fn engine(clock: &Clock) -> (Engine, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        let e = Engine::new(
            store.clone(),
            clock.clone(),
            Duration::from_secs(1),
            OnStoreError::Deny,
        );
        (e, store)
    }

    fn rate(spec: &str) -> Arc<Limits> {
        Arc::new(Limits {
            rate_limits: vec![RateLimit::parse_spec(spec).unwrap()],
            credits: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_window_is_exact_and_rolls() {
        let clock = Clock::anchored_at(1_800_000_000_000);
        let (e, _) = engine(&clock);
        let s = e.slot(Scope::Key, "k:a".into(), rate("10/1m"), None);
        let mut allowed = 0;
        for _ in 0..25 {
            if e.check([Some(&s), None], false, clock.now_ms(), false)
                .await
                .0
                == Verdict::Allow
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10);
        let (v, _) = e
            .check([Some(&s), None], false, clock.now_ms(), false)
            .await;
        assert!(
            matches!(
                v,
                Verdict::Exceeded(Exceeded::Rate {
                    retry_after: 1..=60,
                    ..
                })
            ),
            "{v:?}"
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            e.check([Some(&s), None], false, clock.now_ms(), false)
                .await
                .0,
            Verdict::Allow
        );
    }

    #[tokio::test(start_paused = true)]
    async fn credits_are_never_overspent_and_refill_once() {
        let clock = Clock::anchored_at(1_800_000_000_000);
        let (e, store) = engine(&clock);
        let limits = Arc::new(Limits {
            rate_limits: vec![],
            credits: Some(CreditPolicy {
                refill: Some(Refill::parse_spec("7/1h").unwrap()),
            }),
        });
        let period = Refill::parse_spec("7/1h")
            .unwrap()
            .interval
            .period_start(clock.now_ms());
        store
            .set_credits(
                "k:c",
                Some(crate::store::counters::Balance {
                    left: 5,
                    period_ms: period,
                }),
            )
            .await
            .unwrap();
        let s = e.slot(Scope::Key, "k:c".into(), limits, None);
        let mut allowed = 0;
        for _ in 0..20 {
            if e.check([Some(&s), None], false, clock.now_ms(), false)
                .await
                .0
                == Verdict::Allow
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 5);
        clock.advance(Duration::from_secs(3600));
        let mut allowed = 0;
        for _ in 0..20 {
            if e.check([Some(&s), None], false, clock.now_ms(), false)
                .await
                .0
                == Verdict::Allow
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 7);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_spends_nothing_and_owner_limits_are_shared() {
        let clock = Clock::anchored_at(1_800_000_000_000);
        let (e, _) = engine(&clock);
        let owner = e.slot(Scope::Owner, "o:alice".into(), rate("3/1m"), None);
        let k1 = e.slot(Scope::Key, "k:1".into(), rate("100/1m"), None);
        let k2 = e.slot(Scope::Key, "k:2".into(), rate("100/1m"), None);
        let mut allowed = 0;
        for k in [&k1, &k2, &k1, &k2, &k1] {
            if e.check([Some(k), Some(&owner)], true, clock.now_ms(), false)
                .await
                .0
                == Verdict::Allow
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
        let (v, _) = e
            .check([Some(&k1), Some(&owner)], false, clock.now_ms(), false)
            .await;
        assert!(matches!(
            v,
            Verdict::Exceeded(Exceeded::Rate {
                scope: Scope::Owner,
                ..
            })
        ));
        let (_, report) = {
            let k3 = e.slot(Scope::Key, "k:3".into(), rate("100/1m"), None);
            e.check([Some(&k3), None], true, clock.now_ms(), false)
                .await
        };
        assert_eq!(report.unwrap().rates[0].remaining, 99);
    }

    #[tokio::test(start_paused = true)]
    async fn an_absolute_set_drops_the_leases_taken_before_it() {
        let clock = Clock::anchored_at(1_800_000_000_000);
        let (e, store) = engine(&clock);
        let limits = Arc::new(Limits {
            rate_limits: vec![],
            credits: Some(CreditPolicy { refill: None }),
        });
        let full = crate::store::counters::Balance {
            left: 1_000_000,
            period_ms: 0,
        };
        store.set_credits("k:set", Some(full)).await.unwrap();
        let s = e.slot(Scope::Key, "k:set".into(), limits, None);
        for _ in 0..5000 {
            assert_eq!(
                e.check([Some(&s), None], false, clock.now_ms(), false)
                    .await
                    .0,
                Verdict::Allow
            );
        }
        assert!(e.held().1 > 0, "a lease of many credits is held");
        let zero = crate::store::counters::Balance {
            left: 0,
            period_ms: 0,
        };
        let epoch = store.set_credits("k:set", Some(zero)).await.unwrap();
        e.drop_leases("k:set", epoch);
        assert_eq!(e.held().1, 0);
        let (v, _) = e
            .check([Some(&s), None], false, clock.now_ms(), false)
            .await;
        assert!(
            matches!(v, Verdict::Exceeded(Exceeded::Credits { .. })),
            "{v:?}"
        );
        // Nothing comes back into the set balance when leases would go idle.
        clock.advance(Duration::from_secs(3));
        e.sweep().await;
        e.give_back_all().await;
        assert_eq!(
            store.get_credits(&["k:set".into()]).await.unwrap(),
            [Some(zero)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_renamed_limit_keeps_its_lease_and_count() {
        let clock = Clock::anchored_at(1_800_000_000_000);
        let (e, _) = engine(&clock);
        let s = e.slot(Scope::Key, "k:r".into(), rate("a=3/1h"), None);
        for _ in 0..2 {
            assert_eq!(
                e.check([Some(&s), None], false, clock.now_ms(), false)
                    .await
                    .0,
                Verdict::Allow
            );
        }
        let s = e.slot(Scope::Key, "k:r".into(), rate("b=3/1h"), None);
        let mut allowed = 0;
        for _ in 0..5 {
            if e.check([Some(&s), None], false, clock.now_ms(), false)
                .await
                .0
                == Verdict::Allow
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 1, "3 per hour, whatever the limit is called");
    }

    #[tokio::test(start_paused = true)]
    async fn leases_grow_with_traffic_and_go_back_when_idle() {
        let clock = Clock::anchored_at(1_800_000_000_000);
        let (e, _) = engine(&clock);
        let s = e.slot(Scope::Key, "k:busy".into(), rate("1000000/1h"), None);
        for _ in 0..5000 {
            assert_eq!(
                e.check([Some(&s), None], false, clock.now_ms(), false)
                    .await
                    .0,
                Verdict::Allow
            );
        }
        assert!(e.held().0 > 0);
        clock.advance(Duration::from_secs(3));
        e.sweep().await;
        assert_eq!(e.held(), (0, 0));
    }
}
