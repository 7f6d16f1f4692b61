//! How fast the events outbox drains to a local receiver (issue 27's target: at least
//! 1 000 events/s): `make bench`, or `cargo bench --bench outbox [-- N] [valkey URL]`.
//!
//! N events (default 20 000) are written to the outbox of a fresh embedded store (and,
//! with a Valkey URL, of that Valkey) before the delivery worker starts; one endpoint
//! points at a receiver in this process that answers 204. Prints events/s until the
//! receiver has every event, and until every delivery is recorded as delivered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use keygate::clock::Clock;
use keygate::events::{Events, NewEndpoint, Settings};
use keygate::store::SharedStore;

async fn receiver(count: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    count.fetch_add(1, Ordering::Relaxed);
                    async {
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(204)
                                .body(http_body_util::Empty::<hyper::body::Bytes>::new())
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}/in")
}

async fn drain(name: &str, store: SharedStore, n: usize) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let url = receiver(count.clone()).await;
    let config = keygate::config::EventsConfig {
        allow_private_addresses: true,
        ..Default::default()
    };
    let events = Arc::new(
        Events::new(
            store.clone(),
            Clock::system(),
            Settings::from_config(&config).unwrap(),
        )
        .unwrap(),
    );
    let (ep, _) = events
        .create(NewEndpoint {
            url,
            ..NewEndpoint::default()
        })
        .await
        .unwrap();
    let data =
        serde_json::json!({"key": {"id": "0123456789abcdef", "owner": "bench", "name": "k"}});
    let mut written = 0;
    while written < n {
        // The outbox as management fills it: one event per write, batched here only to
        // fill it quickly.
        let batch: Vec<_> = (0..500.min(n - written)).map(|_| ()).collect();
        for _ in &batch {
            events
                .write("key.created", Some("bench"), &data)
                .await
                .unwrap();
        }
        written += batch.len();
    }
    assert_eq!(store.outbox_len().await.unwrap(), n as u64);
    let started = Instant::now();
    let worker = tokio::spawn(events.clone().run());
    while count.load(Ordering::Relaxed) < n as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "stuck at {count:?}"
        );
    }
    let received = started.elapsed();
    // Until every delivery is recorded as delivered.
    loop {
        let page = events.deliveries(&ep.id, None, 1).await.unwrap();
        let backlog = store.outbox_len().await.unwrap();
        if backlog == 0
            && page
                .first()
                .is_some_and(|d| d.state == keygate::events::DeliveryState::Delivered)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let recorded = started.elapsed();
    worker.abort();
    let rate = n as f64 / received.as_secs_f64();
    println!(
        "outbox drain ({name}): {n} events received in {:.2} s = {rate:.0} events/s; all recorded delivered after {:.2} s ({:.0} events/s)",
        received.as_secs_f64(),
        recorded.as_secs_f64(),
        n as f64 / recorded.as_secs_f64()
    );
    rate
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(keygate::store::redb::RedbStore::open(dir.path()).unwrap());
    let rate = drain("redb", store, n).await;
    println!(
        "target: the outbox drains ≥ 1000 events/s (redb): {rate:.0} — {}",
        if rate >= 1000.0 { "met" } else { "NOT met" }
    );
    if let Some(url) = args.get(1) {
        let store: SharedStore = Arc::new(
            keygate::store::valkey::ValkeyStore::connect(&keygate::store::valkey::ValkeyOptions {
                topology: keygate::store::valkey::Topology::Single(url.clone()),
                username: None,
                password: None,
                namespace: format!("bench{}", std::process::id()),
                timeout: Duration::from_secs(2),
                tls_ca_pem: None,
                wait_replicas: 0,
                wait_timeout: Duration::from_secs(1),
            })
            .unwrap(),
        );
        drain("valkey", store, n).await;
    }
}
