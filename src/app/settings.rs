//! Where the configuration's strings become domain values, once: the key prefix, the
//! default limits of keys and owners, what limited keys do while the store is away, the
//! trusted proxy ranges. `serve` (through [`super::App`]) and the CLI's commands on the
//! local store both start from [`resolve`], so nothing downstream parses a setting again.
//! (The configuration checks its own shape in `Config::validate`; this turns it into
//! values.)

use crate::config::Config;
use crate::decide::Cidr;
use crate::limits::{Limits, OnStoreError};
use crate::token::KeyPrefix;

/// The parsed settings shared by every part that is built from a configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub key_prefix: KeyPrefix,
    /// Limits (and starting balance) of a new key created without its own.
    pub key_defaults: (Limits, Option<u64>),
    /// Limits (and starting balance) of an owner without their own.
    pub owner_defaults: (Limits, Option<u64>),
    pub on_store_error: OnStoreError,
    pub trusted_proxies: Vec<Cidr>,
}

/// Turns `c`'s strings into values; the error names the setting.
pub fn resolve(c: &Config) -> Result<Settings, String> {
    Ok(Settings {
        key_prefix: KeyPrefix::parse(&c.key_prefix).map_err(|e| format!("key_prefix: {e}"))?,
        key_defaults: c.limits.key_defaults()?,
        owner_defaults: c.limits.owner_defaults()?,
        on_store_error: c.limits.on_store_error()?,
        trusted_proxies: c
            .trusted_proxies
            .iter()
            .map(|s| Cidr::parse(s).map_err(|e| format!("trusted_proxies: {e}")))
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_setting_is_named() {
        let mut c = Config::default();
        let s = resolve(&c).unwrap();
        assert_eq!(s.key_prefix, KeyPrefix::default());
        assert_eq!(s.on_store_error, OnStoreError::Deny);
        c.trusted_proxies = vec!["10.0.0.0/33".into()];
        assert!(resolve(&c).unwrap_err().starts_with("trusted_proxies:"));
        c.trusted_proxies.clear();
        c.key_prefix = "Bad Prefix".into();
        assert!(resolve(&c).unwrap_err().starts_with("key_prefix:"));
    }
}
