//! What only the etcd store does: leadership across instances, lease expiry, fencing, and
//! failing fast when etcd is not there. Real etcd, real faults.

use std::time::{Duration, Instant};

use lifeline_model::{EtcdSettings, InstanceName};
use lifeline_store::{EtcdStore, StateStore, StoreError, Write};
use lifeline_testkit::etcd::{Etcd, store_settings};
use lifeline_testkit::ports::free_port;
use lifeline_testkit::signal::send_signal;

const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

const TTL: Duration = Duration::from_secs(2);

fn settings(endpoints: &[String]) -> EtcdSettings {
    store_settings(endpoints, "/lifeline/test")
}

async fn connect(etcd: &Etcd, name: &str) -> EtcdStore {
    EtcdStore::connect(&settings(&etcd.endpoints()), &InstanceName::new(name))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_leader_that_resigns_is_followed_at_once_and_its_token_refused() {
    let etcd = Etcd::start().await;
    let a = connect(&etcd, "a").await;
    let b = connect(&etcd, "b").await;
    let first = a.campaign("a").await.unwrap();
    let b_campaign = tokio::spawn(async move {
        let leadership = b.campaign("b").await;
        (b, leadership)
    });
    // b is waiting on the leader key before a gives it up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!b_campaign.is_finished(), "b led beside a");

    let resigned = Instant::now();
    a.resign(&first).await.unwrap();
    let (b, second) = tokio::time::timeout(TTL / 2, b_campaign)
        .await
        .expect("b leads well within a lease TTL of the resignation")
        .unwrap();
    let second = second.unwrap();
    eprintln!("b led {:?} after a resigned", resigned.elapsed());
    assert!(second.fencing_token > first.fencing_token);
    let put = Write::Put {
        key: "state/x".to_owned(),
        value: b"a".to_vec(),
    };
    let refused = a.guarded(&first, put).await;
    assert!(
        matches!(refused, Err(StoreError::NotLeader { .. })),
        "{refused:?}"
    );
    // Resigning an old leadership leaves the new leader alone.
    a.resign(&first).await.unwrap();
    let put = Write::Put {
        key: "state/x".to_owned(),
        value: b"b".to_vec(),
    };
    b.guarded(&second, put).await.unwrap();
}

#[tokio::test]
async fn one_leader_and_the_other_takes_over_with_a_larger_token_when_it_dies() {
    let etcd = Etcd::start().await;
    let a = connect(&etcd, "a").await;
    let b = connect(&etcd, "b").await;
    let first = a.campaign("a").await.unwrap();

    // b waits while a leads.
    let b_campaign = tokio::spawn(async move {
        let leadership = b.campaign("b").await;
        (b, leadership)
    });
    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    assert!(
        !b_campaign.is_finished(),
        "b became leader while a still led"
    );
    assert!(!first.is_lost());

    // a dies: its keep-alive stops with it, so its lease expires.
    let dropped = Instant::now();
    let kept = first.clone();
    drop(a);
    let (b, second) = tokio::time::timeout(TTL * 4, b_campaign)
        .await
        .expect("b leads within a few lease TTLs of a's death")
        .unwrap();
    let second = second.unwrap();
    assert!(
        second.fencing_token > first.fencing_token,
        "the new token {} must be larger than {}",
        second.fencing_token,
        first.fencing_token
    );
    eprintln!("b took over {:?} after a was dropped", dropped.elapsed());

    // a's old token is refused.
    let put = Write::Put {
        key: "state/x".to_owned(),
        value: b"a".to_vec(),
    };
    let refused = b.guarded(&kept, put).await;
    assert!(
        matches!(refused, Err(StoreError::NotLeader { .. })),
        "{refused:?}"
    );
    let put = Write::Put {
        key: "state/x".to_owned(),
        value: b"b".to_vec(),
    };
    b.guarded(&second, put).await.unwrap();
}

#[tokio::test]
async fn a_leader_whose_etcd_dies_loses_leadership_and_calls_fail_in_bounded_time() {
    let mut etcd = Etcd::start().await;
    let a = connect(&etcd, "a").await;
    let leadership = a.campaign("a").await.unwrap();
    etcd.kill(0);

    tokio::time::timeout(TTL * 3, leadership.lost())
        .await
        .expect("leadership is declared lost once the lease cannot be refreshed");

    let started = Instant::now();
    let result = a.get("pin/a").await;
    assert!(
        matches!(result, Err(StoreError::Unavailable { .. })),
        "{result:?}"
    );
    let ping = a.ping().await;
    assert!(
        matches!(ping, Err(StoreError::Unavailable { .. })),
        "{ping:?}"
    );
    assert!(started.elapsed() < TTL * 3, "took {:?}", started.elapsed());
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails_fast_naming_the_endpoints() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let result = EtcdStore::connect(
        &settings(std::slice::from_ref(&endpoint)),
        &InstanceName::new("a"),
    )
    .await;
    let Err(error @ StoreError::Unreachable { .. }) = result else {
        panic!("expected Unreachable, got {:?}", result.map(|_| ()));
    };
    assert!(error.to_string().contains(&endpoint), "{error}");
    assert!(started.elapsed() < TTL * 2, "took {:?}", started.elapsed());
}

fn version(outcome: lifeline_store::CasOutcome) -> u64 {
    match outcome {
        lifeline_store::CasOutcome::Written { version } => version,
        other => panic!("expected a write, got {other:?}"),
    }
}

#[tokio::test]
async fn a_watch_resumes_after_its_stream_is_lost() {
    let etcd = Etcd::with_members(3).await;
    let endpoints = etcd.endpoints();
    // The watcher reaches member 0 only; the writer member 2, which keeps a quorum with 1.
    let watcher = EtcdStore::connect(&settings(&endpoints[..1]), &InstanceName::new("w"))
        .await
        .unwrap();
    let writer = EtcdStore::connect(&settings(&endpoints[2..]), &InstanceName::new("x"))
        .await
        .unwrap();
    let mut watch = watcher.watch("pool/").await;
    let v1 = version(
        writer
            .compare_and_swap("pool/a", None, b"1".to_vec())
            .await
            .unwrap(),
    );
    let first = tokio::time::timeout(TTL * 2, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.version, v1);

    // Member 0 hangs long enough for the HTTP/2 pings to drop the watcher's connection; a
    // change is made meanwhile, then member 0 comes back. The watch reopens from the revision
    // after the last change it saw, so that change is not missed.
    let pid = etcd.pid(0);
    assert!(send_signal(pid, SIGSTOP));
    // Member 0 may have been etcd's own leader: the write goes through once the other two have
    // elected another, and a try whose answer was lost meanwhile may have applied already.
    let (v2, _) = lifeline_testkit::wait::until(
        "a write while member 0 hangs",
        Duration::from_secs(15),
        || async {
            match writer
                .compare_and_swap("pool/a", Some(v1), b"2".to_vec())
                .await
            {
                Ok(lifeline_store::CasOutcome::Written { version }) => Some(version),
                Ok(lifeline_store::CasOutcome::Conflict {
                    current: Some(current),
                }) if current.value == b"2" => Some(current.version),
                _ => None,
            }
        },
    )
    .await;
    tokio::time::sleep(TTL * 2).await; // a fault held for a time, not a wait for a condition
    assert!(send_signal(pid, SIGCONT));
    let second = tokio::time::timeout(TTL * 5, watch.next())
        .await
        .expect("the change made while the stream was down arrives")
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.version, second.value.as_deref()),
        (v2, Some(&b"2"[..]))
    );
}

#[tokio::test]
async fn a_watch_from_a_compacted_revision_reports_compacted() {
    let etcd = Etcd::start().await;
    let store = connect(&etcd, "a").await;
    let v1 = version(
        store
            .compare_and_swap("pool/a", None, b"1".to_vec())
            .await
            .unwrap(),
    );
    let v2 = version(
        store
            .compare_and_swap("pool/a", Some(v1), b"2".to_vec())
            .await
            .unwrap(),
    );
    let mut raw = etcd_client::Client::connect(etcd.endpoints(), None)
        .await
        .unwrap();
    raw.compact(i64::try_from(v2).unwrap(), None).await.unwrap();

    let mut watch = store.watch_from("pool/", v1 - 1).await.unwrap();
    let first = tokio::time::timeout(TTL * 2, watch.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, Err(StoreError::Compacted { available, .. }) if available == v2),
        "{first:?}"
    );
    assert!(watch.next().await.is_none(), "a compacted watch ends");
}
