//! Every background task of a running keygate, started once and drained once: the
//! last-used and analytics flushers, the usage-limit sweeper (idle leases back, ended
//! windows pruned), the key-source watcher, the OIDC key refresher, the follower of
//! other replicas' writes, the webhook delivery worker and the recent-requests flush. The composition root owns their lifecycle; the HTTP layer
//! only asks for it ([`Background::start`] before serving, [`Background::drain`] after).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::App;

/// The running background tasks and what their drain needs.
pub struct Background {
    app: Arc<App>,
    tasks: Vec<JoinHandle<()>>,
    /// Analytics tallies a failed flush put back, for the next flush and the last one.
    retry: Arc<std::sync::Mutex<Vec<crate::analytics::UsageAdd>>>,
}

impl Background {
    /// Starts every background task of `app`.
    pub fn start(app: &Arc<App>) -> Self {
        let retry = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = vec![
            tokio::spawn(flush_usage(app.clone())),
            tokio::spawn(sweep_limits(app.clone())),
            tokio::spawn(flush_analytics(app.clone(), retry.clone())),
            tokio::spawn(flush_recent(app.clone())),
            tokio::spawn(app.sources().watch()),
            tokio::spawn(app.events.clone().run()),
        ];
        if app.config.events.enabled {
            tasks.push(tokio::spawn(super::notify::relay(app.clone())));
            tasks.push(tokio::spawn(super::notify::sweep_expiry(app.clone())));
        }
        if let Some(v) = &app.verifier {
            tasks.push(tokio::spawn(v.clone().run()));
        }
        {
            // Follows other replicas' writes (Valkey); returns at once for other stores.
            let store = app.keys.store().clone();
            let target: Arc<dyn crate::store::Invalidate> = Arc::new(Followers(app.clone()));
            tasks.push(tokio::spawn(async move { store.watch(target).await }));
        }
        Background {
            app: app.clone(),
            tasks,
            retry,
        }
    }

    /// Adds a task to be stopped with the others (a listener of the app's).
    pub fn add(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Stops every task, then writes what is still in memory: last-used times and
    /// analytics counts; unspent leases go back, so a clean shutdown loses no credit.
    pub async fn drain(self) {
        for task in &self.tasks {
            task.abort();
        }
        // An aborted task lets go of what it holds (the app, the store) only when it is
        // dropped: wait for that, so the store is closed when the last `App` goes.
        for task in self.tasks {
            let _ = task.await;
        }
        let app = self.app;
        if let Err(e) = app.gate.flush_usage().await {
            tracing::warn!(error = %e, "could not write last-used times at shutdown");
        }
        if let Err(e) = app
            .gate
            .flush_analytics(app.config.analytics.retention(), &self.retry)
            .await
        {
            tracing::warn!(error = %e, "could not write the last analytics counts at shutdown");
        }
        if let Err(e) = app.gate.flush_recent().await {
            tracing::debug!(error = %e, "could not write the last recent requests at shutdown");
        }
        app.gate.limits().give_back_all().await;
    }
}

/// Writes each key's recent requests every second (when they are kept).
/// Where other replicas' writes go as the store follows them: the gate's cache, and the
/// management layer's copy of everyone's keys (read again at once, not after its 5 s).
struct Followers(Arc<App>);

impl crate::store::Invalidate for Followers {
    fn forget(&self, hash: &crate::token::KeyHash) {
        self.0.keys.changed_elsewhere();
        self.0.gate.forget(hash);
    }

    fn forget_all(&self) {
        self.0.keys.changed_elsewhere();
        self.0.gate.forget_all();
    }

    fn trust(&self, trusted: bool) {
        // Following again: a write may have been missed meanwhile.
        if trusted {
            self.0.keys.changed_elsewhere();
        }
        crate::store::Invalidate::trust(&*self.0.gate, trusted);
    }

    fn drop_leases(&self, slot: &str, epoch: u64) {
        crate::store::Invalidate::drop_leases(&*self.0.gate, slot, epoch);
    }

    fn permissions_changed(&self) {
        crate::store::Invalidate::permissions_changed(&*self.0.gate);
    }
}

async fn flush_recent(app: Arc<App>) {
    if app.gate.recent().is_none() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = app.gate.flush_recent().await {
            tracing::debug!(error = %e, "recent requests not written; dropped");
        }
    }
}

/// Writes analytics tallies every `analytics.flush_secs` (sooner when they fill up), and
/// drops buckets past their retention once an hour.
async fn flush_analytics(
    app: Arc<App>,
    retry: Arc<std::sync::Mutex<Vec<crate::analytics::UsageAdd>>>,
) {
    let Some(tally) = app.gate.tally() else {
        return;
    };
    let every = Duration::from_secs(app.config.analytics.flush_secs);
    let retention = app.config.analytics.retention();
    // The first flush one period after start: there is nothing to write before.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = tally.full.notified() => {}
        }
        if let Err(e) = app.gate.flush_analytics(retention, &retry).await {
            tracing::debug!(error = %e, "analytics flush failed; will retry");
        }
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = tokio::time::Instant::now();
            match app
                .keys
                .store()
                .prune_usage(app.clock.now_ms(), retention)
                .await
            {
                Ok(n) if n > 0 => tracing::info!(
                    removed = n,
                    "dropped analytics buckets past their retention"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not drop old analytics buckets"),
            }
        }
    }
}

/// Gives back usage leases left idle (other replicas may need them).
async fn sweep_limits(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        app.gate.limits().sweep().await;
        // Ended windows of counters nobody uses any more (the embedded store keeps them).
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = tokio::time::Instant::now();
            if let Err(e) = app.keys.store().prune_windows(app.clock.now_ms()).await {
                tracing::warn!(error = %e, "could not drop ended rate-limit windows");
            }
        }
    }
}

async fn flush_usage(app: Arc<App>) {
    let every = Duration::from_secs(app.config.last_used_flush_secs);
    // The first flush one period after start: there is nothing to write before.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = app.gate.usage().full.notified() => {}
        }
        if let Err(e) = app.gate.flush_usage().await {
            tracing::debug!(error = %e, "last-used flush failed; will retry");
        }
    }
}
