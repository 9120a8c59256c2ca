//! The `postgres` monitor against a real primary and streaming standby.

mod common;

use std::time::Duration;

use common::{binary, change_deadline, wait_health};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::pg::PgCluster;
use lifeline_testkit::wait;

#[tokio::test]
async fn postgres_monitor_reads_role_and_wal_positions_and_sees_a_kill9() {
    let cluster = PgCluster::start(1);
    let primary = cluster.primary();
    let standby = &cluster.standbys()[0];
    let config = format!(
        r#"[admin]
listen = "{{admin}}"

[[monitor]]
name = "pg"
type = "postgres"
user = "lifeline"
password = "{password}"
database = "postgres"
interval = "200ms"
timeout = "150ms"
retries = 2

[[pool]]
name = "db"
monitor = "pg"
origins = [
  {{ name = "{p}", address = "{pa}" }},
  {{ name = "{s}", address = "{sa}" }},
]
"#,
        password = cluster.password(),
        p = primary.name,
        pa = primary.addr(),
        s = standby.name,
        sa = standby.addr(),
    );
    let daemon = Daemon::start(binary(), &config);
    wait_health(&daemon, &primary.name, "healthy", Duration::from_secs(10)).await;
    wait_health(&daemon, &standby.name, "healthy", Duration::from_secs(10)).await;

    primary.psql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n");
    let written: u64 = primary
        .psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
        .trim()
        .parse()
        .unwrap();
    // Both nodes report at least that position once the standby has replayed it.
    let (origins, _) = wait::until(
        "both nodes to report the insert's WAL position",
        Duration::from_secs(10),
        || async {
            let (_, status) = daemon.get("/status").await;
            let origins = status["pools"][0]["origins"].clone();
            let at_least = |node: usize, field: &str| {
                origins[node]["postgres"][field]
                    .as_u64()
                    .is_some_and(|lsn| lsn >= written)
            };
            (at_least(0, "wal_lsn") && at_least(1, "wal_lsn") && at_least(1, "replay_lsn"))
                .then_some(origins)
        },
    )
    .await;
    let facts = |i: usize| origins[i]["postgres"].clone();
    assert_eq!(facts(0)["in_recovery"], false, "{origins}");
    assert_eq!(facts(1)["in_recovery"], true, "{origins}");
    assert_eq!(facts(0)["timeline"], 1);
    assert!(facts(1)["replay_delay_seconds"].is_number(), "{origins}");

    standby.kill9();
    wait_health(&daemon, &standby.name, "unhealthy", change_deadline()).await;
    assert_eq!(daemon.origin_health(&primary.name).await, "healthy");

    let logs = daemon.logs();
    assert!(
        !logs.contains(cluster.password()),
        "the log shows the password:\n{logs}"
    );
    let (_, status) = daemon.get("/status").await;
    assert!(!status.to_string().contains(cluster.password()));
}
