//! The events facet (outbox and webhook deliveries), run against every backend: memory,
//! redb (and its reopen) and a real Valkey (and two clients sharing it).

use std::time::Duration;

use keygate::store::EventStore;
use keygate::store::events::{DELIVERIES_KEPT, DeliveryRow};
use keygate::store::memory::MemoryStore;
use keygate::store::redb::RedbStore;
use keygate::store::valkey::{ValkeyOptions, ValkeyStore};

use crate::helpers::Valkey;

fn now() -> i64 {
    keygate::clock::Clock::system().now_ms()
}

fn row<'a>(
    id: &'a str,
    endpoint: &'a str,
    created: i64,
    due: Option<i64>,
    body: &'a [u8],
) -> DeliveryRow<'a> {
    DeliveryRow {
        id,
        endpoint,
        created_ms: created,
        due_ms: due,
        body,
    }
}

async fn conformance(s: &dyn EventStore) {
    // The outbox: claimed once, claimed again only when stale, gone once acknowledged.
    let events: Vec<Vec<u8>> = (0..5).map(|i| format!("event {i}").into_bytes()).collect();
    s.push_events(&events).await.unwrap();
    assert_eq!(s.outbox_len().await.unwrap(), 5);
    let first = s.claim_events("a", 3, now(), 60_000).await.unwrap();
    let bodies: Vec<&[u8]> = first.iter().map(|(_, b)| b.as_slice()).collect();
    assert_eq!(
        bodies,
        [b"event 0".as_slice(), b"event 1", b"event 2"],
        "oldest first"
    );
    let rest = s.claim_events("b", 10, now(), 60_000).await.unwrap();
    assert_eq!(
        rest.len(),
        2,
        "what a consumer holds is not given to another"
    );
    assert!(
        s.claim_events("b", 10, now(), 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    let tags: Vec<String> = first.iter().map(|(t, _)| t.clone()).collect();
    s.ack_events(&tags).await.unwrap();
    assert_eq!(s.outbox_len().await.unwrap(), 2);
    // Claims not acknowledged go stale and are taken over.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let again = s.claim_events("c", 10, now(), 10).await.unwrap();
    assert_eq!(again.len(), 2, "stale claims are taken over: {again:?}");
    let tags: Vec<String> = again.iter().map(|(t, _)| t.clone()).collect();
    s.ack_events(&tags).await.unwrap();
    assert_eq!(s.outbox_len().await.unwrap(), 0);

    // Deliveries: added once, claimed when due with a lease, listed newest first.
    assert!(
        s.add_deliveries(&[row("e1.ep1", "ep1", 1_000, Some(5_000), b"one")])
            .await
            .unwrap()
            == 1
    );
    assert!(
        s.add_deliveries(&[row("e1.ep1", "ep1", 1_000, Some(5_000), b"twice")])
            .await
            .unwrap()
            == 0,
        "a second fan-out of one event adds nothing"
    );
    assert!(
        s.add_deliveries(&[row("e2.ep1", "ep1", 2_000, Some(9_000), b"two")])
            .await
            .unwrap()
            == 1
    );
    assert!(
        s.add_deliveries(&[row("e3.ep2", "ep2", 3_000, None, b"three")])
            .await
            .unwrap()
            == 1
    );
    assert_eq!(s.get_delivery("e1.ep1").await.unwrap().unwrap(), b"one");
    assert!(s.get_delivery("nope").await.unwrap().is_none());
    assert!(
        s.claim_deliveries(4_999, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.claim_deliveries(5_000, 1_000, 10).await.unwrap(),
        [b"one".to_vec()]
    );
    assert!(
        s.claim_deliveries(5_500, 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "a claimed delivery is leased"
    );
    assert_eq!(
        s.claim_deliveries(6_000, 1_000, 10).await.unwrap(),
        [b"one".to_vec()],
        "a lease that ran out makes it due again"
    );
    // Put back as delivered: never due again.
    s.put_deliveries(&[row("e1.ep1", "ep1", 1_000, None, b"one done")])
        .await
        .unwrap();
    let due = s.claim_deliveries(20_000, 1_000, 10).await.unwrap();
    assert_eq!(due, [b"two".to_vec()]);
    let listed = s.list_deliveries("ep1", None, 10).await.unwrap();
    assert_eq!(
        listed,
        [b"two".to_vec(), b"one done".to_vec()],
        "newest first"
    );
    let page = s
        .list_deliveries("ep1", Some((2_000, "e2.ep1")), 10)
        .await
        .unwrap();
    assert_eq!(page, [b"one done".to_vec()]);
    assert_eq!(
        s.list_deliveries("ep2", None, 10).await.unwrap(),
        [b"three".to_vec()]
    );
    assert!(s.list_deliveries("ep3", None, 10).await.unwrap().is_empty());
}

/// Past DELIVERIES_KEPT an endpoint's oldest finished deliveries go; pending ones stay.
async fn bounded(s: &dyn EventStore) {
    let body = b"x".to_vec();
    assert!(
        s.add_deliveries(&[row("pending", "epb", 0, Some(1), &body)])
            .await
            .unwrap()
            == 1
    );
    let ids: Vec<String> = (1..=DELIVERIES_KEPT + 3)
        .map(|i| format!("d{i:05}"))
        .collect();
    let rows: Vec<DeliveryRow> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| row(id, "epb", i as i64 + 1, None, &body))
        .collect();
    assert_eq!(
        s.add_deliveries(&rows).await.unwrap(),
        rows.len(),
        "one batch"
    );
    let all = s
        .list_deliveries("epb", None, DELIVERIES_KEPT * 2)
        .await
        .unwrap();
    assert_eq!(all.len(), DELIVERIES_KEPT, "bounded");
    assert!(
        s.get_delivery("pending").await.unwrap().is_some(),
        "the pending one, oldest, kept"
    );
    assert!(
        s.get_delivery("d00001").await.unwrap().is_none(),
        "the oldest finished went"
    );
}

#[tokio::test]
async fn memory_events_conform() {
    let s = MemoryStore::new();
    conformance(&s).await;
    bounded(&s).await;
}

#[tokio::test]
async fn redb_events_conform_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = RedbStore::open(dir.path()).unwrap();
        conformance(&s).await;
        bounded(&s).await;
        s.push_events(&[b"kept".to_vec()]).await.unwrap();
        let held = s.claim_events("a", 10, now(), 60_000).await.unwrap();
        assert_eq!(held.len(), 1, "claimed, never acknowledged");
    }
    let s = RedbStore::open(dir.path()).unwrap();
    let back = s.claim_events("a", 10, now(), 60_000).await.unwrap();
    assert_eq!(
        back.len(),
        1,
        "an event claimed but not acknowledged is there after a restart"
    );
    assert_eq!(back[0].1, b"kept");
    assert_eq!(s.list_deliveries("ep1", None, 10).await.unwrap().len(), 2);
}

fn valkey_store(v: &Valkey, namespace: &str) -> ValkeyStore {
    ValkeyStore::connect(&ValkeyOptions {
        topology: keygate::store::valkey::Topology::Single(v.url()),
        username: None,
        password: None,
        namespace: namespace.into(),
        timeout: Duration::from_millis(2000),
        tls_ca_pem: None,
        wait_replicas: 0,
        wait_timeout: Duration::from_secs(1),
    })
    .unwrap()
}

#[tokio::test]
async fn valkey_events_conform_and_are_shared_once() {
    let v = Valkey::start();
    conformance(&valkey_store(&v, "e1")).await;
    bounded(&valkey_store(&v, "e2")).await;
    // Two replicas on one outbox: each event goes to one of them.
    let (a, b) = (valkey_store(&v, "e3"), valkey_store(&v, "e3"));
    let events: Vec<Vec<u8>> = (0..200).map(|i| i.to_string().into_bytes()).collect();
    a.push_events(&events).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let (x, y) = tokio::join!(
            a.claim_events("a", 7, now(), 60_000),
            b.claim_events("b", 7, now(), 60_000)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        if x.is_empty() && y.is_empty() {
            break;
        }
        for (tag, body) in x.iter().chain(y.iter()) {
            assert!(seen.insert(body.clone()), "event {tag} taken twice");
        }
        let tags: Vec<String> = x.iter().map(|(t, _)| t.clone()).collect();
        a.ack_events(&tags).await.unwrap();
        let tags: Vec<String> = y.iter().map(|(t, _)| t.clone()).collect();
        b.ack_events(&tags).await.unwrap();
    }
    assert_eq!(seen.len(), 200);
    assert_eq!(a.outbox_len().await.unwrap(), 0);
}
