//! The headers the gate endpoints read, found in one pass over a request's headers.
//!
//! A lookup by name hashes the name and probes the map; the gate endpoints read up to a
//! dozen names per request (the credential, the original request's method, host and
//! URI, the forwarding headers, the log's metadata header), most of them absent. One
//! walk over the headers that arrived, comparing names, costs less than half as much
//! (docs/benchmarks.md, issue 23).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::decide::credential::NotText;
use crate::decide::{Forwarded, Presented};

/// The first value of each header the gate reads (`None`: absent).
#[derive(Default)]
pub struct Picked<'a> {
    pub authorization: Option<&'a HeaderValue>,
    /// The configured key header (`key_header`).
    pub key_header: Option<&'a HeaderValue>,
    pub host: Option<&'a HeaderValue>,
    pub forwarded_method: Option<&'a HeaderValue>,
    pub forwarded_host: Option<&'a HeaderValue>,
    pub forwarded_uri: Option<&'a HeaderValue>,
    pub original_method: Option<&'a HeaderValue>,
    pub original_url: Option<&'a HeaderValue>,
    pub original_uri: Option<&'a HeaderValue>,
    pub forwarded_for: Option<&'a HeaderValue>,
    /// More than one `X-Forwarded-For` header arrived (all of them are then read).
    forwarded_for_more: bool,
    pub real_ip: Option<&'a HeaderValue>,
    /// The configured metadata header of the access log.
    pub metadata: Option<&'a HeaderValue>,
    /// The configured permissions requirement header (`permissions.header`).
    pub require: Option<&'a HeaderValue>,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Walks `headers` once. `key_header`, `metadata` and `require` are the configured
/// names (they may also be one of the fixed ones).
pub fn pick<'a>(
    headers: &'a HeaderMap,
    key_header: Option<&HeaderName>,
    metadata: Option<&HeaderName>,
    require: Option<&HeaderName>,
) -> Picked<'a> {
    let mut p = Picked::default();
    for (name, value) in headers {
        if require == Some(name) && p.require.is_none() {
            p.require = Some(value);
        }
        if key_header == Some(name) && p.key_header.is_none() {
            p.key_header = Some(value);
        }
        if metadata == Some(name) && p.metadata.is_none() {
            p.metadata = Some(value);
        }
        // By length first: one comparison per header instead of one per name.
        let name = name.as_str();
        let slot = match (name.len(), name) {
            (13, "authorization") => &mut p.authorization,
            (4, "host") => &mut p.host,
            (18, "x-forwarded-method") => &mut p.forwarded_method,
            (16, "x-forwarded-host") => &mut p.forwarded_host,
            (15, "x-forwarded-uri") => &mut p.forwarded_uri,
            (15, "x-forwarded-for") => {
                p.forwarded_for_more |= p.forwarded_for.is_some();
                &mut p.forwarded_for
            }
            (9, "x-real-ip") => &mut p.real_ip,
            (17, "x-original-method") => &mut p.original_method,
            (14, "x-original-url") => &mut p.original_url,
            (14, "x-original-uri") => &mut p.original_uri,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    p
}

impl<'a> Picked<'a> {
    /// Where the key may be.
    pub fn presented(&self) -> Presented<'a> {
        let text = |v: &'a HeaderValue| v.to_str().map_err(|_| NotText);
        Presented {
            authorization: self.authorization.map(text),
            key_header: self.key_header.map(text),
        }
    }

    /// Calls `f` with the forwarding headers (every `X-Forwarded-For` of `headers` when
    /// more than one arrived).
    pub fn with_forwarded<R>(&self, headers: &HeaderMap, f: impl FnOnce(Forwarded<'_>) -> R) -> R {
        let real_ip = self.real_ip.map(HeaderValue::as_bytes);
        if self.forwarded_for_more {
            let hops: Vec<&[u8]> = headers
                .get_all(X_FORWARDED_FOR)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            return f(Forwarded {
                hops: &hops,
                real_ip,
            });
        }
        let one = self.forwarded_for.map(HeaderValue::as_bytes);
        let hops = one.as_slice();
        f(Forwarded { hops, real_ip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_is_found_as_a_lookup_finds_it() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("Authorization", "Bearer a"),
            ("authorization", "Bearer second"),
            ("x-api-key", "k"),
            ("host", "h"),
            ("x-forwarded-method", "POST"),
            ("x-forwarded-host", "fh"),
            ("x-forwarded-uri", "/u"),
            ("x-original-method", "PUT"),
            ("x-original-url", "https://o/x"),
            ("x-original-uri", "/x"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-real-ip", "5.6.7.8"),
            ("x-meta", "m"),
            ("x-other", "o"),
            ("x-keygate-require", "docs.read"),
        ] {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        let key = HeaderName::from_static("x-api-key");
        let meta = HeaderName::from_static("x-meta");
        let require = HeaderName::from_static("x-keygate-require");
        let p = pick(&h, Some(&key), Some(&meta), Some(&require));
        let got = |v: Option<&HeaderValue>| v.map(|v| v.to_str().unwrap().to_owned());
        for (found, name) in [
            (p.authorization, "authorization"),
            (p.key_header, "x-api-key"),
            (p.require, "x-keygate-require"),
            (p.host, "host"),
            (p.forwarded_method, "x-forwarded-method"),
            (p.forwarded_host, "x-forwarded-host"),
            (p.forwarded_uri, "x-forwarded-uri"),
            (p.original_method, "x-original-method"),
            (p.original_url, "x-original-url"),
            (p.original_uri, "x-original-uri"),
            (p.forwarded_for, "x-forwarded-for"),
            (p.real_ip, "x-real-ip"),
            (p.metadata, "x-meta"),
        ] {
            assert_eq!(got(found), got(h.get(name)), "{name}");
        }
        assert_eq!(got(p.authorization).as_deref(), Some("Bearer a"));
        // A configured name that is also a fixed one is found as both.
        let auth = axum::http::header::AUTHORIZATION;
        let p = pick(&h, Some(&auth), Some(&auth), None);
        assert_eq!(got(p.key_header).as_deref(), Some("Bearer a"));
        assert_eq!(got(p.metadata).as_deref(), Some("Bearer a"));
        assert_eq!(got(p.authorization).as_deref(), Some("Bearer a"));
        // Nothing configured, nothing sent.
        let empty = HeaderMap::new();
        let p = pick(&empty, None, None, None);
        assert!(p.authorization.is_none() && p.host.is_none() && p.key_header.is_none());
    }

    #[test]
    fn every_forwarded_for_is_read_when_more_than_one_arrived() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        let p = pick(&h, None, None, None);
        assert_eq!(p.with_forwarded(&h, |f| f.hops.len()), 1);
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("2.2.2.2, 3.3.3.3"),
        );
        let p = pick(&h, None, None, None);
        let hops = p.with_forwarded(&h, |f| {
            f.hops.iter().map(|v| v.to_vec()).collect::<Vec<_>>()
        });
        assert_eq!(hops, [b"1.1.1.1".to_vec(), b"2.2.2.2, 3.3.3.3".to_vec()]);
        let none = HeaderMap::new();
        let p = pick(&none, None, None, None);
        assert_eq!(p.with_forwarded(&none, |f| f.hops.len()), 0);
    }
}
