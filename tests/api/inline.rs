//! Inline mode (issue 24): keygate as the reverse proxy in front of a real upstream
//! (tests/api/upstream.rs), driven by real clients — reqwest, curl (HTTP/2, TLS,
//! `Expect: 100-continue`), a WebSocket client (tokio-tungstenite) and raw sockets for
//! the shapes no client library sends.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keygate::config::Config;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::helpers::{Backend, TestApp};
use crate::upstream::Upstream;

pub struct Inline {
    pub t: TestApp,
    pub up: Upstream,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Inline {
    /// keygate (memory store) with `proxy.upstream` set to a fresh upstream, no trusted
    /// proxies (the tests' client is on loopback), then `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut Config, &Upstream)) -> Self {
        Self::start_on(Upstream::start().await, tweak).await
    }

    pub async fn start_on(up: Upstream, tweak: impl FnOnce(&mut Config, &Upstream)) -> Self {
        Self::start_full(Backend::Memory, up, tweak).await
    }

    pub async fn start_full(
        backend: Backend,
        up: Upstream,
        tweak: impl FnOnce(&mut Config, &Upstream),
    ) -> Self {
        let t = TestApp::spawn_with(backend, |c| {
            c.proxy.upstream = up.url();
            c.trusted_proxies = Vec::new();
            tweak(c, &up);
        })
        .await;
        let proxy = keygate::proxy::Proxy::new(&t.app.config).unwrap().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let limits = keygate::listen::Limits::new(&t.app.config);
        let task = tokio::spawn(keygate::proxy::serve(
            listener,
            t.app.clone(),
            Arc::new(proxy),
            limits,
            async {
                let _ = rx.await;
            },
        ));
        Inline {
            t,
            up,
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn key(&self, owner: &str) -> String {
        self.t.create(owner, "inline", &[]).await.0
    }

    /// GET `path` with `key` as a bearer token; the echo's JSON (status must be 200).
    pub async fn echo(&self, path: &str, req: reqwest::RequestBuilder) -> Value {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// The main port's `/metrics`.
    pub async fn metrics(&self) -> String {
        let r = self.t.get("/metrics").send().await.unwrap();
        r.text().await.unwrap()
    }

    /// Asks the proxy to stop and waits until it has.
    async fn shut(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// The echoed value of header `name` (first one), if the upstream got it.
fn seen<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == name)
        .map(|p| p[1].as_str().unwrap())
}

fn curl(args: &[&str]) -> (String, String, bool) {
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*"])
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// An answer's head read off a raw connection, byte by byte (nothing after it is taken),
/// lower-cased.
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn a_key_is_asked_then_removed_and_the_caller_named() {
    let p = Inline::start(|c, _| c.query_param = "api_key".into()).await;
    let key = p.key("alice").await;
    let c = client();

    // No key, a wrong one, a malformed one: refused here, nothing reaches the upstream.
    let r = c.get(p.url("/x")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert!(r.headers().contains_key("x-request-id"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "unauthorized");
    for bad in ["kg_nope", "Bearer", &format!("{key}x")] {
        let r = c.get(p.url("/x")).bearer_auth(bad).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    assert_eq!(p.up.hits(), 0);

    // Bearer: forwarded without it, with the caller named and spoofed names dropped.
    let echo = p
        .echo(
            "/x",
            c.get(p.url("/v1/things?a=1"))
                .bearer_auth(&key)
                .header("X-Authenticated-User", "admin")
                .header("X-Authenticated-Token-Id", "forged")
                .header("RateLimit", "forged")
                .header("X-Keygate-Assertion", "forged")
                .header("X-Forwarded-For", "6.6.6.6")
                .header("X-Forwarded-Host", "evil.example")
                .header("X-Real-IP", "6.6.6.6")
                .header("Forwarded", "for=6.6.6.6")
                .header("Connection", "X-Secret")
                .header("X-Secret", "hop")
                .header("X-Request-Id", "trace-42"),
        )
        .await;
    assert_eq!(echo["uri"], "/v1/things?a=1");
    assert_eq!(seen(&echo, "authorization"), None);
    assert_eq!(seen(&echo, "x-authenticated-user"), Some("alice"));
    assert_eq!(seen(&echo, "x-authenticated-token-name"), Some("inline"));
    assert_ne!(seen(&echo, "x-authenticated-token-id"), Some("forged"));
    assert_eq!(seen(&echo, "ratelimit"), None);
    assert_eq!(seen(&echo, "x-keygate-assertion"), None);
    assert_eq!(seen(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(
        seen(&echo, "x-forwarded-host"),
        Some(p.addr.to_string().as_str())
    );
    assert_eq!(seen(&echo, "x-real-ip"), None);
    assert_eq!(seen(&echo, "forwarded"), None);
    assert_eq!(seen(&echo, "x-secret"), None);
    assert_eq!(seen(&echo, "connection"), None);
    assert_eq!(seen(&echo, "x-request-id"), Some("trace-42"));
    assert_eq!(seen(&echo, "host"), Some(p.addr.to_string().as_str()));

    // The other places a key may be: Basic, the key header, the query parameter.
    let echo = p
        .echo("/b", c.get(p.url("/b")).basic_auth("any", Some(&key)))
        .await;
    assert_eq!(seen(&echo, "authorization"), None);
    let echo = p
        .echo("/h", c.get(p.url("/h")).header("X-API-Key", &key))
        .await;
    assert_eq!(seen(&echo, "x-api-key"), None);
    let echo = p
        .echo("/q", c.get(p.url(&format!("/q?x=1&api_key={key}&y=2"))))
        .await;
    assert_eq!(echo["uri"], "/q?x=1&y=2");
    let echo = p
        .echo("/q", c.get(p.url(&format!("/q?api_key={key}"))))
        .await;
    assert_eq!(echo["uri"], "/q");
    // Another scheme is not keygate's: it stays, and the key comes from elsewhere.
    let echo = p
        .echo(
            "/d",
            c.get(p.url("/d"))
                .header("Authorization", "Digest username=x")
                .header("X-API-Key", &key),
        )
        .await;
    assert_eq!(seen(&echo, "authorization"), Some("Digest username=x"));

    // A generated request id, on the answer and upstream alike; hop-by-hop headers of
    // the answer are not passed back.
    let r = c.get(p.url("/id")).bearer_auth(&key).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(!r.headers().contains_key("keep-alive"));
    let echo: Value = r.json().await.unwrap();
    assert_eq!(seen(&echo, "x-request-id"), Some(id.as_str()));
}

#[tokio::test]
async fn routes_choose_the_upstream_and_public_ones_ask_nothing() {
    let other = Upstream::start().await;
    let other_url = other.url();
    let p = Inline::start(move |c, up| {
        let route = |v: Value| serde_json::from_value::<keygate::config::RouteConfig>(v).unwrap();
        c.proxy.upstream = String::new();
        c.proxy.routes = vec![
            route(serde_json::json!({"name": "health", "paths": ["/healthz"], "methods": ["GET"], "upstream": up.url(), "public": true})),
            route(serde_json::json!({"name": "docs", "hosts": ["docs.example.com"], "upstream": format!("{other_url}/base/"), "pass_host": false})),
            route(serde_json::json!({"name": "api", "paths": ["/v1"], "upstream": up.url(), "keep_credential": true})),
        ];
    })
    .await;
    let key = p.key("bob").await;
    let c = client();
    let r = c.get(p.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Public, but identity headers sent by the client are still dropped.
    let echo = p
        .echo(
            "/healthz",
            c.get(p.url("/healthz"))
                .header("X-Authenticated-User", "admin"),
        )
        .await;
    assert_eq!(seen(&echo, "x-authenticated-user"), None);
    // The public route is GET only; a POST there matches no route.
    let r = c.post(p.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "no_route");
    let hits = p.up.hits();
    for path in ["/", "/v10", "/admin", "/v1/../admin"] {
        let r = c.get(p.url(path)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    assert_eq!(p.up.hits(), hits, "no route, no upstream");
    // keep_credential: the key goes on.
    let echo = p
        .echo("/v1/x", c.get(p.url("/v1/x")).bearer_auth(&key))
        .await;
    assert_eq!(
        seen(&echo, "authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    // By host, to another upstream under its base path, with the upstream's Host.
    let echo = p
        .echo(
            "/page",
            c.get(p.url("/page?x=1"))
                .header("Host", "docs.example.com")
                .bearer_auth(&key),
        )
        .await;
    assert_eq!(echo["uri"], "/base/page?x=1");
    assert_eq!(seen(&echo, "host"), Some(other.addr.to_string().as_str()));
    assert_eq!(seen(&echo, "x-forwarded-host"), Some("docs.example.com"));
    assert_eq!(other.hits(), 1);
    let r = c
        .get(p.url("/page"))
        .header("Host", "docs.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn limits_refuse_with_429_and_the_headers() {
    let p = Inline::start(|c, _| c.limits.upstream_headers = true).await;
    let limits = serde_json::from_value(
        serde_json::json!({"rate_limits": [{"name": "per-minute", "limit": 2, "window": "1m"}]}),
    )
    .unwrap();
    let (key, _) =
        p.t.app
            .keys
            .create(
                keygate::manage::NewToken {
                    owner: "carol".into(),
                    name: "limited".into(),
                    limits: Some(limits),
                    ..Default::default()
                },
                &keygate::manage::Actor::cli(),
            )
            .await
            .unwrap();
    let key = key.expose().to_owned();
    let c = client();
    let echo = p.echo("/a", c.get(p.url("/a")).bearer_auth(&key)).await;
    assert!(
        seen(&echo, "ratelimit")
            .unwrap()
            .starts_with("\"per-minute\";r=1;t="),
        "{echo}"
    );
    assert!(seen(&echo, "ratelimit-policy").unwrap().contains("q=2"));
    assert_eq!(
        c.get(p.url("/a"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c.get(p.url("/a")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.headers()["ratelimit"].to_str().unwrap().contains("r=0"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");
    assert_eq!(p.up.hits(), 2);
    // Counted as the proxy's decisions, and the upstream's answers per route.
    let m = p.metrics().await;
    assert!(
        m.contains("keygate_decisions_total{endpoint=\"proxy\",outcome=\"allowed\"} 2"),
        "{m}"
    );
    assert!(m.contains("keygate_decisions_total{endpoint=\"proxy\",outcome=\"rate_limited\"} 1"));
    assert!(m.contains("keygate_proxy_responses_total{route=\"upstream\",class=\"2xx\"} 2"));
    assert!(m.contains("keygate_proxy_upstream_duration_seconds_count{route=\"upstream\"} 2"));
}

/// Peak resident memory of this process (nextest runs each test in a process of its
/// own), KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn bodies_stream_both_ways_in_bounded_memory() {
    const GIB: u64 = 1 << 30;
    let p = Inline::start(|_, _| {}).await;
    let key = p.key("dora").await;
    let auth = format!("Authorization: Bearer {key}");
    let before = peak_rss_kib();
    let url = p.url("/upload");
    let (up, down) = tokio::task::spawn_blocking(move || {
        // A chunked upload from a pipe: neither side knows the length in advance.
        let up = Command::new("sh")
            .args([
                "-c",
                &format!("head -c {GIB} /dev/zero | curl -sS --noproxy '*' -T - -H '{auth}' {url}"),
            ])
            .output()
            .unwrap();
        let down = Command::new("curl")
            .args([
                "-sS",
                "--noproxy",
                "*",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
                "-H",
            ])
            .arg(&auth)
            .arg(url.replace("/upload", &format!("/download/{GIB}")))
            .output()
            .unwrap();
        (up, down)
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&up.stdout),
        format!("{{\"bytes\":{GIB}}}"),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&down.stdout), format!("200 {GIB}"));
    let grew_mib = peak_rss_kib().saturating_sub(before) / 1024;
    if std::env::var("NEXTEST_EXECUTION_MODE").as_deref() == Ok("process-per-test") {
        // Proxy and upstream share this process: both must stream.
        assert!(
            grew_mib <= 32,
            "peak RSS grew by {grew_mib} MiB for 2 GiB through"
        );
    }
    eprintln!("1 GiB up and 1 GiB down; peak RSS grew by {grew_mib} MiB");
}

#[tokio::test]
async fn expect_100_continue_only_once_the_key_passes() {
    let p = Inline::start(|_, _| {}).await;
    let key = p.key("erin").await;
    let url = p.url("/upload");
    let auth = format!("Authorization: Bearer {key}");
    let run = |auth: Option<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "-v".to_owned(),
                "-H".into(),
                "Expect: 100-continue".into(),
                "--expect100-timeout".into(),
                "20".into(),
                "--data-binary".into(),
                "0123456789".repeat(200),
            ];
            if let Some(a) = auth {
                args.extend(["-H".into(), a]);
            }
            args.push(url);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            curl(&refs)
        })
    };
    let (out, err, ok) = run(Some(auth)).await.unwrap();
    assert!(ok, "{err}");
    assert!(err.contains("HTTP/1.1 100 Continue"), "{err}");
    assert_eq!(out, "{\"bytes\":2000}");
    let hits = p.up.hits();
    let (out, err, _) = run(None).await.unwrap();
    assert!(!err.contains("100 Continue"), "{err}");
    assert!(err.contains("HTTP/1.1 401"), "{err}");
    assert!(out.contains("unauthorized"));
    assert_eq!(p.up.hits(), hits);
}

#[tokio::test]
async fn websockets_and_other_upgrades_pass_after_the_decision() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let p = Inline::start(|_, _| {}).await;
    let key = p.key("frank").await;
    let ws_url = format!("ws://{}/ws", p.addr);

    // Refused without a key: the handshake fails with the 401.
    let err = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(p.up.hits(), 0);

    let mut req = ws_url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..20 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let m = ws.next().await.unwrap().unwrap();
        assert_eq!(m.into_text().unwrap().as_str(), format!("hello {i}"));
    }
    let big = vec![7u8; 1 << 20];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap().into_data().as_ref(),
        big.as_slice()
    );
    ws.close(None).await.unwrap();

    // Any other protocol, over a raw socket.
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(
        format!("GET /raw HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\nAuthorization: Bearer {key}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    s.write_all(b"ping through the tunnel").await.unwrap();
    let mut back = [0u8; 23];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping through the tunnel");
}

#[tokio::test]
async fn http2_from_clients_http1_to_the_upstream() {
    let p = Inline::start(|_, _| {}).await;
    let key = p.key("gina").await;
    let auth = format!("Authorization: Bearer {key}");
    let url = p.url("/h2?x=1");
    let (out, err, ok) = tokio::task::spawn_blocking(move || {
        curl(&[
            "--http2-prior-knowledge",
            "-w",
            "\n%{http_version}",
            "-H",
            &auth,
            "-H",
            "X-Authenticated-User: admin",
            &url,
        ])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let (body, version) = out.rsplit_once('\n').unwrap();
    assert_eq!(version, "2");
    let echo: Value = serde_json::from_str(body).unwrap();
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["uri"], "/h2?x=1");
    assert_eq!(seen(&echo, "authorization"), None);
    assert_eq!(seen(&echo, "x-authenticated-user"), Some("gina"));
    assert_eq!(seen(&echo, "host"), Some(p.addr.to_string().as_str()));
    // Refusals over HTTP/2 too.
    let url = p.url("/h2");
    let (out, _, _) = tokio::task::spawn_blocking(move || {
        curl(&["--http2-prior-knowledge", "-w", "\n%{http_code}", &url])
    })
    .await
    .unwrap();
    assert!(out.ends_with("\n401"), "{out}");
}

/// A second certificate for localhost from the CA `make_certs` made, named `cn`.
fn reissue(dir: &std::path::Path, cn: &str, out: &str) {
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &format!("{out}.key"),
        "-out",
        &format!("{out}.csr"),
        "-subj",
        &format!("/CN={cn}"),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &format!("{out}.csr"),
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        &format!("{out}.pem"),
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// The subject curl saw, and the HTTP version it spoke.
fn curl_tls(ca: &std::path::Path, url: &str, auth: &str) -> (String, String) {
    let (out, err, ok) = curl(&[
        "-v",
        "--http2",
        "--cacert",
        ca.to_str().unwrap(),
        "-w",
        "%{http_version} %{http_code}",
        "-o",
        "/dev/null",
        "-H",
        auth,
        url,
    ]);
    assert!(ok, "{err}");
    let subject = err
        .lines()
        .find_map(|l| l.trim_start_matches(['*', ' ']).strip_prefix("subject: "))
        .unwrap_or("")
        .to_owned();
    (subject, out)
}

#[tokio::test]
async fn tls_at_the_edge_with_http2_and_reloaded_certificates() {
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::make_certs(dir.path());
    let (cert, key_file) = (dir.path().join("edge.pem"), dir.path().join("edge.key"));
    std::fs::copy(dir.path().join("server.pem"), &cert).unwrap();
    std::fs::copy(dir.path().join("server.key"), &key_file).unwrap();
    let (c2, k2) = (cert.clone(), key_file.clone());
    let p = Inline::start(move |c, _| {
        c.proxy.tls_cert_file = Some(c2);
        c.proxy.tls_key_file = Some(k2);
        c.proxy.tls_reload_secs = 1;
    })
    .await;
    let key = p.key("hana").await;
    let auth = format!("Authorization: Bearer {key}");
    let url = format!("https://localhost:{}/tls", p.addr.port());
    let ca = dir.path().join("ca.pem");
    let (subject, out) = {
        let (ca, url, auth) = (ca.clone(), url.clone(), auth.clone());
        tokio::task::spawn_blocking(move || curl_tls(&ca, &url, &auth))
            .await
            .unwrap()
    };
    assert_eq!((subject.as_str(), out.as_str()), ("CN=localhost", "2 200"));
    // Plain HTTP on the TLS port goes nowhere.
    let plain = format!("http://localhost:{}/tls", p.addr.port());
    let (_, _, ok) = tokio::task::spawn_blocking(move || curl(&["-m", "5", &plain]))
        .await
        .unwrap();
    assert!(!ok);

    // A half-written renewal is ignored, the complete one taken.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot yet\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (subject, _) = {
        let (ca, url, auth) = (ca.clone(), url.clone(), auth.clone());
        tokio::task::spawn_blocking(move || curl_tls(&ca, &url, &auth))
            .await
            .unwrap()
    };
    assert_eq!(subject, "CN=localhost");
    reissue(dir.path(), "renewed", "renewed");
    std::fs::copy(dir.path().join("renewed.key"), &key_file).unwrap();
    std::fs::copy(dir.path().join("renewed.pem"), &cert).unwrap();
    let started = Instant::now();
    loop {
        let (subject, out) = {
            let (ca, url, auth) = (ca.clone(), url.clone(), auth.clone());
            tokio::task::spawn_blocking(move || curl_tls(&ca, &url, &auth))
                .await
                .unwrap()
        };
        if subject == "CN=renewed" {
            assert_eq!(out, "2 200");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not reloaded: {subject}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn https_upstreams_with_a_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::make_certs(dir.path());
    let tls = keygate::listen::tls::EdgeTls::new(
        &dir.path().join("server.pem"),
        &dir.path().join("server.key"),
    )
    .unwrap();
    let up = Upstream::start_with(Some(tls.acceptor.clone())).await;
    let ca = dir.path().join("ca.pem");
    let port = up.addr.port();
    let p = Inline::start_on(up, move |c, _| {
        c.proxy.upstream = format!("https://localhost:{port}");
        c.proxy.upstream_ca_file = Some(ca);
    })
    .await;
    let key = p.key("ivan").await;
    let echo = p
        .echo("/s", client().get(p.url("/s")).bearer_auth(&key))
        .await;
    assert_eq!(echo["uri"], "/s");

    // Without the CA the upstream's certificate is not trusted: 502, not a hang.
    let up = Upstream::start_with(Some(tls.acceptor.clone())).await;
    let port = up.addr.port();
    let q = Inline::start_on(up, move |c, _| {
        c.proxy.upstream = format!("https://localhost:{port}")
    })
    .await;
    let key = q.key("ivan").await;
    let r = client()
        .get(q.url("/s"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn upstream_failures_become_502_and_504_never_a_hang() {
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = Inline::start(move |c, up| {
        let route = |v: Value| serde_json::from_value::<keygate::config::RouteConfig>(v).unwrap();
        c.proxy.routes = vec![
            route(serde_json::json!({"name": "gone", "paths": ["/gone"], "upstream": format!("http://127.0.0.1:{closed}")})),
            route(serde_json::json!({"name": "slow", "paths": ["/slow"], "upstream": up.url(), "response_timeout_ms": 300})),
        ];
    })
    .await;
    let key = p.key("judy").await;
    let c = client();
    let r = c
        .get(p.url("/gone"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "upstream_unavailable"
    );
    let started = Instant::now();
    let r = c
        .get(p.url("/slow/3000"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "upstream_timeout"
    );
    // The upstream drops the connection mid-answer: that answer ends, nothing else.
    let r = c.get(p.url("/die")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err());
    let echo = p
        .echo("/after", c.get(p.url("/after")).bearer_auth(&key))
        .await;
    assert_eq!(echo["uri"], "/after");
    let m = p.metrics().await;
    assert!(
        m.contains("keygate_proxy_responses_total{route=\"gone\",class=\"failed\"} 1"),
        "{m}"
    );
    assert!(m.contains("keygate_proxy_responses_total{route=\"slow\",class=\"failed\"} 1"));
}

/// Sends `raw` on a fresh connection; everything that came back until the proxy closed
/// it (or 5 s passed: `false`).
async fn raw(addr: SocketAddr, raw: &str) -> (String, bool) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// hyper reads every request head before keygate sees it. Shapes with no single reading
/// are refused there (differing lengths, a list of lengths, a transfer coding that is
/// not a final `chunked`, obs-fold, a space before the colon, junk). A request with both
/// `Content-Length` and `Transfer-Encoding` is read by its chunked body alone, the length
/// dropped and the connection closed after the answer (RFC 9112 §6.1), and a repeated
/// equal length is one length (RFC 9110 §8.6): the upstream receives one request, framed
/// afresh by keygate, and the bytes hidden behind it never become a request.
#[tokio::test]
async fn smuggling_shapes_never_reach_the_upstream() {
    let p = Inline::start(|_, _| {}).await;
    let key = p.key("kim").await;
    let auth = format!("Authorization: Bearer {key}");
    let refused = [
        format!(
            "POST /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"
        ),
        format!("POST /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 3, 5\r\n\r\nabcde"),
        format!("POST /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: -3\r\n\r\nabc"),
        format!(
            "POST /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
        ),
        format!(
            "POST /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"
        ),
        format!(
            "POST /s HTTP/1.0\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
        format!("GET /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nX-Folded: a\r\n b\r\n\r\n"),
        format!("GET /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length : 0\r\n\r\n"),
        "GET /s HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n".to_owned(),
        "\u{1}\u{2}garbage\r\n\r\n".to_owned(),
    ];
    for shape in &refused {
        let (answer, closed) = raw(p.addr, shape).await;
        let status = answer.lines().next().unwrap_or("");
        assert!(
            status.is_empty()
                || status.starts_with("HTTP/1.1 4")
                || status.starts_with("HTTP/1.1 501"),
            "{shape:?} → {status}"
        );
        assert!(closed, "{shape:?}: the connection stays open");
    }
    assert_eq!(p.up.hits(), 0, "a malformed request reached the upstream");
    // CONNECT asks for a tunnel to an address of the client's choosing: never.
    let (answer, _) = raw(p.addr, &format!("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n{auth}\r\nConnection: close\r\n\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert_eq!(p.up.hits(), 0);

    // CL.TE, TE.CL, and a length said twice: one request each, then the connection ends.
    let read_as_one = [
        (
            format!(
                "POST /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n"
            ),
            "",
        ),
        (
            format!(
                "POST /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n"
            ),
            "SMUGGLED",
        ),
        (
            format!(
                "POST /s HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
            ),
            "abc",
        ),
    ];
    for (i, (shape, body)) in read_as_one.iter().enumerate() {
        let (answer, closed) = raw(p.addr, shape).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{shape:?} → {answer}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
        let echo: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(echo["uri"], "/s");
        assert_eq!(echo["body"], *body);
        let framing: Vec<&str> = ["content-length", "transfer-encoding"]
            .into_iter()
            .filter(|n| seen(&echo, n).is_some())
            .collect();
        assert!(framing.len() <= 1, "{framing:?}");
        assert_eq!(p.up.hits(), i + 1, "{shape:?}");
        assert!(
            closed,
            "{shape:?}: the connection must close after a CL+TE request"
        );
    }
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let mut p = Inline::start(|_, _| {}).await;
    let key = p.key("leo").await;
    let c = client();
    let slow = tokio::spawn(c.get(p.url("/slow/800")).bearer_auth(&key).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    p.shut().await;
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slow");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        client()
            .get(p.url("/x"))
            .bearer_auth(&key)
            .send()
            .await
            .is_err()
    );
}

/// `keygate serve --upstream`, its environment form and a config file's routes, as an
/// operator starts them; and settings that cannot work are refused by name.
#[tokio::test]
async fn the_command_line_env_and_file_forms() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_keygate");
    let salt = "ab".repeat(32);
    let run_cli = |args: &[&str]| {
        let o = Command::new(bin)
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("KEYGATE_TOKEN_SALT", &salt)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let out = run_cli(&["token", "create", "--owner", "mia", "--name", "cli"]);
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("kg_"))
        .unwrap()
        .to_owned();
    let start = |extra: &[&str], env: &[(&str, String)]| {
        let proxy_port = crate::helpers::free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--port", "0"])
            .args(extra)
            .current_dir(dir.path())
            .env_clear()
            .env("KEYGATE_TOKEN_SALT", &salt)
            .env("KEYGATE_PROXY__PORT", proxy_port.to_string())
            .env("KEYGATE_LOG_FORMAT", "json");
        for (k, v) in env {
            cmd.env(k, v);
        }
        (crate::helpers::Process::start(cmd), proxy_port)
    };
    let c = client();
    for (flags, env) in [
        (vec!["--upstream".to_owned(), up.url()], vec![]),
        (vec![], vec![("KEYGATE_PROXY__UPSTREAM", up.url())]),
    ] {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let (server, port) = start(&flags, &env);
        let r = c
            .get(format!("http://127.0.0.1:{port}/cli"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .get(format!("http://127.0.0.1:{port}/cli"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let lines = server.stop();
        let line = lines
            .iter()
            .find(|l| l.contains("\"endpoint\":\"proxy\"") && l.contains("\"status\":200"))
            .unwrap_or_else(|| panic!("{lines:#?}"));
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["route"], "upstream");
        assert_eq!(v["upstream_status"], 200);
        assert_eq!(v["owner"], "mia");
        assert!(v["upstream_us"].as_u64().is_some());
        assert_eq!(v["request_id"].as_str().unwrap().len(), 32);
    }
    std::fs::write(
        dir.path().join("keygate.toml"),
        format!("[proxy]\n\n[[proxy.routes]]\nname = \"api\"\npaths = [\"/api-v1\"]\nupstream = \"{}\"\n", up.url()),
    )
    .unwrap();
    let (server, port) = start(&[], &[]);
    let r = c
        .get(format!("http://127.0.0.1:{port}/api-v1/x"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("http://127.0.0.1:{port}/other"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    server.stop();

    // Refused at start, by name.
    for (file, says) in [
        ("[proxy]\nupstream = \"ftp://x\"\n", "proxy.upstream"),
        (
            "[[proxy.routes]]\nupstream = \"http://h\"\nmethods = [\"BAD METHOD\"]\n",
            "proxy.routes[1]",
        ),
        (
            "[[proxy.routes]]\nupstream = \"http://u:p@h\"\n",
            "credentials in the URL",
        ),
        (
            "[proxy]\nupstream = \"http://h\"\ntls_cert_file = \"/nonexistent.pem\"\ntls_key_file = \"/nonexistent.key\"\n",
            "nonexistent.pem",
        ),
        (
            "[proxy]\nupstream = \"http://h\"\ntls_cert_file = \"x.pem\"\n",
            "go together",
        ),
        (
            "[proxy]\nupstream = \"http://h\"\nupstream_ca_file = \"/nonexistent-ca.pem\"\n",
            "proxy.upstream_ca_file",
        ),
        ("[proxy]\nupsteam = \"http://h\"\n", "upsteam"),
    ] {
        std::fs::write(dir.path().join("keygate.toml"), file).unwrap();
        let o = Command::new(bin)
            .args(["serve", "--port", "0"])
            .current_dir(dir.path())
            .env_clear()
            .env("KEYGATE_TOKEN_SALT", &salt)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{file}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{file}: {err}");
    }
}

/// The assertion verified by jose (Node), against the JWKS on the main port.
fn verify_assertion(jwks: &str, token: &str) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/oidc/verify-assertion.mjs"
    );
    let out = Command::new("node")
        .args([script, jwks, token, "keygate-test", "orders-api"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_signed_assertion_verifies_with_another_jwt_library() {
    let p = Inline::start(|c, _| {
        c.proxy.assertion.enabled = true;
        c.proxy.assertion.issuer = "keygate-test".into();
        c.proxy.assertion.audience = "orders-api".into();
        c.proxy.assertion.ttl_secs = 2;
    })
    .await;
    let (key, record) = p.t.create("nina", "billing", &[]).await;
    let echo = p
        .echo(
            "/a",
            client()
                .get(p.url("/a"))
                .bearer_auth(&key)
                .header("X-Keygate-Assertion", "forged"),
        )
        .await;
    let token = seen(&echo, "x-keygate-assertion").unwrap().to_owned();
    assert_ne!(token, "forged");
    let jwks = p.t.url("/.well-known/jwks.json");
    let (j, t) = (jwks.clone(), token.clone());
    let v = tokio::task::spawn_blocking(move || verify_assertion(&j, &t))
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["payload"]["sub"], "nina");
    assert_eq!(v["payload"]["key_id"], record.id.as_str());
    assert_eq!(v["payload"]["key_name"], "billing");
    assert_eq!(v["header"]["alg"], "EdDSA");

    // Changed by a byte, or past its lifetime: refused.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = String::from_utf8(b64.decode(&parts[1]).unwrap()).unwrap();
        parts[1] = b64.encode(claims.replace("nina", "root"));
        parts.join(".")
    };
    let j = jwks.clone();
    let v = tokio::task::spawn_blocking(move || verify_assertion(&j, &forged))
        .await
        .unwrap();
    assert_eq!(v["code"], "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", "{v}");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let v = tokio::task::spawn_blocking(move || verify_assertion(&jwks, &token))
        .await
        .unwrap();
    assert_eq!(v["code"], "ERR_JWT_EXPIRED", "{v}");

    // Off, the JWKS is a 404.
    let q = Inline::start(|_, _| {}).await;
    let r = q.t.get("/.well-known/jwks.json").send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn an_assertion_key_from_a_file_is_the_same_on_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("assertion.pem");
    let o = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(o.status.success());
    let mut published = Vec::new();
    for _ in 0..2 {
        let file = pem.clone();
        let p = Inline::start(move |c, _| {
            c.proxy.assertion.enabled = true;
            c.proxy.assertion.key_file = Some(file);
        })
        .await;
        let v: Value =
            p.t.get("/.well-known/jwks.json")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        published.push(v["keys"][0].clone());
    }
    assert_eq!(published[0], published[1]);
    assert_eq!(published[0]["crv"], "Ed25519");
    // Not an Ed25519 key: refused at start, naming the setting.
    std::fs::write(
        &pem,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let mut c = crate::helpers::base_config(dir.path());
    c.proxy.assertion.enabled = true;
    c.proxy.assertion.key_file = Some(pem);
    let app = keygate::app::App::open(c, keygate::clock::Clock::system()).unwrap();
    let err = app.prepare().await.unwrap_err().to_string();
    assert!(err.contains("proxy.assertion.key_file"), "{err}");
}

/// A key's analytics count what the upstream answered, by class, on both stores.
async fn upstream_answers_are_counted_per_key(backend: Backend) {
    let p = Inline::start_full(backend, Upstream::start().await, |c, up| {
        c.analytics.flush_secs = 1;
        c.admin_key = Some(keygate::config::Secret::new(crate::helpers::ADMIN_KEY));
        let route = |v: Value| serde_json::from_value::<keygate::config::RouteConfig>(v).unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        c.proxy.routes = vec![route(serde_json::json!({"paths": ["/gone"], "upstream": format!("http://127.0.0.1:{closed}")}))];
        let _ = up;
    })
    .await;
    let (key, record) = p.t.create("olga", "errors", &[]).await;
    let c = client();
    for path in [
        "/a",
        "/b",
        "/status/302",
        "/status/404",
        "/status/500",
        "/status/503",
        "/gone",
    ] {
        c.get(p.url(path)).bearer_auth(&key).send().await.unwrap();
    }
    c.get(p.url("/a")).send().await.unwrap();
    let want = serde_json::json!({
        "allowed": 7, "forbidden": 0, "refused": 0, "rate_limited": 0, "usage_exceeded": 0,
        "upstream_2xx": 2, "upstream_3xx": 1, "upstream_4xx": 1, "upstream_5xx": 2, "upstream_failed": 1,
    });
    let path = format!("/api/tokens/{}/usage", record.id.as_str());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v: Value =
            p.t.admin(p.t.get(&path))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        if v["totals"] == want {
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn upstream_answers_are_counted_per_key_embedded() {
    upstream_answers_are_counted_per_key(Backend::Redb).await;
}

#[tokio::test]
async fn upstream_answers_are_counted_per_key_valkey() {
    upstream_answers_are_counted_per_key(Backend::Valkey).await;
}

/// The response timeout counts from the request body's last progress: a slow upload is
/// not a slow upstream, a stalled one is.
#[tokio::test]
async fn a_slow_upload_is_not_a_slow_upstream() {
    let p = Inline::start(|c, _| c.proxy.response_timeout_ms = 400).await;
    let key = p.key("pia").await;
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    // Ten chunks, one every 150 ms: 1.5 s in all, the timeout 0.4 s.
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        s.write_all(b"5\r\nhello\r\n").await.unwrap();
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("{\"bytes\":50}"), "{out}");
    // Stalled half-way for longer than the timeout: 504.
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"5\r\nhello\r\n").await.unwrap();
    let started = Instant::now();
    let mut out = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out)).await;
    assert!(out.starts_with("HTTP/1.1 504"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A client connection's upstream connection, closed by the upstream between two of its
/// requests, is opened again: every request is answered.
#[tokio::test]
async fn an_upstream_closing_its_connection_is_reconnected() {
    let p = Inline::start(|_, _| {}).await;
    let key = p.key("quinn").await;
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let mut answers = Vec::new();
    for (i, path) in ["/close", "/a", "/close", "/close", "/b"]
        .iter()
        .enumerate()
    {
        let last = if i == 4 { "Connection: close\r\n" } else { "" };
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n{last}\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        // Read one answer: its head, then its body by Content-Length.
        let head = read_head(&mut s).await;
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse().unwrap());
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.unwrap();
        answers.push(head.lines().next().unwrap().to_owned());
        // Let the upstream's close arrive before the next request.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answers, vec!["http/1.1 200 ok"; 5]);
    assert_eq!(p.up.hits(), 5);
}
