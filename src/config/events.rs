//! `[events]`: the events outbox and webhook delivery.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Webhooks: endpoints are registered through the API, the CLI or the UI; this section
/// says how deliveries are made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Write events to the outbox and deliver them. Off: nothing is written or sent
    /// (endpoints can still be registered).
    pub enabled: bool,
    /// Let endpoints resolve to loopback, private (RFC 1918, fc00::/7), link-local,
    /// carrier-grade NAT or unspecified addresses. Off by default: an endpoint URL must
    /// not become a way into the network keygate runs in.
    pub allow_private_addresses: bool,
    /// Time allowed for one attempt (connect, send, first bytes of the answer), seconds.
    pub timeout_secs: u64,
    /// Waits before each retry after the first attempt fails (humantime: `5s`, `2h`); the
    /// last entry is the last retry. Each is stretched or shrunk by up to a fifth at
    /// random, and a longer `Retry-After` from the endpoint wins (up to a day).
    pub retry_schedule: Vec<String>,
    /// An endpoint that has not accepted a delivery for this long while failing is
    /// disabled, with an audit entry (humantime).
    pub disable_after: String,
    /// Attempts made at once by one keygate.
    pub concurrency: usize,
    /// Endpoints at most.
    pub max_endpoints: usize,
    /// `ratelimit.exceeded`, `owner.ratelimit.exceeded`, `credits.exhausted` and
    /// `credits.low` are sent at most once per key (or owner) and type in this long,
    /// across replicas (humantime), so a hot key does not flood anyone.
    pub limit_cooldown: String,
    /// `credits.low` when a balance is seen at or below this many credits (0: never).
    pub credits_low: u64,
    /// `key.expiring` this long before a key expires, once per key and entry
    /// (humantime; empty: none).
    pub expiry_warnings: Vec<String>,
    /// How often keys are looked over for `key.expiring` and `key.expired` (humantime;
    /// only while an endpoint wants either).
    pub expiry_scan: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            enabled: true,
            allow_private_addresses: false,
            timeout_secs: 10,
            // Standard Webhooks' suggestion: about a day and a half in all.
            retry_schedule: ["5s", "5m", "30m", "2h", "5h", "10h", "10h"]
                .map(String::from)
                .to_vec(),
            disable_after: "5d".into(),
            concurrency: 16,
            max_endpoints: 50,
            limit_cooldown: "1h".into(),
            credits_low: 0,
            expiry_warnings: vec!["7d".into(), "1d".into()],
            expiry_scan: "5m".into(),
        }
    }
}

impl EventsConfig {
    /// The retry waits, parsed.
    pub fn retry_waits(&self) -> Result<Vec<Duration>, String> {
        self.retry_schedule
            .iter()
            .map(|s| {
                humantime::parse_duration(s)
                    .map_err(|e| format!("events.retry_schedule: {s:?}: {e}"))
            })
            .collect()
    }

    fn duration(name: &str, v: &str) -> Result<Duration, String> {
        humantime::parse_duration(v).map_err(|e| format!("events.{name}: {v:?}: {e}"))
    }

    pub fn limit_cooldown(&self) -> Result<Duration, String> {
        Self::duration("limit_cooldown", &self.limit_cooldown)
    }

    pub fn expiry_scan(&self) -> Result<Duration, String> {
        Self::duration("expiry_scan", &self.expiry_scan)
    }

    pub fn expiry_warnings(&self) -> Result<Vec<Duration>, String> {
        self.expiry_warnings
            .iter()
            .map(|w| Self::duration("expiry_warnings", w))
            .collect()
    }

    pub fn disable_after(&self) -> Result<Duration, String> {
        humantime::parse_duration(&self.disable_after)
            .map_err(|e| format!("events.disable_after: {:?}: {e}", self.disable_after))
    }

    /// What types alone cannot say; messages name the setting.
    pub fn check(&self) -> Result<(), String> {
        let waits = self.retry_waits()?;
        if waits.len() > 30 {
            return Err("events.retry_schedule has at most 30 entries".into());
        }
        if waits.iter().any(|w| *w > Duration::from_secs(7 * 86_400)) {
            return Err("events.retry_schedule: each wait is at most 7 days".into());
        }
        if self.disable_after()? < Duration::from_secs(60) {
            return Err("events.disable_after must be at least 1m".into());
        }
        let cooldown = self.limit_cooldown()?;
        if !(Duration::from_secs(1)..=Duration::from_secs(30 * 86_400)).contains(&cooldown) {
            return Err("events.limit_cooldown must be between 1s and 30d".into());
        }
        let scan = self.expiry_scan()?;
        if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&scan) {
            return Err("events.expiry_scan must be between 1s and 1d".into());
        }
        let warnings = self.expiry_warnings()?;
        if warnings.len() > 10
            || warnings
                .iter()
                .any(|w| w.is_zero() || *w > Duration::from_secs(365 * 86_400))
        {
            return Err("events.expiry_warnings: at most 10, each between 1s and 365d".into());
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return Err("events.timeout_secs must be between 1 and 600".into());
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err("events.concurrency must be between 1 and 1024".into());
        }
        if !(1..=10_000).contains(&self.max_endpoints) {
            return Err("events.max_endpoints must be between 1 and 10000".into());
        }
        Ok(())
    }
}
