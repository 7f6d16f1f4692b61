//! Hostile paths (issue 12, finding 2) through the three gate endpoints of a real
//! server: a key limited to `/v1/*` is refused (403) on every path that some upstream
//! reads outside `/v1` or differently from keygate; keys without path rules are not.

use std::net::SocketAddr;

use keygate::fuzzing::{HOSTILE_PATHS, PLAIN_PATHS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp};

/// Sends `GET target` with `headers` over a plain connection, byte for byte (an HTTP
/// client would normalise or re-encode the path), and returns the status.
pub async fn raw_status(addr: SocketAddr, target: &[u8], headers: &[(&str, &[u8])]) -> u16 {
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.extend_from_slice(name.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&req).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let line = String::from_utf8_lossy(&resp);
    line.get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {line:?}"))
}

/// The status each endpoint gives `key` for the original request `GET path`, sent the
/// way its proxy sends it.
async fn statuses(t: &TestApp, key: &str, path: &str) -> [(&'static str, u16); 3] {
    let auth = format!("Bearer {key}");
    let auth = auth.as_bytes();
    let p = path.as_bytes();
    let host: &[u8] = b"api.example.com";
    let ext = format!("/ext-authz{path}");
    [
        (
            "/forward-auth",
            raw_status(
                t.addr,
                b"/forward-auth",
                &[
                    ("Host", b"keygate"),
                    ("Authorization", auth),
                    ("X-Forwarded-Method", b"GET"),
                    ("X-Forwarded-Host", host),
                    ("X-Forwarded-Uri", p),
                ],
            )
            .await,
        ),
        (
            "/auth",
            raw_status(
                t.addr,
                b"/auth",
                &[
                    ("Host", host),
                    ("Authorization", auth),
                    ("X-Original-Method", b"GET"),
                    ("X-Original-URI", p),
                ],
            )
            .await,
        ),
        (
            "/ext-authz",
            raw_status(
                t.addr,
                ext.as_bytes(),
                &[("Host", host), ("Authorization", auth)],
            )
            .await,
        ),
    ]
}

#[tokio::test]
async fn hostile_paths_through_every_gate_endpoint() {
    let t = TestApp::spawn(Backend::Memory).await;
    let (v1, _) = t.create("alice", "v1 only", &["paths=/v1/*"]).await;
    let (hosts, _) = t
        .create("alice", "host only", &["hosts=api.example.com"])
        .await;
    let (free, _) = t.create("alice", "no rules", &[]).await;
    let mut refused = 0;
    for path in HOSTILE_PATHS {
        for (ep, status) in statuses(&t, &v1, path).await {
            assert_eq!(status, 403, "{ep} {path:?} with a /v1/* key");
            refused += 1;
        }
        // Keys whose rules do not name paths are unaffected, as long as the request
        // itself is one the server takes (a raw non-ASCII or control byte in the
        // request line is not HTTP).
        for key in [&hosts, &free] {
            for (ep, status) in statuses(&t, key, path).await {
                if path.is_ascii() {
                    assert!(
                        matches!(status, 200 | 204),
                        "{ep} {path:?} without path rules: {status}"
                    );
                }
            }
        }
    }
    for path in PLAIN_PATHS {
        for (ep, status) in statuses(&t, &v1, path).await {
            assert!(
                matches!(status, 200 | 204),
                "{ep} {path:?} with a /v1/* key: {status}"
            );
        }
    }
    println!(
        "{refused} hostile requests refused ({} paths × 3 endpoints)",
        HOSTILE_PATHS.len()
    );
}

/// A proxy that sends the original URI with raw non-ASCII or non-UTF-8 bytes: the path
/// rules judge it, it is never replaced by the gate endpoint's own path (which a path
/// rule might allow).
#[tokio::test]
async fn raw_bytes_in_the_original_uri_headers() {
    let t = TestApp::spawn(Backend::Memory).await;
    let (v1, _) = t.create("alice", "v1 only", &["paths=/v1/*"]).await;
    let (gate, _) = t
        .create("alice", "gate paths", &["paths=/forward-auth,/auth"])
        .await;
    let (free, _) = t.create("alice", "no rules", &[]).await;
    let send = |key: String, header: &'static str, value: Vec<u8>| {
        let addr = t.addr;
        async move {
            let endpoint: &[u8] = if header == "X-Forwarded-Uri" {
                b"/forward-auth"
            } else {
                b"/auth"
            };
            raw_status(
                addr,
                endpoint,
                &[
                    ("Host", b"api.example.com"),
                    ("Authorization", format!("Bearer {key}").as_bytes()),
                    (header, &value),
                ],
            )
            .await
        }
    };
    for header in ["X-Forwarded-Uri", "X-Original-URI", "X-Original-URL"] {
        let url = |p: &[u8]| {
            if header == "X-Original-URL" {
                [b"http://api.example.com".as_slice(), p].concat()
            } else {
                p.to_vec()
            }
        };
        for bad in [
            "/v1/\u{ff0e}\u{ff0e}/admin".as_bytes(),
            b"/v1/\xc0\xae\xc0\xae/admin",
            b"/v1/\xff",
        ] {
            let what = String::from_utf8_lossy(bad);
            assert_eq!(
                send(v1.clone(), header, url(bad)).await,
                403,
                "{header} {what}"
            );
            assert_eq!(
                send(gate.clone(), header, url(bad)).await,
                403,
                "{header} {what}"
            );
            let ok = send(free.clone(), header, url(bad)).await;
            assert!(
                matches!(ok, 200 | 204),
                "{header} {what} without rules: {ok}"
            );
        }
        let letters = url("/v1/caf\u{e9}".as_bytes());
        let ok = send(v1.clone(), header, letters).await;
        assert!(matches!(ok, 200 | 204), "{header}: raw letters: {ok}");
    }
}
