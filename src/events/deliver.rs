//! The delivery worker: fans outbox events out into deliveries, makes the attempts that
//! are due (at most `events.concurrency` at once, as futures of one task), writes their
//! outcomes in batches,
//! schedules retries with backoff and jitter, and disables endpoints that answer
//! `410 Gone` or have failed for `events.disable_after`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::time::Duration;

use super::delivery::{Attempt, Delivery, DeliveryState, excerpt};
use super::endpoint::{self, Endpoint, Endpoints};
use super::{Events, EventsError, sign};
use crate::model::event::OutboxEvent;
use crate::store::events::DeliveryRow;

/// Events fanned out per claim.
const FAN_BATCH: usize = 256;
/// Bytes of an answer read at most (the rest is dropped with the connection).
const READ_AT_MOST: usize = 64 * 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

impl Events {
    /// Runs the worker until the task is dropped. One task: the attempts in flight are
    /// futures it owns (at most `events.concurrency`), so dropping it at shutdown ends
    /// every one of them at once and nothing else holds the store.
    pub async fn run(self: Arc<Self>) {
        if !self.settings.enabled {
            return;
        }
        let mut in_flight = FuturesUnordered::new();
        let mut endpoints = Cache::default();
        let mut done = Vec::new();
        loop {
            let mut busy = false;
            match self.fan_out(&mut endpoints).await {
                Ok(n) => busy |= n == FAN_BATCH,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the events outbox; will retry")
                }
            }
            let free = self.settings.concurrency.saturating_sub(in_flight.len());
            // Claim in batches (a store write each), not one per finished attempt.
            if free > 0 && (in_flight.is_empty() || free >= self.settings.concurrency / 2) {
                match self.claim_due(&mut endpoints, free).await {
                    Ok(started) => {
                        busy |= started.len() == free;
                        in_flight.extend(started);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read due webhook deliveries; will retry")
                    }
                }
            }
            tokio::select! {
                Some(d) = in_flight.next(), if !in_flight.is_empty() => {
                    done.push(d);
                    // Everything else already finished goes in the same write.
                    while let Some(Some(d)) = in_flight.next().now_or_never() {
                        done.push(d);
                    }
                    self.record(&mut done).await;
                }
                () = self.wake.notified(), if !busy => {}
                () = tokio::time::sleep(self.settings.poll), if !busy => {}
                () = std::future::ready(()), if busy => {}
            }
        }
    }

    /// Claims up to `free` due deliveries; returns their attempts, to be run.
    async fn claim_due(
        self: &Arc<Self>,
        cache: &mut Cache,
        free: usize,
    ) -> Result<Vec<impl std::future::Future<Output = Delivery> + use<>>, EventsError> {
        let lease = i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX);
        let due = self
            .store
            .claim_deliveries(self.clock.now_ms(), lease, free)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let eps = cache.get(self).await?;
        let mut out = Vec::with_capacity(due.len());
        for raw in due {
            let Some(d) = Delivery::decode(&raw) else {
                tracing::warn!("skipped a webhook delivery that does not decode");
                continue;
            };
            let ep = eps
                .endpoints
                .iter()
                .find(|e| e.id == d.endpoint_id)
                .cloned();
            let (me, cache) = (self.clone(), cache.clone());
            out.push(async move {
                let endpoint_id = d.endpoint_id.clone();
                let (d, outcome) = me.attempt(d, ep).await;
                let c = &me.counters;
                match (outcome, d.state) {
                    (Outcome::Delivered, _) => c.delivered.fetch_add(1, Ordering::Relaxed),
                    (_, DeliveryState::Failed) => c.given_up.fetch_add(1, Ordering::Relaxed),
                    _ => c.attempts_failed.fetch_add(1, Ordering::Relaxed),
                };
                if outcome != Outcome::Skipped {
                    me.after(&endpoint_id, outcome, &cache).await;
                }
                d
            });
        }
        Ok(out)
    }

    /// Writes finished attempts back in one store write (retried a few times: one not
    /// written is attempted again when its lease ends — at least once — so retrying
    /// here only saves a repeat).
    async fn record(&self, done: &mut Vec<Delivery>) {
        let bodies: Vec<Vec<u8>> = done.iter().map(Delivery::encode).collect();
        let rows: Vec<DeliveryRow> = done
            .iter()
            .zip(&bodies)
            .map(|(d, b)| DeliveryRow {
                id: &d.id,
                endpoint: &d.endpoint_id,
                created_ms: d.created_ms,
                due_ms: d.due_ms(),
                body: b,
            })
            .collect();
        let mut wait = Duration::from_millis(100);
        for _ in 0..5 {
            match self.store.put_deliveries(&rows).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not record webhook attempts; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        drop(rows);
        done.clear();
    }

    /// Claims outbox events and makes one delivery per endpoint that wants each; returns
    /// how many events were claimed.
    async fn fan_out(&self, endpoints: &mut Cache) -> Result<usize, EventsError> {
        let lease = u64::try_from(self.settings.lease.as_millis()).unwrap_or(u64::MAX);
        let claimed = self
            .store
            .claim_events(&self.consumer, FAN_BATCH, self.clock.now_ms(), lease)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let eps = endpoints.get(self).await?;
        let now = self.clock.now_ms();
        let mut made = Vec::new();
        for (tag, bytes) in &claimed {
            let Ok(ev) = serde_json::from_slice::<OutboxEvent>(bytes) else {
                tracing::warn!(tag, "dropped an outbox entry that does not decode");
                continue;
            };
            for ep in eps
                .endpoints
                .iter()
                .filter(|e| e.wants(&ev.kind, ev.owner.as_deref()))
            {
                made.push(Delivery::new(&ev, &ep.id, now));
            }
        }
        let bodies: Vec<Vec<u8>> = made.iter().map(Delivery::encode).collect();
        let rows: Vec<DeliveryRow> = made
            .iter()
            .zip(&bodies)
            .map(|(d, b)| DeliveryRow {
                id: &d.id,
                endpoint: &d.endpoint_id,
                created_ms: d.created_ms,
                due_ms: d.due_ms(),
                body: b,
            })
            .collect();
        for chunk in rows.chunks(FAN_BATCH) {
            self.store.add_deliveries(chunk).await?;
        }
        let tags: Vec<String> = claimed.into_iter().map(|(t, _)| t).collect();
        self.store.ack_events(&tags).await?;
        Ok(tags.len())
    }

    /// Makes one attempt of `d` to `ep` and decides what comes next.
    async fn attempt(&self, mut d: Delivery, ep: Option<Endpoint>) -> (Delivery, Outcome) {
        let replay = std::mem::take(&mut d.replay_pending);
        let now = self.clock.now();
        // A replay or a test is an administrator's explicit ask: sent even to a disabled one.
        let asked = replay || d.event_type == "webhook.test";
        let Some(ep) = ep.filter(|e| !e.disabled || asked) else {
            d.state = DeliveryState::Failed;
            d.next_attempt_at_ms = None;
            d.push_attempt(Attempt {
                at: now,
                status: None,
                duration_ms: 0,
                error: Some("not sent: the endpoint is disabled or was deleted".into()),
                response: String::new(),
                replay,
            });
            return (d, Outcome::Skipped);
        };
        let started = tokio::time::Instant::now();
        let (status, error, response, retry_after) = self.send(&ep, &d, now.unix()).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        let error = match (status, error) {
            (_, Some(e)) => Some(e),
            (Some(s), None) if (300..400).contains(&s) => {
                Some("a redirect: webhooks do not follow redirects; register the final URL".into())
            }
            (Some(s), None) if !ok => Some(format!("the endpoint answered {s}")),
            _ => None,
        };
        d.push_attempt(Attempt {
            at: now,
            status,
            duration_ms,
            error,
            response,
            replay,
        });
        if ok {
            d.state = DeliveryState::Delivered;
            d.next_attempt_at_ms = None;
            d.tries = 0;
            return (d, Outcome::Delivered);
        }
        if status == Some(410) {
            d.state = DeliveryState::Failed;
            d.next_attempt_at_ms = None;
            return (d, Outcome::Gone);
        }
        d.tries += 1;
        let waits = &self.settings.retry_waits;
        match waits.get(usize::try_from(d.tries - 1).unwrap_or(usize::MAX)) {
            Some(wait) if !replay || d.tries <= 1 => {
                let wait = jitter(*wait).max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
                d.next_attempt_at_ms = Some(
                    self.clock
                        .now_ms()
                        .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
                );
            }
            _ => {
                d.state = DeliveryState::Failed;
                d.next_attempt_at_ms = None;
            }
        }
        (d, Outcome::Failed)
    }

    /// Sends one attempt: (status, error, body excerpt, Retry-After).
    async fn send(
        &self,
        ep: &Endpoint,
        d: &Delivery,
        timestamp: i64,
    ) -> (Option<u16>, Option<String>, String, Option<Duration>) {
        let url = match super::guard::check_url(&ep.url, self.settings.allow_private) {
            Ok(u) => u,
            Err(m) => {
                return (
                    None,
                    Some(format!("not sent: the URL {m}")),
                    String::new(),
                    None,
                );
            }
        };
        let signature = sign::signature(
            ep.signing_secrets(self.clock.now()),
            &d.event_id,
            timestamp,
            &d.payload,
        );
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.payload.clone())
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return (None, Some(describe(&e)), String::new(), None),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, self.clock.now().unix()));
        let mut body = Vec::new();
        let mut error = None;
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    body.extend_from_slice(&c[..c.len().min(READ_AT_MOST - body.len())]);
                    if body.len() >= READ_AT_MOST {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The status came; a body cut short does not undo it.
                    error = (!(200..300).contains(&status)).then(|| describe(&e));
                    break;
                }
            }
        }
        (Some(status), error, excerpt(&body), retry_after)
    }

    /// Records what an attempt means for its endpoint: a success clears its failing
    /// state; 410 or failing for `disable_after` disables it (audited).
    async fn after(&self, endpoint_id: &str, outcome: Outcome, cache: &Cache) {
        let now = self.clock.now();
        let failing = cache.failing_since(endpoint_id);
        let disable_after = self.settings.disable_after;
        let reason = match outcome {
            Outcome::Delivered if failing.is_some() => None,
            Outcome::Gone => Some("the endpoint answered 410 Gone".to_owned()),
            Outcome::Failed => match failing {
                None => None,
                Some(since)
                    if now.unix() - since.unix()
                        >= i64::try_from(disable_after.as_secs()).unwrap_or(i64::MAX) =>
                {
                    Some(format!(
                        "every delivery failed for {} (events.disable_after)",
                        humantime::format_duration(disable_after)
                    ))
                }
                Some(_) => return,
            },
            _ => return,
        };
        let id = endpoint_id.to_owned();
        let disabling = reason.clone();
        let changed = endpoint::change(&self.store, |eps| {
            let Some(e) = eps.endpoints.iter_mut().find(|e| e.id == id) else {
                return Ok(false);
            };
            match (&outcome, &disabling) {
                (Outcome::Delivered, _) => e.failing_since = None,
                (_, Some(r)) if !e.disabled => {
                    e.disabled = true;
                    e.disabled_reason = Some(r.clone());
                }
                (_, Some(_)) => return Ok(false),
                (_, None) => {
                    if e.failing_since.is_some() {
                        return Ok(false);
                    }
                    e.failing_since = Some(now);
                }
            }
            Ok(true)
        })
        .await;
        match changed {
            Ok(true) => {
                // The worker reads the endpoints again before its next fan-out.
                self.endpoints_changed.store(true, Ordering::Relaxed);
                if let (Some(r), false) = (reason, matches!(outcome, Outcome::Delivered)) {
                    tracing::warn!(endpoint = endpoint_id, reason = %r, "disabled a webhook endpoint");
                    self.audit_disable(endpoint_id, &r).await;
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not record a webhook endpoint's state"),
        }
    }

    async fn audit_disable(&self, endpoint_id: &str, reason: &str) {
        let event = crate::model::AuditEvent {
            seq: 0,
            at: self.clock.now(),
            actor: "keygate".into(),
            auth: "system".into(),
            action: "webhook_disable".into(),
            owner: String::new(),
            token_id: None,
            client: None,
            name: Some(endpoint_id.to_owned()),
            changes: vec![crate::model::AuditChange {
                field: "disabled".into(),
                from: Some("false".into()),
                to: Some(format!("true ({reason})")),
            }],
        };
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::error!(error = %e, "could not store the audit event of a disabled webhook endpoint");
        }
    }
}

