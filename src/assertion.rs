//! The signed identity assertion of the inline proxy: a short-lived JWT that names the
//! key a request passed with, so an upstream can know its caller without trusting the
//! network between them.
//!
//! - EdDSA (Ed25519) signatures; the public key is published as a JWKS at
//!   `/.well-known/jwks.json` on the main port, with a `kid` derived from the key.
//! - Claims: `iss` (`proxy.assertion.issuer`), `sub` (the owner), `owner`, `key_id`,
//!   `key_name`, `iat`, `exp` (`iat` + `proxy.assertion.ttl_secs`), and `aud` when
//!   `proxy.assertion.audience` is set.
//! - The signing key: `proxy.assertion.key_file` (a PKCS#8 PEM Ed25519 key, e.g.
//!   `openssl genpkey -algorithm ed25519`), else one generated on first start and kept
//!   in the store, so every replica on a shared store signs with the same key.
//! - A key's assertion is reused while more than half its lifetime is left (at most
//!   [`CACHED`] keys): signing costs tens of microseconds, a lookup far less.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::config::AssertionConfig;

/// Meta entry holding the generated signing key (PKCS#8 DER).
pub const KEY_META: &str = "assertion_key.ed25519";

/// Keys whose last assertion is kept for reuse.
const CACHED: usize = 10_000;

pub struct Signer {
    pair: Ed25519KeyPair,
    kid: String,
    /// `base64url(header).`
    head: String,
    issuer: String,
    audience: String,
    ttl_secs: i64,
    /// key id → (expiry, the permissions' fingerprint, token).
    recent: quick_cache::sync::Cache<String, (i64, u64, Arc<str>)>,
}

/// Who an assertion names.
pub struct Caller<'a> {
    pub key_id: &'a str,
    pub owner: &'a str,
    pub key_name: &'a str,
    /// The key's effective permissions (a `permissions` claim when there are any).
    pub permissions: &'a [crate::permissions::Permission],
    /// Changes whenever `permissions` do: a token made for other permissions is not
    /// reused.
    pub fingerprint: u64,
}

impl Signer {
    /// From a PKCS#8 DER Ed25519 key.
    pub fn new(pkcs8: &[u8], c: &AssertionConfig) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| format!("not a PKCS#8 Ed25519 key: {e}"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, pair.public_key().as_ref());
        let kid = B64.encode(&digest.as_ref()[..12]);
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
        Ok(Signer {
            head: format!("{}.", B64.encode(header.to_string())),
            kid,
            pair,
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            ttl_secs: i64::try_from(c.ttl_secs).unwrap_or(60),
            recent: quick_cache::sync::Cache::new(CACHED),
        })
    }

    /// From a PEM file (`-----BEGIN PRIVATE KEY-----`, PKCS#8).
    pub fn from_pem_file(path: &std::path::Path, c: &AssertionConfig) -> Result<Self, String> {
        use rustls::pki_types::PrivatePkcs8KeyDer;
        use rustls::pki_types::pem::PemObject;
        let der = PrivatePkcs8KeyDer::from_pem_file(path)
            .map_err(|e| format!("proxy.assertion.key_file {}: {e}", path.display()))?;
        Self::new(der.secret_pkcs8_der(), c)
            .map_err(|e| format!("proxy.assertion.key_file {}: {e}", path.display()))
    }

    /// A new random key, PKCS#8 DER.
    pub fn generate() -> Result<Vec<u8>, String> {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| "could not generate an Ed25519 key".to_owned())
    }

    /// The assertion for `caller` at unix second `now`.
    pub fn sign(&self, caller: &Caller<'_>, now: i64) -> Arc<str> {
        if let Some((exp, fingerprint, token)) = self.recent.get(caller.key_id)
            && exp - now > self.ttl_secs / 2
            && fingerprint == caller.fingerprint
        {
            return token;
        }
        let exp = now + self.ttl_secs;
        let mut claims = serde_json::json!({
            "iss": self.issuer,
            "sub": caller.owner,
            "owner": caller.owner,
            "key_id": caller.key_id,
            "key_name": caller.key_name,
            "iat": now,
            "exp": exp,
        });
        if !self.audience.is_empty() {
            claims["aud"] = self.audience.clone().into();
        }
        if !caller.permissions.is_empty() {
            claims["permissions"] = caller
                .permissions
                .iter()
                .map(|p| serde_json::Value::from(p.as_str()))
                .collect();
        }
        let mut token = self.head.clone();
        token.push_str(&B64.encode(claims.to_string()));
        let signature = self.pair.sign(token.as_bytes());
        token.push('.');
        token.push_str(&B64.encode(signature.as_ref()));
        let token: Arc<str> = token.into();
        self.recent.insert(
            caller.key_id.to_owned(),
            (exp, caller.fingerprint, token.clone()),
        );
        token
    }

    /// The JWKS document publishing the public key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": B64.encode(self.pair.public_key().as_ref()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(ttl: u64) -> Signer {
        let c = AssertionConfig {
            enabled: true,
            ttl_secs: ttl,
            audience: "orders".into(),
            ..AssertionConfig::default()
        };
        Signer::new(&Signer::generate().unwrap(), &c).unwrap()
    }

    #[test]
    fn signs_verifiable_tokens_and_reuses_them_for_half_their_life() {
        let s = signer(60);
        let caller = Caller {
            key_id: "k1",
            owner: "alice",
            key_name: "ci",
            permissions: &[],
            fingerprint: 0,
        };
        let t = s.sign(&caller, 1_000);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["key_id"], "k1");
        assert_eq!(claims["aud"], "orders");
        assert_eq!(claims["exp"], 1_060);
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            B64.decode(s.jwks()["keys"][0]["x"].as_str().unwrap())
                .unwrap(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(signed.as_bytes(), &B64.decode(parts[2]).unwrap())
            .unwrap();
        assert_eq!(
            s.sign(&caller, 1_029),
            t,
            "reused while more than half is left"
        );
        assert_ne!(s.sign(&caller, 1_031), t, "renewed after");
        // Other permissions: a new token at once, with the claim.
        let held = [crate::permissions::Permission::parse("docs.read").unwrap()];
        let wider = Caller {
            permissions: &held,
            fingerprint: 1,
            ..caller
        };
        let t2 = s.sign(&wider, 1_032);
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(t2.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["permissions"], serde_json::json!(["docs.read"]));
        assert!(s.sign(&caller, 1_033).len() < t2.len(), "none: no claim");
        assert!(Signer::new(b"not a key", &AssertionConfig::default()).is_err());
    }
}
