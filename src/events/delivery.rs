//! A delivery: one event to one endpoint, with every attempt made (status, time, an
//! excerpt of the answer) and when the next is due.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::model::event::OutboxEvent;
use crate::store::SharedStore;
use crate::store::events::DeliveryRow;

/// Attempts kept per delivery (the oldest go first; replays add more).
pub const ATTEMPTS_KEPT: usize = 30;
/// Bytes of an answer kept with its attempt.
pub const EXCERPT_BYTES: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// An attempt is due (or running).
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: retries exhausted, the endpoint disabled or deleted.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The HTTP status, when an answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// What went wrong without an answer (timeout, refused address, connection), or why
    /// an answer counts as a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the answer's body (at most 512 bytes, as text).
    #[serde(default)]
    pub response: String,
    /// Made because someone asked for a replay.
    #[serde(default)]
    pub replay: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `{event id}.{endpoint id}`.
    pub id: String,
    pub endpoint_id: String,
    /// The `webhook-id` of every attempt.
    pub event_id: String,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When the event happened.
    #[schema(value_type = String, format = DateTime)]
    pub event_at: Timestamp,
    /// When the delivery was made (unix ms; the order of an endpoint's list).
    pub created_ms: i64,
    pub state: DeliveryState,
    /// When the next attempt is due (unix ms), while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at_ms: Option<i64>,
    /// Attempts made, oldest first (the last 30).
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Scheduled attempts made since the last success or replay (the retry schedule's
    /// position).
    #[serde(default)]
    pub tries: u32,
    /// How many times it was replayed.
    #[serde(default)]
    pub replays: u32,
    /// Set by a replay: the next attempt is one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay_pending: bool,
    /// The exact body sent (the Standard Webhooks envelope, JSON).
    pub payload: String,
}

impl Delivery {
    /// A delivery of `ev` to `endpoint`, due now.
    pub fn new(ev: &OutboxEvent, endpoint: &str, now_ms: i64) -> Self {
        Delivery {
            id: format!("{}.{endpoint}", ev.id),
            endpoint_id: endpoint.to_owned(),
            event_id: ev.id.clone(),
            event_type: ev.kind.clone(),
            owner: ev.owner.clone(),
            event_at: ev.at,
            created_ms: now_ms,
            state: DeliveryState::Pending,
            next_attempt_at_ms: Some(now_ms),
            attempts: Vec::new(),
            tries: 0,
            replays: 0,
            replay_pending: false,
            payload: ev.body.clone(),
        }
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        serde_json::from_slice(b).ok()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// When the store should next hand it out.
    pub fn due_ms(&self) -> Option<i64> {
        match self.state {
            DeliveryState::Pending => self.next_attempt_at_ms,
            _ => None,
        }
    }

    pub fn push_attempt(&mut self, a: Attempt) {
        self.attempts.push(a);
        if self.attempts.len() > ATTEMPTS_KEPT {
            let extra = self.attempts.len() - ATTEMPTS_KEPT;
            self.attempts.drain(..extra);
        }
    }

    /// Writes it (`only_new`: unless one with its id exists).
    pub async fn save(
        &self,
        store: &SharedStore,
        only_new: bool,
    ) -> Result<(), crate::store::StoreError> {
        let body = self.encode();
        let row = DeliveryRow {
            id: &self.id,
            endpoint: &self.endpoint_id,
            created_ms: self.created_ms,
            due_ms: self.due_ms(),
            body: &body,
        };
        if only_new {
            store.add_deliveries(&[row]).await.map(|_| ())
        } else {
            store.put_deliveries(&[row]).await
        }
    }
}

/// The start of an answer's body as text.
pub fn excerpt(body: &[u8]) -> String {
    let cut = body.len().min(EXCERPT_BYTES);
    String::from_utf8_lossy(&body[..cut]).into_owned()
}
