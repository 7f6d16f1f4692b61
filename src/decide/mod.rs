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
mod decision;
mod flush;
mod follow;
mod known;
pub mod notice;
mod owner;
mod permits;
pub mod recent;
pub mod throttle;
pub mod usage;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use sha2::Digest;

use crate::clock::Clock;
use crate::keyfile::KeySets;
use crate::limits::engine::{Engine, OnStoreError, Verdict};
use crate::limits::{Exceeded, Limits};
use crate::metrics::Metrics;
use crate::rules::{self, Target};
use crate::store::{HashAlg, SharedStore, StoreError, TokenRecord};
use crate::token::{KeyHash, Policy, Salt};

pub use credential::{BadCredential, Presented, Sources};
use credential::{credential_message, malformed_message};
use decision::unmet;
pub use decision::{Decision, Deny, Lookup, Outcome};
pub use flush::FLUSH_CHUNK;
use known::Cached;
pub use known::{Known, header_value, upstream_name};
pub use permits::Asked;
use throttle::Throttle;
pub use throttle::{Cidr, Forwarded};
use usage::Usage;

/// What the gate needs to know, resolved from the configuration.
#[derive(Clone, Debug)]
pub struct GateSettings {
    pub policy: Policy,
    pub sources: Sources,
    pub store_timeout: Duration,
    pub cache_ttl: Duration,
    pub negative_ttl: Duration,
    pub cache_max_entries: usize,
    /// Bound on the cache's estimated memory, bytes.
    pub cache_max_bytes: u64,
    pub identity_headers: IdentityHeaders,
    /// `None`: no throttle.
    pub throttle: Option<ThrottleSettings>,
    pub trusted_proxies: Vec<Cidr>,
    /// Send what is left of a key's limits upstream on allow.
    pub upstream_limit_headers: bool,
    pub limits_on_store_error: OnStoreError,
    /// Limits of owners without their own (`[limits.owner]`) and their starting balance.
    pub owner_defaults: (Limits, Option<u64>),
    /// Count outcomes per key in time buckets (`[analytics]`).
    pub analytics: bool,
    /// Requests kept per key for its page (`analytics.recent_requests`; 0: none).
    pub recent_requests: usize,
    /// `[[permissions.require]]`, compiled.
    pub requirements: Vec<crate::config::Requirement>,
    /// The header a trusted proxy names a requirement in (`permissions.header`).
    pub require_header: Option<HeaderName>,
}

#[derive(Clone, Copy, Debug)]
pub struct ThrottleSettings {
    pub max_failures: u32,
    pub window_secs: u64,
    pub max_addresses: usize,
    pub ipv6_prefix: u8,
}

/// Names of the headers sent upstream on allow (`None` = not sent).
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    pub user: Option<HeaderName>,
    pub token_id: Option<HeaderName>,
    pub token_name: Option<HeaderName>,
    /// The key's effective permissions (`permissions.upstream_header`).
    pub permissions: Option<HeaderName>,
}

pub struct Gate {
    salt: Salt,
    settings: GateSettings,
    cache: quick_cache::sync::Cache<KeyHash, Cached, known::ByWeight>,
    store: SharedStore,
    clock: Clock,
    usage: Usage,
    keysets: Arc<KeySets>,
    metrics: Arc<Metrics>,
    throttle: Option<Throttle>,
    /// Set when the store holds SHA-256-hashed imports: a miss then also looks those up.
    sha256_in_store: AtomicBool,
    /// False while invalidations from other replicas may be missed: the cache is then
    /// neither read nor filled.
    cache_trusted: AtomicBool,
    /// Bumped by every invalidation; a lookup that raced one does not cache its answer.
    epoch: std::sync::atomic::AtomicU64,
    /// How many times the invalidation feed was (re)joined.
    follows: std::sync::atomic::AtomicU64,
    /// Usage limits.
    limits: Engine,
    /// Owner limits as read from the store, with the clock ms they are good until.
    owner_cache: quick_cache::sync::Cache<String, (i64, Option<OwnerPolicy>)>,
    /// Set when some owner has limits of their own (else only the default applies and
    /// nothing is looked up).
    owner_limits_in_use: AtomicBool,
    owner_defaults: Option<OwnerPolicy>,
    /// Analytics tallies (`None`: analytics off).
    tally: Option<crate::analytics::Tally>,
    /// The last requests of each key (`None`: off).
    recent: Option<recent::Recent>,
    /// Limit refusals to tell webhooks about, drained in the background.
    notices: notice::Notices,
    /// Roles and owner grants, and what requests require.
    permits: permits::Permits,
}

