//! Standard Webhooks 1.0 signatures: `whsec_` secrets (base64 of 32 random bytes) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per
//! secret in force, separated by spaces (a rotation signs with the old and new secret).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub const SECRET_PREFIX: &str = "whsec_";

/// A new secret.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(raw)))
}

/// The HMAC key of a secret (the base64 after `whsec_`).
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

/// The `webhook-signature` header's value for these secrets.
pub fn signature<'a>(
    secrets: impl Iterator<Item = &'a str>,
    id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    let signed = format!("{id}.{timestamp}.{body}");
    secrets
        .filter_map(key_of)
        .map(|k| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &k);
            let tag = ring::hmac::sign(&key, signed.as_bytes());
            format!("v1,{}", STANDARD.encode(tag.as_ref()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A short, recognisable form of a secret for lists (never the secret).
pub fn hint(secret: &str) -> String {
    let body = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    format!("{SECRET_PREFIX}{}…", body.get(..4).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of its reference
    /// libraries' tests).
    #[test]
    fn the_specification_example_verifies() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(std::iter::once(secret), id, 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_fresh_and_both_sign_during_a_rotation() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX) && key_of(&a).unwrap().len() == 32);
        let both = signature([a.as_str(), b.as_str()].into_iter(), "m", 1, "{}");
        assert_eq!(both.split(' ').count(), 2);
        assert!(both.split(' ').all(|s| s.starts_with("v1,")));
        assert!(!hint(&a).contains(&a[10..]));
    }
}
