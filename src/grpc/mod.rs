//! The gRPC face: Envoy's external authorization service
//! (`envoy.service.auth.v3.Authorization/Check`, what Istio's `envoyExtAuthzGrpc`
//! provider, Envoy Gateway, Gloo and Contour call) and the standard health service
//! (`grpc.health.v1.Health`), on a port of their own.
//!
//! A port of its own rather than h2c beside the HTTP/1.1 listener: the main listener
//! reads a request head at once, without sniffing for an HTTP/2 preface (what every
//! `/forward-auth` request would pay for); the mesh selects the gRPC port by name and
//! a NetworkPolicy can open it to proxies only. Connections live under the same cap
//! and timeouts as the HTTP listeners ([`crate::listen`]); a connection idle past them
//! is ended with a GOAWAY, so a Check Envoy sends at that moment is retried on a new
//! connection rather than reset.

use std::net::SocketAddr;
use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::AuthorizationServer;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::app::App;
use crate::config::{Config, GrpcConfig};
use crate::listen::{self, Conn, Counted};

mod check;
mod seen;

pub use check::{Caller, Check, MAX_COST, Route};

/// The Check service's listener settings, when it is enabled.
pub struct Grpc {
    pub listen: String,
    config: GrpcConfig,
}

impl Grpc {
    /// `None` unless `grpc.enabled`.
    pub fn new(c: &Config) -> Option<Self> {
        let g = &c.grpc;
        if !g.enabled {
            return None;
        }
        let address = if g.address.is_empty() {
            &c.address
        } else {
            &g.address
        };
        // An IPv6 literal needs brackets to take a port.
        let host = if address.contains(':') && !address.starts_with('[') {
            format!("[{address}]")
        } else {
            address.clone()
        };
        Some(Grpc {
            listen: format!("{host}:{}", g.port),
            config: g.clone(),
        })
    }
}

/// Serves Checks and health on `listener` until `shutdown` completes; then the health
/// service says NOT_SERVING, connections are sent GOAWAY and Checks in flight finish
/// (30 s at most).
///
/// By `grpc.workers` threads, each with a single-threaded runtime and its own accept
/// loop (as the inline proxy's workers): an HTTP/2 connection, its streams and the
/// Checks on them stay on one thread. On the shared multi-threaded runtime each stream,
/// a task of its own, woke another thread and back (docs/benchmarks.md, issue 26).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    grpc: &Grpc,
    limits: listen::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    type Server = AuthorizationServer<Check>;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<Server>().await;
    let authz = AuthorizationServer::new(Check::new(app, &grpc.config))
        .max_decoding_message_size(grpc.config.max_message_bytes);
    let health = Health::new(health);
    let services = Services { authz, health };
    let streams = grpc.config.max_concurrent_streams;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        reporter.set_not_serving::<Server>().await;
        let _ = stop_tx.send(true);
    });
    let worker = move || {
        let services = services.clone();
        let serve = move |io, peer, conn| connection(io, peer, conn, services.clone(), streams);
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        Ok((serve, stopped))
    };
    let workers = listen::workers(grpc.config.workers);
    listen::accept_on_workers(listener, workers, limits, worker).await
}

/// The health service, as tonic-health makes it (a type it does not name), boxed.
type Health = tower::util::BoxCloneSyncService<
    hyper::Request<Incoming>,
    hyper::Response<tonic::body::Body>,
    std::convert::Infallible,
>;

#[derive(Clone)]
struct Services {
    authz: AuthorizationServer<Check>,
    health: Health,
}

const CHECK_PREFIX: &str = "/envoy.service.auth.v3.Authorization/";
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

impl Services {
    /// Routes one call by its path (two services: no router needed).
    async fn call(
        self,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<tonic::body::Body>, std::convert::Infallible> {
        let path = req.uri().path();
        if path.starts_with(CHECK_PREFIX) {
            self.authz.oneshot(req).await
        } else if path.starts_with(HEALTH_PREFIX) {
            self.health.oneshot(req).await
        } else {
            Ok(tonic::Status::unimplemented(
                "keygate serves envoy.service.auth.v3.Authorization and grpc.health.v1.Health",
            )
            .into_http())
        }
    }
}

/// One HTTP/2 connection (prior knowledge, as Envoy's gRPC clients speak).
async fn connection(io: Counted, peer: SocketAddr, conn: Conn, services: Services, streams: u32) {
    conn.multiplexed();
    let svc = {
        let conn = conn.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let busy = conn.busy();
            req.extensions_mut().insert(Caller(peer));
            let services = services.clone();
            async move {
                let r = services.call(req).await;
                drop(busy);
                r
            }
        })
    };
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .max_concurrent_streams(streams)
        // Envoy's own limit on request headers is 60 KiB by default; a Check's headers
        // are its gRPC call's, which are few.
        .max_header_list_size(16 * 1024);
    conn.drive(builder.serve_connection(TokioIo::new(io), svc))
        .await;
}
