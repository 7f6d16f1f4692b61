//! Secret settings: a type whose `Debug` and serialisation never show the value, which
//! settings are secrets, and passwords in URLs redacted for display.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret setting. `Debug` and serialisation never show it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Settings whose values are secrets (redacted in `config check`, `_FILE`-able).
const SECRETS: &[&str] = &["token_salt", "valkey_password", "admin_key"];

/// The names of settings that hold secrets.
pub fn secret_names() -> &'static [&'static str] {
    SECRETS
}

/// `redis://user:secret@host` → `redis://user:<redacted>@host`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:<redacted>@{host}")
            } else {
                format!("{scheme}://{userinfo}@{host}")
            }
        }
        None => url.to_owned(),
    }
}