/// An owner's limits and the balance a missing counter starts at.
type OwnerPolicy = Arc<(Arc<Limits>, Option<u64>)>;

/// Keys not in keygate's format this long or longer are answered for a throttled client
/// when known good (see `Gate::known_good`); shorter ones could be guessed.
pub const THROTTLE_EXEMPT_LEN: usize = 32;

/// Meta entry that says the store holds SHA-256 imports.
pub const SHA256_META: &str = "sha256_keys";

impl Gate {
    pub fn new(
        salt: Salt,
        settings: GateSettings,
        store: SharedStore,
        clock: Clock,
        keysets: Arc<KeySets>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let store_shared = store.shared();
        let throttle = settings.throttle.map(|t| {
            Throttle::new(
                t.max_failures,
                t.window_secs,
                t.max_addresses,
                t.ipv6_prefix,
            )
        });
        let limits = Engine::new(
            store.clone(),
            clock.clone(),
            settings.store_timeout,
            settings.limits_on_store_error,
        );
        let owner_defaults = (!settings.owner_defaults.0.is_empty()).then(|| {
            Arc::new((
                Arc::new(settings.owner_defaults.0.clone()),
                settings.owner_defaults.1,
            ))
        });
        Gate {
            permits: permits::Permits::new(settings.requirements.clone()),
            tally: settings.analytics.then(crate::analytics::Tally::default),
            recent: (settings.analytics && settings.recent_requests > 0)
                .then(recent::Recent::default),
            notices: notice::Notices::default(),
            limits,
            owner_cache: quick_cache::sync::Cache::new(settings.cache_max_entries.min(100_000)),
            owner_limits_in_use: AtomicBool::new(false),
            owner_defaults,
            cache: known::cache(settings.cache_max_entries, settings.cache_max_bytes),
            salt,
            settings,
            store,
            clock,
            usage: Usage::default(),
            keysets,
            metrics,
            throttle,
            sha256_in_store: AtomicBool::new(false),
            // A store other processes write is untrusted until its watch subscribes.
            cache_trusted: AtomicBool::new(!store_shared),
            epoch: std::sync::atomic::AtomicU64::new(0),
            follows: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &GateSettings {
        &self.settings
    }

    /// Limit refusals noted for webhooks.
    pub fn notices(&self) -> &notice::Notices {
        &self.notices
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// The usage-limit engine.
    pub fn limits(&self) -> &Engine {
        &self.limits
    }

    /// The analytics tallies, when analytics are on.
    pub fn tally(&self) -> Option<&crate::analytics::Tally> {
        self.tally.as_ref()
    }

    /// The last requests of each key, when kept.
    pub fn recent(&self) -> Option<&recent::Recent> {
        self.recent.as_ref()
    }

    fn count(
        &self,
        known: &Arc<Known>,
        o: crate::analytics::Outcome,
        seen: &recent::Seen<'_>,
        now_ms: i64,
    ) {
        if let Some(t) = &self.tally
            && known.in_store
        {
            t.record(&known.record, o, now_ms);
            if let Some(r) = &self.recent {
                r.note(known, o as u8, seen, now_ms);
            }
        }
    }

    pub fn keysets(&self) -> &Arc<KeySets> {
        &self.keysets
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn salt(&self) -> &Salt {
        &self.salt
    }

    /// The client address to throttle on, from the peer and (for trusted proxies) the
    /// forwarded headers.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        throttle::client_address_in(peer, headers, &self.settings.trusted_proxies)
    }

    /// Whether `peer` is one of `trusted_proxies` (whose forwarding and requirement
    /// headers are believed).
    pub fn trusts(&self, peer: IpAddr) -> bool {
        throttle::is_trusted(peer, &self.settings.trusted_proxies)
    }

    /// [`Gate::client_address`] from the forwarding headers as the face found them.
    pub fn client_of(&self, peer: IpAddr, forwarded: throttle::Forwarded<'_>) -> IpAddr {
        throttle::client_address(peer, forwarded, &self.settings.trusted_proxies)
    }

    /// Seconds until `client` may try again, when it has failed too often (for the
    /// admin-key checks, which share the gate's table).
    pub fn throttled(&self, client: IpAddr) -> Option<u64> {
        let t = self.throttle.as_ref()?;
        if !t.active() {
            return None;
        }
        t.refused(client, self.clock.now_ms())
    }

    /// Counts a failed attempt from `client` (a wrong admin key or token).
    pub fn failed(&self, client: IpAddr) {
        if let Some(t) = &self.throttle {
            t.fail(client, self.clock.now_ms());
        }
    }

    /// Decides one request. `target` is the original request as the proxy described it;
    /// `client` the address failed attempts are counted against.
    pub async fn decide(
        &self,
        presented: &Presented<'_>,
        target: &Target<'_>,
        client: IpAddr,
    ) -> Decision {
        self.decide_reporting(
            presented,
            target,
            client,
            self.settings.upstream_limit_headers,
        )
        .await
    }

    /// [`Gate::decide`], with what is left of the key's limits on an allow when
    /// `report` (the gRPC face tells the client even when `limits.upstream_headers`
    /// tells the service nothing).
    pub async fn decide_reporting(
        &self,
        presented: &Presented<'_>,
        target: &Target<'_>,
        client: IpAddr,
        report: bool,
    ) -> Decision {
        let now_ms = self.clock.now_ms();
        match credential::extract(presented, target.uri, &self.settings.sources) {
            Ok(key) => {
                let judged = self.judge(&key, target, client, report, now_ms);
                self.throttled_judge(client, Some(&*key), now_ms, judged)
                    .await
            }
            Err(e) => {
                self.throttled_judge(client, None, now_ms, async {
                    Decision::early(deny_401(credential_message(e)))
                })
                .await
            }
        }
    }

    /// Decides for a key given directly (`POST /verify`), with what is left of its
    /// limits.
    pub async fn decide_key(&self, key: &str, target: &Target<'_>, client: IpAddr) -> Decision {
        let now_ms = self.clock.now_ms();
        self.throttled_judge(
            client,
            Some(key),
            now_ms,
            self.judge(key, target, client, true, now_ms),
        )
        .await
    }

    async fn judge(
        &self,
        key: &str,
        target: &Target<'_>,
        client: IpAddr,
        want_report: bool,
        now_ms: i64,
    ) -> Decision {
        let seen = recent::Seen {
            method: target.method,
            host: target.host,
            uri: target.uri,
            client,
        };
        if let Err(e) = self.settings.policy.check(key) {
            return Decision::early(deny_401(malformed_message(e)));
        }
        let hash = KeyHash::of(&self.salt, key);
        // While invalidations may be missed (the subscription to other replicas' writes
        // is down) every lookup goes to the store; what is cached is used only when the
        // store cannot answer ("stale if error", until the entry's TTL, DESIGN §4).
        let trusted = self.cache_trusted.load(Ordering::Acquire);
        let entry = self.cache.get(&hash).filter(|c| c.until_ms > now_ms);
        let hit = if trusted { entry.clone() } else { None };
        self.metrics.cache(hit.is_some());
        // Set when the store just failed to answer this request: a limit needing a new
        // lease is then answered at once (as `limits.on_store_error` says) instead of
        // waiting for the store a second time.
        let mut store_failed = false;
        let (cached, lookup) = match hit {
            Some(c) => (c, Lookup::Hit),
            None => match self.fetch(&hash, key, now_ms).await {
                Ok(c) => (c, Lookup::Miss),
                Err(_) => match entry {
                    Some(c) if c.known.is_some() => {
                        store_failed = true;
                        (c, Lookup::Hit)
                    }
                    _ => {
                        return Decision::of(
                            Outcome::Deny(Deny::Unavailable),
                            Lookup::Miss,
                            None,
                            now_ms,
                        );
                    }
                },
            },
        };
        let Some(known) = cached.known else {
            return Decision::of(deny_401("unknown API key"), lookup, None, now_ms);
        };
        let now = crate::clock::Timestamp::from_unix(now_ms.div_euclid(1000));
        let mut report = None;
        let mut missing = Vec::new();
        use crate::analytics::Outcome as Counted;
        let outcome = if let Some(why) = known.refused {
            self.count(&known, Counted::Refused, &seen, now_ms);
            deny_401(why)
        } else if let Some(why) = known.record.unusable_at(now) {
            self.count(&known, Counted::Refused, &seen, now_ms);
            deny_401(why)
        } else if !rules::allows(&known.record.rules, target) {
            self.count(&known, Counted::Forbidden, &seen, now_ms);
            Outcome::Deny(Deny::Forbidden)
        } else if let Some(lacking) = unmet(target.needs, &known) {
            self.count(&known, Counted::Forbidden, &seen, now_ms);
            missing = lacking;
            Outcome::Deny(Deny::Insufficient)
        } else {
            let verdict = if known.slots[0].is_some() || known.slots[1].is_some() {
                let (v, r) = self
                    .limits
                    .check_cost(
                        [known.slots[0].as_ref(), known.slots[1].as_ref()],
                        target.cost,
                        want_report,
                        now_ms,
                        store_failed,
                    )
                    .await;
                report = r;
                v
            } else {
                Verdict::Allow
            };
            match verdict {
                Verdict::Allow => {
                    if known.in_store {
                        self.usage.record(&known, now.unix());
                    }
                    self.count(&known, Counted::Allowed, &seen, now_ms);
                    Outcome::Allow(known.clone())
                }
                Verdict::Exceeded(e) => {
                    let counted = match e {
                        Exceeded::Rate { .. } => Counted::RateLimited,
                        Exceeded::Credits { .. } => Counted::UsageExceeded,
                    };
                    self.count(&known, counted, &seen, now_ms);
                    if known.in_store {
                        self.notices.note(&known, e, now_ms);
                    }
                    Outcome::Deny(Deny::Limited(e))
                }
                Verdict::Unavailable => Outcome::Deny(Deny::Unavailable),
            }
        };
        Decision {
            report,
            missing,
            ..Decision::of(outcome, lookup, Some(known), now_ms)
        }
    }

    /// Key sources first, then the store (under the timeout); caches the answer, found
    /// or not.
    async fn fetch(&self, hash: &KeyHash, key: &str, now_ms: i64) -> Result<Cached, StoreError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let (found, in_store) = match self.keysets.lookup(hash, key) {
            Some(f) => (Some(self.file_record(f)), false),
            None => (self.lookup_store(hash, key).await?, true),
        };
        let (owner, granted) = match &found {
            Some(r) => (
                self.owner_policy(&r.owner, now_ms).await?,
                self.catalogue().await?.granted(r.grants()),
            ),
            None => (None, Default::default()),
        };
        let ttl = if found.is_some() {
            self.settings.cache_ttl
        } else {
            self.settings.negative_ttl
        };
        let cached = Cached::new(
            now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            found.map(|r| Arc::new(self.known(r, in_store, owner, granted))),
        );
        // Not cached when an invalidation arrived meanwhile (the answer may predate it)
        // or when invalidations may be missed.
        if !ttl.is_zero()
            && self.cache_trusted.load(Ordering::Acquire)
            && self.epoch.load(Ordering::Acquire) == epoch
        {
            self.cache.insert(*hash, cached.clone());
        }
        Ok(cached)
    }

    async fn lookup_store(
        &self,
        hash: &KeyHash,
        key: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let found = self.timed_get(hash).await?;
        if found.is_some() || !self.sha256_in_store.load(Ordering::Relaxed) {
            return Ok(found.filter(|r| r.hash_alg == HashAlg::Keyed));
        }
        let digest = KeyHash(sha2::Sha256::digest(key.as_bytes()).into());
        Ok(self
            .timed_get(&digest)
            .await?
            .filter(|r| r.hash_alg == HashAlg::Sha256))
    }

    async fn timed_get(&self, hash: &KeyHash) -> Result<Option<TokenRecord>, StoreError> {
        let timeout = self.settings.store_timeout;
        let started = tokio::time::Instant::now();
        let result = match tokio::time::timeout(timeout, self.store.get_by_hash(hash)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(
                u64::try_from(timeout.as_millis()).unwrap_or(0),
            )),
        };
        self.metrics.store_call(started.elapsed(), result.is_ok());
        result
    }

    /// Drops one cached answer (after a write to that key, here or on another replica).
    pub fn forget(&self, hash: &KeyHash) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.remove(hash);
    }

