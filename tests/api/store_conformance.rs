//! One conformance suite, run against every backend: memory, redb and a real Valkey.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keygate::clock::Timestamp;
use keygate::rules::Rule;
use keygate::store::memory::MemoryStore;
use keygate::store::redb::RedbStore;
use keygate::store::valkey::{ValkeyOptions, ValkeyStore};
use keygate::store::{
    CounterStore, RecordFormat, RecordStore, StoreError, TokenId, TokenRecord, TokenStore,
};
use keygate::token::{KeyHash, Salt};

use crate::helpers::{SALT, Valkey};

fn record(owner: &str, name: &str, key: &str, created: i64) -> TokenRecord {
    TokenRecord {
        id: TokenId::generate().unwrap(),
        hash: KeyHash::of(&Salt::from_hex(SALT).unwrap(), key),
        hash_alg: Default::default(),
        owner: owner.into(),
        name: name.into(),
        hint: keygate::token::hint(key),
        created_at: Timestamp::from_unix(created),
        created_by: "test".into(),
        expires_at: Some(Timestamp::from_unix(created + 1000)),
        disabled: false,
        last_used_at: None,
        rules: vec![Rule::parse_spec("hosts=a.example.com;paths=/v1/*;methods=GET").unwrap()],
        metadata: BTreeMap::from([("team".into(), "core".into())]),
        replaces: None,
        replaced_by: None,
        grace_until: None,
        limits: Default::default(),
        usage_of: None,
        roles: vec![keygate::permissions::RoleName::parse("reader").unwrap()],
        permissions: vec![keygate::permissions::Permission::parse("docs.*").unwrap()],
        inherit_owner_roles: created % 200 != 0,
    }
}

