//! The faults and restarts of a real PostgreSQL node: SIGSTOP/SIGCONT, kill -9 then start, and
//! stop then start, with the standbys streaming again afterwards.

use std::time::{Duration, Instant};

use lifeline_testkit::pg::{PgCluster, PgOptions, process_alive};

#[test]
fn hung_killed_and_stopped_nodes_come_back() {
    let cluster = PgCluster::start_with(PgOptions {
        standbys: 1,
        synchronous_standby_names: Some("*".to_owned()),
        ..PgOptions::default()
    });
    let primary = cluster.primary();
    let standby = &cluster.standbys()[0];
    assert_eq!(primary.psql("SHOW synchronous_standby_names"), "*");
    assert_eq!(
        primary.psql("SELECT sync_state FROM pg_stat_replication"),
        "sync"
    );

    // A hung server: it accepts nothing, then answers again once resumed.
    primary.sigstop();
    let started = Instant::now();
    let error = primary
        .try_psql("SELECT 1")
        .expect_err("a stopped server must not answer");
    eprintln!(
        "hung primary refused after {:?}: {error}",
        started.elapsed()
    );
    primary.sigcont();
    primary.wait_ready(Duration::from_secs(10));

    // kill -9, then start from the crash: the standby streams again.
    let old = primary.postmaster_pid().expect("primary is running");
    primary.kill9();
    assert!(!process_alive(old));
    let started = Instant::now();
    primary.start();
    assert_ne!(primary.postmaster_pid(), Some(old));
    cluster.wait_streaming(Duration::from_secs(15));
    eprintln!(
        "restarted after kill9 and streaming in {:?}",
        started.elapsed()
    );
    primary.psql("CREATE TABLE after_crash (id int)");

    // Stop and start a standby (immediate mode).
    standby.stop();
    assert_eq!(standby.postmaster_pid(), None);
    assert!(standby.server_pids().is_empty());
    standby.stop(); // stopping a stopped node is a no-op
    standby.start();
    cluster.wait_streaming(Duration::from_secs(15));
    assert_eq!(standby.psql("SELECT count(*) FROM after_crash"), "0");
    assert_eq!(standby.psql("SELECT pg_is_in_recovery()"), "t");
}

#[test]
#[should_panic(expected = "PgCluster has no node")]
fn unknown_node_names_panic() {
    let cluster = PgCluster::start(0);
    assert!(cluster.standbys().is_empty());
    cluster.node("pg9");
}
