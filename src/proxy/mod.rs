//! Inline mode: keygate as the reverse proxy in front of a service.
//!
//! The proxy listens on a port of its own (`[proxy] port`), so the upstream's paths never
//! meet keygate's `/api`, UI, `/metrics` and gate endpoints, which stay on the main
//! port. A request is taken by the first route that matches it ([`routes`]); on a
//! protected route it goes through the same decision as `/forward-auth` (credential,
//! rules, limits, throttle, analytics, last-used), and a refusal is answered here with
//! the same status, body and headers. What passes is forwarded with the key removed,
//! identity headers the client sent removed and keygate's added, forwarding headers set
//! ([`headers`]), and a request id; bodies stream both ways; an upgrade (WebSocket)
//! becomes a tunnel once the upstream agrees. No answer from the upstream becomes a 502,
//! no answer in time a 504, both with the API's JSON error shape.

mod headers;
mod logged;
mod routes;
mod stream;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, Version, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::Config;
use crate::decide::{Deny, Outcome};
use crate::http::error::error;
use crate::listen::{self, Busy, Conn, Counted};
use crate::metrics::{self, Endpoint};
use crate::rules::Target;

use logged::Logged;
pub use routes::Routes;
use stream::{Guarded, TunnelSlot, tunnel_between};

/// The inline proxy, built from `[proxy]`.
pub struct Proxy {
    config: crate::config::ProxyConfig,
    /// Checked at start; each worker builds its own (the pools are per worker).
    routes: Routes,
    workers: usize,
    tls: Option<listen::tls::EdgeTls>,
    tls_reload: Duration,
    /// Headers keygate sends upstream, removed from whatever a client sent.
    spoofable: Vec<HeaderName>,
    /// Where the identity assertion goes, when enabled.
    assertion_header: Option<HeaderName>,
    /// Set when shutdown begins: tunnels close.
    closing: tokio::sync::watch::Sender<bool>,
    /// `address:port` to listen on.
    pub listen: String,
}

impl Proxy {
    /// `None` when inline mode is not configured; the error names the setting.
    pub fn new(c: &Config) -> Result<Option<Self>, String> {
        let p = &c.proxy;
        if !p.enabled() {
            return Ok(None);
        }
        let tls = match (&p.tls_cert_file, &p.tls_key_file) {
            (Some(cert), Some(key)) => Some(
                listen::tls::EdgeTls::new(cert, key)
                    .map_err(|e| format!("proxy.tls_cert_file / proxy.tls_key_file: {e}"))?,
            ),
            _ => None,
        };
        let mut spoofable = Vec::new();
        for name in [&c.headers.user, &c.headers.token_id, &c.headers.token_name] {
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                spoofable.push(n);
            }
        }
        spoofable.extend([
            crate::http::limited::RATELIMIT_POLICY,
            crate::http::limited::RATELIMIT,
            crate::http::limited::X_CREDITS_REMAINING,
        ]);
        if let Ok(n) = HeaderName::from_bytes(p.assertion.header.as_bytes()) {
            spoofable.push(n);
        }
        if let Ok(n) = HeaderName::from_bytes(c.permissions.upstream_header.as_bytes()) {
            spoofable.push(n);
        }
        let address = if p.address.is_empty() {
            &c.address
        } else {
            &p.address
        };
        let assertion_header = p
            .assertion
            .enabled
            .then(|| HeaderName::from_bytes(p.assertion.header.as_bytes()).ok())
            .flatten();
        let workers = listen::workers(p.workers);
        Ok(Some(Proxy {
            config: p.clone(),
            workers,
            assertion_header,
            routes: Routes::new(p)?,
            tls,
            tls_reload: Duration::from_secs(p.tls_reload_secs),
            spoofable,
            closing: tokio::sync::watch::channel(false).0,
            listen: format!("{address}:{}", p.port),
        }))
    }

    /// `https` when the proxy port terminates TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Serves the proxy on `listener` until `shutdown` completes; then upgraded