pub(crate) async fn conformance(store: &dyn TokenStore) {
    // insert + every way of reading it back
    let a1 = record("alice", "first", "key-a1", 100);
    let a2 = record("alice", "second", "key-a2", 200);
    let b1 = record("bob", "only", "key-b1", 150);
    for r in [&a2, &a1, &b1] {
        store.insert(r).await.unwrap();
    }
    assert_eq!(store.get(&a1.id).await.unwrap().as_ref(), Some(&a1));
    assert_eq!(
        store.get_by_hash(&a1.hash).await.unwrap().map(|r| r.id),
        Some(a1.id.clone())
    );
    let alice: Vec<_> = store
        .list_by_owner("alice")
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(alice, ["first", "second"], "oldest first");
    assert!(
        store
            .list_by_owner("nobody")
            .await
            .unwrap()
            .records
            .is_empty()
    );
    let all: Vec<_> = store
        .list_all()
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(all, ["first", "only", "second"]);

    // conflicts
    let mut same_id = record("carol", "x", "key-c", 1);
    same_id.id = a1.id.clone();
    assert!(matches!(
        store.insert(&same_id).await,
        Err(StoreError::Conflict(_))
    ));
    let mut same_hash = record("carol", "x", "key-a1", 1);
    same_hash.owner = "carol".into();
    assert!(matches!(
        store.insert(&same_hash).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .list_by_owner("carol")
            .await
            .unwrap()
            .records
            .is_empty(),
        "a refused insert leaves nothing"
    );
    assert_eq!(store.get(&a1.id).await.unwrap().unwrap().owner, "alice");

    // unknown lookups
    let missing = TokenId::generate().unwrap();
    assert!(store.get(&missing).await.unwrap().is_none());
    assert!(
        store
            .get_by_hash(&KeyHash([7; 32]))
            .await
            .unwrap()
            .is_none()
    );

    // last used: the later time wins, whatever order the touches come in
    store
        .touch(&[(a1.id.clone(), Timestamp::from_unix(500))])
        .await
        .unwrap();
    store
        .touch(&[
            (a1.id.clone(), Timestamp::from_unix(400)),
            (missing.clone(), Timestamp::from_unix(1)),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.get(&a1.id).await.unwrap().unwrap().last_used_at,
        Some(Timestamp::from_unix(500))
    );
    assert!(
        store.get(&missing).await.unwrap().is_none(),
        "touching an unknown id creates nothing"
    );

    // everyone's keys carry their last-used times, each its own (and none where unused)
    store
        .touch(&[(b1.id.clone(), Timestamp::from_unix(700))])
        .await
        .unwrap();
    let used: Vec<_> = store
        .list_all()
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| (r.name, r.last_used_at))
        .collect();
    assert_eq!(
        used,
        [
            ("first".to_string(), Some(Timestamp::from_unix(500))),
            ("only".to_string(), Some(Timestamp::from_unix(700))),
            ("second".to_string(), None),
        ]
    );

    // update keeps last-used, refuses changes of owner or hash and unknown ids
    let mut changed = store.get(&a1.id).await.unwrap().unwrap();
    changed.name = "renamed".into();
    changed.disabled = true;
    changed.last_used_at = None;
    store.update(&changed).await.unwrap();
    let back = store.get(&a1.id).await.unwrap().unwrap();
    assert_eq!(back.name, "renamed");
    assert!(back.disabled);
    assert_eq!(back.last_used_at, Some(Timestamp::from_unix(500)));
    assert!(store.get_by_hash(&a1.hash).await.unwrap().unwrap().disabled);
    let mut thief = back.clone();
    thief.owner = "mallory".into();
    assert!(matches!(
        store.update(&thief).await,
        Err(StoreError::Conflict(_))
    ));
    let mut ghost = back.clone();
    ghost.id = missing.clone();
    assert!(matches!(
        store.update(&ghost).await,
        Err(StoreError::NotFound)
    ));

    // delete
    let gone = store.delete(&a1.id).await.unwrap().unwrap();
    assert_eq!(gone.id, a1.id);
    assert!(store.get(&a1.id).await.unwrap().is_none());
    assert!(store.get_by_hash(&a1.hash).await.unwrap().is_none());
    assert_eq!(store.list_by_owner("alice").await.unwrap().records.len(), 1);
    assert!(store.delete(&a1.id).await.unwrap().is_none());
    // the same key can be stored again after its delete (no leftovers)
    store.insert(&a1).await.unwrap();

    // meta
    assert!(store.get_meta("x").await.unwrap().is_none());
    store.set_meta("x", b"one").await.unwrap();
    store.set_meta("x", b"two").await.unwrap();
    assert_eq!(
        store.get_meta("x").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    // compare-and-set: written only over what was expected (absent, or these bytes)
    assert!(!store.swap_meta("y", Some(b"nope"), b"1").await.unwrap());
    assert!(store.swap_meta("y", None, b"1").await.unwrap());
    assert!(!store.swap_meta("y", None, b"2").await.unwrap());
    assert!(!store.swap_meta("y", Some(b"2"), b"3").await.unwrap());
    assert!(store.swap_meta("y", Some(b"1"), b"").await.unwrap());
    assert!(store.swap_meta("y", Some(b""), b"4").await.unwrap());
    assert_eq!(
        store.get_meta("y").await.unwrap().as_deref(),
        Some(&b"4"[..])
    );

    // record formats: every record brought into either format, and again, reads as it
    // did (the memory store keeps records decoded: all are in any format already)
    let before = store.list_all().await.unwrap();
    let n = store.count().await.unwrap();
    for to in [RecordFormat::Json, RecordFormat::Json, RecordFormat::Binary] {
        let done = store.convert_records(to, true).await.unwrap();
        assert_eq!(done.rewritten + done.already, n, "{to}");
        assert!(done.damaged.is_empty() && done.newer.is_empty(), "{to}");
        let left = store.convert_records(to, false).await.unwrap();
        assert_eq!((left.rewritten, left.already), (0, n), "{to}");
        assert_eq!(store.list_all().await.unwrap(), before, "{to}");
        assert_eq!(
            store.get_by_hash(&a2.hash).await.unwrap().as_ref(),
            before.records.iter().find(|r| r.id == a2.id)
        );
    }

    counters(store).await;
    store.ping().await.unwrap();
}

/// Usage-limit counters: a window never grants past its limit and takes back what is
/// returned; a balance's epoch is bumped by every set, and a lease taken before a set is
/// not given back into the new balance.
async fn counters(store: &dyn TokenStore) {
    use keygate::store::counters::Balance;
    use keygate::store::{CreditLease, WindowLease};
    let w = |want| WindowLease {
        slot: "k:conf|1m",
        window_start_ms: 1_800_000_000_000,
        window_ms: 60_000,
        limit: 10,
        want,
        now_ms: 1_800_000_000_000,
    };
    let g = store.take_window(&w(7)).await.unwrap();
    assert_eq!((g.granted, g.left), (7, 3));
    let g = store.take_window(&w(7)).await.unwrap();
    assert_eq!((g.granted, g.left), (3, 0));
    store
        .return_window("k:conf|1m", 1_800_000_000_000, 2)
        .await
        .unwrap();
    assert_eq!(store.take_window(&w(5)).await.unwrap().granted, 2);
    // The next window starts afresh.
    let next = WindowLease {
        window_start_ms: 1_800_000_060_000,
        now_ms: 1_800_000_060_000,
        ..w(4)
    };
    assert_eq!(store.take_window(&next).await.unwrap().granted, 4);

    let slot = "k:conf-credits";
    let lease = |want| CreditLease {
        slot,
        want,
        refill: None,
        init: None,
    };
    let e1 = store
        .set_credits(
            slot,
            Some(Balance {
                left: 100,
                period_ms: 0,
            }),
        )
        .await
        .unwrap();
    let g = store.take_credits(&lease(40)).await.unwrap();
    assert_eq!((g.granted, g.left, g.epoch), (40, 60, e1));
    // Given back in the same epoch: added.
    store.return_credits(slot, 0, e1, 10).await.unwrap();
    let e2 = store
        .set_credits(
            slot,
            Some(Balance {
                left: 0,
                period_ms: 0,
            }),
        )
        .await
        .unwrap();
    assert!(e2 > e1, "a set bumps the epoch: {e1} → {e2}");
    // A lease of the old balance comes back after the set: the set wins.
    store.return_credits(slot, 0, e1, 30).await.unwrap();
    assert_eq!(
        store.get_credits(&[slot.to_owned()]).await.unwrap(),
        [Some(Balance {
            left: 0,
            period_ms: 0
        })]
    );
    let g = store.take_credits(&lease(5)).await.unwrap();
    assert_eq!((g.granted, g.epoch), (0, e2));
    // Removed and set again: the epoch keeps growing, so no old lease matches.
    let e3 = store.set_credits(slot, None).await.unwrap();
    assert_eq!(store.get_credits(&[slot.to_owned()]).await.unwrap(), [None]);
    let e4 = store
        .set_credits(
            slot,
            Some(Balance {
                left: 5,
                period_ms: 0,
            }),
        )
        .await
        .unwrap();
    assert!(e4 > e3 && e3 > e2);
    store.return_credits(slot, 0, e2, 99).await.unwrap();
    assert_eq!(store.take_credits(&lease(50)).await.unwrap().granted, 5);
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(&MemoryStore::new()).await;
}

#[tokio::test]
async fn redb_store_conforms_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let r = record("dave", "kept", "key-d", 5);
    {
        let store = RedbStore::open(dir.path()).unwrap();
        conformance(&store).await;
        store.insert(&r).await.unwrap();
    }
    let reopened = RedbStore::open(dir.path()).unwrap();
    assert_eq!(
        reopened.get_by_hash(&r.hash).await.unwrap().unwrap().name,
        "kept"
    );
    // Rate-limit windows are in the file: 4 of the second window's 10 were granted before.
    let second = keygate::store::WindowLease {
        slot: "k:conf|1m",
        window_start_ms: 1_800_000_060_000,
        window_ms: 60_000,
        limit: 10,
        want: 10,
        now_ms: 1_800_000_060_000,
    };
    let g = reopened.take_window(&second).await.unwrap();
    assert_eq!(
        (g.granted, g.left),
        (6, 0),
        "4 of 10 were granted before the reopen"
    );
    // Ended windows go (the one of the next minute ends before this instant).
    assert_eq!(reopened.prune_windows(1_800_000_200_000).await.unwrap(), 1);
}

#[tokio::test]
async fn redb_refuses_a_second_opener_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let _held = RedbStore::open(dir.path()).unwrap();
    let err = RedbStore::open(dir.path())
        .err()
        .expect("second open must fail")
        .to_string();
    assert!(err.contains("in use"), "{err}");
}

