//! The events service (DESIGN §1, "events"): management and the gate write events to a
//! durable outbox in the store ([`crate::store::EventPort`], implemented here), and a
//! background worker delivers them as Standard Webhooks to the registered endpoints,
//! at least once, retrying with backoff for about a day, keeping every attempt.
//!
//! Layout: [`endpoint`] (the endpoints and their secrets), [`sign`] (signatures),
//! [`guard`] (which addresses a webhook may reach), [`delivery`] (a delivery and its
//! attempts), [`deliver`] (the worker), [`github`] (the signatures of GitHub's
//! leaked-key reports), and this file: the service's face — emitting,
//! managing endpoints, listing and replaying deliveries.
//!
//! A service beside `manage` and `decide`: neither imports it; they reach it through
//! the port. It imports only the store and the vocabulary.

pub mod deliver;
pub mod delivery;
pub mod endpoint;
pub mod github;
pub mod guard;
pub mod sign;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::clock::{Clock, Timestamp};
use crate::model::event::{Envelope, OutboxEvent};
use crate::store::{EventPort, SharedStore, StoreError};
pub use delivery::{Attempt, Delivery, DeliveryState};
pub use endpoint::{Endpoint, Secret};

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no webhook endpoint with that id")]
    NotFound,
    #[error("no delivery with that id")]
    DeliveryNotFound,
    #[error("there are {0} webhook endpoints already, the most allowed (events.max_endpoints)")]
    TooMany(usize),
    #[error("{0}")]
    Store(String),
    #[error(transparent)]
    Unavailable(StoreError),
}

impl EventsError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        EventsError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<StoreError> for EventsError {
    fn from(e: StoreError) -> Self {
        EventsError::Unavailable(e)
    }
}

/// The settings of delivery, resolved from `[events]`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub enabled: bool,
    pub allow_private: bool,
    pub timeout: Duration,
    pub retry_waits: Vec<Duration>,
    pub disable_after: Duration,
    pub concurrency: usize,
    pub max_endpoints: usize,
    /// How long a claim of an outbox event or a delivery lasts before another replica
    /// may take it over.
    pub lease: Duration,
    /// How often the worker looks for work when nothing wakes it.
    pub poll: Duration,
}

impl Settings {
    pub fn from_config(c: &crate::config::EventsConfig) -> Result<Self, String> {
        let timeout = Duration::from_secs(c.timeout_secs);
        Ok(Settings {
            enabled: c.enabled,
            allow_private: c.allow_private_addresses,
            timeout,
            retry_waits: c.retry_waits()?,
            disable_after: c.disable_after()?,
            concurrency: c.concurrency,
            max_endpoints: c.max_endpoints,
            lease: timeout + Duration::from_secs(30),
            poll: Duration::from_millis(500),
        })
    }
}

/// Counts for `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub emitted: AtomicU64,
    pub emit_failed: AtomicU64,
    pub delivered: AtomicU64,
    pub attempts_failed: AtomicU64,
    pub given_up: AtomicU64,
}

impl Counters {
    /// The Prometheus text of these counts, and the outbox's length when known.
    pub fn render(&self, out: &mut String, outbox: Option<u64>) {
        use std::fmt::Write;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP keygate_events_total Events written to the outbox (failed: could not be written).\n# TYPE keygate_events_total counter\nkeygate_events_total{{result=\"written\"}} {}\nkeygate_events_total{{result=\"failed\"}} {}",
            n(&self.emitted),
            n(&self.emit_failed)
        );
        let _ = writeln!(
            out,
            "# HELP keygate_webhook_attempts_total Webhook delivery attempts by this keygate, by result (failed: to be retried; given_up: the last one, or the endpoint is gone).\n# TYPE keygate_webhook_attempts_total counter\nkeygate_webhook_attempts_total{{result=\"delivered\"}} {}\nkeygate_webhook_attempts_total{{result=\"failed\"}} {}\nkeygate_webhook_attempts_total{{result=\"given_up\"}} {}",
            n(&self.delivered),
            n(&self.attempts_failed),
            n(&self.given_up)
        );
        if let Some(len) = outbox {
            let _ = writeln!(
                out,
                "# HELP keygate_events_outbox Events in the outbox not yet fanned out to endpoints.\n# TYPE keygate_events_outbox gauge\nkeygate_events_outbox {len}"
            );
        }
    }
}

