//! `[leaks]`: what keygate does when a key is reported leaked — by GitHub's secret
//! scanning (its partner contract, `POST /api/leaks/github`) or by an administrator
//! relaying an internal scanner (`POST /api/leaks`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    /// Only tell: an audit entry and a `key.leaked` event.
    Notify,
    /// Disable the key (it can be enabled again), and tell.
    #[default]
    Disable,
    /// Revoke the key for good, and tell.
    Revoke,
}

impl LeakAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LeakAction::Notify => "notify",
            LeakAction::Disable => "disable",
            LeakAction::Revoke => "revoke",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LeaksConfig {
    /// What a report of a live key does.
    pub action: LeakAction,
    /// Serve GitHub's secret-scanning partner endpoint, `POST /api/leaks/github`.
    pub github_enabled: bool,
    /// Where GitHub publishes the keys it signs reports with.
    pub github_keys_url: String,
    /// How long fetched keys are used before they are fetched again (seconds); an
    /// unknown key id fetches sooner, at most once a minute.
    pub github_keys_ttl_secs: u64,
    /// Most tokens one report may carry (more: refused, 413).
    pub max_entries: usize,
}

impl Default for LeaksConfig {
    fn default() -> Self {
        LeaksConfig {
            action: LeakAction::Disable,
            github_enabled: false,
            github_keys_url: "https://api.github.com/meta/public_keys/secret_scanning".into(),
            github_keys_ttl_secs: 3600,
            max_entries: 10_000,
        }
    }
}

impl LeaksConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.github_enabled {
            let u = url::Url::parse(&self.github_keys_url)
                .map_err(|e| format!("leaks.github_keys_url: {e}"))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err("leaks.github_keys_url must be http or https".into());
            }
        }
        if !(60..=7 * 86_400).contains(&self.github_keys_ttl_secs) {
            return Err("leaks.github_keys_ttl_secs must be between 60 and 604800".into());
        }
        if !(1..=100_000).contains(&self.max_entries) {
            return Err("leaks.max_entries must be between 1 and 100000".into());
        }
        Ok(())
    }
}
