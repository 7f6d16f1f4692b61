//! The key service over the configured store, for the commands that work on it
//! directly (no `--server`).

use crate::app::open_store;
use crate::app::settings::resolve;
use crate::clock::Clock;
use crate::config::Config;
use crate::manage::Keys;

/// The key service on the configured store, with the configured default limits.
pub fn local_keys(config: &Config, clock: &Clock) -> anyhow::Result<Keys> {
    let s = resolve(config).map_err(anyhow::Error::msg)?;
    let (store, salt) = open_store(config)?;
    // Key changes made here go to the outbox too; the server delivers them.
    let events = crate::events::Events::new(
        store.clone(),
        clock.clone(),
        crate::events::Settings::from_config(&config.events).map_err(anyhow::Error::msg)?,
    )
    .map_err(anyhow::Error::msg)?;
    Ok(Keys::new(store, salt, s.key_prefix, clock.clone(), None)
        .with_events(crate::events::port(&std::sync::Arc::new(events)))
        .with_max_keys_per_owner(config.max_keys_per_owner)
        .with_limit_defaults(s.key_defaults, s.owner_defaults))
}
