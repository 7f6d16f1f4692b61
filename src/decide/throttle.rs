//! Failed-attempt throttle: a client that fails `max_failures` times within
//! `window_secs` is refused (429, or 403 on `/auth`) until the window ends — before any
//! credential is read, so the refusal says nothing about the key it carried. A client
//! is an IPv4 address, or an IPv6 network of `ipv6_prefix` bits (one subscriber
//! usually holds a whole /64 and could otherwise rotate past the limit). The gate and
//! the admin-key checks of `/api`, `/status` and `/load` share one table.
//!
//! Memory is bounded: the table is split in shards, and a full shard first drops
//! windows that have ended, then the oldest window.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::HeaderMap;

const SHARDS: usize = 16;

/// An address range such as `10.0.0.0/8` or `::1/128` (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, bits) = match s.trim().split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an address or CIDR"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

const X_FORWARDED_FOR: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: axum::http::HeaderName = axum::http::HeaderName::from_static("x-real-ip");

/// What a request says about where it came from, as the face found it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forwarded<'a> {
    /// Every `X-Forwarded-For` header, in the order received.
    pub hops: &'a [&'a [u8]],
    /// The first `X-Real-IP` header.
    pub real_ip: Option<&'a [u8]>,
}

/// [`client_address`] with the forwarding headers looked up in a header map (the paths
/// that are not the gate's).
pub fn client_address_in(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let hops: Vec<&[u8]> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let forwarded = Forwarded {
        hops: &hops,
        real_ip: headers.get(X_REAL_IP).map(|v| v.as_bytes()),
    };
    client_address(peer, forwarded, trusted)
}