/// connections close and requests in flight finish (30 s at most).
///
/// The listener is served by `proxy.workers` threads, each with a single-threaded
/// runtime of its own, its own accept loop and its own upstream pools (as nginx's
/// workers): a request, its upstream exchange and the connections they use stay on one
/// thread. On the shared multi-threaded runtime they hop between threads, which cost a
/// third more CPU per request (docs/benchmarks.md, issue 24).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    proxy: Arc<Proxy>,
    limits: listen::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    app.gate.metrics().proxy_routes(&proxy.routes.names());
    let watcher = proxy
        .tls
        .clone()
        .map(|t| tokio::spawn(t.watch(proxy.tls_reload)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let closing = proxy.closing.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = closing.send(true);
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let worker = || {
        let w = Arc::new(Worker {
            routes: Routes::new(&proxy.config).map_err(std::io::Error::other)?,
            app: app.clone(),
            proxy: proxy.clone(),
        });
        let serve = move |io, peer, conn| connection(io, peer, conn, w.clone());
        Ok((serve, stopped()))
    };
    let result = listen::accept_on_workers(listener, proxy.workers, limits, worker).await;
    if let Some(w) = watcher {
        w.abort();
    }
    result
}

/// What one worker serves with: the app, the proxy's settings, and its own routes (with
/// their upstream pools).
struct Worker {
    app: Arc<App>,
    proxy: Arc<Proxy>,
    routes: Routes,
}

async fn connection(io: Counted, peer: SocketAddr, conn: Conn, w: Arc<Worker>) {
    match w.proxy.tls.clone() {
        Some(tls) => {
            // The handshake counts as waiting for a request head.
            if let Some(Ok(stream)) = conn.before_head(tls.acceptor.accept(io)).await {
                http(TokioIo::new(stream), peer, true, conn, w).await;
            }
        }
        None => http(TokioIo::new(io), peer, false, conn, w).await,
    }
}

/// One connection's client, as the requests on it need it.
struct Client {
    peer: SocketAddr,
    /// `peer`'s address as a header value, made once per connection.
    address: HeaderValue,
    tls: bool,
    /// The upstream connections this connection's HTTP/1.1 requests use.
    owned: upstream::Owned,
}

/// HTTP/1.1 and HTTP/2 (by the client's preface, or ALPN under TLS) on one connection.
async fn http<I>(io: I, peer: SocketAddr, tls: bool, conn: Conn, w: Arc<Worker>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let tunnel: TunnelSlot = Arc::default();
    let (owned, drive_owned) = upstream::Owned::new();
    let client = Arc::new(Client {
        peer,
        address: HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or(HeaderValue::from_static("unknown")),
        tls,
        owned,
    });
    let svc = {
        let (conn, tunnel) = (conn.clone(), tunnel.clone());
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let busy = conn.busy();
            let (w, client, tunnel) = (w.clone(), client.clone(), tunnel.clone());
            async move {
                Ok::<_, std::convert::Infallible>(handle(&w, &client, req, busy, &tunnel).await)
            }
        })
    };
    // No timer for hyper's HTTP/1 head: the watchman times it (crate::listen).
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    conn.drive_beside(builder.serve_connection_with_upgrades(io, svc), drive_owned)
        .await;
    let t = tunnel.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(t) = t {
        let _ = t.await;
    }
}

