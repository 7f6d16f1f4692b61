//! The connections to upstreams: one keep-alive pool per route (HTTP/1.1, plain or
//! TLS with the system's roots or a configured CA), and what a failed exchange becomes.

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
    client: Client<Connector, Incoming>,
    response_timeout: Duration,
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

    /// Sends `req` and waits for the response head.
    pub async fn send(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Incoming>, Failed> {
        match tokio::time::timeout(self.response_timeout, self.client.request(req)).await {
            Err(_) => Err(Failed::Timeout),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(classify(&e)),
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
