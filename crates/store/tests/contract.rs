//! The `StateStore` contract, the same bodies run against the embedded store and a real etcd.

use std::time::Duration;

use lifeline_model::{EtcdSettings, EventKind, InstanceName, NewEvent, Timestamp};
use lifeline_store::{CasOutcome, EmbeddedStore, EtcdStore, StateStore, StoreError, Write};
use lifeline_testkit::etcd::{Etcd, store_settings};
use tempfile::TempDir;

/// A store under test and what keeps it alive.
struct Subject {
    store: Box<dyn StateStore>,
    _dir: Option<TempDir>,
    _etcd: Option<Etcd>,
}

fn embedded() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("state.redb")).unwrap();
    Subject {
        store: Box::new(store),
        _dir: Some(dir),
        _etcd: None,
    }
}

async fn etcd() -> Subject {
    let etcd = Etcd::start().await;
    let store = EtcdStore::connect(&settings(&etcd.endpoints()), &instance("a"))
        .await
        .unwrap();
    Subject {
        store: Box::new(store),
        _dir: None,
        _etcd: Some(etcd),
    }
}

fn settings(endpoints: &[String]) -> EtcdSettings {
    store_settings(endpoints, "/lifeline/test")
}

fn instance(name: &str) -> InstanceName {
    InstanceName::new(name)
}

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        Timestamp::from_millis(1_795_000_000_000 + n),
        EventKind::OriginDown,
        format!("origin-{n}"),
        "3 failed checks",
    )
}

async fn written(outcome: Result<CasOutcome, StoreError>) -> u64 {
    match outcome.unwrap() {
        CasOutcome::Written { version } => version,
        conflict => panic!("expected a write, got {conflict:?}"),
    }
}

// === the bodies ===

async fn events_are_numbered_in_order(store: &dyn StateStore) {
    for n in 1..=12 {
        assert_eq!(store.append(event(n)).await.unwrap().seq, n);
    }
    let since: Vec<u64> = store
        .events_since(9, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(since, [10, 11, 12]);
    let first: Vec<u64> = store
        .events_since(0, 2)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(first, [1, 2]);
    let latest = store.latest_events(3).await.unwrap();
    assert_eq!(
        latest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [10, 11, 12]
    );
    assert_eq!(latest[2].event, event(12));
    assert!(store.events_since(0, 0).await.unwrap().is_empty());
}

async fn cas_conflicts_and_deletes(store: &dyn StateStore) {
    let v1 = written(store.compare_and_swap("pin/a", None, b"1".to_vec()).await).await;
    let again = store
        .compare_and_swap("pin/a", None, b"x".to_vec())
        .await
        .unwrap();
    let CasOutcome::Conflict {
        current: Some(current),
    } = again
    else {
        panic!("a create over an existing key must conflict, got {again:?}");
    };
    assert_eq!((current.value.as_slice(), current.version), (&b"1"[..], v1));
    let v2 = written(
        store
            .compare_and_swap("pin/a", Some(v1), b"2".to_vec())
            .await,
    )
    .await;
    assert!(v2 > v1);
    let stale = store
        .compare_and_swap("pin/a", Some(v1), b"3".to_vec())
        .await
        .unwrap();
    assert!(matches!(stale, CasOutcome::Conflict { .. }), "{stale:?}");
    let stale_delete = store.delete("pin/a", v1).await.unwrap();
    assert!(matches!(stale_delete, CasOutcome::Conflict { .. }));
    written(store.delete("pin/a", v2).await).await;
    assert_eq!(store.get("pin/a").await.unwrap(), None);
    let missing = store.delete("pin/a", v2).await.unwrap();
    assert_eq!(missing, CasOutcome::Conflict { current: None });
}

async fn list_by_prefix(store: &dyn StateStore) {
    for key in ["pool/b", "pool/a", "poolx", "cluster/main"] {
        written(
            store
                .compare_and_swap(key, None, key.as_bytes().to_vec())
                .await,
        )
        .await;
    }
    let keys: Vec<String> = store
        .list("pool/")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["pool/a", "pool/b"]);
}

async fn watch_from_a_revision(store: &dyn StateStore) {
    let v1 = written(store.compare_and_swap("pool/a", None, b"1".to_vec()).await).await;
    let mut watch = store.watch_from("pool/", v1).await.unwrap();
    written(store.compare_and_swap("other/x", None, b"x".to_vec()).await).await;
    let v2 = written(
        store
            .compare_and_swap("pool/a", Some(v1), b"2".to_vec())
            .await,
    )
    .await;
    let change = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("a change within 5 s")
        .expect("the watch is open")
        .unwrap();
    assert_eq!((change.key.as_str(), change.version), ("pool/a", v2));
    assert_eq!(change.value.as_deref(), Some(&b"2"[..]));
}

async fn guarded_writes_need_the_current_leadership(store: &dyn StateStore) {
    let leadership = store.campaign("a").await.unwrap();
    assert!(!leadership.is_lost());
    let put = Write::Put {
        key: "state/x".to_owned(),
        value: b"1".to_vec(),
    };
    written(store.guarded(&leadership, put).await).await;
    let mut stale = leadership.clone();
    stale.fencing_token -= 1;
    let refused = store
        .guarded(
            &stale,
            Write::Put {
                key: "state/x".to_owned(),
                value: b"2".to_vec(),
            },
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotLeader { .. })),
        "a stale token's write must be refused, got {refused:?}"
    );
    assert_eq!(store.get("state/x").await.unwrap().unwrap().value, b"1");
}

async fn leased_keys_read_like_others(store: &dyn StateStore) {
    let version = store.put_leased("health/a", b"up".to_vec()).await.unwrap();
    let stored = store.get("health/a").await.unwrap().unwrap();
    assert_eq!(
        (stored.value.as_slice(), stored.version),
        (&b"up"[..], version)
    );
}

macro_rules! contract {
    ($($body:ident),* $(,)?) => {
        mod on_embedded {
            $(#[tokio::test]
            async fn $body() {
                let subject = super::embedded();
                super::$body(subject.store.as_ref()).await;
            })*
        }
        mod on_etcd {
            $(#[tokio::test]
            async fn $body() {
                let subject = super::etcd().await;
                super::$body(subject.store.as_ref()).await;
            })*
        }
    };
}

contract!(
    events_are_numbered_in_order,
    cas_conflicts_and_deletes,
    list_by_prefix,
    watch_from_a_revision,
    guarded_writes_need_the_current_leadership,
    leased_keys_read_like_others,
);
