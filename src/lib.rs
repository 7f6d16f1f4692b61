//! keygate: an API-key gate for HTTP services behind a reverse proxy.
//!
//! # Layout
//! - [`analytics`]: usage counts per key and owner in time buckets (tallied, flushed).
//! - [`config`]: settings, layered defaults < file < env < flags.
//! - [`token`]: the key format (generate, pre-check, checksum, keyed hash, hint). No I/O.
//! - [`rules`]: per-key allow-lists of hosts, paths and methods.
//! - [`store`]: the [`store::TokenStore`] trait and its backends (memory, redb, Valkey).
//! - [`decide`]: the hot path — credential, pre-check, cache, store, rules, answer.
//! - [`limits`]: usage limits (rate limits, credits) and their lease-based enforcement.
//! - [`manage`]: creating and changing keys (validation + store + cache invalidation).
//! - [`http`]: the axum routers (proxy endpoints, health) and [`http::serve`].
//! - [`app`]: wiring a configuration into a running [`app::App`].
//! - [`cli`]: the `keygate` command.
//! - [`clock`]: the injected clock; nothing else reads the wall clock.

pub mod analytics;
pub mod app;
pub mod cli;

pub mod clock;
pub mod config;
pub mod decide;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod keyfile;
pub mod limits;
pub mod logsink;
pub mod manage;
pub mod metrics;
pub mod oidc;
mod private_fs;
pub mod rules;
pub mod sources;
pub mod store;
pub mod token;
