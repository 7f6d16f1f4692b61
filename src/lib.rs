//! keygate: an API-key gate for HTTP services behind a reverse proxy.
//!
//! # Layout
//! Modules sit in layers; a module imports its own layer or lower ones, never a higher
//! one, and never in a circle (`tests/api/layout.rs` checks both in `make test`):
//!
//! 1. **vocabulary**, importing nothing above it: [`clock`] (the injected clock; nothing
//!    else reads the wall clock), [`token`] (the key format: generate, pre-check,
//!    checksum, keyed hash, hint; no I/O), [`rules`] (per-key allow-lists), [`model`]
//!    (the key record and its id, audit events, the rules for names, owners and
//!    metadata), [`limits`] (rate limits, credits, owner-limit encoding), [`config`]
//!    (settings as plain data, layered defaults < file < env < flags), [`analytics`]
//!    (usage counts in time buckets), [`metrics`], [`logsink`], [`keyfile`], [`oidc`],
//!    and the pure parts of [`decide`] (`credential`, `throttle`).
//! 2. **store**: the [`store::TokenStore`] trait and its backends (memory, redb,
//!    Valkey), and the ports services reach each other through ([`store::Invalidate`],
//!    [`store::GatePort`], [`store::EventPort`]).
//! 3. **engines**: [`limits::engine`], enforcement from leases taken from the store.
//! 4. **services**, which never import each other: [`decide`] (the hot path —
//!    credential, pre-check, cache, store, rules, limits, answer) and [`manage`]
//!    (creating and changing keys; it reaches the gate through [`store::GatePort`]) and
//!    [`events`] (the outbox and signed webhooks; management emits through
//!    [`store::EventPort`]).
//! 5. **observe**: [`access_log`], one line per decision.
//! 6. **composition**: [`app`] builds every part once from a configuration;
//!    [`sources`] keeps key files and the uploaded set current.
//! 7. **transport**: [`listen`], connections accepted under a cap and timed out by one
//!    watchman per listener, TLS at the edge; it knows nothing of what is served.
//! 8. **faces**: [`http`] (the axum routers and [`http::serve`]), [`proxy`] (the inline
//!    reverse proxy: the gate's decision, then the upstream), [`grpc`] (Envoy's gRPC
//!    external authorization and the health service) and [`cli`] (the `keygate`
//!    command, which starts the listeners).

pub mod access_log;
pub mod analytics;
pub mod app;
pub mod assertion;
pub mod cli;

pub mod clock;
pub mod config;
pub mod decide;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod http;
pub mod keyfile;
pub mod limits;
pub mod listen;
pub mod logsink;
pub mod manage;
pub mod metrics;
pub mod model;
pub mod oidc;
pub mod permissions;
mod private_fs;
pub mod proxy;
pub mod rules;
pub mod sources;
pub mod store;
pub mod token;
