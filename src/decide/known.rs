//! What the cache holds for a key: the record with everything an allow needs ready to
//! send (identity headers, limit slots, the `RateLimit-Policy` value), built once when
//! the entry is cached, and the record that stands for a key from a file.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};

use super::{Gate, OwnerPolicy};
use crate::keyfile;
use crate::limits::engine::Slot;
use crate::limits::{Exceeded, Limits, Scope};
use crate::permissions::Granted;
use crate::store::{HashAlg, TokenId, TokenRecord};
use crate::token::KeyHash;

/// A key found in the store or a key source, with everything an allow needs ready to
/// send.
pub struct Known {
    pub record: TokenRecord,
    /// Identity headers, built once when the entry is cached: an allow's response
    /// headers start as a copy of this map (no name hashed per request).
    pub headers: HeaderMap,
    /// Unix seconds of the last allow; see [`usage`].
    pub(super) last_used: std::sync::atomic::AtomicI64,
    /// The usage generation this entry was last queued in.
    pub(super) queued: std::sync::atomic::AtomicU64,
    /// Keys from files and uploads are not in the store: no last-used to write.
    pub(super) in_store: bool,
    /// Set when the record holds an owner that may not be sent upstream (too long,
    /// invisible or control characters: written around the API's checks); the key is
    /// then refused. Worked out once, when the entry is cached.
    pub(super) refused: Option<&'static str>,
    /// The usage limits in force: the key's own, then its owner's.
    pub slots: [Option<Arc<Slot>>; 2],
    /// `RateLimit-Policy` for those limits, built once when the entry is cached.
    pub limit_policy: Option<HeaderValue>,
    /// The limits of the two slots, readable without their locks.
    pub(super) key_limits: Option<Arc<Limits>>,
    pub(super) owner_limits: Option<Arc<Limits>>,
    /// The key's effective permissions (its own, its roles', its owner's roles'),
    /// worked out when the entry is cached.
    pub granted: Granted,
    /// The last answers to queries asked of this key: `need id << 1 | met`, by the
    /// id's low bits (0: empty). The granted set never changes for an entry (a
    /// catalogue change replaces every entry), so an answer stays right.
    memo: [std::sync::atomic::AtomicU64; 4],
    /// When this entry last noted a limit refusal, per [`super::notice::NoticeKind`]
    /// (unix ms).
    pub(super) noted: [std::sync::atomic::AtomicI64; 2],
}

impl Known {
    /// Whether the key meets `need`, remembered per query.
    pub fn meets(&self, need: &crate::permissions::Need) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let slot = &self.memo[(need.id() & 3) as usize];
        let seen = slot.load(Relaxed);
        if seen >> 1 == need.id() {
            return seen & 1 == 1;
        }
        let met = need.query.allows(&self.granted);
        slot.store(need.id() << 1 | u64::from(met), Relaxed);
        met
    }
}

impl Known {
    /// The limits of one scope, when it has any.
    pub fn limits_of(&self, scope: Scope) -> Option<&Limits> {
        match scope {
            Scope::Key => self.key_limits.as_deref(),
            Scope::Owner => self.owner_limits.as_deref(),
        }
    }

    /// The name of the limit that refused a request (`credits` for a quota).
    pub fn limit_name(&self, e: Exceeded) -> &str {
        match e {
            Exceeded::Rate { scope, index, .. } => self
                .limits_of(scope)
                .and_then(|l| l.rate_limits.get(usize::from(index)))
                .map_or("", |r| r.name.as_str()),
            Exceeded::Credits { .. } => "credits",
        }
    }
}

#[derive(Clone)]
pub(super) struct Cached {
    /// Clock milliseconds after which the entry is stale.
    pub(super) until_ms: i64,
    pub(super) known: Option<Arc<Known>>,
    /// The entry's estimated size in bytes ([`Known::footprint`]), worked out once.
    bytes: u32,
}

impl Cached {
    pub(super) fn new(until_ms: i64, known: Option<Arc<Known>>) -> Self {
        let bytes = ENTRY_OVERHEAD + known.as_deref().map_or(0, Known::footprint);
        Cached {
            until_ms,
            known,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
        }
    }
}

