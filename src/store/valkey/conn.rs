//! Connections to Valkey in its three shapes — one server, a Sentinel-managed
//! primary/replica set, or a Cluster — behind one cloneable connection type, so the
//! store's commands do not care which it is.
//!
//! Every shape connects lazily (keygate starts while Valkey is down) and reconnects by
//! itself: the single server through redis-rs' connection manager; Sentinel by asking
//! the sentinels for the current primary again after a connection error or a `READONLY`
//! answer (a failover); Cluster through redis-rs' cluster client, rebuilt after a
//! failure.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use tokio::sync::RwLock;

/// Where Valkey is.
#[derive(Clone, Debug)]
pub enum Topology {
    /// `valkey_url`.
    Single(String),
    /// `valkey_sentinels` + `valkey_service_name`.
    Sentinel {
        sentinels: Vec<String>,
        service: String,
    },
    /// `valkey_cluster_nodes` (any reachable subset of the nodes).
    Cluster(Vec<String>),
}

/// How to reach Valkey.
#[derive(Clone)]
pub struct ValkeyOptions {
    pub topology: Topology,
    pub username: Option<String>,
    pub password: Option<String>,
    pub namespace: String,
    pub timeout: Duration,
    /// PEM CA certificate(s) to trust for `rediss://` instead of the system's roots.
    pub tls_ca_pem: Option<Vec<u8>>,
    /// After each write, `WAIT` for this many replicas (0: don't).
    pub wait_replicas: u32,
    pub wait_timeout: Duration,
}

impl ValkeyOptions {
    /// One server at `url`, nothing else set.
    pub fn single(url: &str, namespace: &str, timeout: Duration) -> Self {
        ValkeyOptions {
            topology: Topology::Single(url.to_owned()),
            username: None,
            password: None,
            namespace: namespace.to_owned(),
            timeout,
            tls_ca_pem: None,
            wait_replicas: 0,
            wait_timeout: Duration::from_secs(1),
        }
    }
}

/// Puts `valkey_username` / `valkey_password` into a URL (percent-encoded).
pub fn with_credentials(url: &str, user: Option<&str>, pass: Option<&str>) -> RedisResult<String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        RedisError::from((redis::ErrorKind::InvalidClientConfig, "URL has no scheme"))
    })?;
    if !matches!(scheme, "redis" | "rediss" | "valkey" | "valkeys") {
        return Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "scheme must be redis://, rediss:// or valkey://",
        )));
    }
    if user.is_none() && pass.is_none() {
        return Ok(url.to_owned());
    }
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    Ok(format!(
        "{scheme}://{}:{}@{rest}",
        enc(user.unwrap_or("")),
        enc(pass.unwrap_or(""))
    ))
}

/// Connection details for `url`, with credentials and `TCP_NODELAY` (redis-rs leaves
/// Nagle's algorithm on, which holds small writes such as a PUBLISH after a reply for
/// up to a delayed-ACK period — measured here as a 200 ms revocation delay).
fn info_for(url: &str, o: &ValkeyOptions) -> RedisResult<redis::ConnectionInfo> {
    use redis::IntoConnectionInfo;
    let url = with_credentials(url, o.username.as_deref(), o.password.as_deref())?;
    Ok(url
        .as_str()
        .into_connection_info()?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true)))
}

fn client_for(url: &str, o: &ValkeyOptions) -> RedisResult<redis::Client> {
    let info = info_for(url, o)?;
    match &o.tls_ca_pem {
        Some(pem) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            },
        ),
        None => redis::Client::open(info),
    }
}

/// A connection to Valkey whatever its shape. Cheap to clone.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager, Arc<ValkeyOptions>),
    Sentinel(Arc<Resolving<MultiplexedConnection>>),
    Cluster(Arc<Resolving<ClusterConnection>>),
}

/// A connection made on first use and made again after it failed.
pub struct Resolving<C> {
    opts: ValkeyOptions,
    current: RwLock<Option<C>>,
}

fn io_error(m: &str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        m.to_owned(),
    ))
}

