//! Finding the key in a request: `Authorization: Bearer`, `Authorization: Basic`
//! (the password, else the user name), a configured header, and — only when enabled — a
//! query parameter of the original request.

use axum::http::{HeaderMap, HeaderName, header};
use base64::Engine;
use std::borrow::Cow;

/// Where a key may come from besides `Authorization`.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub header: Option<HeaderName>,
    /// Query parameter name; `None` = off.
    pub query_param: Option<String>,
}

/// Why a request's credential could not even be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadCredential {
    #[error("no API key presented")]
    Missing,
    #[error("`Authorization: Bearer` carries no key")]
    EmptyBearer,
    #[error("`Authorization: Basic` is not valid base64 of user:password")]
    BadBasic,
    #[error("the credential header is not valid text")]
    NotText,
}

/// The headers a key may be in, as the face found them: the HTTP faces in their one
/// pass over a request's headers, a gRPC face from its header map.
#[derive(Clone, Copy, Debug, Default)]
pub struct Presented<'a> {
    /// The first `Authorization` header.
    pub authorization: Option<HeaderText<'a>>,
    /// The first header named by [`Sources::header`].
    pub key_header: Option<HeaderText<'a>>,
}

/// A header's value: text (visible ASCII, spaces and tabs, as `HeaderValue::to_str`
/// accepts), or `Err` for anything else.
pub type HeaderText<'a> = Result<&'a str, NotText>;

/// A header value that is not text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotText;

impl<'a> Presented<'a> {
    /// Looked up one by one in a header map (the paths that are not the gate's).
    pub fn from_headers(headers: &'a HeaderMap, sources: &Sources) -> Self {
        let text = |v: &'a axum::http::HeaderValue| v.to_str().map_err(|_| NotText);
        Presented {
            authorization: headers.get(header::AUTHORIZATION).map(text),
            key_header: sources
                .header
                .as_ref()
                .and_then(|n| headers.get(n))
                .map(text),
        }
    }
}

/// The presented key, borrowed from the request where possible.
pub fn extract<'a>(
    presented: &Presented<'a>,
    original_uri: &'a str,
    sources: &Sources,
) -> Result<Cow<'a, str>, BadCredential> {
    if let Some(v) = presented.authorization {
        let v = v.map_err(|_| BadCredential::NotText)?.trim_ascii();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            let key = rest.trim_ascii();
            return if key.is_empty() {
                Err(BadCredential::EmptyBearer)
            } else {
                Ok(Cow::Borrowed(key))
            };
        }
        if scheme.eq_ignore_ascii_case("basic") {
            return basic(rest.trim_ascii()).map(Cow::Owned);
        }
        // Another scheme (Digest, a JWT for the upstream…): not ours; look elsewhere.
    }
    if let Some(v) = presented.key_header {
        let key = v.map_err(|_| BadCredential::NotText)?.trim_ascii();
        if !key.is_empty() {
            return Ok(Cow::Borrowed(key));
        }
    }
    if let Some(param) = &sources.query_param
        && let Some(key) = query_value(original_uri, param)
    {
        return Ok(key);
    }
    Err(BadCredential::Missing)
}

fn basic(b64: &str) -> Result<String, BadCredential> {
    // 4/3 of the longest key plus a user name: anything longer is not ours.
    if b64.len() > 1024 {
        return Err(BadCredential::BadBasic);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| BadCredential::BadBasic)?;
    let text = String::from_utf8(raw).map_err(|_| BadCredential::BadBasic)?;
    let (user, pass) = text.split_once(':').ok_or(BadCredential::BadBasic)?;
    let key = if pass.is_empty() { user } else { pass };
    if key.is_empty() {
        Err(BadCredential::BadBasic)
    } else {
        Ok(key.to_owned())
    }
}

/// The first value of `name` in the query string of `uri`, percent-decoded.
fn query_value<'a>(uri: &'a str, name: &str) -> Option<Cow<'a, str>> {
    let query = uri.split_once('?')?.1.split('#').next()?;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name && !v.is_empty() {
            return Some(percent_decode(v));
        }
    }
    None
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                // Two hex digits exactly: `from_str_radix` alone would take `%+f` as 0x0f.
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// What a refusal says about an unreadable credential.
pub(super) fn credential_message(e: BadCredential) -> &'static str {
    match e {
        BadCredential::Missing => "no API key presented",
        BadCredential::EmptyBearer => "`Authorization: Bearer` carries no key",
        BadCredential::BadBasic => "`Authorization: Basic` is not valid base64 of user:password",
        BadCredential::NotText => "the credential header is not valid text",
    }
}

