//! A key reported leaked (GitHub's secret scanning, or an administrator relaying an
//! internal scanner): the configured action on the live key, an audit entry naming
//! where it was found, and a `key.leaked` event.

use super::{Actor, Keys, ManageError};
use crate::config::LeakAction;
use crate::store::{AuditChange, TokenRecord};
use crate::token::KeyHash;

/// Where a leaked key was seen.
#[derive(Clone, Debug, Default)]
pub struct Found {
    /// A URL (GitHub: the commit, file or gist), or whatever the reporter says.
    pub url: String,
    /// GitHub's `source` (`content`, `commit`, `npm`, …) or the scanner's name.
    pub source: String,
    /// The reporter's name for the pattern (GitHub's `type`).
    pub kind: String,
}

/// What a report of one key came to.
#[derive(Clone, Debug)]
pub struct LeakOutcome {
    /// The key it was (none: not one of ours — a false positive).
    pub record: Option<TokenRecord>,
    /// What was done to it: `notify`, `disable`, `revoke`, or `none` (already
    /// disabled, or a false positive).
    pub done: &'static str,
}

/// Longest `found` text kept (URLs included).
const MAX_FOUND: usize = 2048;

fn clip(s: &str) -> String {
    let mut end = s.len().min(MAX_FOUND);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end]
        .chars()
        .filter(|c| crate::model::text::allowed_char(*c))
        .collect()
}

impl Keys {
    /// Acts on a report that the key hashing to `hash` leaked.
    pub async fn leaked(
        &self,
        hash: &KeyHash,
        found: &Found,
        action: LeakAction,
        actor: &Actor,
    ) -> Result<LeakOutcome, ManageError> {
        let Some(r) = self.store.get_by_hash(hash).await? else {
            return Ok(LeakOutcome {
                record: None,
                done: "none",
            });
        };
        let found = Found {
            url: clip(&found.url),
            source: clip(&found.source),
            kind: clip(&found.kind),
        };
        let done = match action {
            LeakAction::Notify => "notify",
            LeakAction::Disable if r.disabled => "none",
            LeakAction::Disable => {
                self.set_disabled(&r.id, true, actor).await?;
                "disable"
            }
            LeakAction::Revoke => {
                self.revoke(&r.id, actor).await?;
                "revoke"
            }
        };
        let changes = vec![
            AuditChange {
                field: "found_at".into(),
                from: None,
                to: Some(found.url.clone()),
            },
            AuditChange {
                field: "action".into(),
                from: None,
                to: Some(done.into()),
            },
        ];
        if let Some(events) = &self.events {
            let mut data = super::audit::key_event(&r, actor, &changes);
            data["found"] = serde_json::json!({
                "url": found.url, "source": found.source, "type": found.kind,
            });
            data["action"] = serde_json::json!(done);
            events.emit("key.leaked", Some(&r.owner), data).await;
        }
        self.audit_event(
            actor,
            "leak",
            &r.owner,
            Some(&r.id),
            Some(r.name.clone()),
            changes,
        )
        .await;
        tracing::warn!(token_id = %r.id, owner = %r.owner, found_at = %found.url, action = done, "a key was reported leaked");
        Ok(LeakOutcome {
            record: Some(r),
            done,
        })
    }
}
