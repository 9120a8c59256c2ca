//! A real 1+2 PostgreSQL cluster: replication, roles, the `lifeline` password, kill -9, and
//! cleanup on drop.

use std::time::{Duration, Instant};

use lifeline_testkit::pg::{PgCluster, PgNode, process_alive};

/// Polls `sql` on a node until it prints `want` (errors count as not yet, e.g. the table has not
/// replicated); panics with the last output at the deadline.
fn wait_for(node: &PgNode, sql: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = node.try_psql(sql);
        if got.as_deref() == Ok(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {sql:?} gave {got:?}, want {want:?}",
            node.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn primary_and_two_standbys_replicate_and_clean_up() {
    let started = Instant::now();
    let cluster = PgCluster::start(2);
    eprintln!("1+2 cluster up in {:?}", started.elapsed());

    let names: Vec<&str> = cluster.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["pg1", "pg2", "pg3"]);
    let primary = cluster.primary();

    // Roles.
    assert_eq!(primary.psql("SELECT pg_is_in_recovery()"), "f");
    for standby in cluster.standbys() {
        assert_eq!(standby.psql("SELECT pg_is_in_recovery()"), "t");
    }
    // Built as the manual says: `pg_basebackup -R`, no application_name, no cluster_name.
    let mut streaming = primary.psql(
        "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1",
    );
    streaming = streaming.replace('\n', ",");
    assert_eq!(streaming, "walreceiver,walreceiver");
    for standby in cluster.standbys() {
        assert_eq!(standby.psql("SHOW cluster_name"), "");
        let conninfo = standby.psql("SHOW primary_conninfo");
        assert!(
            conninfo.contains(&format!("port={}", primary.port))
                && !conninfo.contains("application_name"),
            "{conninfo}"
        );
    }

    // Replication.
    primary.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one')");
    for standby in cluster.standbys() {
        wait_for(standby, "SELECT v FROM t WHERE id = 1", "one");
    }

    // The `lifeline` role and its password, over TCP, with the client the product uses.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        for node in cluster.nodes() {
            let (client, connection) =
                tokio_postgres::connect(&node.dsn(cluster.password()), tokio_postgres::NoTls)
                    .await
                    .unwrap_or_else(|e| panic!("{}: connect with the dsn: {e}", node.name));
            let task = tokio::spawn(connection);
            let row = client
                .query_one("SELECT current_user::text, pg_is_in_recovery()", &[])
                .await
                .unwrap_or_else(|e| panic!("{}: query: {e}", node.name));
            assert_eq!(row.get::<_, String>(0), "lifeline");
            assert_eq!(row.get::<_, bool>(1), node.name != "pg1");
            drop(client);
            task.await.expect("connection task").expect("connection");
        }
        let wrong = primary.dsn("not-the-password");
        let refused = tokio_postgres::connect(&wrong, tokio_postgres::NoTls).await;
        assert!(refused.is_err(), "a wrong password must be refused");
    });

    // Every server process we will expect gone after drop.
    let mut pids: Vec<i32> = cluster
        .nodes()
        .iter()
        .flat_map(|n| n.server_pids())
        .collect();
    assert!(pids.len() >= 3 * 5, "too few server processes: {pids:?}");

    // kill -9 the primary.
    let postmaster = primary.postmaster_pid().expect("primary is running");
    assert!(pids.contains(&postmaster));
    primary.kill9();
    assert!(
        !process_alive(postmaster),
        "postmaster {postmaster} survived kill9"
    );
    assert_eq!(primary.postmaster_pid(), None);
    for standby in cluster.standbys() {
        assert_eq!(
            standby.psql("SELECT 1"),
            "1",
            "{} still serves",
            standby.name
        );
    }
    pids.extend(cluster.standbys().iter().flat_map(|n| n.server_pids()));

    // Drop: nothing of the cluster survives, and its directory is gone.
    let dirs: Vec<_> = cluster.nodes().iter().map(|n| n.data_dir.clone()).collect();
    let dropped = Instant::now();
    drop(cluster);
    eprintln!("dropped in {:?}", dropped.elapsed());
    let alive: Vec<i32> = pids.iter().copied().filter(|&p| process_alive(p)).collect();
    assert!(alive.is_empty(), "processes left after drop: {alive:?}");
    for dir in dirs {
        assert!(!dir.exists(), "{} left after drop", dir.display());
    }
}
