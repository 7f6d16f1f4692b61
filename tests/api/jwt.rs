//! A stand-in identity provider for the Rust tests: RSA keys made with openssl, a JWKS
//! and discovery document served from a local HTTP server, and JWTs signed here.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub struct SigningKey {
    pub kid: String,
    pub pem: Vec<u8>,
    pub public_pem: Vec<u8>,
    pub jwk: Value,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// A fresh 2048-bit RSA key.
    pub fn generate(kid: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            key.to_str().unwrap(),
        ]);
        let public_pem = run(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
        let modulus = String::from_utf8(run(&[
            "rsa",
            "-in",
            key.to_str().unwrap(),
            "-noout",
            "-modulus",
        ]))
        .unwrap();
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64url(&n), "e": "AQAB"});
        SigningKey {
            kid: kid.into(),
            pem: std::fs::read(&key).unwrap(),
            public_pem,
            jwk,
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_pem(&self.pem).unwrap()).unwrap()
    }
}

/// Serves discovery and a JWKS whose keys the test can change.
pub struct Issuer {
    pub url: String,
    pub keys: Arc<Mutex<Vec<Value>>>,
}

impl Issuer {
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let shared = Arc::new(Mutex::new(
            keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>(),
        ));
        let state = (url.clone(), shared.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(
                    |State((url, _)): State<(String, Arc<Mutex<Vec<Value>>>)>| async move {
                        Json(json!({"issuer": url, "jwks_uri": format!("{url}/jwks")}))
                    },
                ),
            )
            .route(
                "/jwks",
                get(
                    |State((_, keys)): State<(String, Arc<Mutex<Vec<Value>>>)>| async move {
                        Json(json!({"keys": *keys.lock().unwrap()}))
                    },
                ),
            )
            .with_state(state);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Issuer { url, keys: shared }
    }

    pub fn claims(&self, sub: &str, groups: &[&str]) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        json!({"iss": self.url, "sub": sub, "aud": "keygate", "iat": now, "nbf": now - 5, "exp": now + 600, "groups": groups})
    }
}
