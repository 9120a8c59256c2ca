//! Shared helpers: cluster nodes as the failover manager sees them, and waiting for facts.

use std::time::{Duration, Instant};

use lifeline_model::{ClusterNode, LinkState, NodeConnection, NodeName, PgDsn};
use lifeline_postgres::{NodeClient, PgFacts};
use lifeline_testkit::pg::{PgCluster, PgNode};

/// The bound on connecting and on each statement in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// How long a test waits for replication to show something.
pub const SETTLE: Duration = Duration::from_secs(15);

/// `node` as a config would describe it, connecting as the harness's `lifeline` role.
pub fn cluster_node(cluster: &PgCluster, node: &PgNode) -> ClusterNode {
    ClusterNode {
        name: NodeName::new(node.name.as_str()),
        connection: NodeConnection::Postgres(
            PgDsn::parse(&node.dsn(cluster.password())).expect("the harness's DSN parses"),
        ),
        priority: 0,
        no_failover: false,
    }
}

/// A client for `node` with [`TIMEOUT`].
pub fn client(cluster: &PgCluster, node: &PgNode) -> NodeClient {
    NodeClient::new(&cluster_node(cluster, node), TIMEOUT)
}

/// Probes `client` until `ready` holds for its facts, and returns them; panics with the last
/// probe's result after [`SETTLE`].
pub async fn probe_until(
    what: &str,
    client: &mut NodeClient,
    ready: impl Fn(&PgFacts) -> bool,
) -> PgFacts {
    let deadline = Instant::now() + SETTLE;
    loop {
        let probed = client.probe().await;
        if let Ok(facts) = &probed
            && ready(facts)
        {
            return facts.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {SETTLE:?} waiting for {what}; last probe: {probed:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A cluster with `standbys` standbys, each renamed to its node name with
/// [`NodeClient::stream_as`] (they stream as `walreceiver` after `pg_basebackup -R`); returns
/// once the primary shows every one under its name.
pub async fn named_cluster(standbys: usize) -> PgCluster {
    let cluster = PgCluster::start(standbys);
    for standby in cluster.standbys() {
        client(&cluster, standby)
            .stream_as(&standby.name)
            .await
            .expect("renaming a standby");
    }
    let mut primary = client(&cluster, cluster.primary());
    let names: Vec<String> = cluster.standbys().iter().map(|s| s.name.clone()).collect();
    probe_until(
        "every standby streaming under its name",
        &mut primary,
        |f| {
            names.iter().all(|name| {
                f.replicas
                    .iter()
                    .any(|r| &r.application_name == name && r.state == LinkState::Streaming)
            })
        },
    )
    .await;
    cluster
}

/// A node's current WAL write position in bytes, read with psql.
pub fn current_lsn(node: &PgNode) -> u64 {
    node.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
        .parse()
        .expect("an LSN in bytes")
}
