//! The headers of the request a Check describes, found in one pass: Envoy sends them
//! as a map of strings (`headers`), or as raw bytes (`header_map`) when its
//! `encode_raw_headers` is on. Names are compared without regard to case (Envoy sends
//! them lowercase; a direct caller may not).

use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::HeaderMap as RawHeaders;

use crate::decide::credential::{HeaderText, NotText};

/// The configured names to look for besides the fixed ones.
pub struct Names<'n> {
    /// The header that may carry the key (the route's `key_header`, else
    /// `api_key_header`).
    pub key_header: Option<&'n str>,
    /// The access log's metadata header.
    pub metadata: Option<&'n str>,
    /// The permissions requirement header.
    pub require: Option<&'n str>,
}

/// The first value of each header keygate reads (`None`: absent), and how many headers
/// there were.
#[derive(Default)]
pub struct Seen<'a> {
    pub count: usize,
    pub authorization: Option<&'a [u8]>,
    pub key_header: Option<&'a [u8]>,
    /// Envoy sends repeated headers joined with commas, as one.
    pub forwarded_for: Option<&'a [u8]>,
    pub real_ip: Option<&'a [u8]>,
    pub metadata: Option<&'a [u8]>,
    pub require: Option<&'a [u8]>,
    /// The name the key header was found under, as sent (for removing it).
    pub key_header_name: Option<&'a str>,
}

/// Walks the headers once: `raw` when it holds any (raw values win over text ones),
/// else `map`.
pub fn read<'a>(
    map: &'a HashMap<String, String>,
    raw: Option<&'a RawHeaders>,
    names: &Names<'_>,
) -> Seen<'a> {
    let mut s = Seen::default();
    match raw.filter(|r| !r.headers.is_empty()) {
        Some(r) => {
            for h in &r.headers {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes()
                } else {
                    &h.raw_value
                };
                s.one(&h.key, value, names);
            }
        }
        None => {
            for (k, v) in map {
                s.one(k, v.as_bytes(), names);
            }
        }
    }
    s
}

impl<'a> Seen<'a> {
    fn one(&mut self, name: &'a str, value: &'a [u8], names: &Names<'_>) {
        self.count += 1;
        let is = |n: Option<&str>| n.is_some_and(|n| n.eq_ignore_ascii_case(name));
        if is(names.key_header) && self.key_header.is_none() {
            self.key_header = Some(value);
            self.key_header_name = Some(name);
        }
        if is(names.metadata) && self.metadata.is_none() {
            self.metadata = Some(value);
        }
        if is(names.require) && self.require.is_none() {
            self.require = Some(value);
        }
        let slot = match name.len() {
            13 if name.eq_ignore_ascii_case("authorization") => &mut self.authorization,
            15 if name.eq_ignore_ascii_case("x-forwarded-for") => &mut self.forwarded_for,
            9 if name.eq_ignore_ascii_case("x-real-ip") => &mut self.real_ip,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
}

/// A header value as the HTTP faces read one: visible ASCII, spaces and tabs.
pub fn text(v: &[u8]) -> HeaderText<'_> {
    if v.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)) {
        // ASCII throughout: always UTF-8.
        std::str::from_utf8(v).map_err(|_| NotText)
    } else {
        Err(NotText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::HeaderValue;

    #[test]
    fn finds_what_the_gate_reads_in_either_form() {
        let names = Names {
            key_header: Some("X-API-Key"),
            metadata: Some("x-meta"),
            require: Some("x-keygate-require"),
        };
        let map: HashMap<String, String> = [
            ("authorization", "Bearer a"),
            ("x-api-key", "k"),
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-real-ip", "3.3.3.3"),
            ("x-meta", "m"),
            ("x-keygate-require", "docs.read"),
            ("other", "o"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = read(&map, None, &names);
        assert_eq!(s.count, 7);
        assert_eq!(s.authorization, Some(&b"Bearer a"[..]));
        assert_eq!(s.key_header, Some(&b"k"[..]));
        assert_eq!(s.key_header_name, Some("x-api-key"));
        assert_eq!(s.forwarded_for, Some(&b"1.1.1.1, 2.2.2.2"[..]));
        assert_eq!(s.real_ip, Some(&b"3.3.3.3"[..]));
        assert_eq!(s.metadata, Some(&b"m"[..]));
        assert_eq!(s.require, Some(&b"docs.read"[..]));

        // Raw values win; a header with only a text value is read from it; names in
        // any case.
        let raw = RawHeaders {
            headers: vec![
                HeaderValue {
                    key: "Authorization".into(),
                    value: String::new(),
                    raw_value: b"Bearer \xff".to_vec(),
                },
                HeaderValue {
                    key: "X-Api-Key".into(),
                    value: "text".into(),
                    raw_value: Vec::new(),
                },
            ],
        };
        let s = read(&map, Some(&raw), &names);
        assert_eq!(s.count, 2);
        assert_eq!(s.authorization, Some(&b"Bearer \xff"[..]));
        assert_eq!(s.key_header, Some(&b"text"[..]));
        assert!(text(s.authorization.unwrap()).is_err());
        assert_eq!(text(b"Bearer kg_x\t"), Ok("Bearer kg_x\t"));
        assert!(text("é".as_bytes()).is_err());
        // An empty raw map falls back to the text one.
        let empty = RawHeaders::default();
        assert_eq!(read(&map, Some(&empty), &names).count, 7);
    }
}
