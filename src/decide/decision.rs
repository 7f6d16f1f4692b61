//! What a decision is: the outcome, why a request was refused, and how it was reached.

use std::sync::Arc;

use super::Known;
use crate::limits::Exceeded;
use crate::limits::engine::Report;

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deny {
    /// 401: no usable key. The message is safe to show to the client.
    Unauthenticated(&'static str),
    /// 403: a good key, but its rules do not allow this request.
    Forbidden,
    /// 429: too many failed attempts from this address; retry after this many seconds.
    Throttled(u64),
    /// 503: the store could not be asked.
    Unavailable,
    /// 429: a usage limit of the key or its owner is used up.
    Limited(Exceeded),
    /// 403: a good key, without a permission this request requires (which ones:
    /// [`Decision::missing`]).
    Insufficient,
}

pub enum Outcome {
    Allow(Arc<Known>),
    Deny(Deny),
}

/// The answer and how it was reached.
pub struct Decision {
    pub outcome: Outcome,
    pub lookup: Lookup,
    /// The key the request carried, when it was found (also on refusals for expiry,
    /// disabling or rules, so the access log can name it).
    pub key: Option<Arc<Known>>,
    /// What is left of the key's limits after an allow, when asked for.
    pub report: Option<Report>,
    /// The clock's milliseconds the decision was made at (read once per decision).
    pub now_ms: i64,
    /// On [`Deny::Insufficient`]: the permissions the key lacks.
    pub missing: Vec<crate::permissions::Permission>,
}

impl Decision {
    pub(super) fn early(outcome: Outcome) -> Self {
        Self::of(outcome, Lookup::Precheck, None, 0)
    }

    pub(super) fn of(
        outcome: Outcome,
        lookup: Lookup,
        key: Option<Arc<Known>>,
        now_ms: i64,
    ) -> Self {
        Decision {
            outcome,
            lookup,
            key,
            report: None,
            now_ms,
            missing: Vec::new(),
        }
    }
}

/// Which path a decision took: for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Refused before hashing.
    Precheck,
    Hit,
    Miss,
}

/// `None` when `known` meets every query in `needs`, else the permissions missing. A
/// query met is usually answered from the key's memory of it ([`Known::meets`]).
pub(super) fn unmet(
    needs: &[&crate::permissions::Need],
    known: &Known,
) -> Option<Vec<crate::permissions::Permission>> {
    if needs.iter().all(|n| known.meets(n)) {
        return None;
    }
    crate::permissions::all_of(needs.iter().map(|n| &n.query), &known.granted).err()
}