/// What every cache entry costs besides its [`Known`]: the key, the [`Cached`] and the
/// cache's own bookkeeping for it.
const ENTRY_OVERHEAD: usize = std::mem::size_of::<KeyHash>() + std::mem::size_of::<Cached>() + 32;

/// Heap bytes a map or vector entry costs besides its contents (allocator headers,
/// tree nodes' spare room): an estimate, on the side of too much.
const PER_ALLOCATION: usize = 16;

impl Known {
    /// About how many bytes this entry holds: its structures and what its strings,
    /// rules, metadata, limits and headers hold on the heap. An estimate (capacities
    /// are taken as lengths), used to bound the cache in bytes (`cache.max_mib`).
    pub(super) fn footprint(&self) -> usize {
        let s = |t: &str| {
            if t.is_empty() {
                0
            } else {
                t.len() + PER_ALLOCATION
            }
        };
        let r = &self.record;
        let mut n = std::mem::size_of::<Known>() + 2 * PER_ALLOCATION; // the Arc
        n += s(r.id.as_str()) + s(&r.owner) + s(&r.name) + s(&r.hint) + s(&r.created_by);
        n += [&r.replaces, &r.replaced_by, &r.usage_of]
            .iter()
            .filter_map(|t| t.as_ref())
            .map(|t| s(t.as_str()))
            .sum::<usize>();
        n += r
            .metadata
            .iter()
            .map(|(k, v)| s(k) + s(v) + 2 * std::mem::size_of::<String>() + PER_ALLOCATION)
            .sum::<usize>();
        for rule in &r.rules {
            n += std::mem::size_of_val(rule) + PER_ALLOCATION;
            n += rule.hosts.iter().map(|h| s(h.as_str()) + 24).sum::<usize>();
            n += rule.paths.iter().map(|p| s(p.as_str()) + 24).sum::<usize>();
            n += rule
                .methods
                .iter()
                .map(|m| s(m.as_str()) + 24)
                .sum::<usize>();
        }
        // The record's limits, and the copy the slots hold.
        n += 2 * r
            .limits
            .rate_limits
            .iter()
            .map(|l| std::mem::size_of_val(l) + s(&l.name))
            .sum::<usize>();
        // Identity headers: a map of up to three, each value its own allocation.
        n += self.headers.capacity() * 64 + self.headers.len() * PER_ALLOCATION;
        n += self.headers.values().map(|v| v.len()).sum::<usize>();
        n += self.limit_policy.as_ref().map_or(0, |v| v.len() + 64);
        n += self.granted.footprint();
        n
    }
}

/// Weighs cache entries by their estimated bytes, at least a `max_bytes /
/// max_entries` share each, so that both bounds hold.
#[derive(Clone)]
pub(super) struct ByWeight {
    least: u64,
}

impl quick_cache::Weighter<KeyHash, Cached> for ByWeight {
    fn weight(&self, _: &KeyHash, v: &Cached) -> u64 {
        u64::from(v.bytes).max(self.least)
    }
}

/// The gate's cache: at most `max_entries` entries and about `max_bytes` bytes.
pub(super) fn cache(
    max_entries: usize,
    max_bytes: u64,
) -> quick_cache::sync::Cache<KeyHash, Cached, ByWeight> {
    let entries = u64::try_from(max_entries.max(1)).unwrap_or(u64::MAX);
    let least = (max_bytes / entries).max(1);
    // Entries expected: as many as fit at an estimated 1 KiB each, within the count.
    let expected = usize::try_from((max_bytes / 1024).min(entries)).unwrap_or(max_entries);
    quick_cache::sync::Cache::with_weighter(
        expected.max(1),
        max_bytes.max(least),
        ByWeight { least },
    )
}

