//! The connections to upstreams: one keep-alive pool per route (HTTP/1.1, plain or
//! TLS with the system's roots or a configured CA), and what a failed exchange becomes.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::ProxyConfig;

pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// One route's upstream: a pool for HTTP/2 clients and upgrades, and the connector that
/// opens the connections HTTP/1.1 clients own ([`Owned`]).
#[derive(Clone)]
pub struct Upstream {
    client: Client<Connector, Tracked>,
    connector: Connector,
    connect_timeout: Duration,
    response_timeout: Duration,
}

/// A driver for the upstream connections a client connection owns, polled in that
/// connection's task (`listen::Conn::drive_beside`).
type Driver = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The upstream connections one HTTP/1.1 client connection owns, one per route it used.
/// Its requests come one at a time, so each finds its route's connection free: no pool
/// checkout, no channel to another task, and the exchange runs in the client
/// connection's own task (docs/benchmarks.md, issue 24).
pub struct Owned {
    ready: std::sync::Mutex<Vec<(usize, hyper::client::conn::http1::SendRequest<Tracked>)>>,
    spawn: tokio::sync::mpsc::UnboundedSender<Driver>,
}

impl Owned {
    /// The set, and the future that drives its connections (until the set is dropped).
    pub fn new() -> (Self, impl std::future::Future<Output = ()> + Send) {
        let (spawn, mut rx) = tokio::sync::mpsc::unbounded_channel::<Driver>();
        let drive = async move {
            use futures_util::StreamExt;
            let mut running = futures_util::stream::FuturesUnordered::new();
            loop {
                tokio::select! {
                    f = rx.recv() => match f {
                        Some(f) => running.push(f),
                        None => break,
                    },
                    Some(()) = running.next(), if !running.is_empty() => {}
                }
            }
            // The client connection is gone; so are its upstream connections.
        };
        (
            Owned {
                ready: std::sync::Mutex::new(Vec::new()),
                spawn,
            },
            drive,
        )
    }

    fn take(&self, route: usize) -> Option<hyper::client::conn::http1::SendRequest<Tracked>> {
        let mut r = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        let i = r.iter().position(|(n, _)| *n == route)?;
        Some(r.swap_remove(i).1)
    }

    fn put(&self, route: usize, sender: hyper::client::conn::http1::SendRequest<Tracked>) {
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((route, sender));
    }
}

/// When a request body last moved, so that the response timeout counts from the body's
/// end (or its last progress), not from its start: a large upload over a slow link is
/// not a slow upstream.
struct Progress {
    origin: tokio::time::Instant,
    /// Milliseconds from `origin` of the last frame (or the end).
    last_ms: AtomicU64,
}