fn valkey_store(v: &Valkey, namespace: &str) -> ValkeyStore {
    ValkeyStore::connect(&ValkeyOptions {
        topology: keygate::store::valkey::Topology::Single(v.url()),
        username: None,
        password: None,
        namespace: namespace.into(),
        timeout: Duration::from_millis(1000),
        tls_ca_pem: None,
        wait_replicas: 0,
        wait_timeout: Duration::from_secs(1),
    })
    .unwrap()
}

#[tokio::test]
async fn valkey_store_conforms() {
    let v = Valkey::start();
    conformance(&valkey_store(&v, "t1")).await;
    // Another namespace on the same server sees nothing of the first.
    let other: Arc<dyn TokenStore> = Arc::new(valkey_store(&v, "t2"));
    assert!(other.list_all().await.unwrap().records.is_empty());
}

#[tokio::test]
async fn valkey_store_reports_a_dead_server_quickly() {
    let mut v = Valkey::start();
    let store = valkey_store(&v, "t");
    store.ping().await.unwrap();
    v.kill();
    let started = std::time::Instant::now();
    let err = store.get_by_hash(&KeyHash([1; 32])).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(_) | StoreError::Timeout(_)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "never a hang");
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn valkey_store_over_tls() {
    use std::io::BufRead;
    let v = Valkey::start();
    let certs = tempfile::tempdir().unwrap();
    crate::helpers::make_certs(certs.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/tls_proxy.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(certs.path().join("server.pem"))
        .arg(certs.path().join("server.key"))
        .arg(v.port.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _proxy = Child(child);
    let port: u16 = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .unwrap()
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let opts = |ca: Option<Vec<u8>>| ValkeyOptions {
        topology: keygate::store::valkey::Topology::Single(format!("rediss://localhost:{port}")),
        username: None,
        password: None,
        namespace: "tls".into(),
        timeout: Duration::from_millis(2000),
        tls_ca_pem: ca,
        wait_replicas: 0,
        wait_timeout: Duration::from_secs(1),
    };
    let ca = std::fs::read(certs.path().join("ca.pem")).unwrap();
    let store = ValkeyStore::connect(&opts(Some(ca))).unwrap();
    conformance(&store).await;

    // Without the CA the server's certificate is not trusted: no connection, no data.
    let untrusted = ValkeyStore::connect(&opts(None)).unwrap();
    assert!(untrusted.ping().await.is_err());
}