/// The events service.
pub struct Events {
    store: SharedStore,
    clock: Clock,
    settings: Settings,
    client: reqwest::Client,
    /// Wakes the worker when this process wrote an event or changed a delivery.
    wake: tokio::sync::Notify,
    /// This process, as an outbox consumer.
    consumer: String,
    /// This process changed the endpoints: the worker reads them again.
    endpoints_changed: std::sync::atomic::AtomicBool,
    pub counters: Counters,
}

/// An endpoint as the API shows it: no secret, a hint of the newest.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub description: String,
    /// Event types or families (`key.*`); empty: every type.
    pub event_types: Vec<String>,
    /// Only events about these owners' keys; empty: every owner.
    pub owners: Vec<String>,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failing_since: Option<Timestamp>,
    /// The start of the newest secret (`whsec_AbCd…`).
    pub secret_hint: String,
    /// How many secrets sign now (2 during a rotation's overlap).
    pub signing_secrets: usize,
    /// During a rotation's overlap: until when the previous secret signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_until: Option<Timestamp>,
}

/// What may change in an endpoint; `None` leaves it.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub owners: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// A new endpoint.
#[derive(Clone, Debug, Default)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub owners: Vec<String>,
}

impl Events {
    pub fn new(store: SharedStore, clock: Clock, settings: Settings) -> Result<Self, String> {
        let client = guard::client(settings.allow_private, settings.timeout)
            .map_err(|e| format!("the webhook client: {e}"))?;
        let consumer = format!(
            "{}-{}",
            std::process::id(),
            crate::token::random_base62(8).map_err(|e| e.to_string())?
        );
        Ok(Events {
            store,
            clock,
            settings,
            client,
            wake: tokio::sync::Notify::new(),
            consumer,
            endpoints_changed: Default::default(),
            counters: Counters::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Writes one event to the outbox; returns its id.
    pub async fn write(
        &self,
        kind: &str,
        owner: Option<&str>,
        data: &serde_json::Value,
    ) -> Result<String, EventsError> {
        let at = self.clock.now();
        let id = crate::token::random_base62(22)
            .map(|r| format!("evt_{r}"))
            .map_err(|e| EventsError::Store(e.to_string()))?;
        let body = serde_json::to_string(&Envelope {
            kind,
            timestamp: at,
            data,
        })
        .map_err(|e| EventsError::Store(e.to_string()))?;
        let stored = OutboxEvent {
            id: id.clone(),
            kind: kind.to_owned(),
            owner: owner.map(str::to_owned),
            at,
            body,
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| EventsError::Store(e.to_string()))?;
        self.store.push_events(&[bytes]).await?;
        self.counters.emitted.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
        Ok(id)
    }

    /// The endpoints changed here: the worker reads them before its next step.
    fn changed(&self) {
        self.endpoints_changed.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    fn view(&self, e: &Endpoint) -> EndpointView {
        let now = self.clock.now();
        EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: e.event_types.clone(),
            owners: e.owners.clone(),
            disabled: e.disabled,
            disabled_reason: e.disabled_reason.clone(),
            created_at: e.created_at,
            failing_since: e.failing_since,
            secret_hint: e
                .secrets
                .first()
                .map(|s| sign::hint(&s.value))
                .unwrap_or_default(),
            signing_secrets: e.signing_secrets(now).count(),
            previous_secret_until: e
                .secrets
                .iter()
                .skip(1)
                .filter_map(|s| s.until)
                .filter(|u| *u > now)
                .max(),
        }
    }

    pub async fn endpoints(&self) -> Result<Vec<EndpointView>, EventsError> {
        let (eps, _) = endpoint::load(&self.store).await?;
        Ok(eps.endpoints.iter().map(|e| self.view(e)).collect())
    }

    pub async fn endpoint(&self, id: &str) -> Result<EndpointView, EventsError> {
        let (eps, _) = endpoint::load(&self.store).await?;
        eps.endpoints
            .iter()
            .find(|e| e.id == id)
            .map(|e| self.view(e))
            .ok_or(EventsError::NotFound)
    }

    fn check_url(&self, url: &str) -> Result<(), EventsError> {
        guard::check_url(url, self.settings.allow_private)
            .map(|_| ())
            .map_err(|m| EventsError::invalid("url", m))
    }

    fn check_description(d: &str) -> Result<(), EventsError> {
        if d.chars().count() > endpoint::MAX_DESCRIPTION
            || !d.chars().all(crate::model::text::allowed_char)
        {
            return Err(EventsError::invalid(
                "description",
                format!(
                    "at most {} characters, without control or invisible characters",
                    endpoint::MAX_DESCRIPTION
                ),
            ));
        }
        Ok(())
    }

    /// Registers an endpoint; returns it and its secret (shown this once).
    pub async fn create(&self, n: NewEndpoint) -> Result<(EndpointView, String), EventsError> {
        self.check_url(&n.url)?;
        Self::check_description(&n.description)?;
        endpoint::check_filters(&n.event_types, &n.owners)?;
        let now = self.clock.now();
        let secret = endpoint::new_secret(now)?;
        let value = secret.value.clone();
        let ep = Endpoint {
            id: endpoint::new_id()?,
            url: n.url,
            description: n.description,
            event_types: n.event_types,
            owners: n.owners,
            disabled: false,
            disabled_reason: None,
            created_at: now,
            failing_since: None,
            secrets: vec![secret],
        };
        let max = self.settings.max_endpoints;
        let made = endpoint::change(&self.store, |eps| {
            if eps.endpoints.len() >= max {
                return Err(EventsError::TooMany(max));
            }
            eps.endpoints.push(ep.clone());
            Ok(ep.clone())
        })
        .await?;
        self.changed();
        Ok((self.view(&made), value))
    }

    pub async fn update(&self, id: &str, p: EndpointPatch) -> Result<EndpointView, EventsError> {
        if let Some(u) = &p.url {
            self.check_url(u)?;
        }
        if let Some(d) = &p.description {
            Self::check_description(d)?;
        }
        endpoint::check_filters(
            p.event_types.as_deref().unwrap_or_default(),
            p.owners.as_deref().unwrap_or_default(),
        )?;
        let changed = endpoint::change(&self.store, |eps| {
            let e = eps
                .endpoints
                .iter_mut()
                .find(|e| e.id == id)
                .ok_or(EventsError::NotFound)?;
            if let Some(u) = &p.url {
                e.url.clone_from(u);
            }
            if let Some(d) = &p.description {
                e.description.clone_from(d);
            }
            if let Some(t) = &p.event_types {
                e.event_types.clone_from(t);
            }
            if let Some(o) = &p.owners {
                e.owners.clone_from(o);
            }
            if let Some(d) = p.disabled {
                e.disabled = d;
                if !d {
                    e.disabled_reason = None;
                    e.failing_since = None;
                }
            }
            Ok(e.clone())
        })
        .await?;
        self.changed();
        Ok(self.view(&changed))
    }

    pub async fn delete(&self, id: &str) -> Result<(), EventsError> {
        endpoint::change(&self.store, |eps| {
            let before = eps.endpoints.len();
            eps.endpoints.retain(|e| e.id != id);
            if eps.endpoints.len() == before {
                return Err(EventsError::NotFound);
            }
            Ok(())
        })
        .await?;
        self.changed();
        Ok(())
    }

    /// A new secret for an endpoint; the previous ones keep signing for `overlap` (0:
    /// they stop at once). Returns the new secret (shown this once).
    pub async fn rotate_secret(
        &self,
        id: &str,
        overlap: Duration,
    ) -> Result<(EndpointView, String), EventsError> {
        let now = self.clock.now();
        let fresh = endpoint::new_secret(now)?;
        let value = fresh.value.clone();
        let until = now.plus(overlap);
        let changed = endpoint::change(&self.store, |eps| {
            let e = eps
                .endpoints
                .iter_mut()
                .find(|e| e.id == id)
                .ok_or(EventsError::NotFound)?;
            for s in &mut e.secrets {
                s.until = Some(s.until.map_or(until, |u| u.min(until)));
            }
            e.secrets.retain(|s| s.until.is_none_or(|u| u > now));
            e.secrets.insert(0, fresh.clone());
            Ok(e.clone())
        })
        .await?;
        self.changed();
        Ok((self.view(&changed), value))
    }

    /// Sends a `webhook.test` event to one endpoint (whatever its filters say).
    pub async fn test(&self, id: &str) -> Result<Delivery, EventsError> {
        let (eps, _) = endpoint::load(&self.store).await?;
        let ep = eps
            .endpoints
            .iter()
            .find(|e| e.id == id)
            .ok_or(EventsError::NotFound)?;
        let at = self.clock.now();
        let data =
            serde_json::json!({"endpoint_id": ep.id, "message": "a test event from keygate"});
        let event_id = crate::token::random_base62(22)
            .map(|r| format!("evt_{r}"))
            .map_err(|e| EventsError::Store(e.to_string()))?;
        let body = serde_json::to_string(&Envelope {
            kind: "webhook.test",
            timestamp: at,
            data: &data,
        })
        .map_err(|e| EventsError::Store(e.to_string()))?;
        let ev = OutboxEvent {
            id: event_id,
            kind: "webhook.test".into(),
            owner: None,
            at,
            body,
        };
        let d = Delivery::new(&ev, &ep.id, self.clock.now_ms());
        d.save(&self.store, true).await?;
        self.wake.notify_one();
        Ok(d)
    }

    /// An endpoint's deliveries, newest first.
    pub async fn deliveries(
        &self,
        endpoint: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Delivery>, EventsError> {
        self.endpoint(endpoint).await?;
        let cursor = match before {
            Some(id) => {
                let d = self.delivery(id).await?;
                Some((d.created_ms, d.id))
            }
            None => None,
        };
        let rows = self
            .store
            .list_deliveries(
                endpoint,
                cursor.as_ref().map(|(ms, id)| (*ms, id.as_str())),
                limit,
            )
            .await?;
        Ok(rows.iter().filter_map(|b| Delivery::decode(b)).collect())
    }

    pub async fn delivery(&self, id: &str) -> Result<Delivery, EventsError> {
        let raw = self
            .store
            .get_delivery(id)
            .await?
            .ok_or(EventsError::DeliveryNotFound)?;
        Delivery::decode(&raw)
            .ok_or_else(|| EventsError::Store("the delivery does not decode".into()))
    }

    /// Sends a delivery again now, whatever became of it (the same event id and body:
    /// receivers that deduplicate by `webhook-id` see a repeat).
    pub async fn replay(&self, id: &str) -> Result<Delivery, EventsError> {
        let mut d = self.delivery(id).await?;
        d.state = DeliveryState::Pending;
        d.next_attempt_at_ms = Some(self.clock.now_ms());
        d.replays += 1;
        d.replay_pending = true;
        d.tries = 0;
        d.save(&self.store, false).await?;
        self.wake.notify_one();
        Ok(d)
    }

    /// Events in the outbox not yet fanned out.
    pub async fn backlog(&self) -> Result<u64, EventsError> {
        Ok(self.store.outbox_len().await?)
    }
}

#[async_trait]
impl EventPort for Events {
    async fn emit(&self, kind: &'static str, owner: Option<&str>, data: serde_json::Value) {
        if !self.settings.enabled {
            return;
        }
        if let Err(e) = self.write(kind, owner, &data).await {
            self.counters.emit_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, kind, "could not write an event to the outbox");
        }
    }
}

/// The events service as the port others hold.
pub fn port(events: &Arc<Events>) -> Arc<dyn EventPort> {
    events.clone()
}