/// Whether `ip` is in one of the `trusted` ranges (`trusted_proxies`).
pub fn is_trusted(ip: IpAddr, trusted: &[Cidr]) -> bool {
    trusted.iter().any(|c| c.contains(ip))
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case
/// the right-most untrusted address of `X-Forwarded-For`, else `X-Real-IP`.
pub fn client_address(peer: IpAddr, forwarded: Forwarded<'_>, trusted: &[Cidr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| is_trusted(ip, trusted);
    if !is_trusted(peer) {
        return peer;
    }
    // Right to left without collecting: the last header's last hop first. A header
    // that is not text is skipped whole, as `HeaderValue::to_str` would.
    let mut leftmost = None;
    let hops = forwarded
        .hops
        .iter()
        .rev()
        .filter(|v| is_text(v))
        .flat_map(|v| v.rsplit(|b| *b == b','))
        .filter_map(|s| parse_hop(s.trim_ascii()));
    for ip in hops {
        leftmost = Some(ip);
        if !is_trusted(ip) {
            return ip;
        }
    }
    if let Some(ip) = leftmost {
        return ip;
    }
    forwarded
        .real_ip
        .filter(|v| is_text(v))
        .and_then(|v| parse_hop(v.trim_ascii()))
        .unwrap_or(peer)
}

/// Visible ASCII, spaces and tabs: what `HeaderValue::to_str` accepts.
fn is_text(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_hop(s: &[u8]) -> Option<IpAddr> {
    // The usual case, a plain IPv4 address, without the general parser.
    if let Some(v4) = parse_v4(s) {
        return Some(IpAddr::V4(v4));
    }
    let s = std::str::from_utf8(s).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    None
}

/// Dotted-quad IPv4 in the form `Ipv4Addr`'s parser accepts (no leading zeros, no
/// port); `None` for anything else, which the general parser then reads.
fn parse_v4(s: &[u8]) -> Option<std::net::Ipv4Addr> {
    let (mut octets, mut i, mut n, mut digits) = ([0u8; 4], 0, 0u32, 0);
    for &b in s {
        match b {
            b'0'..=b'9' => {
                if digits == 1 && n == 0 {
                    return None;
                }
                n = n * 10 + u32::from(b - b'0');
                digits += 1;
                if n > 255 {
                    return None;
                }
            }
            b'.' if digits > 0 && i < 3 => {
                octets[i] = n as u8;
                (i, n, digits) = (i + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if i != 3 || digits == 0 {
        return None;
    }
    octets[3] = n as u8;
    Some(octets.into())
}

#[derive(Clone, Copy)]
struct Window {
    start_ms: i64,
    failures: u32,
}

pub struct Throttle {
    max_failures: u32,
    /// Mask applied to IPv6 clients.
    ipv6_mask: u128,
    window_ms: i64,
    per_shard: usize,
    shards: Vec<RwLock<HashMap<IpAddr, Window>>>,
    /// Addresses tracked; when zero the check takes no lock at all.
    tracked: AtomicUsize,
}

impl Throttle {
    pub fn new(max_failures: u32, window_secs: u64, max_addresses: usize, ipv6_prefix: u8) -> Self {
        Throttle {
            max_failures,
            ipv6_mask: u128::MAX
                .checked_shl(128 - u32::from(ipv6_prefix.min(128)))
                .unwrap_or(0),
            window_ms: i64::try_from(window_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            per_shard: max_addresses.div_ceil(SHARDS).max(1),
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            tracked: AtomicUsize::new(0),
        }
    }

    fn shard(&self, ip: &IpAddr) -> &RwLock<HashMap<IpAddr, Window>> {
        let h = match ip {
            IpAddr::V4(a) => u32::from(*a) as usize,
            IpAddr::V6(a) => (u128::from(*a) ^ (u128::from(*a) >> 64)) as usize,
        };
        // Mix so that neighbouring addresses spread over the shards.
        let mixed = h.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 7;
        &self.shards[mixed % SHARDS]
    }

    /// Whether any address is being tracked (when none is, nothing can be refused).
    pub fn active(&self) -> bool {
        self.tracked.load(Ordering::Relaxed) != 0
    }

    /// What failures are counted against: the address, or its IPv6 network.
    fn client(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & self.ipv6_mask).into()),
            v4 => v4,
        }
    }

    /// Seconds until `ip` may try again, if it is refused now.
    pub fn refused(&self, ip: IpAddr, now_ms: i64) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let ip = self.client(ip);
        let shard = self.shard(&ip).read().unwrap_or_else(|e| e.into_inner());
        let w = shard.get(&ip)?;
        let ends = w.start_ms.saturating_add(self.window_ms);
        if w.failures >= self.max_failures && now_ms < ends {
            let ms = u64::try_from(ends - now_ms).unwrap_or(0);
            Some(ms.div_ceil(1000).max(1))
        } else {
            None
        }
    }

    /// Counts one failed attempt from `ip`.
    pub fn fail(&self, ip: IpAddr, now_ms: i64) {
        let ip = self.client(ip);
        let mut shard = self.shard(&ip).write().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = shard.get_mut(&ip) {
            if now_ms >= w.start_ms.saturating_add(self.window_ms) {
                *w = Window {
                    start_ms: now_ms,
                    failures: 1,
                };
            } else {
                w.failures = w.failures.saturating_add(1);
            }
            return;
        }
        if shard.len() >= self.per_shard {
            let window = self.window_ms;
            let before = shard.len();
            shard.retain(|_, w| now_ms < w.start_ms.saturating_add(window));
            if shard.len() >= self.per_shard
                && let Some(oldest) = shard
                    .iter()
                    .min_by_key(|(_, w)| w.start_ms)
                    .map(|(ip, _)| *ip)
            {
                shard.remove(&oldest);
            }
            self.tracked
                .fetch_sub(before - shard.len(), Ordering::Relaxed);
        }
        shard.insert(
            ip,
            Window {
                start_ms: now_ms,
                failures: 1,
            },
        );
        self.tracked.fetch_add(1, Ordering::Relaxed);
    }

    /// Addresses currently tracked (for tests and `/status`).
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }
}

/// The throttle in front of the decision.
impl super::Gate {
    /// A client over the failed-attempt limit is refused before its key is looked up —
    /// unless the key is one this process already knows to be good (cached as found, or
    /// in a key file) and cannot be guessed: the throttle is there to stop guessing, and
    /// must not lock out the other users behind the same address (a NAT, an IPv6 /64).
    pub(super) async fn throttled_judge(
        &self,
        client: IpAddr,
        key: Option<&str>,
        now_ms: i64,
        judge: impl std::future::Future<Output = super::Decision>,
    ) -> super::Decision {
        if let Some(t) = &self.throttle
            && t.active()
            && let Some(retry) = t.refused(client, now_ms)
            && !key.is_some_and(|k| self.known_good(k, now_ms))
        {
            return super::Decision {
                now_ms,
                ..super::Decision::early(super::Outcome::Deny(super::Deny::Throttled(retry)))
            };
        }
        let mut d = judge.await;
        if let (Some(t), super::Outcome::Deny(super::Deny::Unauthenticated(_))) =
            (&self.throttle, &d.outcome)
        {
            t.fail(client, now_ms);
        }
        d.now_ms = now_ms;
        d
    }

    /// Whether `key` is known here to be a key that exists, without any store I/O: in
    /// the trusted cache as found, or in a key file. Only keys that cannot be guessed
    /// qualify — keygate's own format (256 random bits, checksum valid) or another key of
    /// at least [`super::THROTTLE_EXEMPT_LEN`] characters — so a throttled client cannot use the
    /// answer as an oracle to guess short imported keys.
    fn known_good(&self, key: &str, now_ms: i64) -> bool {
        let strong = match self.settings.policy.check(key) {
            Ok(crate::token::Shape::Ours) => true,
            Ok(crate::token::Shape::Foreign) => key.len() >= super::THROTTLE_EXEMPT_LEN,
            Err(_) => false,
        };
        if !strong {
            return false;
        }
        let hash = crate::token::KeyHash::of(&self.salt, key);
        let cached = self.cache_trusted.load(Ordering::Acquire)
            && self
                .cache
                .get(&hash)
                .is_some_and(|c| c.until_ms > now_ms && c.known.is_some());
        cached || self.keysets.lookup(&hash, key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(Cidr::parse("::1/128").unwrap().contains(ip("::1")));
        assert!(
            Cidr::parse("127.0.0.1")
                .unwrap()
                .contains(ip("::ffff:127.0.0.1"))
        );
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "x/8", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_address_trusts_only_trusted_peers() {
        let trusted = [
            Cidr::parse("127.0.0.0/8").unwrap(),
            Cidr::parse("10.0.0.0/8").unwrap(),
        ];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.5"),
        );
        assert_eq!(
            client_address_in(ip("127.0.0.1"), &h, &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_address_in(ip("9.9.9.9"), &h, &trusted),
            ip("9.9.9.9"),
            "untrusted peer: header ignored"
        );
        let mut r = HeaderMap::new();
        r.insert("x-real-ip", HeaderValue::from_static("5.5.5.5"));
        assert_eq!(
            client_address_in(ip("10.0.0.1"), &r, &trusted),
            ip("5.5.5.5")
        );
        let mut junk = HeaderMap::new();
        junk.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(
            client_address_in(ip("127.0.0.1"), &junk, &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn hops_read_as_the_standard_parsers_read_them() {
        let std_parse = |s: &str| {
            s.parse::<IpAddr>()
                .map(|i| i.to_canonical())
                .ok()
                .or_else(|| {
                    s.parse::<std::net::SocketAddr>()
                        .ok()
                        .map(|a| a.ip().to_canonical())
                })
        };
        for s in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4:80",
            "1.2.3.4:",
            "::1",
            "[::1]:8080",
            "::ffff:1.2.3.4",
            "1.2.3.04",
            "0.0.0.00",
            "1234.1.1.1",
            "",
            "a.b.c.d",
            "1.2.3.4 ",
            "10.0.0.255",
            "9.99.199.249",
        ] {
            assert_eq!(parse_hop(s.as_bytes()), std_parse(s), "{s:?}");
        }
    }

    #[test]
    fn refuses_after_the_limit_until_the_window_ends() {
        let t = Throttle::new(3, 60, 1000, 64);
        let a = ip("1.1.1.1");
        for i in 0..3 {
            assert_eq!(t.refused(a, 1000 + i), None);
            t.fail(a, 1000 + i);
        }
        assert_eq!(t.refused(a, 2000), Some(59));
        assert_eq!(t.refused(ip("2.2.2.2"), 2000), None, "others unaffected");
        assert_eq!(t.refused(a, 61_000), None, "window over");
        t.fail(a, 61_000);
        assert_eq!(t.refused(a, 61_001), None, "a fresh window");
    }

    #[test]
    fn ipv6_networks_count_as_one_client() {
        let t = Throttle::new(2, 60, 1000, 64);
        t.fail(ip("2001:db8:0:1::1"), 0);
        t.fail(ip("2001:db8:0:1:ffff:ffff:ffff:ffff"), 0);
        assert!(t.refused(ip("2001:db8:0:1::abcd"), 1).is_some());
        assert!(t.refused(ip("2001:db8:0:2::1"), 1).is_none());
        assert_eq!(t.tracked(), 1);
        let t = Throttle::new(1, 60, 1000, 48);
        t.fail(ip("2001:db8:0:1::1"), 0);
        assert!(t.refused(ip("2001:db8:0:ffff::1"), 1).is_some());
        assert!(t.refused(ip("2001:db8:1::1"), 1).is_none());
        // IPv4, also when written as IPv4-mapped IPv6, is one address.
        let t = Throttle::new(1, 60, 1000, 1);
        t.fail(ip("::ffff:10.0.0.1"), 0);
        assert!(t.refused(ip("10.0.0.1"), 1).is_some());
        assert!(t.refused(ip("10.0.0.2"), 1).is_none());
    }

    #[test]
    fn memory_is_bounded() {
        let t = Throttle::new(1, 60, 160, 128);
        for i in 0..10_000u32 {
            t.fail(IpAddr::V4(i.into()), 0);
        }
        assert!(t.tracked() <= 160, "{}", t.tracked());
        let total: usize = t.shards.iter().map(|s| s.read().unwrap().len()).sum();
        assert_eq!(total, t.tracked());
    }
}