impl Gate {
    /// A record standing for a key from a file or the uploaded set. Its id is derived
    /// from the key's digest with the salt, so it is stable across reloads and says
    /// nothing about the key.
    pub(super) fn file_record(&self, f: keyfile::Found) -> TokenRecord {
        let mut input = b"keygate key-source id\0".to_vec();
        input.extend_from_slice(&f.digest);
        let derived = KeyHash::of(&self.salt, &String::from_utf8_lossy(&input)).to_hex();
        let id = TokenId::derived(format!("kf_{}", &derived[..16]));
        TokenRecord::plain(
            id,
            KeyHash(f.digest),
            HashAlg::Keyed,
            f.ident.owner,
            f.ident.name,
            format!("from {}", f.ident.source),
            f.ident.loaded_at,
            f.ident.source,
        )
    }

    pub(super) fn known(
        &self,
        record: TokenRecord,
        in_store: bool,
        owner: Option<OwnerPolicy>,
        granted: Granted,
    ) -> Known {
        let ids = &self.settings.identity_headers;
        // What the store holds is checked again on the way out (the store is trusted
        // to be ours, not to be well-formed): an owner that breaks the API's rules
        // refuses the key, since an identity must never be altered; a name is
        // informational, so it is cut to what the API accepts.
        let refused = crate::model::text::validate_owner(&record.owner).err().map(|e| {
            tracing::warn!(token_id = %record.id, error = %e, "refusing a key whose stored owner may not be sent upstream");
            "the key's stored owner is invalid"
        });
        let name = upstream_name(&record.name);
        if name != record.name {
            tracing::warn!(token_id = %record.id, "a key's stored name breaks the rules for names; sending it shortened and without the refused characters");
        }
        let mut headers = HeaderMap::with_capacity(3);
        for (header, value) in [
            (&ids.user, record.owner.as_str()),
            (&ids.token_id, record.id.as_str()),
            (&ids.token_name, &*name),
        ] {
            if let Some(n) = header
                && refused.is_none()
            {
                headers.insert(n.clone(), header_value(value));
            }
        }
        if let Some(n) = &ids.permissions
            && refused.is_none()
            && !granted.is_empty()
        {
            let list: Vec<&str> = granted.list().iter().map(|p| p.as_str()).collect();
            headers.insert(n.clone(), header_value(&list.join(",")));
        }
        let last = record.last_used_at.map_or(0, |t| t.unix());
        let key_limits = (!record.limits.is_empty()).then(|| Arc::new(record.limits.clone()));
        let key_slot = key_limits.as_ref().map(|l| {
            self.limits
                .slot(Scope::Key, record.usage_slot(), l.clone(), None)
        });
        let owner_slot = owner.as_ref().map(|p| {
            self.limits.slot(
                Scope::Owner,
                crate::limits::owner::owner_slot(&record.owner),
                p.0.clone(),
                p.1,
            )
        });
        let limit_policy = crate::limits::policy_header(
            key_slot.as_ref().map(|_| &record.limits),
            owner.as_ref().map(|p| &*p.0),
        )
        .and_then(|v| HeaderValue::from_str(&v).ok());
        Known {
            record,
            headers,
            last_used: std::sync::atomic::AtomicI64::new(last),
            queued: std::sync::atomic::AtomicU64::new(u64::MAX),
            in_store,
            refused,
            slots: [key_slot, owner_slot],
            limit_policy,
            key_limits,
            owner_limits: owner.map(|p| p.0.clone()),
            granted,
            memo: Default::default(),
            noted: [
                std::sync::atomic::AtomicI64::new(i64::MIN),
                std::sync::atomic::AtomicI64::new(i64::MIN),
            ],
        }
    }
}

/// A key's name as sent upstream: without the characters names may not hold and at
/// most [`crate::model::text::MAX_NAME_LEN`] characters (what the API accepts), whatever
/// the store holds.
pub fn upstream_name(name: &str) -> std::borrow::Cow<'_, str> {
    let ok = name.chars().all(crate::model::text::allowed_char)
        && name.chars().nth(crate::model::text::MAX_NAME_LEN).is_none();
    if ok {
        return std::borrow::Cow::Borrowed(name);
    }
    std::borrow::Cow::Owned(
        name.chars()
            .filter(|c| crate::model::text::allowed_char(*c))
            .take(crate::model::text::MAX_NAME_LEN)
            .collect(),
    )
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
