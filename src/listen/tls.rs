//! TLS at the edge: a rustls server configuration from PEM files (certificate chain and
//! private key), re-read when either file changes, offering HTTP/2 and HTTP/1.1 by ALPN.
//!
//! The files are looked at every `reload_secs`; a change that does not parse (a
//! half-written file, a key that does not fit) is logged and the certificate in use is
//! kept, so a botched renewal never takes the listener down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The certificate in use, swapped when the files change.
#[derive(Debug)]
struct Current {
    key: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// What the edge terminates TLS with.
#[derive(Clone)]
pub struct EdgeTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    current: Arc<Current>,
    cert: PathBuf,
    key: PathBuf,
}

/// Reads the chain and key; the error names the file and what is wrong with it.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in the file", cert.display()));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&private)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        format!(
            "{} does not belong to {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(certified)
}

/// When a file last changed, and its length (a rewrite within the same second).
fn stamp(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl EdgeTls {
    /// Reads the files now: a listener with TLS configured does not start without a
    /// usable certificate.
    pub fn new(cert: &Path, key: &Path) -> Result<Self, String> {
        let current = Arc::new(Current {
            key: RwLock::new(Arc::new(load(cert, key)?)),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(EdgeTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            current,
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
    }

    /// Looks at the files every `every` and takes a changed pair once both parse and
    /// fit; runs until dropped (the caller aborts it).
    pub async fn watch(self, every: Duration) {
        let mut seen = (stamp(&self.cert), stamp(&self.key));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = (stamp(&self.cert), stamp(&self.key));
            if now == seen {
                continue;
            }
            // A pair that does not load is tried again when either file changes again
            // (the other may still be being written).
            seen = now;
            match load(&self.cert, &self.key) {
                Ok(k) => {
                    *self.current.key.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(k);
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the one in use")
                }
            }
        }
    }
}
