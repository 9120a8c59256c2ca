//! Probes of a primary, its standbys, a killed node and a hung node.

use std::time::{Duration, Instant};

use lifeline_model::{FailureKind, LinkState};
use lifeline_postgres::NodeClient;
use lifeline_testkit::pg::PgCluster;
use lifeline_testkit::wait;

use crate::support::{client, cluster_node, current_lsn, named_cluster, probe_until};

#[tokio::test]
async fn probes_a_primary_and_its_standbys() {
    let cluster = named_cluster(2).await;
    let primary = cluster.primary();
    primary.psql("CREATE TABLE t (id int)");
    primary.psql("INSERT INTO t VALUES (1)");
    let written = current_lsn(primary);

    let mut primary_client = client(&cluster, primary);
    let facts = primary_client.probe().await.expect("the primary answers");
    assert!(!facts.in_recovery);
    assert_eq!(facts.timeline, Some(1));
    assert!(facts.wal_lsn.is_some_and(|lsn| lsn >= written), "{facts:?}");
    assert_eq!(facts.replay_lsn, None);
    assert_eq!(facts.replay_delay_seconds, None);
    assert_eq!(facts.receiver, None);
    assert_eq!(facts.synchronous_standby_names, "");
    assert_eq!(facts.wal_sender_timeout_ms, Some(2000));
    assert!(!facts.read_only);
    let names: Vec<&str> = facts
        .replicas
        .iter()
        .map(|replica| replica.application_name.as_str())
        .collect();
    assert_eq!(names, ["pg2", "pg3"], "{facts:?}");
    for replica in &facts.replicas {
        assert_eq!(replica.state, LinkState::Streaming);
        assert_eq!(replica.sync_state, "async");
        assert!(replica.flush_lsn.is_some() && replica.replay_lsn.is_some());
    }

    for standby in cluster.standbys() {
        let mut standby_client = client(&cluster, standby);
        let facts = probe_until(
            "the standby to replay the insert",
            &mut standby_client,
            |f| f.replay_lsn.is_some_and(|lsn| lsn >= written),
        )
        .await;
        assert!(facts.in_recovery);
        assert_eq!(facts.timeline, Some(1));
        assert!(facts.wal_lsn.is_some_and(|lsn| lsn >= written));
        // The insert's commit was replayed: its age is known.
        assert!(
            facts.replay_delay_seconds.is_some_and(|s| s >= 0.0),
            "{facts:?}"
        );
        assert!(facts.replicas.is_empty());
        assert_eq!(facts.wal_sender_timeout_ms, Some(2000));
        assert!(!facts.read_only);
        let receiver = facts
            .receiver
            .expect("a streaming standby has a WAL receiver");
        assert_eq!(receiver.status, LinkState::Streaming);
        assert_eq!(receiver.sender_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(receiver.sender_port, Some(primary.port));
        assert_eq!(receiver.received_timeline, Some(1));
        assert!(receiver.flushed_lsn.is_some_and(|lsn| lsn >= written));
        // The primary sends a keepalive at least every wal_sender_timeout / 2 = 1 s.
        let age = receiver
            .last_message_age_ms
            .expect("a message was received");
        assert!(age < 2000, "last message {age} ms ago");
    }
}

#[tokio::test]
async fn a_killed_node_is_a_connect_failure() {
    let cluster = PgCluster::start(0);
    let primary = cluster.primary();
    let mut connected = client(&cluster, primary);
    connected.probe().await.expect("the primary answers");

    primary.kill9();
    // The backend serving the kept connection may answer until it sees the postmaster gone.
    wait::until(
        "the killed postmaster's children to exit",
        Duration::from_secs(5),
        || async { primary.server_pids().is_empty().then_some(()) },
    )
    .await;
    let failure = connected
        .probe()
        .await
        .expect_err("a killed node cannot answer");
    assert_eq!(failure.kind, FailureKind::Connect, "{failure}");
    let failure = client(&cluster, primary)
        .probe()
        .await
        .expect_err("nobody listens");
    assert_eq!(failure.kind, FailureKind::Connect, "{failure}");
    assert!(failure.message.starts_with("pg1: "), "{failure}");
    assert!(!failure.message.contains(cluster.password()));

    primary.start();
    connected.probe().await.expect("the client connects again");
}

#[tokio::test]
async fn a_hung_node_times_out_within_the_timeout() {
    let cluster = PgCluster::start(0);
    let primary = cluster.primary();
    let timeout = Duration::from_millis(500);
    let node = cluster_node(&cluster, primary);
    let mut connected = NodeClient::new(&node, timeout);
    connected.probe().await.expect("the primary answers");

    primary.sigstop();
    for (what, client) in [
        ("kept connection", &mut connected),
        ("new connection", &mut NodeClient::new(&node, timeout)),
    ] {
        let started = Instant::now();
        let failure = client.probe().await.expect_err("a hung node cannot answer");
        let took = started.elapsed();
        assert_eq!(failure.kind, FailureKind::Timeout, "{what}: {failure}");
        assert!(
            took < timeout + Duration::from_millis(250),
            "{what}: {took:?}"
        );
    }

    primary.sigcont();
    let facts = probe_until("the resumed node to answer", &mut connected, |_| true).await;
    assert!(!facts.in_recovery);
}

#[tokio::test]
async fn a_kept_connection_reports_its_loss_when_the_node_is_killed() {
    let cluster = PgCluster::start(0);
    let primary = cluster.primary();
    let mut connected = client(&cluster, primary);
    // Without a kept connection there is nothing to lose.
    let idle = tokio::time::timeout(Duration::from_millis(300), connected.connection_lost()).await;
    assert!(idle.is_err(), "no connection yet, yet one was lost");
    connected.probe().await.expect("the primary answers");
    let alive = tokio::time::timeout(Duration::from_millis(300), connected.connection_lost()).await;
    assert!(alive.is_err(), "the connection is up, yet it was lost");

    let killed = Instant::now();
    primary.kill9();
    tokio::time::timeout(Duration::from_secs(2), connected.connection_lost())
        .await
        .expect("the loss of the connection is reported");
    println!("connection loss seen {:?} after kill -9", killed.elapsed());
}
