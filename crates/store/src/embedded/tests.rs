//! Tests of the embedded store against real files in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use lifeline_model::{EventKind, NewEvent, Timestamp};
use tempfile::TempDir;

use super::EmbeddedStore;
use crate::{CasOutcome, KeyChange, StateStore, StoreError, Versioned};

/// Set only in the child process that `a_second_process_cannot_open_the_file` starts.
const LOCKED_PATH_VAR: &str = "LIFELINE_STORE_TEST_LOCKED_PATH";

fn state_path() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("lifeline.redb");
    (dir, path)
}

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        Timestamp::from_millis(1_795_000_000_000 + n),
        EventKind::OriginDown,
        format!("origin-{n}"),
        "3 failed checks",
    )
    .transition("up", "down")
}

async fn append_events(store: &EmbeddedStore, count: u64) {
    for n in 1..=count {
        store.append(event(n)).await.unwrap();
    }
}

fn seqs(events: &[lifeline_model::Event]) -> Vec<u64> {
    events.iter().map(|event| event.seq).collect()
}

async fn written(outcome: impl Future<Output = Result<CasOutcome, StoreError>>) -> u64 {
    match outcome.await.unwrap() {
        CasOutcome::Written { version } => version,
        conflict => panic!("expected a write, got {conflict:?}"),
    }
}

#[tokio::test]
async fn append_assigns_one_two_three() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    for expected in 1..=3 {
        let stored = store.append(event(expected)).await.unwrap();
        assert_eq!(stored.seq, expected);
        assert_eq!(stored.event, event(expected));
    }
}

#[tokio::test]
async fn events_since_and_latest_respect_limits() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    assert!(store.latest_events(10).await.unwrap().is_empty());
    append_events(&store, 5).await;

    assert_eq!(
        seqs(&store.events_since(0, 100).await.unwrap()),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(seqs(&store.events_since(2, 2).await.unwrap()), [3, 4]);
    assert!(store.events_since(5, 10).await.unwrap().is_empty());
    assert!(store.events_since(u64::MAX, 10).await.unwrap().is_empty());

    assert_eq!(seqs(&store.latest_events(2).await.unwrap()), [4, 5]);
    assert_eq!(
        seqs(&store.latest_events(9).await.unwrap()),
        [1, 2, 3, 4, 5]
    );
    assert!(store.latest_events(0).await.unwrap().is_empty());
    assert_eq!(store.latest_events(1).await.unwrap()[0].event, event(5));
}

#[tokio::test]
async fn the_event_store_survives_a_reopen() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    append_events(&store, 3).await;
    let version = written(store.compare_and_swap("override/web", None, b"backup".to_vec())).await;
    drop(store);

    let store = EmbeddedStore::open(&path).unwrap();
    let events = store.events_since(0, 10).await.unwrap();
    assert_eq!(seqs(&events), [1, 2, 3]);
    assert_eq!(events[2].event, event(3));
    let value = store.get("override/web").await.unwrap();
    assert_eq!(
        value,
        Some(Versioned {
            value: b"backup".to_vec(),
            version
        })
    );

    // The sequence and the revisions continue where they stopped.
    assert_eq!(store.append(event(4)).await.unwrap().seq, 4);
    let next = written(store.compare_and_swap("override/web", Some(version), b"primary".to_vec()));
    assert!(next.await > version);
}

#[tokio::test]
async fn compare_and_swap_creates_updates_and_conflicts() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(store.get("k").await.unwrap(), None);

    let v1 = written(store.compare_and_swap("k", None, b"one".to_vec())).await;
    // Create-only fails once the key exists, and reports what is there.
    let current = Some(Versioned {
        value: b"one".to_vec(),
        version: v1,
    });
    let outcome = store.compare_and_swap("k", None, b"x".to_vec()).await;
    assert_eq!(outcome.unwrap(), CasOutcome::Conflict { current });

    let v2 = written(store.compare_and_swap("k", Some(v1), b"two".to_vec())).await;
    assert!(v2 > v1);
    // A stale version conflicts and changes nothing.
    let outcome = store.compare_and_swap("k", Some(v1), b"x".to_vec()).await;
    let current = Some(Versioned {
        value: b"two".to_vec(),
        version: v2,
    });
    assert_eq!(
        outcome.unwrap(),
        CasOutcome::Conflict {
            current: current.clone()
        }
    );
    assert_eq!(store.get("k").await.unwrap(), current);
    // Expecting a version of a key that does not exist conflicts too.
    let outcome = store
        .compare_and_swap("absent", Some(v1), b"x".to_vec())
        .await;
    assert_eq!(outcome.unwrap(), CasOutcome::Conflict { current: None });
}

#[tokio::test]
async fn delete_needs_the_current_version() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    let v1 = written(store.compare_and_swap("k", None, b"one".to_vec())).await;

    let outcome = store.delete("k", v1 + 100).await.unwrap();
    assert!(matches!(outcome, CasOutcome::Conflict { current: Some(_) }));
    let deleted = written(store.delete("k", v1)).await;
    assert!(deleted > v1);
    assert_eq!(store.get("k").await.unwrap(), None);
    let outcome = store.delete("k", v1).await.unwrap();
    assert_eq!(outcome, CasOutcome::Conflict { current: None });

    // A key created again never reuses an old version.
    let v2 = written(store.compare_and_swap("k", None, b"again".to_vec())).await;
    assert!(v2 > deleted);
}

