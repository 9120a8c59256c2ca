//! PostgreSQL failover on real clusters: promotion, endpoints, and the write history.

mod common;

use std::time::Duration;

use common::pg::Setup;
use lifeline_testkit::pg::PgOptions;
use lifeline_testkit::writes::{Writer, stored_ids};

fn three_nodes(synchronous: bool) -> PgOptions {
    PgOptions {
        standbys: 2,
        synchronous_standby_names: synchronous.then(|| "ANY 1 (pg2, pg3)".to_string()),
        ..PgOptions::default()
    }
}

#[tokio::test]
async fn kill9_of_the_primary_in_synchronous_mode_loses_no_acknowledged_write() {
    let setup = Setup::start(three_nodes(true), "synchronous_mode = true", |n| n.addr()).await;
    let writer = Writer::start(&setup.writer_dsn(), Duration::from_millis(5)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    setup.cluster.primary().kill9();
    let status = setup.wait_promoted(0, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let history = writer.stop().await;

    let primary = status["primary"].as_str().unwrap().to_string();
    assert_ne!(primary, "pg1");
    let stored = stored_ids(&setup.node_dsn(&primary)).await;
    let lost: Vec<_> = history.acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    assert!(history.acknowledged.len() > 100, "{history:?}");
    assert!(
        status["needs_rejoin"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "pg1")
    );
    assert_eq!(setup.events("failover_completed").await.len(), 1);
}
