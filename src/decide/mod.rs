//! The hot path: is this key good for this request?
//!
//! credential → pre-check → keyed hash → cache → store (on a miss) → state → rules.
//!
//! A cached answer is reached without an `.await` that can wait, an allocation for the
//! identity headers (they are built once per cached entry) or a store write (last-used
//! times are coalesced in memory and flushed in batches by [`usage`]). The store is only
//! asked on a cache miss, under `store_timeout_ms`; when it fails, the answer is 503,
//! never an allow for a key that was not verified.

pub mod credential;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::clock::Clock;
use crate::rules::{self, Target};
use crate::store::{SharedStore, StoreError, TokenRecord};
use crate::token::{self, KeyHash, KeyPrefix, Malformed, Salt};

pub use credential::{BadCredential, Sources};
use usage::Usage;

/// What the gate needs to know, resolved from the configuration.
#[derive(Clone, Debug)]
pub struct GateSettings {
    pub prefix: KeyPrefix,
    pub accept_foreign_keys: bool,
    pub sources: Sources,
    pub store_timeout: Duration,
    pub cache_ttl: Duration,
    pub negative_ttl: Duration,
    pub cache_max_entries: usize,
    pub identity_headers: IdentityHeaders,
}

/// Names of the headers sent upstream on allow (`None` = not sent).
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    pub user: Option<HeaderName>,
    pub token_id: Option<HeaderName>,
    pub token_name: Option<HeaderName>,
}

/// A key found in the store, with everything an allow needs ready to send.
pub struct Known {
    pub record: TokenRecord,
    /// Identity headers, built once when the entry is cached.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Unix seconds of the last allow; see [`usage`].
    last_used: std::sync::atomic::AtomicI64,
    dirty: std::sync::atomic::AtomicBool,
}

#[derive(Clone)]
struct Cached {
    /// Clock milliseconds after which the entry is stale.
    until_ms: i64,
    known: Option<Arc<Known>>,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deny {
    /// 401: no usable key. The message is safe to show to the client.
    Unauthenticated(&'static str),
    /// 403: a good key, but its rules do not allow this request.
    Forbidden,
    /// 503: the store could not be asked.
    Unavailable,
}

pub enum Outcome {
    Allow(Arc<Known>),
    Deny(Deny),
}

/// Which path a decision took: for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Refused before hashing.
    Precheck,
    Hit,
    Miss,
}

pub struct Gate {
    salt: Salt,
    settings: GateSettings,
    cache: quick_cache::sync::Cache<KeyHash, Cached>,
    store: SharedStore,
    clock: Clock,
    usage: Usage,
}

impl Gate {
    pub fn new(salt: Salt, settings: GateSettings, store: SharedStore, clock: Clock) -> Self {
        Gate {
            cache: quick_cache::sync::Cache::new(settings.cache_max_entries),
            salt,
            settings,
            store,
            clock,
            usage: Usage::default(),
        }
    }

