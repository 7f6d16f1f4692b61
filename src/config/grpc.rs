//! `[grpc]`: Envoy's gRPC external authorization (`envoy.service.auth.v3.Authorization`)
//! on a port of its own.

use serde::{Deserialize, Serialize};

/// The gRPC Check service. Off unless `enabled`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    pub enabled: bool,
    /// Where the Check service listens; empty: the main `address`.
    pub address: String,
    pub port: u16,
    /// Forward the key to the service behind Envoy (else Envoy removes the header it
    /// came in, or the query parameter).
    pub keep_credential: bool,
    /// Add `RateLimit-Policy` and `RateLimit` to the client's response on an allow when
    /// the key (or its owner) has rate limits or credits.
    pub client_ratelimit_headers: bool,
    /// Largest CheckRequest accepted, bytes (a larger one is refused with
    /// `RESOURCE_EXHAUSTED`, which Envoy turns into its `status_on_error`).
    pub max_message_bytes: usize,
    /// Most request headers a CheckRequest may describe (more: denied with 431).
    pub max_headers: usize,
    /// Concurrent Checks per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Threads serving the gRPC port, each with a runtime of its own (0: one per core).
    pub workers: usize,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            enabled: false,
            address: String::new(),
            port: 9191,
            keep_credential: false,
            client_ratelimit_headers: true,
            max_message_bytes: 1024 * 1024,
            max_headers: 500,
            max_concurrent_streams: 1024,
            workers: 0,
        }
    }
}

impl GrpcConfig {
    /// What types alone cannot say; messages name the setting.
    pub fn check(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_message_bytes) {
            return Err("grpc.max_message_bytes must be between 1024 and 67108864".into());
        }
        if !(1..=100_000).contains(&self.max_headers) {
            return Err("grpc.max_headers must be between 1 and 100000".into());
        }
        if self.workers > 1024 {
            return Err("grpc.workers must be at most 1024 (0: one per core)".into());
        }
        if self.max_concurrent_streams == 0 {
            return Err("grpc.max_concurrent_streams must be at least 1".into());
        }
        Ok(())
    }
}
