//! The `postgres` check against real PostgreSQL nodes: it reads facts and classifies failures
//! exactly as the cluster loop's client does, since it is that client.

use std::time::Duration;

use lifeline_model::{
    ClusterNode, FailureKind, HostPort, MonitorKind, NodeConnection, NodeName, Origin, PgDsn,
    PostgresCheck, Secret,
};
use lifeline_postgres::NodeClient;
use lifeline_testkit::pg::{PgCluster, PgNode};

use crate::support::monitor;

const TIMEOUT: Duration = Duration::from_secs(2);

fn origin(node: &PgNode) -> Origin {
    Origin {
        name: node.name.as_str().into(),
        address: HostPort {
            host: "127.0.0.1".into(),
            port: node.port,
        },
        weight: 1,
        enabled: true,
    }
}

/// A server that is up but refuses sessions for now (SQLSTATE 57P03, as while "the database
/// system is starting up") is not reachable as a database: a connect failure, for the monitor
/// and for the cluster loop alike.
#[tokio::test]
async fn a_node_that_refuses_sessions_for_now_is_a_connect_failure_for_both_checks() {
    let cluster = PgCluster::start(1);
    let standby = &cluster.standbys()[0];
    standby.psql("ALTER SYSTEM SET hot_standby = off");
    standby.stop();
    standby.start_unchecked();

    let dsn = PgDsn::parse(&standby.dsn(cluster.password())).expect("the harness's DSN parses");
    let check = PostgresCheck {
        user: dsn.user.clone(),
        password: Some(Secret::new(cluster.password())),
        database: dsn.dbname.clone(),
    };
    let monitor = monitor("pg", MonitorKind::Postgres(check), TIMEOUT, TIMEOUT);
    let mut probe = lifeline_health::probe_for(&monitor, &origin(standby));
    let observation = lifeline_health::check_within(probe.as_mut(), TIMEOUT).await;
    let failure = observation
        .outcome
        .expect_err("a standby with hot_standby = off takes no session");
    assert_eq!(failure.kind, FailureKind::Connect, "{failure}");
    assert!(
        failure.message.contains("not accepting connections"),
        "refused by the server, not by a closed port: {failure}"
    );
    assert!(!failure.message.contains(cluster.password()), "{failure}");

    let node = ClusterNode {
        name: NodeName::new(standby.name.as_str()),
        connection: NodeConnection::Postgres(dsn),
        priority: 0,
        no_failover: false,
    };
    let cluster_failure = NodeClient::new(&node, TIMEOUT)
        .probe()
        .await
        .expect_err("the cluster loop's probe is refused too");
    assert_eq!(cluster_failure.kind, failure.kind, "{cluster_failure}");
}
