//! GitHub's secret-scanning signatures: a report's raw body is signed with ECDSA P-256
//! (SHA-256, ASN.1 DER, base64) by one of the keys GitHub publishes as JSON
//! (`{"public_keys": [{"key_identifier", "key" (PEM), "is_current"}]}`). The keys are
//! fetched from a configured URL and cached; an unknown key id fetches again at most
//! once a minute (a flood of made-up ids costs one fetch a minute), and when a fetch
//! fails the last keys fetched stay in use.

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The DER header of a P-256 public key (SubjectPublicKeyInfo); the 65-byte
/// uncompressed point follows it.
const P256_SPKI_HEADER: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The least time between two fetches caused by an unknown key id.
const REFETCH_GAP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing Github-Public-Key-Identifier or Github-Public-Key-Signature")]
    Missing,
    #[error("no GitHub public key with that identifier")]
    UnknownKey,
    #[error("the signature is not base64")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

struct Held {
    /// (identifier, uncompressed P-256 point).
    keys: Vec<(String, Vec<u8>)>,
    fetched: Option<tokio::time::Instant>,
    tried: Option<tokio::time::Instant>,
}

pub struct GithubKeys {
    url: String,
    ttl: Duration,
    client: reqwest::Client,
    held: Mutex<Held>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
    pub fetches: std::sync::atomic::AtomicU64,
}

/// The point of a PEM P-256 public key.
fn point_of(pem: &str) -> Option<Vec<u8>> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD.decode(b64).ok()?;
    (der.len() == P256_SPKI_HEADER.len() + 65 && der.starts_with(&P256_SPKI_HEADER))
        .then(|| der[P256_SPKI_HEADER.len()..].to_vec())
}

/// The keys of GitHub's JSON document (the ones that are not P-256 are skipped).
pub fn parse_keys(doc: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        public_keys: Vec<Key>,
    }
    #[derive(serde::Deserialize)]
    struct Key {
        key_identifier: String,
        key: String,
    }
    let d: Doc =
        serde_json::from_slice(doc).map_err(|e| format!("not GitHub's key document: {e}"))?;
    Ok(d.public_keys
        .into_iter()
        .filter_map(|k| point_of(&k.key).map(|p| (k.key_identifier, p)))
        .collect())
}

impl GithubKeys {
    pub fn new(url: String, ttl: Duration) -> Result<Self, String> {
        Ok(GithubKeys {
            url,
            ttl,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("keygate/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())?,
            held: Mutex::new(Held {
                keys: Vec::new(),
                fetched: None,
                tried: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            fetches: Default::default(),
        })
    }

    fn lookup(&self, id: &str) -> (Option<Vec<u8>>, bool, bool) {
        let h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let key = h.keys.iter().find(|(k, _)| k == id).map(|(_, p)| p.clone());
        let stale = h.fetched.is_none_or(|t| t.elapsed() > self.ttl);
        let may_try = h.tried.is_none_or(|t| t.elapsed() > REFETCH_GAP);
        (key, stale, may_try)
    }

    /// Fetches the keys; on failure the held ones stay.
    async fn fetch(&self) {
        let _one = self.fetching.lock().await;
        {
            let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
            if h.tried
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
            {
                return; // another caller just did
            }
            h.tried = Some(tokio::time::Instant::now());
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let got = async {
            let r = self
                .client
                .get(&self.url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("answered {}", r.status()));
            }
            let body = r.bytes().await.map_err(|e| e.to_string())?;
            parse_keys(&body)
        }
        .await;
        match got {
            Ok(keys) if !keys.is_empty() => {
                let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
                h.keys = keys;
                h.fetched = Some(tokio::time::Instant::now());
            }
            Ok(_) => {
                tracing::warn!(url = %self.url, "GitHub's key document held no P-256 key; keeping the keys held")
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "could not fetch GitHub's secret-scanning keys; keeping the keys held")
            }
        }
    }

    /// Checks a report's signature over its raw body.
    pub async fn verify(
        &self,
        body: &[u8],
        key_id: Option<&str>,
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let (Some(id), Some(sig)) = (key_id, signature) else {
            return Err(SignatureError::Missing);
        };
        let sig = STANDARD
            .decode(sig.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let (mut key, stale, may_try) = self.lookup(id);
        if may_try && (key.is_none() || stale) {
            self.fetch().await;
            key = self.lookup(id).0;
        }
        let key = key.ok_or(SignatureError::UnknownKey)?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key)
            .verify(body, &sig)
            .map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-256 public key in PEM, as GitHub publishes them (made with openssl).
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJ9X3UyFuPb9eh2E/Af4c3dBhzjiy\naYo33COhzAKg8ATV+StFSALnWdXLZMJ8TzQElz5EaEps93vqSI/gmAMiVg==\n-----END PUBLIC KEY-----";

    #[test]
    fn keys_are_read_from_githubs_document() {
        let doc = serde_json::json!({"public_keys": [
            {"key_identifier": "a", "key": PEM, "is_current": true},
            {"key_identifier": "rsa", "key": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "is_current": false},
        ]});
        let keys = parse_keys(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1, "only P-256 keys");
        assert_eq!(keys[0].0, "a");
        assert_eq!(keys[0].1.len(), 65);
        assert_eq!(keys[0].1[0], 4, "uncompressed point");
        assert!(parse_keys(b"[]").is_err());
    }
}