/// What an attempt meant for its endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Failed,
    Gone,
    Skipped,
}

/// The endpoints, read again at most once a second (or when this process changed them).
#[derive(Clone, Default)]
struct Cache {
    held: Option<(tokio::time::Instant, Arc<Endpoints>)>,
}

impl Cache {
    async fn get(&mut self, ev: &Events) -> Result<Arc<Endpoints>, EventsError> {
        let stale = ev.endpoints_changed.swap(false, Ordering::Relaxed);
        if let Some((at, eps)) = &self.held
            && !stale
            && at.elapsed() < Duration::from_secs(1)
        {
            return Ok(eps.clone());
        }
        let (eps, _) = endpoint::load(&ev.store).await?;
        let eps = Arc::new(eps);
        self.held = Some((tokio::time::Instant::now(), eps.clone()));
        Ok(eps)
    }

    fn failing_since(&self, id: &str) -> Option<crate::clock::Timestamp> {
        self.held
            .as_ref()
            .and_then(|(_, eps)| eps.endpoints.iter().find(|e| e.id == id))
            .and_then(|e| e.failing_since)
    }
}

/// A wait stretched or shrunk by up to a fifth, at random.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    if getrandom::fill(&mut b).is_err() {
        return d;
    }
    let r = f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX); // 0..=1
    d.mul_f64(0.8 + 0.4 * r)
}

/// `Retry-After`: seconds, or an HTTP date (IMF-fixdate).
fn retry_after(v: &str, now: i64) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = http_date(v)?;
    Some(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` as unix seconds.
fn http_date(v: &str) -> Option<i64> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, mon, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == mon)? + 1;
    let text = format!("{year}-{m:02}-{:0>2}T{time}Z", day);
    crate::clock::Timestamp::parse(&text).ok().map(|t| t.unix())
}

/// An error from the client, in a few words (no URL repeated, no chain of causes).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut root: &dyn Error = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    format!("{what}: {root}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("120", 0), Some(Duration::from_secs(120)));
        let now = crate::clock::Timestamp::parse("1994-11-06T08:49:00Z")
            .unwrap()
            .unix();
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + 100),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", 0), None);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..200 {
            let j = jitter(Duration::from_secs(100));
            assert!(
                j >= Duration::from_secs(80) && j <= Duration::from_secs(120),
                "{j:?}"
            );
        }
    }
}