impl Conn {
    pub fn new(o: &ValkeyOptions) -> RedisResult<Self> {
        Ok(match &o.topology {
            Topology::Single(url) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(o.timeout))
                    .set_response_timeout(Some(o.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Conn::Single(
                    ConnectionManager::new_lazy_with_config(client_for(url, o)?, config)?,
                    Arc::new(o.clone()),
                )
            }
            Topology::Sentinel { .. } => Conn::Sentinel(Arc::new(Resolving {
                opts: o.clone(),
                current: RwLock::new(None),
            })),
            Topology::Cluster(_) => Conn::Cluster(Arc::new(Resolving {
                opts: o.clone(),
                current: RwLock::new(None),
            })),
        })
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// A plain client for a subscription: the server, the current primary, or one of the
    /// cluster's nodes (pub/sub messages reach every node of a cluster).
    pub async fn pubsub_client(&self, attempt: usize) -> RedisResult<redis::Client> {
        match self {
            Conn::Single(_, o) => match &o.topology {
                Topology::Single(url) => client_for(url, o),
                _ => Err(io_error("topology mismatch")),
            },
            Conn::Sentinel(r) => primary_client(&r.opts).await,
            Conn::Cluster(r) => match &r.opts.topology {
                Topology::Cluster(nodes) if !nodes.is_empty() => {
                    client_for(&nodes[attempt % nodes.len()], &r.opts)
                }
                _ => Err(io_error("no cluster nodes")),
            },
        }
    }
}

/// Asks the sentinels, in turn, where the primary of the service is.
pub async fn primary_client(o: &ValkeyOptions) -> RedisResult<redis::Client> {
    let Topology::Sentinel { sentinels, service } = &o.topology else {
        return Err(io_error("not a sentinel topology"));
    };
    let mut last = io_error("no sentinel configured");
    for s in sentinels {
        let ask = async {
            let mut c = redis::Client::open(s.as_str())?
                .get_multiplexed_async_connection()
                .await?;
            let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(service)
                .query_async(&mut c)
                .await?;
            addr.ok_or_else(|| io_error("the sentinel does not know the service"))
        };
        match tokio::time::timeout(o.timeout, ask).await {
            Ok(Ok((host, port))) => {
                let scheme = if s.starts_with("rediss") || s.starts_with("valkeys") {
                    "rediss"
                } else {
                    "redis"
                };
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                return client_for(&format!("{scheme}://{host}:{port}"), o);
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = io_error("sentinel timed out"),
        }
    }
    Err(last)
}

async fn connect_primary(o: &ValkeyOptions) -> RedisResult<MultiplexedConnection> {
    let client = primary_client(o).await?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(o.timeout))
        .set_response_timeout(Some(o.timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn connect_cluster(o: &ValkeyOptions) -> RedisResult<ClusterConnection> {
    let Topology::Cluster(nodes) = &o.topology else {
        return Err(io_error("not a cluster topology"));
    };
    let nodes: Vec<redis::ConnectionInfo> = nodes
        .iter()
        .map(|n| info_for(n, o))
        .collect::<RedisResult<_>>()?;
    let mut b = redis::cluster::ClusterClientBuilder::new(nodes)
        .connection_timeout(o.timeout)
        .response_timeout(o.timeout);
    if let Some(pem) = &o.tls_ca_pem {
        b = b.certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        });
    }
    b.build()?.get_async_connection().await
}

/// Errors after which the connection is made anew (and, for Sentinel, the primary
/// looked up again).
fn needs_reconnect(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

macro_rules! resolving {
    ($r:expr, $connect:expr, $call:expr) => {{
        let r = $r.clone();
        async move {
            let existing = r.current.read().await.clone();
            let mut conn = match existing {
                Some(c) => c,
                None => {
                    let mut slot = r.current.write().await;
                    match slot.clone() {
                        Some(c) => c,
                        None => {
                            let c = $connect(&r.opts).await?;
                            *slot = Some(c.clone());
                            c
                        }
                    }
                }
            };
            let result = $call(&mut conn).await;
            if let Err(e) = &result {
                if needs_reconnect(e) {
                    *r.current.write().await = None;
                }
            }
            result
        }
        .boxed()
    }};
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c, _) => c.req_packed_command(cmd),
            Conn::Sentinel(r) => resolving!(r, connect_primary, |c: &mut MultiplexedConnection| {
                let mut c = c.clone();
                async move { c.req_packed_command(cmd).await }
            }),
            Conn::Cluster(r) => resolving!(r, connect_cluster, |c: &mut ClusterConnection| {
                let mut c = c.clone();
                async move { c.req_packed_command(cmd).await }
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c, _) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(r) => resolving!(r, connect_primary, |c: &mut MultiplexedConnection| {
                let mut c = c.clone();
                async move { c.req_packed_commands(pipeline, offset, count).await }
            }),
            Conn::Cluster(r) => resolving!(r, connect_cluster, |c: &mut ClusterConnection| {
                let mut c = c.clone();
                async move { c.req_packed_commands(pipeline, offset, count).await }
            }),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}
