//! Usage limits: how much a key (and its owner) may be used.
//!
//! - [`Limits`]: what a key or an owner is allowed — named rate limits (`100` per `1m`)
//!   and a quota of credits with an optional refill. Parsed and validated here, once;
//!   a value of these types is valid by construction.
//! - [`engine`]: enforcement on the hot path, from allowances leased from the store in
//!   batches (docs/scaling.md, "Usage limits across replicas").
//! - [`owner`]: how an owner's own limits are kept in the store.
//!
//! Windows are fixed and aligned to the Unix epoch (a `1m` window runs from one whole
//! minute to the next), so every replica computes the same window from its clock and
//! the store needs one counter per window. Refills happen at the start of each interval
//! (`daily`: midnight UTC, `weekly`: Monday 00:00 UTC, `monthly`: the 1st, 00:00 UTC, a
//! duration: epoch-aligned) and set the balance to the refill amount.

pub mod engine;
mod lease;
pub mod low_credits;
pub mod owner;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Rate limits one key or owner may have at most.
pub const MAX_RATE_LIMITS: usize = 8;
/// Largest `limit` of a rate limit.
pub const MAX_LIMIT: u64 = 1_000_000_000_000;
/// Largest credit balance or refill amount (stays exact in JavaScript numbers).
pub const MAX_CREDITS: u64 = 1_000_000_000_000_000;
/// Longest rate-limit window.
pub const MAX_WINDOW: Duration = Duration::from_secs(31 * 86_400);
const MAX_NAME_LEN: usize = 32;

/// A length of time written `<n><unit>` with unit `s`, `m`, `h` or `d`; whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(u64);

impl Span {
    pub fn secs(self) -> u64 {
        self.0
    }

    /// A span of `secs` seconds; `None` for 0 (a window is at least 1s).
    pub fn from_secs(secs: u64) -> Option<Span> {
        (secs > 0).then_some(Span(secs))
    }

    pub fn millis(self) -> i64 {
        i64::try_from(self.0.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Parses `30s`, `1m`, `12h`, `7d` (whitespace around is ignored).
    pub fn parse(s: &str) -> Result<Span, String> {
        let t = s.trim();
        let shown: String = t.chars().take(40).collect();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "" => {
                return Err(format!(
                    "`{shown}` has no unit: write it like 30s, 1m, 1h or 1d"
                ));
            }
            _ => {
                return Err(format!(
                    "`{shown}`: unknown unit (s, m, h or d; e.g. 1m for a minute)"
                ));
            }
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{shown}` is not a whole number and a unit, like 1m"))?;
        if n == 0 {
            return Err(format!("`{shown}`: a window must be at least 1s"));
        }
        n.checked_mul(mult)
            .map(Span)
            .ok_or_else(|| format!("`{shown}` is far too long"))
    }
}

impl fmt::Display for Span {
    /// The largest unit that divides it exactly: 60 s is `1m`, 90 s is `90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if n >= size && n.is_multiple_of(size) {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}s")
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One named rate limit: at most `limit` uses per `window`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// 1–32 of `[A-Za-z0-9_.-]`, unique among a key's (or owner's) limits, not starting
    /// with `owner.` (the prefix owner limits carry in `RateLimit-Policy` and `/verify`).
    /// A label only: the window is what the limit is counted by, so renaming a limit
    /// keeps its count.
    pub name: String,
    /// 1 to 10^12.
    pub limit: u64,
    /// `<n><unit>`, unit `s`, `m`, `h` or `d`; 1s to 31d.
    #[schema(value_type = String, example = "1m")]
    pub window: Span,
}

impl RateLimit {
    /// Parses `100/1m` or `name=100/1m` (the CLI's and the configuration's form); the
    /// name defaults to the window (`1m`).
    pub fn parse_spec(s: &str) -> Result<RateLimit, String> {
        let shown: String = s.trim().chars().take(60).collect();
        let (name, rest) = match s.split_once('=') {
            Some((n, r)) => (Some(n.trim()), r),
            None => (None, s),
        };
        let (limit, window) = rest.split_once('/').ok_or_else(|| {
            format!("`{shown}` is not a rate limit like 100/1m or per-minute=100/1m")
        })?;
        let limit = limit
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("`{shown}`: the limit must be a whole number"))?;
        let window = Span::parse(window)?;
        let r = RateLimit {
            name: name.map_or_else(|| window.to_string(), str::to_owned),
            limit,
            window,
        };
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), String> {
        check_name(&self.name)?;
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(format!(
                "rate limit `{}`: the limit must be 1 to {MAX_LIMIT}",
                self.name
            ));
        }
        if self.window.secs() > MAX_WINDOW.as_secs() {
            return Err(format!(
                "rate limit `{}`: the window must be at most 31d",
                self.name
            ));
        }
        Ok(())
    }
}

/// What rate limits are named after in answers that list a key's and its owner's
/// together; a key's own limit may not start with it.
pub const OWNER_PREFIX: &str = "owner.";

fn check_name(name: &str) -> Result<(), String> {
    if name.starts_with(OWNER_PREFIX) {
        let shown: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
        return Err(format!(
            "rate limit name `{shown}` must not start with `{OWNER_PREFIX}`: that prefix marks an owner's limits in RateLimit-Policy and /verify"
        ));
    }
    let ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        let shown: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
        Err(format!(
            "rate limit name `{shown}` must be 1 to {MAX_NAME_LEN} of letters, digits, `_`, `-`, `.`"
        ))
    }
}

