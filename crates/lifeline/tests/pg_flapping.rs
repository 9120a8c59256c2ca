//! A flapping standby on a real synchronous cluster: node hysteresis keeps the synchronous set
//! and the reader endpoint steady while writes go on.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::pg::Setup;
use lifeline_testkit::pg::PgOptions;
use lifeline_testkit::writes::{Writer, stored_ids};
use tokio_postgres::NoTls;

/// What a client of the reader endpoint saw: the connections it lost, and the times a fresh
/// connection failed (to connect, or on its first query).
#[derive(Default)]
struct ReaderLog {
    dropped: AtomicUsize,
    errors: AtomicUsize,
    queries: AtomicUsize,
}

/// Reads through `dsn` until `running` ends, reconnecting whenever its connection breaks.
async fn read_loop(dsn: String, running: Arc<AtomicBool>, log: Arc<ReaderLog>) {
    while running.load(Ordering::Relaxed) {
        let connected = tokio_postgres::connect(&dsn, NoTls).await;
        let Ok((client, connection)) = connected else {
            log.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        tokio::spawn(connection);
        let mut fresh = true;
        while running.load(Ordering::Relaxed) {
            match client.simple_query("SELECT 1").await {
                Ok(_) => {
                    log.queries.fetch_add(1, Ordering::Relaxed);
                    fresh = false;
                }
                Err(_) if fresh => {
                    log.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(_) => {
                    log.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            // A client's pace between queries, not a wait for anything.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_standby_stopped_and_continued_every_second_moves_the_synchronous_set_at_most_twice() {
    let options = PgOptions {
        standbys: 2,
        ..PgOptions::default()
    };
    let setup = Setup::start(options, "synchronous_mode = true").await;
    setup.wait_synchronous(Duration::from_secs(20)).await;
    let changes_before = setup
        .wait_events("sync_standbys_changed", Duration::from_secs(10))
        .await
        .len();
    let states_before = setup.events("cluster_state_changed").await.len();
    let writer = Writer::start(&setup.writer_dsn(), Duration::from_millis(5)).await;
    let before = writer.acknowledged_after(0, Duration::from_secs(10)).await;
    let running = Arc::new(AtomicBool::new(true));
    let log = Arc::new(ReaderLog::default());
    let reader = tokio::spawn(read_loop(setup.reader_dsn(), running.clone(), log.clone()));

    // The fault itself is a schedule: stopped for a second, running for a second, 20 s long.
    let flapping = setup.cluster.node("pg3");
    for _ in 0..10 {
        flapping.sigstop();
        tokio::time::sleep(Duration::from_secs(1)).await;
        flapping.sigcont();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let after = writer.last_acknowledged();
    writer
        .acknowledged_after(after, Duration::from_secs(10))
        .await;
    running.store(false, Ordering::Relaxed);
    reader.await.unwrap();
    let history = writer.stop().await;

    let changes = setup.events("sync_standbys_changed").await;
    let during = &changes[changes_before..];
    assert!(during.len() <= 2, "the synchronous set moved: {during:#?}");
    // Neither do the readers and the cluster's state follow every flap.
    let states = setup.events("cluster_state_changed").await;
    let flipped = &states[states_before..];
    assert!(
        flipped.len() <= 2,
        "the cluster state flapped: {flipped:#?}"
    );
    assert!(history.acknowledged.iter().any(|id| *id <= before));
    assert!(history.acknowledged.iter().any(|id| *id > after));
    let primary = setup.status().await["primary"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = stored_ids(&setup.node_dsn(&primary)).await;
    let lost: Vec<_> = history.acknowledged.difference(&stored).collect();
    assert_eq!(lost, Vec::<&i64>::new(), "acknowledged writes lost");
    let (errors, dropped) = (
        log.errors.load(Ordering::Relaxed),
        log.dropped.load(Ordering::Relaxed),
    );
    assert!(log.queries.load(Ordering::Relaxed) > 0);
    assert_eq!(
        errors, 0,
        "a reconnecting reader got errors ({dropped} dropped)"
    );
    println!(
        "flapping pg3: {} synchronous set changes, {} writes acknowledged, reader: {} queries, {dropped} connections dropped",
        during.len(),
        history.acknowledged.len(),
        log.queries.load(Ordering::Relaxed)
    );
}
