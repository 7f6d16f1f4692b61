//! How an owner's own limits are kept: a meta entry per owner (JSON [`Limits`], empty
//! when cleared), a flag saying some owner has any, and the counter slot they are
//! counted in. Written by management, read by the gate: vocabulary both import.

use super::Limits;

/// Meta entry prefix of an owner's own limits (JSON [`Limits`]).
pub const OWNER_LIMITS_META: &str = "owner_limits:";
/// Meta entry that says some owner has limits of their own.
pub const OWNER_LIMITS_IN_USE: &str = "owner_limits_in_use";

/// The counter slot of an owner's limits.
pub fn owner_slot(owner: &str) -> String {
    format!("o:{owner}")
}

/// Parsed owner limits from a meta value (`None`: none of their own; an empty value
/// is a cleared entry).
pub fn parse_owner_limits(raw: &[u8]) -> Result<Option<Limits>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(raw)
        .map(Some)
        .map_err(|e| format!("stored owner limits are damaged: {e}"))
}