    /// Drops every cached answer (after a key source or owner limits changed).
    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.clear();
        self.owner_cache.clear();
    }

    /// Whether an answer for `key` is in the cache (diagnostics and tests).
    pub fn is_cached(&self, key: &str) -> bool {
        self.cache.get(&KeyHash::of(&self.salt, key)).is_some()
    }

    /// The cache's entries and estimated bytes (what `cache.max_mib` bounds).
    pub fn cache_size(&self) -> (usize, u64) {
        (self.cache.len(), self.cache.weight())
    }

    /// How many times the invalidation feed of a shared store was (re)joined.
    pub fn follows(&self) -> u64 {
        self.follows.load(Ordering::Acquire)
    }

    /// Whether cached answers are being used (false while invalidations may be missed).
    pub fn cache_trusted(&self) -> bool {
        self.cache_trusted.load(Ordering::Acquire)
    }
}

fn deny_401(message: &'static str) -> Outcome {
    Outcome::Deny(Deny::Unauthenticated(message))
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

    #[test]
    fn names_sent_upstream_are_bounded_and_visible() {
        assert_eq!(upstream_name("plain name"), "plain name");
        assert_eq!(upstream_name("a\u{202E}b\u{200B}c\u{2028}"), "abc");
        let huge = "n".repeat(5_000_000);
        assert_eq!(
            upstream_name(&huge).chars().count(),
            crate::model::text::MAX_NAME_LEN
        );
    }
}
