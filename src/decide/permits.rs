//! Permissions on the hot path: the catalogue of roles and owner grants kept in memory,
//! read again from the store only when it is said to have changed (here, or on another
//! replica through the invalidation feed), and what a request requires — a configured
//! `[[permissions.require]]` entry, or a query a trusted proxy names in a header
//! (compiled once per distinct text, in a small bounded cache).
//!
//! A key's effective set is worked out when its entry is cached ([`super::Known`]);
//! a catalogue change drops every cached entry, as a revocation drops one, so no request
//! is judged with roles older than the change once it has been announced.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::http::HeaderValue;

use super::Gate;
use crate::config::Requirement;
use crate::permissions::{CATALOGUE_META, Catalogue, Need, Query};
use crate::rules::{self, Target};
use crate::store::StoreError;

/// Distinct requirement headers kept compiled.
const ASKED_CACHE: usize = 256;

pub(super) struct Permits {
    catalogue: RwLock<Arc<Catalogue>>,
    /// Set when the catalogue must be read again before the next key is judged (at
    /// start, and after every announced change).
    stale: AtomicBool,
    reload: tokio::sync::Mutex<()>,
    requirements: Vec<Requirement>,
    /// The requirements' rules, in order (for [`rules::first_match`]).
    rules: Vec<crate::rules::Rule>,
    asked: quick_cache::sync::Cache<Box<str>, Result<Arc<Need>, Arc<str>>>,
    /// Requirement headers ignored because they came from an untrusted address, and
    /// when that was last logged (clock ms).
    ignored: AtomicU64,
    ignored_logged: AtomicI64,
}

impl Permits {
    pub(super) fn new(requirements: Vec<Requirement>) -> Self {
        Permits {
            catalogue: RwLock::new(Arc::new(Catalogue::default())),
            stale: AtomicBool::new(true),
            reload: tokio::sync::Mutex::new(()),
            rules: requirements.iter().map(|r| r.rule.clone()).collect(),
            requirements,
            asked: quick_cache::sync::Cache::new(ASKED_CACHE),
            ignored: AtomicU64::new(0),
            ignored_logged: AtomicI64::new(i64::MIN),
        }
    }

    fn current(&self) -> Arc<Catalogue> {
        match self.catalogue.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, c: Catalogue) {
        let c = Arc::new(c);
        match self.catalogue.write() {
            Ok(mut g) => *g = c,
            Err(poisoned) => *poisoned.into_inner() = c,
        }
    }
}

/// What the requirement header asked, as the gate takes it.
pub enum Asked {
    /// No header, an empty one, or one from an address not trusted (ignored, logged).
    Nothing,
    Query(Arc<Need>),
    /// A trusted proxy sent a query that does not parse: the request is refused (the
    /// proxy's configuration is wrong; nothing is let through on a guess).
    Invalid(Arc<str>),
}

impl Gate {
    /// The catalogue, read again first when it changed.
    pub(super) async fn catalogue(&self) -> Result<Arc<Catalogue>, StoreError> {
        let p = &self.permits;
        if !p.stale.load(Ordering::Acquire) {
            return Ok(p.current());
        }
        let _one = p.reload.lock().await;
        if !p.stale.load(Ordering::Acquire) {
            return Ok(p.current());
        }
        // Cleared before reading: a change announced meanwhile marks it again.
        p.stale.store(false, Ordering::Release);
        let raw = match tokio::time::timeout(
            self.settings.store_timeout,
            self.store.get_meta(CATALOGUE_META),
        )
        .await
        {
            Ok(Ok(raw)) => raw,
            Ok(Err(e)) => {
                p.stale.store(true, Ordering::Release);
                return Err(e);
            }
            Err(_) => {
                p.stale.store(true, Ordering::Release);
                return Err(StoreError::Timeout(0));
            }
        };
        let c = Catalogue::decode(raw.as_deref()).unwrap_or_else(|e| {
            // Fail closed: without roles, keys hold only their own permissions.
            tracing::error!(error = %e, "the permissions catalogue is damaged; judging keys without roles until it is written again");
            Catalogue::default()
        });
        p.set(c);
        Ok(p.current())
    }

    /// The catalogue changed (here or on another replica): read it again before the next
    /// key is judged, and drop every answer judged with the old one.
    pub fn permissions_changed(&self) {
        self.permits.stale.store(true, Ordering::Release);
        self.forget_all();
    }

    /// Compares the stored catalogue's version with the one in memory (the periodic
    /// check, for a change whose announcement was missed).
    pub(super) async fn check_catalogue(&self) -> Result<(), StoreError> {
        let raw = self.store.get_meta(CATALOGUE_META).await?;
        let stored = Catalogue::decode(raw.as_deref()).map_or(u64::MAX, |c| c.version);
        if stored != self.permits.current().version && !self.permits.stale.load(Ordering::Acquire) {
            self.permissions_changed();
        }
        Ok(())
    }

    /// The configured requirement of the first `[[permissions.require]]` entry that
    /// matches `target`.
    pub fn route_needs(&self, target: &Target<'_>) -> Option<&Need> {
        if self.permits.requirements.is_empty() {
            return None;
        }
        rules::first_match(&self.permits.rules, target)
            .and_then(|i| self.permits.requirements.get(i))
            .map(|r| &r.need)
    }

    /// What the requirement header asks, honoured only from a trusted proxy (`peer`,
    /// the address the request came from).
    pub fn asked(&self, value: Option<&HeaderValue>, peer: IpAddr) -> Asked {
        self.asked_bytes(value.map(HeaderValue::as_bytes), peer)
    }

    /// [`Gate::asked`] for a header value as bytes (the gRPC face's header maps).
    pub fn asked_bytes(&self, value: Option<&[u8]>, peer: IpAddr) -> Asked {
        let Some(v) = value else {
            return Asked::Nothing;
        };
        if !self.trusts(peer) {
            self.ignored_header(peer);
            return Asked::Nothing;
        }
        let Ok(text) = std::str::from_utf8(v) else {
            return Asked::Invalid("the requirement header is not UTF-8".into());
        };
        self.required(text)
    }

    /// A requirement named by the proxy's own configuration (a route's gRPC
    /// `context_extensions`), compiled once and remembered (256 at most).
    pub fn required(&self, text: &str) -> Asked {
        let text = text.trim();
        if text.is_empty() {
            return Asked::Nothing;
        }
        if let Some(hit) = self.permits.asked.get(text) {
            return match hit {
                Ok(q) => Asked::Query(q),
                Err(e) => Asked::Invalid(e),
            };
        }
        let compiled = Query::parse(text)
            .map(|q| Arc::new(Need::new(q)))
            .map_err(|e| Arc::<str>::from(e.to_string()));
        if text.len() <= crate::permissions::MAX_QUERY_LEN {
            self.permits.asked.insert(text.into(), compiled.clone());
        }
        match compiled {
            Ok(q) => Asked::Query(q),
            Err(e) => Asked::Invalid(e),
        }
    }

    /// Logs a requirement header from an address that is not a trusted proxy: the first,
    /// then at most once a minute with how many there were.
    fn ignored_header(&self, peer: IpAddr) {
        let n = self.permits.ignored.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.clock.now_ms();
        let last = self.permits.ignored_logged.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60_000
            && self
                .permits
                .ignored_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(peer = %peer, ignored = n, "ignored a permissions requirement header from an address that is not in trusted_proxies");
        }
    }
}
