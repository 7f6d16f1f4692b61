//! Time as a parameter.
//!
//! Nothing in keygate reads the wall clock directly (clippy's `disallowed-methods` enforces
//! it); everything asks a [`Clock`]. The clock is anchored once to the system time and then
//! advances with `tokio::time::Instant`, so a test that pauses tokio's time
//! (`tokio::time::pause()` + `advance`) moves keygate's idea of "now" too, and expiry,
//! cache TTLs and throttle windows can be tested without sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, whole seconds since the Unix epoch (UTC).
///
/// Serialised as an RFC 3339 string (`2026-12-31T00:00:00Z`); deserialised from that or
/// from a plain number of seconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The latest instant keygate accepts (9999-12-31T23:59:59Z), so formatting never fails.
    pub const MAX: Timestamp = Timestamp(253_402_300_799);

    pub fn from_unix(secs: i64) -> Self {
        Timestamp(secs.clamp(0, Self::MAX.0))
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    /// `self + d`, saturating at [`Timestamp::MAX`].
    pub fn plus(self, d: Duration) -> Self {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(secs).min(Self::MAX.0))
    }

    /// Parses `2026-12-31T00:00:00Z`, `2026-12-31T00:00:00.123Z` or a bare date
    /// `2026-12-31` (midnight UTC).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (full, offset) = if s.len() == 10 && !s.contains('T') {
            (format!("{s}T00:00:00Z"), 0)
        } else {
            let (base, offset) = split_offset(s);
            (format!("{base}Z"), offset)
        };
        let t = humantime::parse_rfc3339(&full).map_err(|e| {
            format!(
                "`{s}` is not a date-time like 2026-12-31T00:00:00Z, 2026-12-31T01:00:00+01:00 or 2026-12-31 ({e})"
            )
        })?;
        let secs = t
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map(|s| s - offset)
            .filter(|s| *s >= 0)
            .ok_or_else(|| format!("`{s}` is before 1970"))?;
        Ok(Timestamp::from_unix(secs))
    }

    fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(self.0).unwrap_or(0))
    }
}

/// `2026-12-31T01:00:00+01:00` → (`2026-12-31T01:00:00`, 3600): RFC 3339's numeric
/// offsets, so that a date-time in any zone is taken (and stored in UTC). A trailing `Z`
/// is offset 0; anything else is left for the parser to refuse.
fn split_offset(s: &str) -> (&str, i64) {
    if let Some(base) = s.strip_suffix(['Z', 'z']) {
        return (base, 0);
    }
    let b = s.as_bytes();
    if b.len() > 6 && s.is_char_boundary(b.len() - 6) {
        let (base, off) = s.split_at(b.len() - 6);
        let o = off.as_bytes();
        let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
        if (o[0] == b'+' || o[0] == b'-') && o[3] == b':' && digits(&o[1..3]) && digits(&o[4..6]) {
            let h = i64::from(o[1] - b'0') * 10 + i64::from(o[2] - b'0');
            let m = i64::from(o[4] - b'0') * 10 + i64::from(o[5] - b'0');
            if h < 24 && m < 60 {
                let sign = if o[0] == b'-' { -1 } else { 1 };
                return (base, sign * (h * 3600 + m * 60));
            }
        }
    }
    (s, 0)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_seconds(self.to_system()))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Unix seconds or RFC 3339 text. A visitor rather than an untagged enum: that one
    /// buffered the value and built (and dropped) an error for every text timestamp of
    /// every record read on a cache miss.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Raw;
        impl serde::de::Visitor<'_> for Raw {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Unix seconds or an RFC 3339 time")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Timestamp, E> {
                if (0..=Timestamp::MAX.0).contains(&n) {
                    Ok(Timestamp(n))
                } else {
                    Err(E::custom(format!("timestamp {n} is out of range")))
                }
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Timestamp, E> {
                match i64::try_from(n) {
                    Ok(n) => self.visit_i64(n),
                    Err(_) => Err(E::custom(format!("timestamp {n} is out of range"))),
                }
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Timestamp, E> {
                Timestamp::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_any(Raw)
    }
}

/// The source of "now" for everything in keygate. Cheap to clone.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    /// Wall-clock milliseconds at `base`.
    base_unix_ms: i64,
    base: tokio::time::Instant,
    /// Extra milliseconds added by [`Clock::advance`] (tests only move time forward).
    offset_ms: AtomicI64,
}

impl Clock {
    /// A clock anchored to the system time now.
    pub fn system() -> Self {
        // The one place that reads the wall clock.
        #[allow(clippy::disallowed_methods)]
        let wall = SystemTime::now();
        let ms = wall
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self::anchored_at(ms)
    }

    /// A clock that reads `unix_ms` now (tests).
    pub fn anchored_at(unix_ms: i64) -> Self {
        Clock {
            inner: Arc::new(Inner {
                base_unix_ms: unix_ms,
                base: tokio::time::Instant::now(),
                offset_ms: AtomicI64::new(0),
            }),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.inner.base.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.inner
            .base_unix_ms
            .saturating_add(elapsed)
            .saturating_add(self.inner.offset_ms.load(Ordering::Relaxed))
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.now_ms().div_euclid(1000))
    }

    /// Moves this clock's wall time forward (tests of expiry without sleeping).
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.inner.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_seconds_and_text() {
        let t: Timestamp = serde_json::from_str("1798675200").unwrap();
        assert_eq!(t, Timestamp::from_unix(1_798_675_200));
        let t: Timestamp = serde_json::from_str("\"2026-12-31T00:00:00Z\"").unwrap();
        assert_eq!(t, Timestamp::parse("2026-12-31T00:00:00Z").unwrap());
        for bad in ["-1", "18446744073709551615", "\"yesterday\"", "1.5", "null"] {
            assert!(serde_json::from_str::<Timestamp>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_and_formats_rfc3339() {
        let t = Timestamp::parse("2026-12-31T00:00:00Z").unwrap();
        assert_eq!(t.unix(), 1_798_675_200);
        assert_eq!(t.to_string(), "2026-12-31T00:00:00Z");
        assert_eq!(Timestamp::parse("2026-12-31").unwrap(), t);
        assert!(Timestamp::parse("31/12/2026").is_err());
        // Any zone is taken and kept in UTC; an offset that is not one is refused.
        assert_eq!(Timestamp::parse("2026-12-31T01:30:00+01:30").unwrap(), t);
        assert_eq!(Timestamp::parse("2026-12-30T22:00:00-02:00").unwrap(), t);
        assert!(Timestamp::parse("2026-12-31T01:30:00+25:00").is_err());
        assert!(Timestamp::parse("1970-01-01T00:30:00+01:00").is_err());
        assert!(Timestamp::parse("").is_err());
    }

    #[test]
    fn serde_roundtrip_accepts_number_or_text() {
        let t: Timestamp = serde_json::from_str("\"2026-01-02T03:04:05Z\"").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-01-02T03:04:05Z\""
        );
        let n: Timestamp = serde_json::from_str("1798675200").unwrap();
        assert_eq!(n.to_string(), "2026-12-31T00:00:00Z");
        assert!(serde_json::from_str::<Timestamp>("-5").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn follows_tokio_time() {
        let c = Clock::anchored_at(1_000_000);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(c.now_ms(), 1_090_000);
        c.advance(Duration::from_secs(10));
        assert_eq!(c.now().unix(), 1_100);
    }
}
