//! Events: what keygate tells webhook endpoints, as the Standard Webhooks 1.0 envelope
//! (`{type, timestamp, data}`), and the catalogue of event types. Vocabulary: imports
//! nothing but time.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Every event type keygate sends, with what it means (the API's `/api/webhooks/types`,
/// the docs, and the check of an endpoint's filter).
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("key.created", "a key was created"),
    (
        "key.updated",
        "a key's settings changed (name, expiry, rules, metadata, limits, roles)",
    ),
    (
        "key.rotated",
        "a key was rotated: a new key replaces it (the old one works until its grace ends)",
    ),
    ("key.disabled", "a key was disabled"),
    ("key.enabled", "a disabled key was enabled again"),
    (
        "key.revoked",
        "a key was revoked: deleted, refused from now on",
    ),
    (
        "key.deleted",
        "a key's record was removed without a revoke (a damaged record cleaned up)",
    ),
    (
        "key.leaked",
        "a key was reported leaked (GitHub secret scanning or an administrator); leaks.action was taken",
    ),
    (
        "key.expiring",
        "a key expires soon (sent at each of events.expiry_warnings before, once)",
    ),
    (
        "key.expired",
        "a key's expiry passed; it is refused from now on",
    ),
    (
        "ratelimit.exceeded",
        "a key's own rate limit refused a request (at most once per events.limit_cooldown)",
    ),
    (
        "owner.ratelimit.exceeded",
        "an owner's shared rate limit refused a request of one of their keys",
    ),
    (
        "credits.low",
        "a key's or owner's credits fell to events.credits_low or below",
    ),
    (
        "credits.exhausted",
        "a request was refused because the key's or owner's credits are used up",
    ),
    (
        "webhook.test",
        "a test event an administrator sent to one endpoint",
    ),
];

/// Whether `filter` (an event type, or a family such as `key.*`) names a known type.
pub fn known_filter(filter: &str) -> bool {
    match filter.strip_suffix(".*") {
        Some(family) => EVENT_TYPES
            .iter()
            .any(|(t, _)| t.split_once('.').is_some_and(|(f, _)| f == family)),
        None => EVENT_TYPES.iter().any(|(t, _)| *t == filter),
    }
}

/// Whether an event of type `kind` passes `filters` (none: every type).
pub fn wanted(filters: &[String], kind: &str) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| match f.strip_suffix(".*") {
            Some(family) => kind
                .strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('.')),
            None => f == kind,
        })
}

/// An event as written to the outbox: its id (the `webhook-id` of every delivery of it),
/// type, owner (for endpoints filtered by owner) and the exact body sent — serialized
/// once, so every attempt and replay signs the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub at: Timestamp,
    /// `{"type": …, "timestamp": …, "data": …}`.
    pub body: String,
}

/// The body of every webhook (Standard Webhooks 1.0).
#[derive(Serialize)]
pub struct Envelope<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub timestamp: Timestamp,
    pub data: &'a serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_types_and_families() {
        assert!(wanted(&[], "key.created"));
        let f = vec!["key.*".to_owned()];
        assert!(wanted(&f, "key.created"));
        assert!(!wanted(&f, "keys.created"));
        assert!(!wanted(&f, "credits.low"));
        let f = vec!["key.revoked".to_owned()];
        assert!(wanted(&f, "key.revoked"));
        assert!(!wanted(&f, "key.rotated"));
        assert!(known_filter("key.*"));
        assert!(known_filter("key.revoked"));
        assert!(!known_filter("key.exploded"));
        assert!(!known_filter("nope.*"));
        assert!(!known_filter("*"));
    }
}
