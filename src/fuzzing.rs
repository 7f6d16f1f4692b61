//! Entry points for the `cargo fuzz` targets in `fuzz/` (not a public API).
//!
//! Each function feeds untrusted bytes to one parser the way a request, an upload or a
//! file would, and checks the invariants that must hold whatever the bytes are. A
//! violated invariant comes back as `Err` (the fuzz target turns it into a crash); a panic
//! inside keygate is a crash by itself. The same functions run in the unit tests below on
//! the inputs the fuzzers found, so a fixed crash stays fixed.

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, header};

use crate::config::{Config, OAuthConfig, Secret};
use crate::rules::{self, Rule, Target};
use crate::token::{self, KeyPrefix, Policy, Salt, Shape};

/// Splits fuzz bytes into `n` parts at `\n` (the last one takes the rest).
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == b'\n').collect();
    out.resize(n, b"");
    out
}

/// Credential extraction from request headers: never panics, and what it returns is
/// what the request carried (a key borrowed from a header is a substring of it).
pub fn credential(data: &[u8]) -> Result<(), String> {
    let p = parts(data, 3);
    let mut headers = HeaderMap::new();
    let api_key = HeaderName::from_static("x-api-key");
    if let Ok(v) = HeaderValue::from_bytes(p[0]) {
        headers.insert(header::AUTHORIZATION, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(p[1]) {
        headers.insert(api_key.clone(), v);
    }
    let uri = String::from_utf8_lossy(p[2]);
    let sources = crate::decide::credential::Sources {
        header: Some(api_key),
        query_param: Some("key".into()),
    };
    let presented = crate::decide::credential::Presented::from_headers(&headers, &sources);
    if let Ok(key) = crate::decide::credential::extract(&presented, &uri, &sources)
        && key.is_empty()
    {
        return Err("an empty key was extracted".into());
    }
    Ok(())
}

/// The key format: the pre-check never panics, only keys with our prefix and a valid
/// checksum pass as ours, and a generated key always passes.
pub fn key(data: &[u8]) -> Result<(), String> {
    let prefix = KeyPrefix::default();
    let text = String::from_utf8_lossy(data);
    let _ = KeyPrefix::parse(&text);
    let _ = Salt::from_hex(&text);
    let _ = token::KeyHash::from_hex(&text);
    let _ = token::hint(&text);
    for foreign in [false, true] {
        if let Ok(Shape::Ours) = token::precheck(&text, &prefix, foreign)
            && token::precheck(&text, &prefix, false) != Ok(Shape::Ours)
        {
            return Err(format!("{text:?} is ours only when foreign keys are on"));
        }
    }
    let policy = Policy {
        prefix: prefix.clone(),
        accept_foreign: true,
        foreign_length: 40,
        foreign_prefix: "ak_".into(),
    };
    let _ = policy.check(&text);
    // Round trip: any 32 random bytes make a key that passes as ours, and changing
    // one character of it makes it fail (CRC32 catches every single-character error).
    let mut random = [0u8; 32];
    for (i, b) in data.iter().take(32).enumerate() {
        random[i] = *b;
    }
    let key = token::assemble(&prefix, &random);
    if token::precheck(&key, &prefix, false) != Ok(Shape::Ours) {
        return Err(format!("generated key {key} fails the pre-check"));
    }
    if let Some(&at) = data.get(32) {
        let i = prefix.as_str().len() + 1 + usize::from(at) % token::BODY_LEN;
        let mut typo = key.clone().into_bytes();
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8_lossy(&typo);
        if token::precheck(&typo, &prefix, false) == Ok(Shape::Ours) {
            return Err(format!("{typo} (a typo of {key}) passes the checksum"));
        }
    }
    Ok(())
}

/// Rule parsing (the CLI form and JSON) and path matching: never panics; normalising
/// is idempotent; a parsed rule prints back to a spec that parses to the same rule.
pub fn rules(data: &[u8]) -> Result<(), String> {
    let p = parts(data, 3);
    let spec = String::from_utf8_lossy(p[0]);
    let mut list: Vec<Rule> = Vec::new();
    if let Ok(rule) = Rule::parse_spec(&spec) {
        let again = Rule::parse_spec(&rule.to_string())
            .map_err(|e| format!("{rule} does not parse back: {e}"))?;
        if again != rule {
            return Err(format!("{spec:?} → {rule} → {again}"));
        }
        list.push(rule);
    }
    if let Ok(more) = serde_json::from_slice::<Vec<Rule>>(p[0])
        && rules::validate_all(&more).is_ok()
    {
        list.extend(more);
    }
    let uri = String::from_utf8_lossy(p[1]);
    let once = rules::normalize_path(&uri);
    let twice = rules::normalize_path(&once);
    if once != twice {
        return Err(format!(
            "normalising {uri:?} twice: {once:?} then {twice:?}"
        ));
    }
    let host = String::from_utf8_lossy(p[2]);
    let target = Target {
        method: "GET",
        host: &host,
        uri: &uri,
        needs: &[],
        cost: 1,
    };
    let _ = rules::allows(&list, &target);
    // A `/v1/*` key never passes a path that some upstream reads outside /v1.
    let v1 = [Rule::parse_spec("paths=/v1/*")?];
    if rules::allows(&v1, &target) {
        for (name, read) in upstream_readings(&uri) {
            if !(read == "/v1" || read.starts_with("/v1/")) {
                return Err(format!("{uri:?} passes /v1/* but {name} reads {read:?}"));
            }
        }
    }
    Ok(())
}

/// How common upstreams read a request path, modelled independently of
/// [`rules::normalize_path`]: (upstream, the path it serves).
pub fn upstream_readings(uri: &str) -> Vec<(&'static str, String)> {
    let mut path = uri.split(['?', '#']).next().unwrap_or("");
    // An absolute-form target (`http://host/path`): servers serve its path.
    for scheme in ["http://", "https://"] {
        let head = path.as_bytes().get(..scheme.len());
        if head.is_some_and(|h| h.eq_ignore_ascii_case(scheme.as_bytes())) {
            let rest = &path[scheme.len()..];
            path = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    let once = decode_lossy(path.as_bytes());
    let twice = decode_lossy(&once);
    let strip = |b: &[u8]| -> Vec<u8> {
        // Tomcat / Jetty / Spring: `;params` end at the next `/`.
        let mut out = Vec::new();
        let mut skip = false;
        for &c in b {
            match c {
                b';' => skip = true,
                b'/' => {
                    skip = false;
                    out.push(c);
                }
                _ if !skip => out.push(c),
                _ => {}
            }
        }
        out
    };
    vec![
        ("a plain server", resolve(path.as_bytes(), false)),
        ("a decoding server", resolve(&once, false)),
        ("a backslash-as-slash server", resolve(&once, true)),
        ("a double-decoding server", resolve(&twice, true)),
        (
            "Tomcat",
            resolve(&decode_lossy(&strip(path.as_bytes())), false),
        ),
        ("Spring (decode, then strip)", resolve(&strip(&once), true)),
        ("a Unicode-folding server", resolve(&fold(&once), true)),
        (
            "a server behind a decoding proxy",
            resolve(
                once.split(|b| matches!(b, b'?' | b'#' | 0))
                    .next()
                    .unwrap_or(b""),
                true,
            ),
        ),
    ]
}

/// Percent-decoding as lenient servers do it: bad escapes stay as they are.
fn decode_lossy(b: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(0));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Folds what some servers take for `.`, `/` and `\`: overlong UTF-8 and the Unicode
/// lookalikes that NFKC or confusable-folding maps to them.
fn fold(b: &[u8]) -> Vec<u8> {
    const LOOKALIKES: &[(&[u8], &[u8])] = &[
        (b"\xc0\xae", b"."),
        (b"\xc0\xaf", b"/"),
        (b"\xc1\x9c", b"\\"),
        (b"\xe0\x80\xae", b"."),
        (b"\xe0\x80\xaf", b"/"),
        (b"\xf0\x80\x80\xae", b"."),
        (b"\xf0\x80\x80\xaf", b"/"),
        ("\u{ff0e}".as_bytes(), b"."),
        ("\u{2024}".as_bytes(), b"."),
        ("\u{2025}".as_bytes(), b".."),
        ("\u{fe52}".as_bytes(), b"."),
        ("\u{3002}".as_bytes(), b"."),
        ("\u{ff61}".as_bytes(), b"."),
        ("\u{ff0f}".as_bytes(), b"/"),
        ("\u{2215}".as_bytes(), b"/"),
        ("\u{2044}".as_bytes(), b"/"),
        ("\u{29f8}".as_bytes(), b"/"),
        ("\u{ff3c}".as_bytes(), b"\\"),
        ("\u{fe68}".as_bytes(), b"\\"),
        ("\u{2216}".as_bytes(), b"\\"),
        ("\u{ff05}".as_bytes(), b"%"),
        ("\u{ff1b}".as_bytes(), b";"),
    ];
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    'outer: while i < b.len() {
        for (from, to) in LOOKALIKES {
            if b[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
                continue 'outer;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Resolves dot segments the RFC 3986 way (`\` as a separator when asked).
fn resolve(b: &[u8], backslash: bool) -> String {
    let mut out: Vec<&[u8]> = Vec::new();
    let segs: Vec<&[u8]> = b
        .split(|c| *c == b'/' || (backslash && *c == b'\\'))
        .collect();
    let last = segs.len().saturating_sub(1);
    let mut dir = false;
    for (i, s) in segs.iter().enumerate() {
        match *s {
            b"" | b"." => dir = i == last && i != 0,
            b".." => {
                out.pop();
                dir = i == last;
            }
            s => {
                out.push(s);
                dir = false;
            }
        }
    }
    let mut path = Vec::new();
    for s in out {
        path.push(b'/');
        path.extend_from_slice(s);
    }
    if dir || path.is_empty() {
        path.push(b'/');
    }
    String::from_utf8_lossy(&path).into_owned()
}

/// The key-file parser, both formats: never panics; a good file's digests are sorted
/// and distinct.
pub fn keyfile(data: &[u8]) -> Result<(), String> {
    let salt = Salt::from_hex(&"ab".repeat(32))?;
    let policy = Policy {
        accept_foreign: true,
        ..Policy::default()
    };
    for format in [
        crate::keyfile::Format::Plain,
        crate::keyfile::Format::Sha256,
    ] {
        for require in [false, true] {
            if let Ok(p) = crate::keyfile::parse(data, format, &salt, &policy, require)
                && p.digests.windows(2).any(|w| w[0] >= w[1])
            {
                return Err("digests not sorted and distinct".into());
            }
        }
    }
    Ok(())
}

struct Runtime {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    verifier: crate::oidc::Verifier,
}

const ADMIN_KEY: &str = "fuzz-admin-key-0123456789";

fn runtime() -> Result<&'static Runtime, String> {
    static RT: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let config = Config {
            admin_key: Some(Secret::new(ADMIN_KEY)),
            load_max_bytes: 64 * 1024,
            ..Config::default()
        };
        let salt = Salt::from_hex(&"cd".repeat(32))?;
        let app = crate::app::App::memory(config, crate::clock::Clock::system(), salt)
            .map_err(|e| e.to_string())?;
        let router = crate::http::router(Arc::new(app));
        // An issuer whose keys were never fetched: no token can pass, every one is read.
        let verifier = crate::oidc::Verifier::new(OAuthConfig {
            jwks_url: "http://127.0.0.1:9/jwks".into(),
            ..OAuthConfig::default()
        })?;
        Ok(Runtime {
            rt,
            router,
            verifier,
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// `POST /load` through the real router: the first line is the `Content-Type`, the rest
/// the body. Never a panic and never a 5xx: bad uploads are a 400 or 413.
pub fn load(data: &[u8]) -> Result<(), String> {
    use tower::ServiceExt;
    let p = parts(data, 2);
    let rt = runtime()?;
    let mut req =
        Request::post("/load").header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"));
    if let Ok(ct) = HeaderValue::from_bytes(p[0]) {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req
        .body(axum::body::Body::from(p[1].to_vec()))
        .map_err(|e| e.to_string())?;
    let status = rt
        .rt
        .block_on(rt.router.clone().oneshot(req))
        .map_err(|e| e.to_string())?
        .status();
    if status.is_server_error() {
        return Err(format!("/load answered {status}"));
    }
    Ok(())
}

/// The configuration loader on a `keygate.toml` text: never panics; what it accepts
/// passes its own validation and survives a round trip through the redacted TOML.
pub fn config(data: &[u8]) -> Result<(), String> {
    static FILE: OnceLock<std::path::PathBuf> = OnceLock::new();
    let path = FILE.get_or_init(|| {
        std::env::temp_dir().join(format!("keygate-fuzz-{}.toml", std::process::id()))
    });
    std::fs::write(path, data).map_err(|e| e.to_string())?;
    let loaded = crate::config::load(Some(path), &Default::default(), &Default::default());
    if let Ok(l) = loaded {
        l.config
            .validate()
            .map_err(|e| format!("accepted but invalid: {e}"))?;
        let _ = l.config.to_redacted_toml();
    }
    Ok(())
}

/// A stored key record (`store::codec`, either format): reading it never panics, and a
/// record read from the bytes reads back the same from its binary and its JSON form.
pub fn record(data: &[u8]) -> Result<(), String> {
    use crate::store::codec::{self, RecordFormat};
    let id = crate::store::TokenId::parse("fuzz")?;
    let _ = codec::salvage(data, "owner");
    let _ = codec::decode_for(&id, data);
    let _ = codec::rewrite(&id, data, RecordFormat::Binary);
    if let Ok(r) = codec::decode(data) {
        for format in [RecordFormat::Binary, RecordFormat::Json] {
            let again = codec::encode(&r, format).map_err(|e| e.to_string())?;
            if codec::decode(&again).ok().as_ref() != Some(&r) {
                return Err(format!(
                    "the record read from the bytes reads differently as {format}"
                ));
            }
        }
    }
    Ok(())
}

/// The JWT header handling of the management API: any bytes as a bearer token get a
/// clean refusal (the verifier has no keys, so nothing can pass).
pub fn jwt(data: &[u8]) -> Result<(), String> {
    let rt = runtime()?;
    let token = String::from_utf8_lossy(data);
    match rt.rt.block_on(rt.verifier.verify(&token)) {
        Ok(c) => Err(format!("{token:?} verified as {}", c.subject)),
        Err(_) => Ok(()),
    }
}

/// Paths that some common upstream reads outside `/v1` (or differently from keygate),
/// for a key limited to `/v1/*`: every one is refused. Written as a client sends them
/// (the raw request target); non-ASCII ones are raw UTF-8. Also the seeds of the
/// `rules` fuzz target.
pub const HOSTILE_PATHS: &[&str] = &[
    // dot segments and encoded separators (refused before this issue, kept as a guard)
    "/v1/../admin",
    "/v1/%2e%2e/admin",
    "/admin/%2e%2e/v1/x",
    "/admin/.%2e/v1/x",
    "/v1/..%2fadmin",
    "/v1/..%5cadmin",
    "/v1/..\\admin",
    "/v1/..%2fv1/../admin",
    "/v1/..%5cv1/../admin",
    "/v1/..\\v1/../admin",
    // `;` path parameters (Tomcat, Jetty, Spring)
    "/v1/..;/admin",
    "/v1/..;x=1/admin",
    "/v1/%2e%2e;/admin",
    "/v1/.;/../admin",
    "/v1/x/..;/..;/admin",
    "/v1/secret;.json",
    "/v1/..%3b/admin",
    // double encoding
    "/v1/%252e%252e/admin",
    "/v1/%25%32%65%25%32%65/admin",
    "/v1/%%32%65%%32%65/admin",
    "/v1/..%252fadmin",
    "/v1/%u002e%u002e/admin",
    "/v1/%25u002e%25u002e/admin",
    // overlong UTF-8 and invalid UTF-8
    "/v1/%c0%ae%c0%ae/admin",
    "/v1/%c0%ae%c0%ae%c0%afadmin",
    "/v1/%e0%80%ae%e0%80%ae/admin",
    "/v1/..%c0%afadmin",
    "/v1/..%c1%9cadmin",
    "/v1/%ff",
    // Unicode lookalikes of `.`, `/` and `\`, encoded and raw
    "/v1/%ef%bc%8e%ef%bc%8e/admin",
    "/v1/..%ef%bc%8fadmin",
    "/v1/..%ef%bc%bcadmin",
    "/v1/..%e2%88%95admin",
    "/v1/..%e2%81%84admin",
    "/v1/%e2%80%a4%e2%80%a4/admin",
    "/v1/%e2%80%a5/admin",
    "/v1/%ef%b9%92%ef%b9%92/admin",
    "/v1/\u{ff0e}\u{ff0e}/admin",
    "/v1/..\u{ff0f}admin",
    "/v1/\u{2024}\u{2024}/admin",
    // what a decoding proxy cuts at, controls, whitespace
    "/v1/..%3f/admin",
    "/v1/..%23/admin",
    "/v1/..%00/admin",
    "/v1/.%00./admin",
    "/v1/.%09./admin",
    "/v1/..%20/admin",
    "/v1/..%0d%0aadmin",
    // segments Windows servers trim to `..`
    "/v1/.../admin",
    "/v1/%2e%2e%2e/admin",
    "/v1/..%2e/admin",
];

/// Paths a `/v1/*` key reaches, hostile-looking or not: the rule refuses only what
/// upstreams could read differently.
pub const PLAIN_PATHS: &[&str] = &[
    "/v1/users",
    "/v1/users/42?expand=..;/admin&q=%252e",
    "/v1/a.b/c.json",
    "/v1/./x",
    "/v1/x/../y",
    "/v1/a%2Fb",
    "/v1/a%2fb%2fc",
    "/v1/caf%C3%A9",
    "/v1/%E6%97%A5%E6%9C%AC",
    "/v1/100%25",
    "/v1/a+b%20c",
    "/v1/~user/x-y_z",
    "//v1//users",
];

#[cfg(test)]
mod tests {
    //! The fuzz targets' inputs worth keeping: what they found, and a seed per parser.
    use super::*;

    #[test]
    fn rules_regressions() {
        for input in [
            // the upstream model read an absolute-form target's scheme as a segment
            "paths=/v1/*\nhttps://x/v1/a\nh",
            "paths=/v1/*\nHTTP://x/v1/a\nh",
            // keygate resolved a leading %2E segment that plain servers keep as a name
            "path\0\0\0\0/.1/*\n%2E/v1/a%2fb%2fc\nh",
            "paths=/v1/*\n/admin/%2e%2e/v1/x\nh",
            // the separator reading was taken after `..` had removed the segment with
            // the encoded separator
            "paths=/v1/*\n/v1/..%5cv1/../v:a\nmipaa\nspan\n",
            "paths=/v1/*\nht\u{e9}ps://\u{e9}\nh",
            "[{\"paths\":[\"/v1/*\"]}]\n/v1/..;/x\nh:1",
        ] {
            assert_eq!(rules(input.as_bytes()), Ok(()), "{input:?}");
        }
        for path in HOSTILE_PATHS.iter().chain(PLAIN_PATHS) {
            assert_eq!(rules(format!("paths=/v1/*\n{path}\nh").as_bytes()), Ok(()));
        }
    }

    #[test]
    fn parsers_take_their_seeds() {
        let key = token::assemble(&KeyPrefix::default(), &[7; 32]);
        for input in [
            format!("Bearer {key}\n\n/"),
            "Basic Og==\n\n/".into(),
            "Digest x\n  \n/x?key=%2B%+1%".into(),
        ] {
            assert_eq!(credential(input.as_bytes()), Ok(()), "{input:?}");
        }
        assert_eq!(self::key(key.as_bytes()), Ok(()));
        assert_eq!(
            keyfile(format!("# c\n{key}\n\n{}\n", "ab".repeat(32)).as_bytes()),
            Ok(())
        );
        assert_eq!(jwt(b"eyJhbGciOiJub25lIn0.e30."), Ok(()));
        assert_eq!(
            config(b"listen = \"127.0.0.1:1\"\n[oauth]\nissuer_url = 3"),
            Ok(())
        );
        let body = "multipart/form-data; boundary=B\n--B\r\nContent-Disposition: form-data; \
                    name=\"file\"\r\n\r\nak_1234567890\r\n--B--\r\n";
        assert_eq!(load(body.as_bytes()), Ok(()));
        assert_eq!(load(b"text/plain\n\xff"), Ok(()));
        let r = crate::store::TokenRecord::plain(
            crate::store::TokenId::parse("fuzz").unwrap(),
            token::KeyHash([1; 32]),
            crate::store::HashAlg::Keyed,
            "o".into(),
            "n".into(),
            "h".into(),
            crate::clock::Timestamp::from_unix(1),
            "c".into(),
        );
        assert_eq!(record(&crate::store::codec::encode_binary(&r)), Ok(()));
        assert_eq!(record(&serde_json::to_vec(&r).unwrap()), Ok(()));
        assert_eq!(record(b"\x7f\x04fuzz\x01o"), Ok(()));
    }
}
