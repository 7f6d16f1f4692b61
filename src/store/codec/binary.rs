//! The binary record format, written and read by hand: a writer of LEB128 varints and
//! length-prefixed strings, and a reader that decodes straight from the slice.
//!
//! **Format 1**, field by field in this order (`varint`: unsigned LEB128, shortest
//! form; `str`: a varint byte length, then UTF-8; `time`: varint Unix seconds; `count`:
//! a varint):
//!
//! | field | encoding |
//! |---|---|
//! | version | `0x01` |
//! | id, owner | str, str (the header) |
//! | hash | 32 bytes |
//! | hash_alg | byte: 0 keyed, 1 sha256 |
//! | name, hint | str, str |
//! | created_at, created_by | time, str |
//! | flags | byte: 1 disabled, 2 expires_at, 4 last_used_at, 8 replaces, 16 replaced_by, 32 grace_until, 64 usage_of (128 unused, must be 0) |
//! | the optional fields present | in the flags' order: time, time, str, str, time, str |
//! | rules | count; each: count + str per host, count + str per path, count + str per method |
//! | metadata | count; each: str key, str value, keys in strictly ascending byte order |
//! | rate limits | count; each: str name, varint limit, varint window seconds (≥ 1) |
//! | credits | byte: 0 none, 1 without refill, 2 with refill: varint amount, byte interval (0 daily, 1 weekly, 2 monthly, 3 every: varint seconds, 60 to 366 days) |
//!
//!
//! **Format 2** is format 1 followed by the key's grants (written only for a key that has
//! any, so that a keygate reading format 1 still reads every other record):
//!
//! | field | encoding |
//! |---|---|
//! | grant flags | byte: 1 does not inherit its owner's roles (others unused, must be 0) |
//! | roles | count + str per role name |
//! | permissions | count + str per permission |
//!
//! Nothing may follow.

use std::collections::BTreeMap;
use std::fmt;

use crate::clock::Timestamp;
use crate::limits::{CreditPolicy, Interval, Limits, RateLimit, Refill, Span};
use crate::model::{HashAlg, TokenId, TokenRecord};
use crate::permissions::{Permission, RoleName};
use crate::rules::{HostPattern, Method, PathPattern, Rule};
use crate::token::KeyHash;

/// The header every binary format begins with: the version byte, the id, the owner.
pub(super) fn header(bytes: &[u8]) -> Result<(TokenId, &str), Bad> {
    let mut r = Reader { b: bytes, at: 1 };
    let id = r.id("id")?;
    Ok((id, r.str("owner")?))
}

/// Whether a record needs format 2 (it has grants).
fn has_grants(r: &TokenRecord) -> bool {
    !r.roles.is_empty() || !r.permissions.is_empty() || !r.inherit_owner_roles
}

/// Writes `record` in binary format 1, or 2 when it has grants ([`super::BINARY_VERSION`] is
/// the newest).
pub fn encode_binary(record: &TokenRecord) -> Vec<u8> {
    let r = record;
    let mut w = Writer(Vec::with_capacity(128 + r.name.len() + r.owner.len()));
    w.0.push(if has_grants(r) { 2 } else { 1 });
    w.str(r.id.as_str());
    w.str(&r.owner);
    w.0.extend_from_slice(&r.hash.0);
    w.0.push(match r.hash_alg {
        HashAlg::Keyed => 0,
        HashAlg::Sha256 => 1,
    });
    w.str(&r.name);
    w.str(&r.hint);
    w.time(r.created_at);
    w.str(&r.created_by);
    let flags = u8::from(r.disabled)
        | if r.expires_at.is_some() { 2 } else { 0 }
        | if r.last_used_at.is_some() { 4 } else { 0 }
        | if r.replaces.is_some() { 8 } else { 0 }
        | if r.replaced_by.is_some() { 16 } else { 0 }
        | if r.grace_until.is_some() { 32 } else { 0 }
        | if r.usage_of.is_some() { 64 } else { 0 };
    w.0.push(flags);
    for t in [r.expires_at, r.last_used_at].into_iter().flatten() {
        w.time(t);
    }
    for id in [&r.replaces, &r.replaced_by].into_iter().flatten() {
        w.str(id.as_str());
    }
    if let Some(t) = r.grace_until {
        w.time(t);
    }
    if let Some(id) = &r.usage_of {
        w.str(id.as_str());
    }
    w.count(r.rules.len());
    for rule in &r.rules {
        w.strs(rule.hosts.iter().map(HostPattern::as_str), rule.hosts.len());
        w.strs(rule.paths.iter().map(PathPattern::as_str), rule.paths.len());
        w.strs(rule.methods.iter().map(Method::as_str), rule.methods.len());
    }
    w.count(r.metadata.len());
    for (k, v) in &r.metadata {
        w.str(k);
        w.str(v);
    }
    w.count(r.limits.rate_limits.len());
    for l in &r.limits.rate_limits {
        w.str(&l.name);
        w.varint(l.limit);
        w.varint(l.window.secs());
    }
    match r.limits.credits.map(|c| c.refill) {
        None => w.0.push(0),
        Some(None) => w.0.push(1),
        Some(Some(refill)) => {
            w.0.push(2);
            w.varint(refill.amount);
            match refill.interval {
                Interval::Daily => w.0.push(0),
                Interval::Weekly => w.0.push(1),
                Interval::Monthly => w.0.push(2),
                Interval::Every(span) => {
                    w.0.push(3);
                    w.varint(span.secs());
                }
            }
        }
    }
    if has_grants(r) {
        w.0.push(u8::from(!r.inherit_owner_roles));
        w.strs(r.roles.iter().map(RoleName::as_str), r.roles.len());
        w.strs(
            r.permissions.iter().map(Permission::as_str),
            r.permissions.len(),
        );
    }
    w.0
}

pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    fn count(&mut self, n: usize) {
        self.varint(n as u64);
    }

    pub(super) fn str(&mut self, s: &str) {
        self.count(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn strs<'a>(&mut self, items: impl Iterator<Item = &'a str>, n: usize) {
        self.count(n);
        for s in items {
            self.str(s);
        }
    }

    /// Timestamps are 0 to [`Timestamp::MAX`] by construction.
    fn time(&mut self, t: Timestamp) {
        self.varint(u64::try_from(t.unix()).unwrap_or(0));
    }
}

/// Why binary bytes do not decode: what was being read, and where.
#[derive(Debug)]
pub(super) struct Bad {
    what: &'static str,
    at: usize,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "binary record format: bad {} at byte {}",
            self.what, self.at
        )
    }
}

/// Reads a binary record from its slice: nothing is copied but the strings kept.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bad<T>(&self, what: &'static str) -> Result<T, Bad> {
        Err(Bad { what, at: self.at })
    }

    fn left(&self) -> usize {
        self.b.len().saturating_sub(self.at)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Bad> {
        match self.b.get(self.at..self.at.saturating_add(n)) {
            Some(s) if n <= self.left() => {
                self.at += n;
                Ok(s)
            }
            _ => self.bad(what),
        }
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, Bad> {
        Ok(self.take(1, what)?[0])
    }

    /// Unsigned LEB128 in its shortest form, at most 64 bits.
    fn varint(&mut self, what: &'static str) -> Result<u64, Bad> {
        let start = self.at;
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let part = u64::from(b & 0x7f);
            // The tenth byte holds the 64th bit only; a last byte of 0 is a longer form.
            if (shift == 63 && part > 1) || (b == 0 && shift > 0) {
                self.at = start;
                return self.bad(what);
            }
            n |= part << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        self.at = start;
        self.bad(what)
    }

    /// A count of items that take a byte each at least: never more than the bytes left,
    /// so a hostile count cannot make a large allocation.
    fn count(&mut self, what: &'static str) -> Result<usize, Bad> {
        match usize::try_from(self.varint(what)?) {
            Ok(n) if n <= self.left() => Ok(n),
            _ => self.bad(what),
        }
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, Bad> {
        let n = self.count(what)?;
        let at = self.at;
        let bytes = self.take(n, what)?;
        std::str::from_utf8(bytes).map_err(|_| Bad { what, at })
    }

    fn string(&mut self, what: &'static str) -> Result<String, Bad> {
        self.str(what).map(str::to_owned)
    }

    fn id(&mut self, what: &'static str) -> Result<TokenId, Bad> {
        let at = self.at;
        TokenId::parse(self.str(what)?).map_err(|_| Bad { what, at })
    }

    fn time(&mut self, what: &'static str) -> Result<Timestamp, Bad> {
        let at = self.at;
        match i64::try_from(self.varint(what)?) {
            Ok(t) if t <= Timestamp::MAX.unix() => Ok(Timestamp::from_unix(t)),
            _ => Err(Bad { what, at }),
        }
    }

    /// `count` items parsed from strings by `parse`.
    fn list<T>(
        &mut self,
        what: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, Bad> {
        let n = self.count(what)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let at = self.at;
            out.push(parse(self.str(what)?).map_err(|_| Bad { what, at })?);
        }
        Ok(out)
    }
}

pub(super) fn decode_binary(bytes: &[u8]) -> Result<TokenRecord, Bad> {
    let mut r = Reader { b: bytes, at: 1 };
    let id = r.id("id")?;
    let owner = r.string("owner")?;
    let hash = KeyHash(r.take(32, "hash")?.try_into().map_err(|_| Bad {
        what: "hash",
        at: r.at,
    })?);
    let hash_alg = match r.byte("hash algorithm")? {
        0 => HashAlg::Keyed,
        1 => HashAlg::Sha256,
        _ => {
            return Err(Bad {
                what: "hash algorithm",
                at: r.at - 1,
            });
        }
    };
    let name = r.string("name")?;
    let hint = r.string("hint")?;
    let created_at = r.time("created_at")?;
    let created_by = r.string("created_by")?;
    let flags = r.byte("flags")?;
    if flags & 0x80 != 0 {
        return Err(Bad {
            what: "flags",
            at: r.at - 1,
        });
    }
    let has = |bit: u8| flags & bit != 0;
    let expires_at = has(2).then(|| r.time("expires_at")).transpose()?;
    let last_used_at = has(4).then(|| r.time("last_used_at")).transpose()?;
    let replaces = has(8).then(|| r.id("replaces")).transpose()?;
    let replaced_by = has(16).then(|| r.id("replaced_by")).transpose()?;
    let grace_until = has(32).then(|| r.time("grace_until")).transpose()?;
    let usage_of = has(64).then(|| r.id("usage_of")).transpose()?;
    let rules = (0..r.count("rules")?)
        .map(|_| {
            Ok(Rule {
                hosts: r.list("host pattern", HostPattern::parse)?,
                paths: r.list("path pattern", PathPattern::parse)?,
                methods: r.list("method", Method::parse)?,
            })
        })
        .collect::<Result<Vec<_>, Bad>>()?;
    let mut metadata = BTreeMap::new();
    let mut last: Option<&str> = None;
    for _ in 0..r.count("metadata")? {
        let at = r.at;
        let k = r.str("metadata key")?;
        // Ascending, as written from the map: one way to write each record.
        if last.is_some_and(|l| l >= k) {
            return Err(Bad {
                what: "metadata key order",
                at,
            });
        }
        last = Some(k);
        metadata.insert(k.to_owned(), r.string("metadata value")?);
    }
    let rate_limits = (0..r.count("rate limits")?)
        .map(|_| {
            let name = r.string("rate limit name")?;
            let limit = r.varint("rate limit")?;
            let at = r.at;
            let window = Span::from_secs(r.varint("rate limit window")?).ok_or(Bad {
                what: "rate limit window",
                at,
            })?;
            Ok(RateLimit {
                name,
                limit,
                window,
            })
        })
        .collect::<Result<Vec<_>, Bad>>()?;
    let credits = match r.byte("credits")? {
        0 => None,
        1 => Some(CreditPolicy { refill: None }),
        2 => {
            let amount = r.varint("refill amount")?;
            let interval = match r.byte("refill interval")? {
                0 => Interval::Daily,
                1 => Interval::Weekly,
                2 => Interval::Monthly,
                3 => {
                    let at = r.at;
                    Span::from_secs(r.varint("refill interval")?)
                        .and_then(|s| Interval::every(s).ok())
                        .ok_or(Bad {
                            what: "refill interval",
                            at,
                        })?
                }
                _ => {
                    return Err(Bad {
                        what: "refill interval",
                        at: r.at - 1,
                    });
                }
            };
            Some(CreditPolicy {
                refill: Some(Refill { amount, interval }),
            })
        }
        _ => {
            return Err(Bad {
                what: "credits",
                at: r.at - 1,
            });
        }
    };
    let (mut roles, mut permissions, mut inherit_owner_roles) = (Vec::new(), Vec::new(), true);
    if bytes.first() == Some(&2) {
        let at = r.at;
        let flags = r.byte("grant flags")?;
        if flags > 1 {
            return Err(Bad {
                what: "grant flags",
                at,
            });
        }
        inherit_owner_roles = flags == 0;
        roles = r.list("role", RoleName::parse)?;
        permissions = r.list("permission", Permission::parse)?;
        if roles.is_empty() && permissions.is_empty() && inherit_owner_roles {
            // One way to write each record: a key without grants is format 1.
            return Err(Bad {
                what: "grants (none, in format 2)",
                at,
            });
        }
    }
    if r.left() > 0 {
        return r.bad("end (trailing bytes)");
    }
    Ok(TokenRecord {
        id,
        hash,
        hash_alg,
        owner,
        name,
        hint,
        created_at,
        created_by,
        expires_at,
        disabled: has(1),
        last_used_at,
        rules,
        metadata,
        replaces,
        replaced_by,
        grace_until,
        limits: Limits {
            rate_limits,
            credits,
        },
        usage_of,
        roles,
        permissions,
        inherit_owner_roles,
    })
}