impl Progress {
    fn moved(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> tokio::time::Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// The request body on its way upstream, noting its progress.
pub struct Tracked {
    inner: Incoming,
    progress: Arc<Progress>,
}

impl hyper::body::Body for Tracked {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if r.is_ready() {
            self.progress.moved();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Why no response came back.
#[derive(Debug, PartialEq, Eq)]
pub enum Failed {
    /// Refused, reset, unreachable, a TLS failure, a broken response: 502.
    Unavailable,
    /// No connection within the connect timeout, or no response head within the
    /// response timeout: 504.
    Timeout,
}

/// The TLS settings every https:// upstream is reached with.
pub fn tls_config(c: &ProxyConfig) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &c.upstream_ca_file {
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("proxy.upstream_ca_file {}: {e}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("proxy.upstream_ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("proxy.upstream_ca_file {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "proxy.upstream_ca_file {}: no certificate in the file",
                    path.display()
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // hyper-rustls sets ALPN (http/1.1) itself.
    Ok(config)
}

impl Upstream {
    pub fn new(
        c: &ProxyConfig,
        tls: rustls::ClientConfig,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(c.pool_max_idle)
            .pool_idle_timeout(Duration::from_secs(c.pool_idle_secs))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https.clone());
        Upstream {
            client,
            connector: https,
            connect_timeout,
            response_timeout,
        }
    }

    /// Sends `req` (its URI in absolute form) on a connection `owned` keeps for `route`,
    /// opening one when there is none or it was closed; a request the upstream's closing
    /// of an idle connection kept from being sent is sent once more on a new one.
    pub async fn send_owned(
        &self,
        owned: &Owned,
        route: usize,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Incoming>, Failed> {
        let (progress, req) = track(req);
        let target = req.uri().clone();
        let (mut parts, body) = req.into_parts();
        // On a connection of its own the request line carries the path only.
        let mut origin = axum::http::uri::Parts::default();
        origin.path_and_query = parts.uri.path_and_query().cloned();
        parts.uri = axum::http::Uri::from_parts(origin).unwrap_or_default();
        let mut req = hyper::Request::from_parts(parts, body);
        let mut sender = owned.take(route);
        let mut retried = false;
        loop {
            let mut s = match sender.take() {
                Some(s) if !s.is_closed() => s,
                _ => self.connect(owned, &target).await?,
            };
            if s.ready().await.is_err() {
                if retried {
                    return Err(Failed::Unavailable);
                }
                retried = true;
                continue;
            }
            let sent = s.try_send_request(req);
            match wait_head(sent, &progress, self.response_timeout).await {
                Ok(Ok(r)) => {
                    owned.put(route, s);
                    return Ok(r);
                }
                Ok(Err(mut e)) => match e.take_message() {
                    Some(again) if !retried => {
                        retried = true;
                        req = again;
                    }
                    _ => {
                        tracing::debug!(error = %e.error(), "upstream exchange failed");
                        return Err(Failed::Unavailable);
                    }
                },
                Err(failed) => return Err(failed),
            }
        }
    }

    async fn connect(
        &self,
        owned: &Owned,
        target: &axum::http::Uri,
    ) -> Result<hyper::client::conn::http1::SendRequest<Tracked>, Failed> {
        use tower::Service;
        let mut connector = self.connector.clone();
        let io = match tokio::time::timeout(self.connect_timeout, connector.call(target.clone()))
            .await
        {
            Err(_) => return Err(Failed::Timeout),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "upstream connect failed");
                return Err(Failed::Unavailable);
            }
            Ok(Ok(io)) => io,
        };
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Tracked>(io)
            .await
            .map_err(|_| Failed::Unavailable)?;
        let _ = owned.spawn.send(Box::pin(async move {
            let _ = conn.await;
        }));
        Ok(sender)
    }

    /// Sends `req` and waits for the response head: at most the response timeout after
    /// the request body's end, or after its last progress while it is still coming.
    pub async fn send(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Incoming>, Failed> {
        let (progress, req) = track(req);
        match wait_head(self.client.request(req), &progress, self.response_timeout).await? {
            Ok(r) => Ok(r),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// The request with its body tracked.
fn track(req: hyper::Request<Incoming>) -> (Arc<Progress>, hyper::Request<Tracked>) {
    let progress = Arc::new(Progress {
        origin: tokio::time::Instant::now(),
        last_ms: AtomicU64::new(0),
    });
    let p = progress.clone();
    (progress, req.map(|inner| Tracked { inner, progress: p }))
}

/// Waits for `answer` (the response head): at most `timeout` after the request body's end,
/// or after its last progress while it is still coming.
async fn wait_head<T>(
    answer: impl std::future::Future<Output = T>,
    progress: &Progress,
    timeout: Duration,
) -> Result<T, Failed> {
    let mut answer = std::pin::pin!(answer);
    let mut deadline = progress.origin + timeout;
    loop {
        tokio::select! {
            r = &mut answer => return Ok(r),
            () = tokio::time::sleep_until(deadline) => {
                let next = progress.last() + timeout;
                if next <= tokio::time::Instant::now() {
                    return Err(Failed::Timeout);
                }
                deadline = next;
            }
        }
    }
}

/// A connect timeout shows as a connect error whose source chain says "timed out".
fn classify(e: &hyper_util::client::legacy::Error) -> Failed {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Failed::Timeout;
        }
        if s.to_string().contains("timed out") {
            return Failed::Timeout;
        }
        source = s.source();
    }
    tracing::debug!(error = %e, "upstream exchange failed");
    Failed::Unavailable
}
