//! Validating OIDC access tokens (JWTs) against the issuer's published keys.
//!
//! The JWKS is found by discovery (`oauth.issuer_url` + `/.well-known/openid-configuration`)
//! or given directly (`oauth.jwks_url`); it is fetched in the background — keygate starts
//! and serves the gate even while the issuer is unreachable, and the management API
//! answers 503 until keys are known — refreshed every `jwks_refresh_interval_secs`, and
//! refetched (at most every few seconds) when a token names an unknown key id, so a
//! rotation at the issuer is picked up without a restart.
//!
//! Only asymmetric algorithms are accepted (RS*, PS*, ES*, EdDSA); a key is used only
//! with an algorithm of its own family, so `alg: none` and HS256-with-the-public-key
//! tokens are refused.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::OAuthConfig;

/// Least time between two refetches caused by unknown key ids.
const REFETCH_MIN: Duration = Duration::from_secs(5);
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// Who a valid token names.
#[derive(Clone, Debug)]
pub struct Claims {
    pub subject: String,
    pub admin: bool,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider's keys are not known yet")]
    NotReady,
    #[error("{0}")]
    Invalid(String),
}

pub struct Verifier {
    cfg: OAuthConfig,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<JwkSet>>>,
    /// The issuer tokens must name: the discovery document's, else the configured one.
    issuer: RwLock<Option<String>>,
    last_fetch: Mutex<Option<tokio::time::Instant>>,
}

fn invalid(m: impl Into<String>) -> OidcError {
    OidcError::Invalid(m.into())
}

impl Verifier {
    pub fn new(cfg: OAuthConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let issuer = (!cfg.issuer_url.is_empty()).then(|| cfg.issuer_url.clone());
        Ok(Verifier {
            cfg,
            http,
            keys: RwLock::new(None),
            issuer: RwLock::new(issuer),
            last_fetch: Mutex::new(None),
        })
    }

    pub fn ready(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Fetches the JWKS (after discovery, when configured that way).
    pub async fn refresh(&self) -> Result<usize, String> {
        *self.last_fetch.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::time::Instant::now());
        let jwks_url = if self.cfg.jwks_url.is_empty() {
            let url = format!(
                "{}/.well-known/openid-configuration",
                self.cfg.issuer_url.trim_end_matches('/')
            );
            let doc: Value = self.get_json(&url).await?;
            if let Some(iss) = doc["issuer"].as_str() {
                *self.issuer.write().unwrap_or_else(|e| e.into_inner()) = Some(iss.to_owned());
            }
            doc["jwks_uri"]
                .as_str()
                .ok_or_else(|| format!("{url} names no jwks_uri"))?
                .to_owned()
        } else {
            self.cfg.jwks_url.clone()
        };
        let set: JwkSet = serde_json::from_value(self.get_json(&jwks_url).await?)
            .map_err(|e| format!("{jwks_url} is not a JWKS: {e}"))?;
        let n = set.keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(set));
        Ok(n)
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url} answered {}", resp.status()));
        }
        resp.json().await.map_err(|e| format!("{url}: {e}"))
    }

    /// Fetches the keys until it works, then refreshes them on schedule. Runs until
    /// the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            match self.refresh().await {
                Ok(n) => {
                    tracing::info!(keys = n, "identity provider keys loaded");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "identity provider keys not available; the management API answers 503 meanwhile");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        let every = Duration::from_secs(self.cfg.jwks_refresh_interval_secs);
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "identity provider keys not refreshed; keeping the last ones");
            }
        }
    }

    fn find(&self, kid: Option<&str>) -> Result<Option<Jwk>, OidcError> {
        let guard = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let set = guard.as_ref().ok_or(OidcError::NotReady)?;
        Ok(match kid {
            Some(k) => set.find(k).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        })
    }

    /// Checks signature, algorithm, issuer, expiry, not-before and (when configured)
    /// audience; returns the subject and whether it is an administrator.
    pub async fn verify(&self, token: &str) -> Result<Claims, OidcError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("malformed or unsigned access token"))?;
        use Algorithm::*;
        if !matches!(
            header.alg,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384 | EdDSA
        ) {
            return Err(invalid(format!(
                "algorithm {:?} is not accepted (asymmetric only)",
                header.alg
            )));
        }
        let kid = header.kid.as_deref();
        let jwk = match self.find(kid)? {
            Some(j) => j,
            None => {
                let may = self
                    .last_fetch
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_none_or(|t| t.elapsed() >= REFETCH_MIN);
                if may && let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "refetching identity provider keys failed");
                }
                self.find(kid)?
                    .ok_or_else(|| invalid("the token is signed with an unknown key"))?
            }
        };
        if let Some(ka) = jwk.common.key_algorithm
            && format!("{ka:?}") != format!("{:?}", header.alg)
        {
            return Err(invalid("the token's algorithm does not match its key"));
        }
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the issuer's key cannot be used"))?;
        let mut v = Validation::new(header.alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp"]);
        if let Some(iss) = self
            .issuer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            v.set_issuer(&[iss]);
        }
        if self.cfg.audiences.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&self.cfg.audiences);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            invalid(match e.kind() {
                K::ExpiredSignature => "the token has expired",
                K::ImmatureSignature => "the token is not valid yet",
                K::InvalidIssuer => "the token is from another issuer",
                K::InvalidAudience => "the token is for another audience",
                K::InvalidSignature => "the token's signature is not valid",
                K::InvalidAlgorithm => "the token's algorithm does not match its key",
                K::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is not valid",
            })
        })?;
        self.claims(&data.claims)
    }

    fn claims(&self, c: &Map<String, Value>) -> Result<Claims, OidcError> {
        let subject = c
            .get(&self.cfg.claims.subject)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "the token has no `{}` claim",
                    self.cfg.claims.subject
                ))
            })?
            .to_owned();
        let groups: Vec<String> = match c.get(&self.cfg.claims.groups) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => s
                .split([' ', ','])
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let want = &self.cfg.admin.group;
        let admin = !want.is_empty()
            && groups.iter().any(|g| {
                if self.cfg.admin.group_case_sensitive {
                    g == want
                } else {
                    g.eq_ignore_ascii_case(want)
                }
            });
        let name = ["preferred_username", "name", "email"]
            .iter()
            .find_map(|k| c.get(*k).and_then(Value::as_str))
            .map(str::to_owned);
        Ok(Claims {
            subject,
            admin,
            name,
        })
    }
}
