//! Webhook endpoints: where events go, which ones, and the secrets they are signed
//! with. Kept as one document in the store's meta values (a handful of endpoints,
//! changed rarely), each change a compare-and-swap so replicas never lose one another's.

use serde::{Deserialize, Serialize};

use super::{EventsError, sign};
use crate::clock::Timestamp;
use crate::model::event::known_filter;
use crate::store::SharedStore;

/// The meta entry holding every endpoint.
pub const ENDPOINTS_META: &str = "webhooks";

/// Most event-type filters and owners one endpoint may name.
pub const MAX_FILTERS: usize = 64;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 500;

/// An endpoint as stored (with its secrets).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// Event types (`key.revoked`) or families (`key.*`); empty: every type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Only events about these owners' keys; empty: every owner's (and events about no
    /// owner).
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Why it was disabled, when keygate did it (410 Gone, failing for days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
    /// Since when every delivery has failed (cleared by a success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    /// Newest first; the older ones until their `until` (a rotation's overlap).
    pub secrets: Vec<Secret>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Secret {
    pub value: String,
    pub created_at: Timestamp,
    /// Signs until then (set when a newer secret replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl Endpoint {
    /// The secrets that sign at `now`.
    pub fn signing_secrets(&self, now: Timestamp) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .filter(move |s| s.until.is_none_or(|u| u > now))
            .map(|s| s.value.as_str())
    }

    /// Whether an event of `kind` about `owner` goes here.
    pub fn wants(&self, kind: &str, owner: Option<&str>) -> bool {
        !self.disabled
            && crate::model::event::wanted(&self.event_types, kind)
            && (self.owners.is_empty() || owner.is_some_and(|o| self.owners.iter().any(|x| x == o)))
    }
}

/// Every endpoint, as stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Endpoints {
    pub endpoints: Vec<Endpoint>,
}

/// Reads the endpoints (none when nothing is stored).
pub async fn load(store: &SharedStore) -> Result<(Endpoints, Option<Vec<u8>>), EventsError> {
    let raw = store.get_meta(ENDPOINTS_META).await?;
    let parsed = match &raw {
        Some(b) => serde_json::from_slice(b).map_err(|e| {
            EventsError::Store(format!("the stored webhook endpoints do not decode: {e}"))
        })?,
        None => Endpoints::default(),
    };
    Ok((parsed, raw))
}

/// Applies `change` to the stored endpoints atomically (again from a fresh read when
/// another replica wrote meanwhile); returns what `change` returned.
pub async fn change<T>(
    store: &SharedStore,
    mut change: impl FnMut(&mut Endpoints) -> Result<T, EventsError>,
) -> Result<T, EventsError> {
    for _ in 0..20 {
        let (mut eps, raw) = load(store).await?;
        let out = change(&mut eps)?;
        let bytes = serde_json::to_vec(&eps).map_err(|e| EventsError::Store(e.to_string()))?;
        if store
            .swap_meta(ENDPOINTS_META, raw.as_deref(), &bytes)
            .await?
        {
            return Ok(out);
        }
    }
    Err(EventsError::Store(
        "the webhook endpoints changed too often to apply this change; try again".into(),
    ))
}

/// Checks the filters and owners of an endpoint.
pub fn check_filters(event_types: &[String], owners: &[String]) -> Result<(), EventsError> {
    if event_types.len() > MAX_FILTERS {
        return Err(EventsError::invalid(
            "event_types",
            format!("at most {MAX_FILTERS}"),
        ));
    }
    if let Some(bad) = event_types.iter().find(|t| !known_filter(t)) {
        return Err(EventsError::invalid(
            "event_types",
            format!("{bad:?} is not an event type (GET /api/webhooks/types lists them)"),
        ));
    }
    if owners.len() > MAX_FILTERS {
        return Err(EventsError::invalid(
            "owners",
            format!("at most {MAX_FILTERS}"),
        ));
    }
    for o in owners {
        crate::model::text::validate_owner(o)
            .map_err(|e| EventsError::invalid("owners", format!("{o:?}: {}", e.message)))?;
    }
    Ok(())
}

/// A new endpoint's id.
pub fn new_id() -> Result<String, EventsError> {
    crate::token::random_base62(16)
        .map(|r| format!("ep_{r}"))
        .map_err(|e| EventsError::Store(e.to_string()))
}

/// A new secret, as stored.
pub fn new_secret(now: Timestamp) -> Result<Secret, EventsError> {
    Ok(Secret {
        value: sign::new_secret().map_err(|e| EventsError::Store(e.to_string()))?,
        created_at: now,
        until: None,
    })
}
