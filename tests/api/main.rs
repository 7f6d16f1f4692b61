//! Integration tests: one binary, modules by concern (zero2prod's layout).

// Tests may panic, unwrap and read the real clock; the lints guard the product code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::zombie_processes
)]

mod activity;
mod analytics;
mod cache;
mod cli;
mod cli_roles;
mod connections;
mod console;
mod decision;
mod docs;
mod faults;
mod files;
mod grpc;
mod hardening;
mod helpers;
mod inline;
mod jwt;
mod keyfiles;
mod layout;
mod leaks;
mod limits;
mod limits_replicas;
mod load;
mod mgmt;
mod mgmt_limits;
mod migrate;
mod observe;
mod oidc_e2e;
mod paths;
mod permissions;
mod properties;
mod proxies;
mod proxy_permissions;
mod recent;
mod record_format;
mod replicas;
mod store_conformance;
mod store_events;
mod throttle;
mod ui;
mod upstream;
mod webhooks;
mod webhooks_delivery;
mod webhooks_events;
