//! Where webhooks may go: `http`/`https` URLs without credentials, to addresses that are
//! not loopback, private, link-local, carrier-grade NAT, multicast or unspecified —
//! unless `events.allow_private_addresses`. A name is checked again after every DNS
//! resolution (the resolver below drops refused addresses), so a name that resolves to
//! an inside address later (DNS rebinding) reaches nothing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Whether an address is one a webhook must not reach even with
/// `events.allow_private_addresses`: link-local (where clouds serve instance metadata and
/// credentials, 169.254.169.254), unspecified, multicast and broadcast.
pub fn never(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Whether a webhook may not reach `ip`.
pub fn blocked(ip: IpAddr, allow_private: bool) -> bool {
    never(ip) || (!allow_private && refused(ip))
}

/// Whether an address is one a webhook must not reach by default.
pub fn refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                // NAT64 (64:ff9b::/96) of a refused IPv4 address.
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] && refused_v4(
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8),
                ))
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT 100.64.0.0/10
}

/// Checks an endpoint URL as registered; the message says what is wrong.
pub fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("is longer than {MAX_URL_LEN} characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must be http or https, not {:?}", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not carry credentials (user:password@); receivers verify the signature instead"
                .into(),
        );
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    let host = url.host().ok_or("has no host")?;
    let literal = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                return Err(refused_text("localhost"));
            }
            None
        }
    };
    if let Some(ip) = literal {
        if never(ip) {
            return Err(never_text(&ip.to_string()));
        }
        if !allow_private && refused(ip) {
            return Err(refused_text(&ip.to_string()));
        }
    }
    Ok(url)
}

fn never_text(what: &str) -> String {
    format!(
        "points at {what}, a link-local, unspecified or multicast address (cloud metadata \
         lives there); webhooks never go there"
    )
}

fn refused_text(what: &str) -> String {
    format!(
        "points at {what}, a loopback, private or link-local address (set \
         events.allow_private_addresses to allow it)"
    )
}

/// The resolver of the webhook client: the system's, without the refused addresses.
pub struct Resolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !blocked(a.ip(), allow))
                .collect();
            if kept.is_empty() {
                let msg = if found.is_empty() {
                    format!("{host} resolves to no address")
                } else if never(found[0].ip()) {
                    never_text(&format!("{host} ({})", found[0].ip()))
                } else {
                    refused_text(&format!("{host} ({})", found[0].ip()))
                };
                return Err(msg.into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client of deliveries: no proxy from the environment (it would resolve names
/// itself, past the resolver), no redirects (a 3xx is a failure), bounded time.
pub fn client(
    allow_private: bool,
    timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .timeout(timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!(
            "keygate/",
            env!("CARGO_PKG_VERSION"),
            " (webhooks)"
        ))
        .dns_resolver(Arc::new(Resolver { allow_private }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(refused(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!refused(a.parse().unwrap()), "{a}");
        }
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        use reqwest::dns::Resolve;
        let strict = Resolver {
            allow_private: false,
        };
        let e = strict
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("loopback"), "{e}");
        let open = Resolver {
            allow_private: true,
        };
        let addrs: Vec<_> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        for (bad, says) in [
            ("ftp://example.com/", "http or https"),
            ("https://user:pw@example.com/", "credentials"),
            ("https://example.com/#x", "fragment"),
            ("http://127.0.0.1:9/", "loopback"),
            ("http://[::1]/", "loopback"),
            ("http://localhost:8080/", "localhost"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://0.0.0.0:80/", "unspecified"),
            ("not a url", "not a URL"),
            ("javascript:alert(1)", "http or https"),
        ] {
            let e = check_url(bad, false).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(check_url("http://127.0.0.1:9/", true).is_ok());
        assert!(check_url("http://localhost:9/", true).is_ok());
        // Cloud metadata stays out of reach even then.
        for bad in [
            "http://169.254.169.254/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://[::ffff:169.254.169.254]/",
        ] {
            assert!(check_url(bad, true).unwrap_err().contains("never"), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long, false).unwrap_err().contains("longer"));
    }
}