/// When a credit balance is set back to its refill amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// Midnight UTC.
    Daily,
    /// Monday 00:00 UTC.
    Weekly,
    /// The 1st of the month, 00:00 UTC.
    Monthly,
    /// Every span since the Unix epoch (at least a minute).
    Every(Span),
}

impl Interval {
    pub fn parse(s: &str) -> Result<Interval, String> {
        match s.trim() {
            "daily" => Ok(Interval::Daily),
            "weekly" => Ok(Interval::Weekly),
            "monthly" => Ok(Interval::Monthly),
            other => {
                let span = Span::parse(other).map_err(|e| {
                    format!("refill interval: daily, weekly, monthly or a duration like 12h ({e})")
                })?;
                Interval::every(span)
            }
        }
    }

    /// A refill every `span`: 1m to 366d.
    pub fn every(span: Span) -> Result<Interval, String> {
        if span.secs() < 60 {
            return Err("refill interval: at least 1m".into());
        }
        if span.secs() > 366 * 86_400 {
            return Err("refill interval: at most 366d".into());
        }
        Ok(Interval::Every(span))
    }

    /// Unix milliseconds at which the interval holding `now_ms` began.
    pub fn period_start(self, now_ms: i64) -> i64 {
        const DAY: i64 = 86_400_000;
        let day = now_ms.div_euclid(DAY);
        match self {
            Interval::Daily => day * DAY,
            // 1970-01-01 was a Thursday: Monday is 3 days before day 4 (1970-01-05).
            Interval::Weekly => (day - (day + 3).rem_euclid(7)) * DAY,
            Interval::Monthly => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * DAY
            }
            Interval::Every(span) => {
                let p = span.millis().max(1);
                now_ms.div_euclid(p) * p
            }
        }
    }

    /// Unix milliseconds at which the interval after the one holding `now_ms` begins.
    pub fn next_start(self, now_ms: i64) -> i64 {
        const DAY: i64 = 86_400_000;
        let start = self.period_start(now_ms);
        match self {
            Interval::Daily => start + DAY,
            Interval::Weekly => start + 7 * DAY,
            Interval::Monthly => {
                let (y, m, _) = civil_from_days(start.div_euclid(DAY));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * DAY
            }
            Interval::Every(span) => start + span.millis().max(1),
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interval::Daily => f.write_str("daily"),
            Interval::Weekly => f.write_str("weekly"),
            Interval::Monthly => f.write_str("monthly"),
            Interval::Every(s) => write!(f, "{s}"),
        }
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Interval::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31), proleptic Gregorian (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A refill: the balance is set to `amount` at the start of every interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refill {
    /// 1 to 10^15.
    pub amount: u64,
    /// `daily`, `weekly`, `monthly` or a duration like `12h` (at least `1m`).
    #[schema(value_type = String, example = "monthly")]
    pub interval: Interval,
}

impl Refill {
    /// Parses `10000/monthly` or `500/12h`.
    pub fn parse_spec(s: &str) -> Result<Refill, String> {
        let shown: String = s.trim().chars().take(60).collect();
        let (amount, interval) = s
            .split_once('/')
            .ok_or_else(|| format!("`{shown}` is not a refill like 10000/monthly or 500/12h"))?;
        let amount = amount
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("`{shown}`: the refill amount must be a whole number"))?;
        let r = Refill {
            amount,
            interval: Interval::parse(interval)?,
        };
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=MAX_CREDITS).contains(&self.amount) {
            return Err(format!("refill amount must be 1 to {MAX_CREDITS}"));
        }
        Ok(())
    }
}

