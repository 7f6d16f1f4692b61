//! One decision about a key as its page shows it: the last requests, newest first.

use serde::{Deserialize, Serialize};

use super::TokenId;

/// How much of a host or path is kept (bytes, cut at a character boundary).
pub const RECENT_TEXT_MAX: usize = 256;

/// One request decided with a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecentRequest {
    #[schema(value_type = String)]
    pub id: TokenId,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// `allowed`, `forbidden`, `refused`, `rate_limited` or `usage_exceeded`.
    pub outcome: String,
    pub method: String,
    /// As the proxy sent it (with a port, when it had one).
    pub host: String,
    /// Without its query string (which may carry a key), at most 256 bytes.
    pub path: String,
    /// The client's address as the gate saw it (after trusted proxies' forwarding
    /// headers).
    pub client: String,
}

/// `text` cut to at most [`RECENT_TEXT_MAX`] bytes at a character boundary.
pub fn clip(text: &str) -> &str {
    if text.len() <= RECENT_TEXT_MAX {
        return text;
    }
    let mut end = RECENT_TEXT_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