/// One request, from the client's head to the response head sent back.
async fn handle(
    w: &Worker,
    client: &Client,
    req: Request<Incoming>,
    busy: Busy,
    tunnel: &TunnelSlot,
) -> Response<Body> {
    let (app, proxy, peer, tls) = (&*w.app, &*w.proxy, client.peer, client.tls);
    let started = tokio::time::Instant::now();
    let request_id = headers::request_id(req.headers());
    if req.method() == axum::http::Method::CONNECT {
        // A tunnel to an address of the client's choosing is not a route.
        return own(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "CONNECT is not proxied",
            &request_id,
        );
    }
    let upgrade = req.version() == Version::HTTP_11 && headers::wants_upgrade(req.headers());
    // HTTP/1.1 requests come one at a time per connection: each uses an upstream
    // connection of its client connection's own. HTTP/2 streams and upgrades use the pool.
    let own_connection = req.version() == Version::HTTP_11 && !upgrade;
    let (mut parts, body) = req.into_parts();
    // What the route, the rules and the log read, kept apart from the headers that are
    // rewritten below (cheap clones: shared bytes).
    let (uri, method) = (parts.uri.clone(), parts.method.clone());
    let host: Option<HeaderValue> = parts.headers.get(header::HOST).cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let target = Target {
        method: method.as_str(),
        host: host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or(""),
        uri: uri.path_and_query().map_or("/", |p| p.as_str()),
        needs: &[],
        cost: 1,
    };
    let Some(route) = w.routes.find(&target) else {
        return own(
            StatusCode::NOT_FOUND,
            "no_route",
            "no route of this proxy takes this host, path and method",
            &request_id,
        );
    };
    let sources = &app.gate.settings().sources;

    // The decision, as /forward-auth makes it.
    let mut line = Logged {
        outcome: metrics::Outcome::Allowed,
        key: None,
        client: peer.ip(),
        forwarded_for: None,
        metadata: None,
        now_ms: 0,
        limit: None,
    };
    let mut allowed = None;
    if !route.public {
        let p = crate::http::forward_auth::picked(app, &parts.headers);
        let client = p.with_forwarded(&parts.headers, |f| app.gate.client_of(peer.ip(), f));
        let needs = route.needs.as_ref();
        let judged = Target {
            needs: needs.as_slice(),
            ..target
        };
        let decision = app.gate.decide(&p.presented(), &judged, client).await;
        line.client = client;
        line.forwarded_for = p.forwarded_for.cloned();
        line.metadata = p.metadata.cloned();
        line.now_ms = decision.now_ms;
        line.key = decision.key.clone();
        match decision.outcome {
            Outcome::Allow(known) => allowed = Some((known, decision.report)),
            Outcome::Deny(d) => {
                line.outcome = crate::http::forward_auth::deny_outcome(d);
                if let Deny::Limited(e) = d {
                    line.limit = Some(e);
                }
                let mut r = crate::http::forward_auth::client_refusal(
                    app,
                    d,
                    line.key.as_deref(),
                    &decision.missing,
                );
                r.headers_mut()
                    .insert(headers::X_REQUEST_ID, request_id.clone());
                let took = started.elapsed();
                app.gate
                    .metrics()
                    .decision(Endpoint::Proxy, line.outcome, took);
                line.write(app, &target, route, &request_id, r.status(), None, took);
                return r;
            }
        }
        app.gate.metrics().decision(
            Endpoint::Proxy,
            metrics::Outcome::Allowed,
            started.elapsed(),
        );
    }

    // The request for the upstream.
    let h = &mut parts.headers;
    let found = headers::scan(h, &proxy.spoofable);
    if found.hop || upgrade {
        headers::strip_hop_by_hop(h, upgrade);
    }
    if found.listed {
        for n in &proxy.spoofable {
            h.remove(n);
        }
    }
    let mut stripped_query = None;
    if !route.public && !route.keep_credential {
        headers::strip_credential(h, sources);
        if let Some(param) = &sources.query_param {
            stripped_query = headers::strip_query_param(target.uri, param);
        }
    }
    if let Some((known, report)) = &allowed {
        for (name, value) in &known.headers {
            h.insert(name.clone(), value.clone());
        }
        if let Some(report) = report {
            crate::http::limited::upstream(h, known, report, line.now_ms);
        }
        if let (Some(signer), Some(name)) = (app.assertion.get(), &proxy.assertion_header) {
            let r = &known.record;
            let caller = crate::assertion::Caller {
                key_id: r.id.as_str(),
                owner: &r.owner,
                key_name: &r.name,
                permissions: known.granted.list(),
                fingerprint: known.granted.fingerprint(),
            };
            let token = signer.sign(&caller, line.now_ms.div_euclid(1000));
            if let Ok(v) = HeaderValue::from_str(&token) {
                h.insert(name.clone(), v);
            }
        }
    }
    let trusted = app.gate.trusts(peer.ip());
    headers::forwarding(h, &client.address, trusted, tls, host.as_ref());
    h.insert(headers::X_REQUEST_ID, request_id.clone());
    match (&host, route.pass_host) {
        (Some(v), true) => h.insert(header::HOST, v.clone()),
        _ => h.insert(header::HOST, route.authority.clone()),
    };
    let path = stripped_query.as_deref().unwrap_or(target.uri);
    let path = if path.starts_with('/') { path } else { "/" };
    let scheme = if route.url.https { "https" } else { "http" };
    parts.uri = match format!("{scheme}://{}{}{path}", route.url.authority, route.url.base).parse()
    {
        Ok(u) => u,
        Err(_) => {
            return own(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request's path cannot be forwarded",
                &request_id,
            );
        }
    };
    parts.version = Version::HTTP_11;
    let client_upgrade = if upgrade {
        parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
    } else {
        None
    };
    parts.extensions = Default::default();

    let sent = tokio::time::Instant::now();
    let req = Request::from_parts(parts, body);
    let answer = if own_connection {
        route
            .upstream
            .send_owned(&client.owned, route.index, req)
            .await
    } else {
        route.upstream.send(req).await
    };
    let upstream_took = sent.elapsed();
    // The key's analytics count what the upstream answered (its error rate).
    let answered = match &answer {
        Ok(r) if r.status() == StatusCode::SWITCHING_PROTOCOLS && client_upgrade.is_none() => None,
        Ok(r) => Some(r.status().as_u16()),
        Err(_) => None,
    };
    if let (Some(tally), Some((known, _))) = (app.gate.tally(), &allowed) {
        let class = crate::analytics::UpstreamClass::of(answered);
        tally.record_upstream(&known.record, class, line.now_ms);
    }
    let mut response = match answer {
        Err(failed) => {
            app.gate
                .metrics()
                .upstream(route.index, None, upstream_took);
            let took = started.elapsed();
            let r = match failed {
                upstream::Failed::Timeout => own(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "the upstream did not answer in time",
                    &request_id,
                ),
                upstream::Failed::Unavailable => own(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unavailable",
                    "the upstream could not be reached or broke off its answer",
                    &request_id,
                ),
            };
            line.write(
                app,
                &target,
                route,
                &request_id,
                r.status(),
                Some((None, upstream_took)),
                took,
            );
            return r;
        }
        Ok(r) => r,
    };
    let status = response.status();
    app.gate
        .metrics()
        .upstream(route.index, Some(status.as_u16()), upstream_took);
    if status == StatusCode::SWITCHING_PROTOCOLS {
        match client_upgrade {
            Some(client) => {
                let upstream = hyper::upgrade::on(&mut response);
                let closing = proxy.closing.subscribe();
                let t = tokio::spawn(tunnel_between(client, upstream, closing));
                *tunnel.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
            }
            None => {
                // Switching without being asked: nothing sane can follow.
                let r = own(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unavailable",
                    "the upstream switched protocols without being asked",
                    &request_id,
                );
                line.write(
                    app,
                    &target,
                    route,
                    &request_id,
                    r.status(),
                    Some((Some(101), upstream_took)),
                    started.elapsed(),
                );
                return r;
            }
        }
    } else {
        if headers::scan(response.headers(), &[]).hop {
            headers::strip_hop_by_hop(response.headers_mut(), false);
        }
        // The client's protocol, whatever the upstream spoke (HTTP/2 ignores it).
        *response.version_mut() = Version::HTTP_11;
    }
    response
        .headers_mut()
        .insert(headers::X_REQUEST_ID, request_id.clone());
    let took = started.elapsed();
    line.write(
        app,
        &target,
        route,
        &request_id,
        status,
        Some((Some(status.as_u16()), upstream_took)),
        took,
    );
    // The connection counts as busy until the body is through: a slow stream is not
    // idle.
    response.map(|b| {
        Body::new(Guarded {
            inner: b,
            _busy: busy,
        })
    })
}

/// keygate's own answer (a refusal, 404, 502, 504): the API's JSON error shape, with the
/// request id.
fn own(status: StatusCode, code: &str, message: &str, request_id: &HeaderValue) -> Response<Body> {
    let mut r = error(status, code, message);
    r.headers_mut()
        .insert(headers::X_REQUEST_ID, request_id.clone());
    r
}