/// What a refusal says about a key that fails the pre-check.
pub(super) fn malformed_message(e: crate::token::Malformed) -> &'static str {
    match e {
        crate::token::Malformed::Empty => "the key is empty",
        crate::token::Malformed::TooLong => "the key is too long",
        crate::token::Malformed::BadCharacters => "the key contains characters no key has",
        crate::token::Malformed::BadShape => "malformed API key",
        crate::token::Malformed::BadChecksum => {
            "malformed API key (checksum mismatch: a typo or a truncated key?)"
        }
        crate::token::Malformed::ForeignPrefix => {
            "keys without this gate's prefix are not accepted"
        }
        crate::token::Malformed::WrongLength => "the key does not have the required length",
        crate::token::Malformed::WrongForeignPrefix => {
            "the key does not start with the required prefix"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn extract<'a>(
        headers: &'a HeaderMap,
        uri: &'a str,
        sources: &Sources,
    ) -> Result<Cow<'a, str>, BadCredential> {
        super::extract(&Presented::from_headers(headers, sources), uri, sources)
    }

    fn h(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        m
    }

    fn src() -> Sources {
        Sources {
            header: Some(HeaderName::from_static("x-api-key")),
            query_param: None,
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn query_escapes_need_two_hex_digits() {
        assert_eq!(percent_decode("a%41%+1%2"), "aA% 1%2");
        assert_eq!(percent_decode("%4a+b%4A"), "J bJ");
    }

    #[test]
    fn bearer_basic_and_header() {
        assert_eq!(
            extract(&h(&[("authorization", b"Bearer abc")]), "/", &src()).unwrap(),
            "abc"
        );
        assert_eq!(
            extract(&h(&[("authorization", b"bearer   abc ")]), "/", &src()).unwrap(),
            "abc"
        );
        let basic = format!("Basic {}", b64("user:secret"));
        assert_eq!(
            extract(&h(&[("authorization", basic.as_bytes())]), "/", &src()).unwrap(),
            "secret"
        );
        let user_only = format!("Basic {}", b64("secret:"));
        assert_eq!(
            extract(&h(&[("authorization", user_only.as_bytes())]), "/", &src()).unwrap(),
            "secret"
        );
        assert_eq!(
            extract(&h(&[("x-api-key", b"abc")]), "/", &src()).unwrap(),
            "abc"
        );
        // Another Authorization scheme does not hide the API key header.
        assert_eq!(
            extract(
                &h(&[("authorization", b"Digest x"), ("x-api-key", b"k")]),
                "/",
                &src()
            )
            .unwrap(),
            "k"
        );
    }

    #[test]
    fn malformed_credentials() {
        let s = src();
        assert_eq!(extract(&h(&[]), "/", &s), Err(BadCredential::Missing));
        assert_eq!(
            extract(&h(&[("authorization", b"Bearer")]), "/", &s),
            Err(BadCredential::EmptyBearer)
        );
        assert_eq!(
            extract(&h(&[("authorization", b"Bearer   ")]), "/", &s),
            Err(BadCredential::EmptyBearer)
        );
        assert_eq!(
            extract(&h(&[("authorization", b"Basic !!!")]), "/", &s),
            Err(BadCredential::BadBasic)
        );
        let no_colon = format!("Basic {}", b64("justtext"));
        assert_eq!(
            extract(&h(&[("authorization", no_colon.as_bytes())]), "/", &s),
            Err(BadCredential::BadBasic)
        );
        let empty = format!("Basic {}", b64(":"));
        assert_eq!(
            extract(&h(&[("authorization", empty.as_bytes())]), "/", &s),
            Err(BadCredential::BadBasic)
        );
        assert_eq!(
            extract(&h(&[("authorization", b"Bearer \xff\xfe")]), "/", &s),
            Err(BadCredential::NotText)
        );
    }

    #[test]
    fn query_parameter_only_when_enabled() {
        let off = src();
        assert_eq!(
            extract(&h(&[]), "/x?api_key=abc", &off),
            Err(BadCredential::Missing)
        );
        let on = Sources {
            query_param: Some("api_key".into()),
            ..src()
        };
        assert_eq!(
            extract(&h(&[]), "/x?a=1&api_key=a%2Bb", &on).unwrap(),
            "a+b"
        );
        assert_eq!(
            extract(&h(&[]), "/x?api_key=", &on),
            Err(BadCredential::Missing)
        );
        assert_eq!(
            extract(&h(&[]), "/x?api_key=bad%zz", &on).unwrap(),
            "bad%zz"
        );
    }
}