/// A quota as configured on a key or owner; the live balance is kept by the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
}

/// What a key or owner is allowed. Empty = unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimit>,
    /// `Some`: uses are counted against a balance of credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<CreditPolicy>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.rate_limits.is_empty() && self.credits.is_none()
    }

    /// Checks what serde cannot: bounds, names, duplicates.
    pub fn check(&self) -> Result<(), String> {
        if self.rate_limits.len() > MAX_RATE_LIMITS {
            return Err(format!("at most {MAX_RATE_LIMITS} rate limits"));
        }
        for (i, r) in self.rate_limits.iter().enumerate() {
            r.check()?;
            if self.rate_limits[..i].iter().any(|o| o.name == r.name) {
                return Err(format!("two rate limits are named `{}`", r.name));
            }
            if let Some(o) = self.rate_limits[..i].iter().find(|o| o.window == r.window) {
                return Err(format!(
                    "rate limits `{}` and `{}` both count per {}: keep the lower one (a window is counted once, whatever its name)",
                    o.name, r.name, r.window
                ));
            }
        }
        if let Some(Some(r)) = self.credits.map(|c| c.refill) {
            r.check()?;
        }
        Ok(())
    }

    /// Whether these limits (with `balance` credits) are no looser than `base` (with
    /// `base_balance`): every rate limit of `base` has one with the same window and a
    /// limit no higher; a quota in `base` stays, with no more credits and a refill no
    /// larger and no more frequent. What users may do to their own keys unless
    /// `limits.users_may_raise` is set. `None` balances mean "unchanged".
    pub fn within(&self, balance: Option<u64>, base: &Limits, base_balance: Option<u64>) -> bool {
        let rates_ok = base.rate_limits.iter().all(|b| {
            self.rate_limits
                .iter()
                .any(|n| n.window == b.window && n.limit <= b.limit)
        });
        let credits_ok = match (&base.credits, &self.credits) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(b), Some(n)) => {
                let balance_ok = match (balance, base_balance) {
                    (Some(n), Some(b)) => n <= b,
                    _ => true,
                };
                let refill_ok = match (b.refill, n.refill) {
                    (_, None) => true,
                    (None, Some(_)) => false,
                    (Some(b), Some(n)) => {
                        n.amount <= b.amount && interval_len(n.interval) >= interval_len(b.interval)
                    }
                };
                balance_ok && refill_ok
            }
        };
        rates_ok && credits_ok
    }
}

