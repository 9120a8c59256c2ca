//! `preflight` against real nodes: the settings and rights it reads, as findings.

use std::time::Duration;

use lifeline_model::{ClusterNode, NodeConnection, NodeName, PgDsn};
use lifeline_postgres::preflight;
use lifeline_testkit::pg::{PgCluster, PgOptions};

use crate::support::{TIMEOUT, cluster_node};

/// The cluster's check interval, as the findings' texts use it.
const INTERVAL: Duration = Duration::from_millis(500);

/// `(node, code)` of every finding.
async fn codes(nodes: &[ClusterNode]) -> Vec<(String, &'static str)> {
    preflight(nodes, INTERVAL, TIMEOUT)
        .await
        .into_iter()
        .map(|finding| (finding.node.to_string(), finding.code))
        .collect()
}

fn found(node: &str, code: &'static str) -> (String, &'static str) {
    (node.to_string(), code)
}

#[tokio::test]
async fn a_cluster_as_the_harness_builds_it_has_no_finding() {
    let cluster = PgCluster::start(1);
    let nodes: Vec<ClusterNode> = cluster
        .nodes()
        .iter()
        .map(|node| cluster_node(&cluster, node))
        .collect();
    assert_eq!(codes(&nodes).await, []);
}

#[tokio::test]
async fn reports_stock_settings_and_each_missing_right_of_the_role() {
    let cluster = PgCluster::start_with(PgOptions {
        standbys: 1,
        stock_settings: true,
        ..PgOptions::default()
    });
    let primary = cluster.primary();
    primary.psql("CREATE ROLE watcher LOGIN PASSWORD 'w4tch'");
    primary.psql("GRANT pg_monitor TO watcher");
    primary.psql("GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO watcher");
    primary.psql("GRANT ALTER SYSTEM ON PARAMETER primary_conninfo TO watcher");
    let nodes: Vec<ClusterNode> = cluster
        .nodes()
        .iter()
        .map(|node| {
            let dsn = format!(
                "host=127.0.0.1 port={} user=watcher password=w4tch dbname=postgres",
                node.port
            );
            ClusterNode {
                name: NodeName::new(node.name.as_str()),
                connection: NodeConnection::Postgres(PgDsn::parse(&dsn).unwrap()),
                priority: 0,
                no_failover: false,
            }
        })
        .collect();
    // The role reaches the standby once it has replayed the CREATE ROLE.
    let findings = lifeline_testkit::wait::until(
        "the standby to know the role",
        Duration::from_secs(15),
        || async {
            let findings = preflight(&nodes, INTERVAL, TIMEOUT).await;
            (!findings.iter().any(|f| f.code == "unreachable")).then_some(findings)
        },
    )
    .await
    .0;
    let expected = |node: &str| {
        [
            "wal_sender_timeout_default",
            "pg_rewind_impossible",
            "role_cannot_alter_system",
            "role_cannot_reload",
            "role_cannot_signal_backends",
            "role_not_replication",
        ]
        .map(|code| found(node, code))
    };
    let got: Vec<(String, &'static str)> = findings
        .iter()
        .map(|f| (f.node.to_string(), f.code))
        .collect();
    assert_eq!(got, [expected("pg1"), expected("pg2")].concat());
    let alter = findings
        .iter()
        .find(|f| f.code == "role_cannot_alter_system")
        .unwrap();
    assert_eq!(
        alter.fix,
        "GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names, \
         default_transaction_read_only TO watcher; (on every node)"
    );
    let timeout = &findings[0];
    assert!(
        timeout.problem.starts_with("wal_sender_timeout is 60s"),
        "{timeout:?}"
    );
}

#[tokio::test]
async fn a_standby_with_hot_standby_off_and_one_that_does_not_stream() {
    let cluster = PgCluster::start(2);
    let (pg2, pg3) = (&cluster.standbys()[0], &cluster.standbys()[1]);
    pg2.psql("ALTER SYSTEM SET hot_standby = off");
    pg2.stop();
    pg2.start_unchecked();
    pg3.psql("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=nobody'");
    pg3.psql("SELECT pg_reload_conf()");
    let nodes: Vec<ClusterNode> = cluster
        .nodes()
        .iter()
        .map(|node| cluster_node(&cluster, node))
        .collect();
    let (found_now, _) = lifeline_testkit::wait::until(
        "pg3's WAL receiver to stop streaming",
        Duration::from_secs(15),
        || async {
            let now = codes(&nodes).await;
            now.contains(&found("pg3", "standby_not_streaming"))
                .then_some(now)
        },
    )
    .await;
    assert_eq!(
        found_now,
        [
            found("pg2", "hot_standby_off"),
            found("pg3", "standby_not_streaming")
        ]
    );
}

#[tokio::test]
async fn an_unreachable_node_is_a_finding_with_its_reason_and_no_password() {
    let cluster = PgCluster::start(1);
    let mut nodes: Vec<ClusterNode> = cluster
        .nodes()
        .iter()
        .map(|node| cluster_node(&cluster, node))
        .collect();
    cluster.standbys()[0].stop();
    let wrong = format!(
        "host=127.0.0.1 port={} user=lifeline password=not-{} dbname=postgres",
        cluster.primary().port,
        cluster.password()
    );
    nodes[0].connection = NodeConnection::Postgres(PgDsn::parse(&wrong).unwrap());
    let findings = preflight(&nodes, INTERVAL, TIMEOUT).await;
    let shown: Vec<(&str, &str)> = findings.iter().map(|f| (f.node.as_str(), f.code)).collect();
    assert_eq!(shown, [("pg1", "unreachable"), ("pg2", "unreachable")]);
    assert!(
        findings[0]
            .problem
            .contains("password authentication failed"),
        "{:?}",
        findings[0]
    );
    assert!(
        findings[1].problem.contains("Connection refused"),
        "{:?}",
        findings[1]
    );
    for finding in &findings {
        assert!(!finding.problem.contains(cluster.password()), "{finding:?}");
    }
}