    pub fn settings(&self) -> &GateSettings {
        &self.settings
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Decides one request. `target` is the original request as the proxy described it.
    pub async fn decide(&self, headers: &HeaderMap, target: &Target<'_>) -> (Outcome, Lookup) {
        let key = match credential::extract(headers, target.uri, &self.settings.sources) {
            Ok(k) => k,
            Err(e) => return (deny_401(credential_message(e)), Lookup::Precheck),
        };
        if let Err(e) = token::precheck(
            &key,
            &self.settings.prefix,
            self.settings.accept_foreign_keys,
        ) {
            return (deny_401(malformed_message(e)), Lookup::Precheck);
        }
        let hash = KeyHash::of(&self.salt, &key);
        drop(key);
        let now_ms = self.clock.now_ms();
        let (cached, lookup) = match self.cache.get(&hash) {
            Some(c) if c.until_ms > now_ms => (c, Lookup::Hit),
            _ => match self.fetch(&hash, now_ms).await {
                Ok(c) => (c, Lookup::Miss),
                Err(_) => return (Outcome::Deny(Deny::Unavailable), Lookup::Miss),
            },
        };
        let Some(known) = cached.known else {
            return (deny_401("unknown API key"), lookup);
        };
        let now = self.clock.now();
        if let Some(why) = known.record.unusable_at(now) {
            return (deny_401(why), lookup);
        }
        if !rules::allows(&known.record.rules, target) {
            return (Outcome::Deny(Deny::Forbidden), lookup);
        }
        self.usage.record(&known, now.unix());
        (Outcome::Allow(known), lookup)
    }

    /// Asks the store (under the timeout) and caches the answer, found or not.
    async fn fetch(&self, hash: &KeyHash, now_ms: i64) -> Result<Cached, StoreError> {
        let timeout = self.settings.store_timeout;
        let found = match tokio::time::timeout(timeout, self.store.get_by_hash(hash)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(StoreError::Timeout(
                    u64::try_from(timeout.as_millis()).unwrap_or(0),
                ));
            }
        };
        let ttl = if found.is_some() {
            self.settings.cache_ttl
        } else {
            self.settings.negative_ttl
        };
        let cached = Cached {
            until_ms: now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            known: found.map(|r| Arc::new(self.known(r))),
        };
        if !ttl.is_zero() {
            self.cache.insert(*hash, cached.clone());
        }
        Ok(cached)
    }

    fn known(&self, record: TokenRecord) -> Known {
        let ids = &self.settings.identity_headers;
        let mut headers = Vec::with_capacity(3);
        for (name, value) in [
            (&ids.user, record.owner.as_str()),
            (&ids.token_id, record.id.as_str()),
            (&ids.token_name, record.name.as_str()),
        ] {
            if let Some(n) = name {
                headers.push((n.clone(), header_value(value)));
            }
        }
        let last = record.last_used_at.map_or(0, |t| t.unix());
        Known {
            record,
            headers,
            last_used: std::sync::atomic::AtomicI64::new(last),
            dirty: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Drops one cached answer (after a local write to that key).
    pub fn forget(&self, hash: &KeyHash) {
        self.cache.remove(hash);
    }

    /// Drops every cached answer.
    pub fn forget_all(&self) {
        self.cache.clear();
    }

    /// Writes the last-used times collected since the previous flush.
    pub async fn flush_usage(&self) -> Result<usize, StoreError> {
        let batch = self.usage.drain();
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        if let Err(e) = self.store.touch(&batch).await {
            // Put them back so the next flush tries again.
            self.usage.restore(batch);
            return Err(e);
        }
        Ok(n)
    }
}

fn deny_401(message: &'static str) -> Outcome {
    Outcome::Deny(Deny::Unauthenticated(message))
}

fn credential_message(e: BadCredential) -> &'static str {
    match e {
        BadCredential::Missing => "no API key presented",
        BadCredential::EmptyBearer => "`Authorization: Bearer` carries no key",
        BadCredential::BadBasic => "`Authorization: Basic` is not valid base64 of user:password",
        BadCredential::NotText => "the credential header is not valid text",
    }
}

fn malformed_message(e: Malformed) -> &'static str {
    match e {
        Malformed::Empty => "the key is empty",
        Malformed::TooLong => "the key is too long",
        Malformed::BadCharacters => "the key contains characters no key has",
        Malformed::BadShape => "malformed API key",
        Malformed::BadChecksum => {
            "malformed API key (checksum mismatch: a typo or a truncated key?)"
        }
        Malformed::ForeignPrefix => "keys without this gate's prefix are not accepted",
    }
}

/// A header value for arbitrary text: visible ASCII as is, anything else (and `%`)
/// percent-encoded as UTF-8, so an owner or name can never break the response.
pub fn header_value(s: &str) -> HeaderValue {
    let plain = s.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'%');
    if plain && let Ok(v) = HeaderValue::from_str(s) {
        return v;
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if (b' '..=b'~').contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_always_valid() {
        assert_eq!(header_value("alice"), "alice");
        assert_eq!(header_value("Clé 100%"), "Cl%C3%A9 100%25");
        assert_eq!(header_value("a\r\nInjected: 1"), "a%0D%0AInjected: 1");
    }
}
