//! What the gate notices, told to webhooks: limit refusals and low balances drained
//! from the gate (`decide::notice`, the engine's low-credit watch) with a cooldown that
//! holds across replicas, and a sweep over the keys for `key.expiring` and
//! `key.expired`. Composition: the gate and the events service never import each other;
//! this is where they meet.
//!
//! "Once" is kept by the store's rate-limit windows, a limit of one per window: a
//! cooldown is one use per `limit_cooldown` window; an expiry warning is one use of a
//! window that starts at the key's expiry, so a new expiry date warns again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::App;
use crate::decide::notice::{Notice, NoticeKind};
use crate::limits::Scope;
use crate::store::{EventPort, WindowLease};

/// Whether `key` may fire now: takes the one use of its window (`window_start_ms`,
/// `window_ms`) across replicas. A store error says no (the event could not be written
/// either).
async fn first(app: &App, key: &str, window_start_ms: i64, window_ms: i64) -> bool {
    let now_ms = app.clock.now_ms();
    let lease = WindowLease {
        slot: &format!("ev|{key}"),
        window_start_ms,
        window_ms,
        limit: 1,
        want: 1,
        now_ms,
    };
    matches!(app.keys.store().take_window(&lease).await, Ok(g) if g.granted == 1)
}

/// One use per cooldown window of `key`.
async fn cooled(app: &App, key: &str, cooldown: Duration) -> bool {
    let w = i64::try_from(cooldown.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let now = app.clock.now_ms();
    first(app, key, now - now.rem_euclid(w), w).await
}

fn notice_event(n: &Notice) -> (&'static str, serde_json::Value) {
    let kind = match (n.kind, n.scope) {
        (NoticeKind::RateLimited, Scope::Key) => "ratelimit.exceeded",
        (NoticeKind::RateLimited, Scope::Owner) => "owner.ratelimit.exceeded",
        (NoticeKind::CreditsExhausted, _) => "credits.exhausted",
    };
    let mut data = json!({
        "key": {"id": n.key_id, "owner": n.owner, "name": n.name},
        "scope": n.scope.as_str(),
        "at": crate::clock::Timestamp::from_unix(n.at_ms / 1000),
    });
    if !n.limit.is_empty() {
        data["limit"] = json!(n.limit);
    }
    if let Some(r) = n.retry_after {
        data["retry_after_secs"] = json!(r);
    }
    (kind, data)
}

/// Drains what the gate noticed, about once a second, into events.
pub async fn relay(app: Arc<App>) {
    let Ok(cooldown) = app.config.events.limit_cooldown() else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for n in app.gate.notices().take() {
            let (kind, data) = notice_event(&n);
            let subject = match n.scope {
                Scope::Key => format!("k:{}", n.key_id),
                Scope::Owner => format!("o:{}", n.owner),
            };
            if cooled(&app, &format!("{kind}|{subject}"), cooldown).await {
                app.events.emit(kind, Some(&n.owner), data).await;
            }
        }
        for (slot, left) in app.gate.limits().low_credits().take() {
            if !cooled(&app, &format!("credits.low|{slot}"), cooldown).await {
                continue;
            }
            let threshold = app.config.events.credits_low;
            let (owner, data) = if let Some(owner) = slot.strip_prefix("o:") {
                let data =
                    json!({"owner": owner, "scope": "owner", "left": left, "threshold": threshold});
                (owner.to_owned(), data)
            } else {
                let id = slot.strip_prefix("k:").unwrap_or(&slot);
                let Ok(id) = crate::store::TokenId::parse(id) else {
                    continue;
                };
                let Ok(Some(r)) = app.keys.store().get(&id).await else {
                    continue;
                };
                let data = json!({"key": {"id": r.id, "owner": r.owner, "name": r.name},
                    "scope": "key", "left": left, "threshold": threshold});
                (r.owner, data)
            };
            app.events.emit("credits.low", Some(&owner), data).await;
        }
    }
}

/// Whether any endpoint would take an event of `kind` (so a sweep is worth its reads).
async fn wanted(app: &App, kind: &str) -> bool {
    app.events.endpoints().await.is_ok_and(|eps| {
        eps.iter()
            .any(|e| !e.disabled && crate::model::event::wanted(&e.event_types, kind))
    })
}

/// How far back an expiry is still announced (keygate may have been down when it
/// passed).
const EXPIRED_LOOKBACK: Duration = Duration::from_secs(7 * 86_400);

/// Looks over the keys every `events.expiry_scan` for `key.expiring` (at each of
/// `events.expiry_warnings` before the expiry) and `key.expired`, each once.
pub async fn sweep_expiry(app: Arc<App>) {
    let (Ok(every), Ok(warnings)) = (
        app.config.events.expiry_scan(),
        app.config.events.expiry_warnings(),
    ) else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (warn, expired) = (
            !warnings.is_empty() && wanted(&app, "key.expiring").await,
            wanted(&app, "key.expired").await,
        );
        if !warn && !expired {
            continue;
        }
        let listing = match app.keys.store().list_all().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not look over the keys for expiry events");
                continue;
            }
        };
        let now = app.clock.now();
        for r in listing.records {
            let Some(exp) = r.expires_at else { continue };
            let left = exp.unix() - now.unix();
            let exp_ms = exp.unix().saturating_mul(1000);
            let key = || json!({"id": r.id, "owner": r.owner, "name": r.name, "hint": r.hint, "expires_at": exp});
            if left <= 0 {
                let lookback = i64::try_from(EXPIRED_LOOKBACK.as_secs()).unwrap_or(i64::MAX);
                if expired
                    && -left < lookback
                    && first(
                        &app,
                        &format!("key.expired|{}|{exp_ms}", r.id),
                        exp_ms,
                        lookback * 1000,
                    )
                    .await
                {
                    app.events
                        .emit("key.expired", Some(&r.owner), json!({"key": key()}))
                        .await;
                }
                continue;
            }
            if !warn {
                continue;
            }
            // The nearest warning point passed, only: a key made 2 days before its
            // expiry gets the 1-day warning, not a late 7-day one.
            let due = warnings
                .iter()
                .filter(|w| i64::try_from(w.as_secs()).unwrap_or(i64::MAX) >= left)
                .min();
            if let Some(w) = due {
                let lead = humantime::format_duration(*w).to_string();
                let secs = i64::try_from(w.as_secs()).unwrap_or(i64::MAX);
                if first(
                    &app,
                    &format!("key.expiring|{lead}|{}|{exp_ms}", r.id),
                    exp_ms - secs * 1000,
                    secs * 1000,
                )
                .await
                {
                    let data = json!({"key": key(), "expires_in_secs": left, "warning": lead});
                    app.events.emit("key.expiring", Some(&r.owner), data).await;
                }
            }
        }
    }
}