/// The name of each rate limit's counter in the store: its window (`1m`), so that
/// renaming a limit, or changing its number, keeps the window's count. Two limits of
/// one window (refused since, possible in records written before) get `1m`, `1m#2`, ….
pub fn counter_ids(rates: &[RateLimit]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(rates.len());
    for (i, r) in rates.iter().enumerate() {
        let before = rates[..i].iter().filter(|o| o.window == r.window).count();
        out.push(if before == 0 {
            r.window.to_string()
        } else {
            format!("{}#{}", r.window, before + 1)
        });
    }
    out
}

/// A comparable length of an interval (months as 28 days: the shortest).
fn interval_len(i: Interval) -> u64 {
    match i {
        Interval::Daily => 86_400,
        Interval::Weekly => 7 * 86_400,
        Interval::Monthly => 28 * 86_400,
        Interval::Every(s) => s.secs(),
    }
}

/// The `RateLimit-Policy` header value for a key's and its owner's rate limits
/// (`"per-minute";q=100;w=60, "owner.hourly";q=5000;w=3600`); `None` without any.
pub fn policy_header(key: Option<&Limits>, owner: Option<&Limits>) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::new();
    for (prefix, limits) in [("", key), ("owner.", owner)] {
        for r in limits.iter().flat_map(|l| &l.rate_limits) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            let _ = write!(
                out,
                "\"{prefix}{}\";q={};w={}",
                r.name,
                r.limit,
                r.window.secs()
            );
        }
    }
    (!out.is_empty()).then_some(out)
}

/// What happens to a limited key's requests while the store cannot be asked for a new
/// lease (`limits.on_store_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreError {
    /// Refuse with 503 (the default: a limit is a promise).
    Deny,
    /// Let them through uncounted.
    Allow,
}

/// Whose limit: the key's own or its owner's (shared by all their keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Key,
    Owner,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Owner => "owner",
        }
    }
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// Rate limit number `index` of the scope's list; retry after this many seconds.
    Rate {
        scope: Scope,
        index: u8,
        retry_after: u64,
    },
    /// No credits left; `retry_after`: seconds to the next refill, if there is one.
    Credits {
        scope: Scope,
        retry_after: Option<u64>,
    },
}

