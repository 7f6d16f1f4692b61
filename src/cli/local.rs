//! The key service over the configured store, for the commands that work on it
//! directly (no `--server`).

use crate::app::open_store;
use crate::clock::Clock;
use crate::config::Config;
use crate::manage::Keys;
use crate::token::KeyPrefix;

/// The key service on the configured store, with the configured default limits.
pub fn local_keys(config: &Config, clock: &Clock) -> anyhow::Result<Keys> {
    let prefix = KeyPrefix::parse(&config.key_prefix).map_err(|e| anyhow::anyhow!(e))?;
    let key_defaults = config
        .limits
        .key_defaults()
        .map_err(|e| anyhow::anyhow!(e))?;
    let owner_defaults = config
        .limits
        .owner_defaults()
        .map_err(|e| anyhow::anyhow!(e))?;
    let (store, salt) = open_store(config)?;
    Ok(Keys::new(store, salt, prefix, clock.clone(), None)
        .with_max_keys_per_owner(config.max_keys_per_owner)
        .with_limit_defaults(key_defaults, owner_defaults))
}
