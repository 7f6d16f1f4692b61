//! A key as people see it (CLI, API): the record without its hash, with a status and
//! its live credit balance.

use std::collections::BTreeMap;

use super::LimitsView;
use crate::clock::Timestamp;
use crate::rules::Rule;
use crate::store::{TokenId, TokenRecord};

/// A key as shown to people (CLI, API): the record without its hash, plus a status.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TokenView {
    #[schema(value_type = String)]
    pub id: TokenId,
    pub owner: String,
    pub name: String,
    pub hint: String,
    /// `active`, `disabled`, `expired` or `rotating` (replaced, still in its grace period).
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub created_by: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    pub disabled: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    #[schema(value_type = Vec<crate::rules::Rule>)]
    pub rules: Vec<Rule>,
    pub metadata: BTreeMap<String, String>,
    #[schema(value_type = Option<String>)]
    pub replaces: Option<TokenId>,
    #[schema(value_type = Option<String>)]
    pub replaced_by: Option<TokenId>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub grace_until: Option<Timestamp>,
    /// Rate limits and credits (the owner's shared limits are at `/api/users/{sub}/limits`).
    pub limits: LimitsView,
    /// Roles the key holds itself.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Permissions attached to the key itself (its effective set, with its roles' and
    /// its owner's: `…/tokens/{id}/permissions`).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Whether the key also holds its owner's roles.
    #[serde(default = "yes")]
    pub inherit_owner_roles: bool,
    /// Set when the gate refuses every request with this key now, and why: it is
    /// disabled or expired, or its own or its owner's credits are used up (a rate limit
    /// that runs out and refills within its window is not shown here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_now: Option<RefusedNow>,
    /// The last 24 hours (in lists only): requests, refusals, hour by hour. Figures lag
    /// by up to `analytics.flush_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<crate::analytics::Activity>,
}

/// Why the gate refuses a key now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RefusedNow {
    /// The gate's error code: `unauthorized` (disabled, expired) or `usage_exceeded`.
    pub code: String,
    /// Whose setting: `key` or `owner`.
    pub scope: String,
    pub reason: String,
}

fn yes() -> bool {
    true
}

/// A key's status at `now`: `active`, `disabled`, `expired` or `rotating`.
pub fn status_of(r: &TokenRecord, now: Timestamp) -> &'static str {
    if r.disabled {
        "disabled"
    } else if r.expires_at.is_some_and(|t| t <= now) || r.grace_until.is_some_and(|t| t <= now) {
        "expired"
    } else if r.replaced_by.is_some() {
        "rotating"
    } else {
        "active"
    }
}

impl TokenView {
    /// `balance`: credits left, from [`Keys::balances`].
    pub fn of(r: &TokenRecord, now: Timestamp, balance: Option<u64>) -> Self {
        let status = status_of(r, now);
        TokenView {
            id: r.id.clone(),
            owner: r.owner.clone(),
            name: r.name.clone(),
            hint: r.hint.clone(),
            status: status.to_owned(),
            created_at: r.created_at,
            created_by: r.created_by.clone(),
            expires_at: r.expires_at,
            disabled: r.disabled,
            last_used_at: r.last_used_at,
            rules: r.rules.clone(),
            metadata: r.metadata.clone(),
            replaces: r.replaces.clone(),
            replaced_by: r.replaced_by.clone(),
            grace_until: r.grace_until,
            limits: LimitsView::of(&r.limits, balance),
            roles: r.roles.iter().map(ToString::to_string).collect(),
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
            inherit_owner_roles: r.inherit_owner_roles,
            activity: None,
            refused_now: match status {
                "disabled" | "expired" => Some(RefusedNow {
                    code: "unauthorized".into(),
                    scope: "key".into(),
                    reason: format!("the key is {status}"),
                }),
                _ if balance == Some(0) => Some(RefusedNow {
                    code: "usage_exceeded".into(),
                    scope: "key".into(),
                    reason: "the key's credits are used up".into(),
                }),
                _ => None,
            },
        }
    }

    /// Takes the owner's shared credits into account (`owner_left`: what is left of
    /// them, when the owner has credits).
    pub fn with_owner_credits(mut self, owner_left: Option<u64>) -> Self {
        if self.refused_now.is_none() && owner_left == Some(0) {
            self.refused_now = Some(RefusedNow {
                code: "usage_exceeded".into(),
                scope: "owner".into(),
                reason: format!("{}'s shared credits are used up", self.owner),
            });
        }
        self
    }
}
