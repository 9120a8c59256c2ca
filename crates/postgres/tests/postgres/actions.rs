//! Promote, follow, synchronous standbys, fence and unfence on real clusters.

use std::sync::Arc;
use std::time::Duration;

use lifeline_postgres::PgError;
use lifeline_testkit::pg::{PgCluster, PgNode};
use lifeline_testkit::wait;

use crate::support::{SETTLE, client, cluster_node, current_lsn, named_cluster, probe_until};

/// Waits until `sql` on `node` returns `expected`.
async fn psql_until(node: &PgNode, sql: &str, expected: &str) {
    wait::until(
        &format!("{sql:?} to return {expected:?}"),
        SETTLE,
        || async { (node.try_psql(sql).ok()? == expected).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn stream_as_renames_a_basebackup_standby_and_keeps_how_it_connects() {
    let cluster = PgCluster::start(1);
    let (primary, standby) = (cluster.primary(), &cluster.standbys()[0]);
    let written = standby.psql("SHOW primary_conninfo");
    assert!(!written.contains("application_name"), "{written}");
    let streaming_as = "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'";
    assert_eq!(primary.psql(streaming_as), "walreceiver");

    let mut client = client(&cluster, standby);
    client.stream_as("pg2").await.expect("rename");
    psql_until(primary, streaming_as, "pg2").await;
    let renamed = standby.psql("SHOW primary_conninfo");
    assert_eq!(renamed, format!("{written} application_name=pg2"));
    // Asked again, it changes nothing.
    client.stream_as("pg2").await.expect("rename again");
    assert_eq!(standby.psql("SHOW primary_conninfo"), renamed);
}

#[tokio::test]
async fn promotes_a_standby_and_makes_the_other_follow_it() {
    let cluster = PgCluster::start(2);
    let (old, pg2, pg3) = (
        cluster.primary(),
        &cluster.standbys()[0],
        &cluster.standbys()[1],
    );
    old.psql("CREATE TABLE t (id int)");
    old.psql("INSERT INTO t VALUES (1)");
    let written = current_lsn(old);
    let mut pg2_client = client(&cluster, pg2);
    let mut pg3_client = client(&cluster, pg3);
    for standby in [&mut pg2_client, &mut pg3_client] {
        probe_until("the standby to replay the insert", standby, |f| {
            f.replay_lsn.is_some_and(|lsn| lsn >= written)
        })
        .await;
    }
    old.kill9();

    let timeline = pg2_client
        .promote(Duration::from_secs(10))
        .await
        .expect("pg2 is promoted");
    assert_eq!(timeline, 2);
    let facts = pg2_client.probe().await.expect("the new primary answers");
    assert!(!facts.in_recovery);
    assert_eq!(facts.timeline, Some(2));
    assert_eq!(facts.receiver, None);

    pg3_client
        .follow(&cluster_node(&cluster, pg2), "pg3")
        .await
        .expect("pg3 is re-pointed");
    let facts = probe_until(
        "pg3 to stream from pg2 on timeline 2",
        &mut pg3_client,
        |f| {
            f.receiver.as_ref().is_some_and(|r| {
                r.status == "streaming"
                    && r.sender_port == Some(pg2.port)
                    && r.received_timeline == Some(2)
            })
        },
    )
    .await;
    assert!(facts.in_recovery);
    assert_eq!(facts.timeline, Some(2));
    assert!(
        !pg3.psql("SHOW primary_conninfo").is_empty(),
        "the conninfo is set"
    );

    pg2.psql("INSERT INTO t VALUES (2)");
    psql_until(pg3, "SELECT count(*) FROM t", "2").await;
    let facts = probe_until("pg2 to list pg3", &mut pg2_client, |f| {
        f.replicas
            .iter()
            .any(|r| r.application_name == "pg3" && r.state == "streaming")
    })
    .await;
    assert_eq!(facts.replicas.len(), 1, "{facts:?}");

    let error = pg2_client
        .promote(Duration::from_secs(1))
        .await
        .expect_err("a primary cannot be promoted");
    assert!(
        matches!(&error, PgError::Query { message, .. } if message.contains("recovery is not in progress")),
        "{error}"
    );
}

#[tokio::test]
async fn sets_synchronous_standby_names() {
    let cluster = named_cluster(2).await;
    let mut primary = client(&cluster, cluster.primary());
    let states = |names: &'static [(&'static str, &'static str)]| {
        move |f: &lifeline_model::NodeFacts| {
            f.replicas.len() == names.len()
                && names.iter().all(|(name, state)| {
                    f.replicas
                        .iter()
                        .any(|r| r.application_name == *name && r.sync_state == *state)
                })
        }
    };

    primary
        .set_synchronous_standby_names("ANY 1 (pg2, pg3)")
        .await
        .expect("set");
    let facts = probe_until(
        "both standbys in the quorum",
        &mut primary,
        states(&[("pg2", "quorum"), ("pg3", "quorum")]),
    )
    .await;
    assert_eq!(facts.synchronous_standby_names, "ANY 1 (pg2, pg3)");

    primary
        .set_synchronous_standby_names("pg3")
        .await
        .expect("set");
    probe_until(
        "pg3 sync, pg2 async",
        &mut primary,
        states(&[("pg2", "async"), ("pg3", "sync")]),
    )
    .await;

    primary
        .set_synchronous_standby_names("")
        .await
        .expect("set");
    let facts = probe_until(
        "both async",
        &mut primary,
        states(&[("pg2", "async"), ("pg3", "async")]),
    )
    .await;
    assert_eq!(facts.synchronous_standby_names, "");
}

#[tokio::test]
async fn fences_and_unfences_a_primary() {
    let cluster = Arc::new(PgCluster::start(0));
    let primary = cluster.primary();
    primary.psql("CREATE TABLE t (id int)");
    let mut fencer = client(&cluster, primary);
    let mut other = client(&cluster, primary);
    other.probe().await.expect("another session");

    // A session in the middle of a write transaction.
    let in_flight = {
        let cluster = Arc::clone(&cluster);
        std::thread::spawn(move || {
            cluster
                .primary()
                .try_psql("BEGIN; INSERT INTO t VALUES (99); SELECT pg_sleep(60); COMMIT;")
        })
    };
    psql_until(
        primary,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
         AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()",
        "1",
    )
    .await;
    primary.psql("INSERT INTO t VALUES (1)");
    let committed = current_lsn(primary);

    let fenced_at = fencer.fence().await.expect("fenced");
    assert!(fenced_at >= committed, "{fenced_at} < {committed}");
    let ended = in_flight.join().expect("the psql thread");
    let error = ended.expect_err("the in-flight session is terminated");
    assert!(
        error.contains("terminating connection due to administrator command"),
        "{error}"
    );
    assert!(
        other.probe().await.is_err(),
        "the other session was terminated"
    );
    let facts = other.probe().await.expect("a new session");
    assert!(facts.read_only);
    let refused = primary
        .try_psql("INSERT INTO t VALUES (2)")
        .expect_err("the fenced primary refuses writes");
    assert!(
        refused.contains("cannot execute INSERT in a read-only transaction"),
        "{refused}"
    );
    assert_eq!(primary.psql("SELECT count(*) FROM t"), "1");

    fencer.unfence().await.expect("unfenced");
    primary.psql("INSERT INTO t VALUES (3)");
    assert!(!other.probe().await.expect("probe").read_only);
    assert_eq!(primary.psql("SELECT count(*) FROM t"), "2");
}

#[tokio::test]
async fn alter_system_works_on_a_standby() {
    let cluster = PgCluster::start(1);
    let standby = &cluster.standbys()[0];
    let mut standby_client = client(&cluster, standby);

    standby_client
        .set_synchronous_standby_names("pg9")
        .await
        .expect("ALTER SYSTEM on a standby");
    assert_eq!(standby.psql("SHOW synchronous_standby_names"), "pg9");
    // Kept through the promotion, it would make every write wait for a `pg9` forever.
    standby_client
        .set_synchronous_standby_names("")
        .await
        .expect("reset on a standby");

    // A fenced node that became a standby is unfenced before it is promoted.
    standby.psql("ALTER SYSTEM SET default_transaction_read_only = on");
    standby.psql("SELECT pg_reload_conf()");
    probe_until("the standby to be read-only", &mut standby_client, |f| {
        f.read_only
    })
    .await;
    standby_client.unfence().await.expect("unfenced");
    assert!(!standby_client.probe().await.expect("probe").read_only);

    let timeline = standby_client
        .promote(Duration::from_secs(10))
        .await
        .expect("promoted");
    assert_eq!(timeline, 2);
    standby.psql("CREATE TABLE written_after_promotion (id int)");
}
