//! What the proxy does to headers on the way through.
//!
//! - **Framing** is settled by hyper before a request reaches keygate: differing or
//!   listed lengths, obs-fold, a transfer coding that is not a final `chunked`, chunked
//!   HTTP/1.0 are refused (400); `Content-Length` with `Transfer-Encoding` is read by its
//!   chunked body alone, the length dropped and the connection closed after the answer
//!   (RFC 9112 §6.1). Every request is framed afresh towards the upstream
//!   (`Transfer-Encoding` is hop-by-hop), so the upstream never sees two framings of one
//!   request, and bytes hidden behind a body never become a request
//!   (tests/api/inline.rs, `smuggling_shapes_never_reach_the_upstream`).
//! - **Hop-by-hop** (RFC 9110 §7.6.1): `Connection` and every header it names,
//!   `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`
//!   (kept, with `Connection: upgrade`, on an upgrade request), `Proxy-Authorization`,
//!   `Proxy-Authenticate` are removed both ways; `Expect` too (keygate answers
//!   `100 Continue` itself once the request may pass).
//! - **Spoofing**: the identity headers keygate sends (and the limit headers and the
//!   assertion) are removed from what the client sent, on every route.
//! - **Forwarding**: `X-Forwarded-For` gains the client's address, and
//!   `X-Forwarded-Proto` / `-Host` are kept only from a trusted proxy
//!   (`trusted_proxies`), else set; a client's `Forwarded` and `X-Real-IP` are dropped
//!   unless it is a trusted proxy.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::decide::Sources;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What [`scan`] found among a message's header names.
pub struct Scan {
    /// A hop-by-hop header or `Expect` (something [`strip_hop_by_hop`] removes).
    pub hop: bool,
    /// One of the names asked about.
    pub listed: bool,
}

/// One pass over `h`'s names, by length first: most messages carry none of the headers
/// the proxy removes, and then none of the removals (a lookup by name each) is done.
pub fn scan(h: &HeaderMap, listed: &[HeaderName]) -> Scan {
    let mut found = Scan {
        hop: false,
        listed: false,
    };
    for name in h.keys() {
        let n = name.as_str();
        found.hop |= matches!(
            (n.len(), n),
            (10, "connection" | "keep-alive")
                | (16, "proxy-connection")
                | (2, "te")
                | (7, "trailer" | "upgrade")
                | (17, "transfer-encoding")
                | (19, "proxy-authorization")
                | (18, "proxy-authenticate")
                | (6, "expect")
        );
        found.listed |= listed.contains(name);
    }
    found
}

/// Whether this HTTP/1.1 request asks to switch protocols (`Connection: upgrade` with an
/// `Upgrade` header).
pub fn wants_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && connection_names(h).any(|n| n.eq_ignore_ascii_case("upgrade"))
}

fn connection_names(h: &HeaderMap) -> impl Iterator<Item = &str> {
    h.get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Removes the hop-by-hop headers (and `Expect`: keygate answers `100 Continue` itself);
/// with `upgrade`, keeps `Upgrade` and says `Connection: upgrade`.
pub fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    if h.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = connection_names(h)
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .filter(|n| !(upgrade && n == header::UPGRADE))
            .collect();
        for n in named {
            h.remove(n);
        }
        h.remove(header::CONNECTION);
    }
    for n in [
        KEEP_ALIVE,
        PROXY_CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::EXPECT,
    ] {
        h.remove(n);
    }
    if upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        h.remove(header::UPGRADE);
    }
}

/// Removes the key from where keygate reads it: an `Authorization` of the Bearer or
/// Basic scheme (another scheme is not keygate's and stays), the key header. The query
/// parameter is removed by [`strip_query_param`].
pub fn strip_credential(h: &mut HeaderMap, sources: &Sources) {
    let ours = h.get(header::AUTHORIZATION).is_some_and(|v| {
        let v = v.as_bytes();
        let scheme = v.split(|b| *b == b' ').next().unwrap_or(v);
        scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"basic")
    });
    if ours {
        h.remove(header::AUTHORIZATION);
    }
    if let Some(n) = &sources.header {
        h.remove(n);
    }
}

/// `path?query` without any `name=…` pair; `None` when there is nothing to remove.
pub fn strip_query_param(path_and_query: &str, name: &str) -> Option<String> {
    let (path, query) = path_and_query.split_once('?')?;
    let is_it = |pair: &str| pair.split('=').next() == Some(name);
    if !query.split('&').any(is_it) {
        return None;
    }
    let kept: Vec<&str> = query.split('&').filter(|p| !is_it(p)).collect();
    Some(if kept.iter().all(|p| p.is_empty()) {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    })
}