impl Exceeded {
    /// The error code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Exceeded::Rate { .. } => "rate_limited",
            Exceeded::Credits { .. } => "usage_exceeded",
        }
    }

    pub fn scope(self) -> Scope {
        match self {
            Exceeded::Rate { scope, .. } | Exceeded::Credits { scope, .. } => scope,
        }
    }

    pub fn retry_after(self) -> Option<u64> {
        match self {
            Exceeded::Rate { retry_after, .. } => Some(retry_after),
            Exceeded::Credits { retry_after, .. } => retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print_canonically() {
        assert_eq!(Span::parse("1m").unwrap().secs(), 60);
        assert_eq!(Span::parse(" 90s ").unwrap().to_string(), "90s");
        assert_eq!(Span::parse("120s").unwrap().to_string(), "2m");
        assert_eq!(Span::parse("24h").unwrap().to_string(), "1d");
        for bad in [
            "",
            "m",
            "0s",
            "-1m",
            "1.5m",
            "1 m",
            "1w",
            "1M",
            "99999999999999999999d",
        ] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_limit_specs() {
        let r = RateLimit::parse_spec("100/1m").unwrap();
        assert_eq!((r.name.as_str(), r.limit, r.window.secs()), ("1m", 100, 60));
        let r = RateLimit::parse_spec("burst=5/1s").unwrap();
        assert_eq!(r.name, "burst");
        for bad in [
            "100", "0/1m", "-1/1m", "100/0s", "100/32d", "a b=1/1m", "=1/1m", "1/1x",
        ] {
            assert!(RateLimit::parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn owner_prefixed_names_are_refused() {
        let e = RateLimit::parse_spec("owner.x=5/1h").unwrap_err();
        assert!(e.contains("must not start with `owner.`"), "{e}");
        let json = r#"{"rate_limits":[{"name":"owner.hourly","limit":1,"window":"1h"}]}"#;
        let l: Limits = serde_json::from_str(json).unwrap();
        assert!(l.check().unwrap_err().contains("owner."));
        assert!(RateLimit::parse_spec("owners=5/1h").is_ok());
    }

    #[test]
    fn counters_are_named_by_window_not_name() {
        let a = [RateLimit::parse_spec("hourly=5/1h").unwrap()];
        let b = [RateLimit::parse_spec("renamed=3/1h").unwrap()];
        assert_eq!(counter_ids(&a), counter_ids(&b));
        assert_eq!(counter_ids(&a), ["1h"]);
        // A default name was its window: counters written before keep their names.
        assert_eq!(
            counter_ids(&[RateLimit::parse_spec("5/1m").unwrap()]),
            ["1m"]
        );
        let legacy = [
            RateLimit::parse_spec("a=5/1m").unwrap(),
            RateLimit::parse_spec("b=9/1h").unwrap(),
            RateLimit::parse_spec("c=7/1m").unwrap(),
        ];
        assert_eq!(counter_ids(&legacy), ["1m", "1h", "1m#2"]);
        let two = Limits {
            rate_limits: vec![legacy[0].clone(), legacy[2].clone()],
            credits: None,
        };
        assert!(two.check().unwrap_err().contains("both count per 1m"));
    }

    #[test]
    fn limits_are_checked() {
        let dup = Limits {
            rate_limits: vec![
                RateLimit::parse_spec("a=1/1m").unwrap(),
                RateLimit::parse_spec("a=2/1h").unwrap(),
            ],
            credits: None,
        };
        assert!(dup.check().unwrap_err().contains("two rate limits"));
        let json = r#"{"rate_limits":[{"name":"x","limit":1,"window":"1y"}]}"#;
        assert!(serde_json::from_str::<Limits>(json).is_err());
    }

    #[test]
    fn calendar_periods() {
        // 2026-12-01T10:00:00Z is a Tuesday.
        let now = 1_796_119_200_000;
        assert_eq!(Interval::Daily.period_start(now), 1_796_083_200_000);
        // Monday 2026-11-30.
        assert_eq!(Interval::Weekly.period_start(now), 1_795_996_800_000);
        // 2026-12-01 00:00.
        assert_eq!(Interval::Monthly.period_start(now), 1_796_083_200_000);
        // 2027-01-01 00:00.
        assert_eq!(Interval::Monthly.next_start(now), 1_798_761_600_000);
        let h = Interval::parse("12h").unwrap();
        assert_eq!(h.next_start(now) - h.period_start(now), 43_200_000);
        assert!(Interval::parse("30s").is_err());
        assert!(Interval::parse("yearly").is_err());
        for day in [-1000, 0, 59, 60, 11_016, 20_000, 100_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn tightening_and_raising() {
        let base = Limits {
            rate_limits: vec![RateLimit::parse_spec("100/1m").unwrap()],
            credits: Some(CreditPolicy {
                refill: Some(Refill::parse_spec("1000/monthly").unwrap()),
            }),
        };
        let mut tighter = base.clone();
        tighter.rate_limits[0].limit = 50;
        tighter
            .rate_limits
            .push(RateLimit::parse_spec("1000/1h").unwrap());
        assert!(tighter.within(Some(10), &base, Some(500)));
        assert!(!tighter.within(Some(501), &base, Some(500)));
        let mut looser = base.clone();
        looser.rate_limits[0].limit = 101;
        assert!(!looser.within(None, &base, None));
        let mut no_quota = base.clone();
        no_quota.credits = None;
        assert!(!no_quota.within(None, &base, None));
        let mut daily = base.clone();
        daily.credits = Some(CreditPolicy {
            refill: Some(Refill::parse_spec("1000/daily").unwrap()),
        });
        assert!(!daily.within(None, &base, None));
        assert!(base.within(None, &Limits::default(), None));
    }
}
