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

/// One route's pool.
#[derive(Clone)]
pub struct Upstream {
    client: Client<Connector, Tracked>,
    response_timeout: Duration,
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
            .build(https);
        Upstream {
            client,
            response_timeout,
        }
    }

    /// Sends `req` and waits for the response head: at most the response timeout after
    /// the request body's end, or after its last progress while it is still coming.
    pub async fn send(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Incoming>, Failed> {
        let progress = Arc::new(Progress {
            origin: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        let req = req.map(|inner| Tracked {
            inner,
            progress: progress.clone(),
        });
        let mut answer = std::pin::pin!(self.client.request(req));
        let mut deadline = progress.origin + self.response_timeout;
        loop {
            tokio::select! {
                r = &mut answer => return r.map_err(|e| classify(&e)),
                () = tokio::time::sleep_until(deadline) => {
                    let next = progress.last() + self.response_timeout;
                    if next <= tokio::time::Instant::now() {
                        return Err(Failed::Timeout);
                    }
                    deadline = next;
                }
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