/// Sets the forwarding headers. `trusted`: the peer is a trusted proxy, whose own
/// forwarding headers are kept (and extended). `peer`: its address.
pub fn forwarding(
    h: &mut HeaderMap,
    peer: &HeaderValue,
    trusted: bool,
    tls: bool,
    host: Option<&HeaderValue>,
) {
    let extended = match (trusted, h.get(X_FORWARDED_FOR)) {
        (true, Some(_)) => {
            // Several X-Forwarded-For headers are one list (RFC 9110 §5.3).
            let mut all = h
                .get_all(X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(", ");
            all.push_str(", ");
            all.push_str(peer.to_str().unwrap_or(""));
            HeaderValue::from_str(&all).ok()
        }
        _ => None,
    };
    h.insert(X_FORWARDED_FOR, extended.unwrap_or_else(|| peer.clone()));
    if !(trusted && h.contains_key(X_FORWARDED_PROTO)) {
        h.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(if tls { "https" } else { "http" }),
        );
    }
    if !(trusted && h.contains_key(X_FORWARDED_HOST)) {
        match host {
            Some(v) => {
                h.insert(X_FORWARDED_HOST, v.clone());
            }
            None => {
                h.remove(X_FORWARDED_HOST);
            }
        }
    }
    if !trusted {
        h.remove(header::FORWARDED);
        h.remove(X_REAL_IP);
    }
}

/// The client's request id when it is a sane one (1-128 visible ASCII characters), else
/// a new one: 32 hex digits, a random half drawn once per process and a counter (unique
/// without a system call per request).
pub fn request_id(h: &HeaderMap) -> HeaderValue {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    if let Some(v) = h.get(X_REQUEST_ID)
        && (1..=128).contains(&v.len())
        && v.as_bytes().iter().all(u8::is_ascii_graphic)
    {
        return v.clone();
    }
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let high = *PROCESS.get_or_init(|| {
        let mut raw = [0u8; 8];
        let _ = getrandom::fill(&mut raw);
        u64::from_le_bytes(raw)
    });
    let low = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = (u128::from(high) << 64) | u128::from(low);
    HeaderValue::from_str(&format!("{id:032x}")).unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_and_named_ones_go() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic eA=="),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("accept"));
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
    }

    #[test]
    fn one_pass_finds_what_would_be_removed() {
        let listed = [HeaderName::from_static("x-authenticated-user")];
        let plain = map(&[("accept", "*/*"), ("authorization", "Bearer x")]);
        let s = scan(&plain, &listed);
        assert!(!s.hop && !s.listed);
        for hop in [
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "upgrade",
            "transfer-encoding",
            "proxy-connection",
            "proxy-authorization",
            "proxy-authenticate",
            "expect",
        ] {
            assert!(scan(&map(&[(hop, "x")]), &listed).hop, "{hop}");
        }
        assert!(scan(&map(&[("X-Authenticated-User", "admin")]), &listed).listed);
    }

    #[test]
    fn credentials_go_other_schemes_stay() {
        let sources = Sources {
            header: Some(HeaderName::from_static("x-api-key")),
            query_param: None,
        };
        let mut h = map(&[("authorization", "bEaReR kg_x"), ("x-api-key", "kg_y")]);
        strip_credential(&mut h, &sources);
        assert!(h.is_empty());
        let mut h = map(&[("authorization", "Digest abc")]);
        strip_credential(&mut h, &sources);
        assert_eq!(h.len(), 1);
        assert_eq!(
            strip_query_param("/a?key=1&b=2", "key").as_deref(),
            Some("/a?b=2")
        );
        assert_eq!(strip_query_param("/a?key=1", "key").as_deref(), Some("/a"));
        assert_eq!(
            strip_query_param("/a?key=1&key=2&c", "key").as_deref(),
            Some("/a?c")
        );
        assert_eq!(strip_query_param("/a?keys=1", "key"), None);
        assert_eq!(strip_query_param("/a", "key"), None);
    }

    #[test]
    fn forwarding_from_clients_and_trusted_proxies() {
        let ip = HeaderValue::from_static("192.0.2.7");
        let host = HeaderValue::from_static("api.example.com");
        let mut h = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
        ]);
        forwarding(&mut h, &ip, false, false, Some(&host));
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-host"], "api.example.com");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert!(!h.contains_key("forwarded") && !h.contains_key("x-real-ip"));
        let mut h = map(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
        ]);
        forwarding(&mut h, &ip, true, false, Some(&host));
        assert_eq!(h["x-forwarded-for"], "198.51.100.1, 10.0.0.1, 192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn request_ids() {
        let id = request_id(&HeaderMap::new());
        assert_eq!(id.len(), 32);
        assert_ne!(id, request_id(&HeaderMap::new()));
        assert_eq!(request_id(&map(&[("x-request-id", "abc-1")])), "abc-1");
        assert_eq!(request_id(&map(&[("x-request-id", "a b")])).len(), 32);
    }
}
