//! Audit events: one management change each, kept in the store (DESIGN §3), and the
//! query that lists them. Vocabulary: imports nothing but ids and time.

use serde::{Deserialize, Serialize};

use super::record::TokenId;
use crate::clock::Timestamp;

/// One management change, kept in the store (DESIGN §3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Assigned by the store, increasing; the paging cursor.
    #[serde(default)]
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Who: an OIDC subject, `admin` (admin key) or `cli`.
    pub actor: String,
    /// How they proved it: `oidc`, `admin-key`, `cli`.
    pub auth: String,
    /// `create`, `update`, `disable`, `enable`, `rotate`, `delete`, `import`.
    pub action: String,
    pub owner: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub token_id: Option<TokenId>,
    /// The caller's address, when the change came over HTTP.
    #[serde(default)]
    pub client: Option<String>,
    /// The key's name at the time (absent for events about an owner or an import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What an update changed, field by field (never a key or a hash).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AuditChange>,
}

/// One field an update changed: its values before and after, as text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditChange {
    pub field: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

/// Which audit events to list: newest first, filtered, paged by `before`.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub owner: Option<String>,
    pub actor: Option<String>,
    pub token_id: Option<TokenId>,
    /// Only events with `seq` below this.
    pub before: Option<u64>,
    pub limit: usize,
    pub action: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
}

impl AuditQuery {
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.before.is_none_or(|b| e.seq < b)
            && self.action.as_ref().is_none_or(|a| *a == e.action)
            && self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at < t)
            && self.owner.as_ref().is_none_or(|o| *o == e.owner)
            && self.actor.as_ref().is_none_or(|a| *a == e.actor)
            && self
                .token_id
                .as_ref()
                .is_none_or(|t| e.token_id.as_ref() == Some(t))
    }
}

/// Audit events kept at most (the oldest are dropped beyond this).
pub const AUDIT_MAX: u64 = 100_000;

/// Audit events kept at most about one owner's keys: beyond this, that owner's oldest
/// event is dropped, so one user changing their keys in a loop only ever pushes out
/// their own history, never other people's (it takes more than
/// `AUDIT_MAX / AUDIT_MAX_PER_OWNER` busy owners to reach the global limit).
pub const AUDIT_MAX_PER_OWNER: usize = 1000;