#[tokio::test]
async fn list_returns_keys_under_a_prefix() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    for key in ["pool/b", "pool/a", "poolside", "cluster/main", "pool"] {
        written(store.compare_and_swap(key, None, key.as_bytes().to_vec())).await;
    }
    let listed = store.list("pool/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["pool/a", "pool/b"]);
    assert_eq!(listed[0].1.value, b"pool/a");
    assert_eq!(store.list("").await.unwrap().len(), 5);
    assert!(store.list("zzz").await.unwrap().is_empty());
}

#[tokio::test]
async fn campaign_tokens_grow_across_reopen() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    let first = store.campaign("node-a").await.unwrap();
    assert_eq!(first.candidate, "node-a");
    let second = store.campaign("node-a").await.unwrap();
    assert_eq!(second.fencing_token, first.fencing_token + 1);
    drop(store);

    let store = EmbeddedStore::open(&path).unwrap();
    let third = store.campaign("node-b").await.unwrap();
    assert_eq!(third.fencing_token, second.fencing_token + 1);
    assert_eq!(third.candidate, "node-b");
}

#[tokio::test]
async fn watch_sees_changes_under_its_prefix_only() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    let before = written(store.compare_and_swap("pool/early", None, b"x".to_vec())).await;
    let mut watch = store.watch("pool/").await;

    let created = written(store.compare_and_swap("pool/a", None, b"up".to_vec())).await;
    written(store.compare_and_swap("cluster/main", None, b"x".to_vec())).await;
    let deleted = written(store.delete("pool/early", before)).await;
    drop(store);

    let change = watch.next().await.map(Result::unwrap);
    let expected = KeyChange {
        key: "pool/a".to_owned(),
        value: Some(b"up".to_vec()),
        version: created,
    };
    assert_eq!(change, Some(expected));
    let change = watch.next().await.map(Result::unwrap);
    let expected = KeyChange {
        key: "pool/early".to_owned(),
        value: None,
        version: deleted,
    };
    assert_eq!(change, Some(expected));
    // The store is gone, so the watch ends.
    assert!(watch.next().await.is_none());
}

#[tokio::test]
async fn ping_reads_and_writes() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    store.ping().await.unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn an_unreadable_event_is_corrupt_not_a_panic() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    append_events(&store, 1).await;
    drop(store);
    {
        // An event of a kind this binary does not know, as a newer binary might write.
        const EVENTS: redb::TableDefinition<u64, &str> = redb::TableDefinition::new("events");
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let json = r#"{"at":"2026-11-18T11:06:40.123Z","kind":"region_failover","subject":"eu","old":null,"new":null,"reason":"r"}"#;
        txn.open_table(EVENTS).unwrap().insert(2, json).unwrap();
        txn.commit().unwrap();
    }

    let store = EmbeddedStore::open(&path).unwrap();
    let error = store.latest_events(10).await.unwrap_err();
    assert!(
        matches!(error, StoreError::Corrupt { seq: 2, .. }),
        "{error}"
    );
    assert_eq!(seqs(&store.events_since(0, 1).await.unwrap()), [1]);
}

#[tokio::test]
async fn counters_at_their_maximum_are_an_error_not_an_overflow() {
    let (_dir, path) = state_path();
    drop(EmbeddedStore::open(&path).unwrap());
    {
        // Values only a file written by something else can hold.
        const EVENTS: redb::TableDefinition<u64, &str> = redb::TableDefinition::new("events");
        const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let json = serde_json::to_string(&event(1)).unwrap();
        let mut events = txn.open_table(EVENTS).unwrap();
        events.insert(u64::MAX, json.as_str()).unwrap();
        drop(events);
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("fencing_token", u64::MAX).unwrap();
        drop(meta);
        txn.commit().unwrap();
    }

    let store = EmbeddedStore::open(&path).unwrap();
    let error = store.append(event(2)).await.unwrap_err();
    assert!(matches!(error, StoreError::Exhausted { .. }), "{error:?}");
    assert!(error.to_string().contains("the event sequence"), "{error}");
    let error = store.campaign("node-a").await.unwrap_err();
    assert!(matches!(error, StoreError::Exhausted { .. }), "{error:?}");
    assert!(error.to_string().contains("fencing_token"), "{error}");
    // Nothing else is stuck.
    store.ping().await.unwrap();
}

#[test]
fn a_second_open_in_this_process_is_locked() {
    let (_dir, path) = state_path();
    let _store = EmbeddedStore::open(&path).unwrap();
    assert_locked(&path);
}

#[test]
fn a_second_process_cannot_open_the_file() {
    let (_dir, path) = state_path();
    let _store = EmbeddedStore::open(&path).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "embedded::tests::open_as_child_process",
            "--nocapture",
        ])
        .env(LOCKED_PATH_VAR, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child did not run:\n{stdout}");
}

/// The child half of `a_second_process_cannot_open_the_file`; does nothing when run directly.
#[test]
fn open_as_child_process() {
    if let Some(path) = std::env::var_os(LOCKED_PATH_VAR) {
        assert_locked(Path::new(&path));
    }
}

fn assert_locked(path: &Path) {
    let Err(error) = EmbeddedStore::open(path) else {
        panic!("opened {} twice", path.display());
    };
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    let message = format!(
        "state file {} is in use by another Lifeline process",
        path.display()
    );
    assert_eq!(error.to_string(), message);
}
