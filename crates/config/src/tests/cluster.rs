//! Valid `[[cluster]]` sections build the expected model values; `cluster_errors.rs` covers their
//! problems.

use std::collections::HashMap;
use std::time::Duration;

use lifeline_model::{Cluster, ClusterKind, NodeName};

use super::{env, parse_ok};

const FULL_CLUSTER: &str = r#"
[[pool]]
name = "web"
origins = [{ name = "web1", address = "127.0.0.1:8081" }]

[[load_balancer]]
name = "web"
listen = "127.0.0.1:8080"
default_pools = ["web"]

[[cluster]]
name = "main"
kind = "postgres"
nodes = [
  { name = "pg1", dsn = "host=127.0.0.1 port=5433 user=lifeline password=${PG_PASSWORD} dbname=postgres" },
  { name = "pg2", dsn = "host=127.0.0.1 port=5434 user=lifeline password='${PG_PASSWORD} too' sslmode=disable", priority = 1 },
  { name = "pg3", dsn = "host=pg3.internal user=lifeline", no_failover = true },
]
writer_listen = "127.0.0.1:6432"
reader_listen = "127.0.0.1:6433"
check_interval = "500ms"
failure_threshold = 5
rise = 4
maximum_lag_on_failover = "512kB"
primary_silence = "4s"
synchronous_mode = true
synchronous_mode_strict = true
auto_failover = false
writer_wait = "0s"
rejoin_command = "scripts/pg-rejoin {node} {host} {port} {primary_host} {primary_port}"

[[cluster]]
name = "small"

[[cluster.nodes]]
name = "a"
dsn = "host=10.0.0.1 user=u"

[[cluster.nodes]]
name = "b"
dsn = "host=10.0.0.2 user=u"
"#;

fn pg_env() -> HashMap<String, String> {
    env(&[("PG_PASSWORD", "s3cr3t")])
}

fn names(cluster: &Cluster) -> Vec<&str> {
    cluster.nodes.iter().map(|n| n.name.as_str()).collect()
}

#[test]
fn a_full_cluster_builds_the_model() {
    let topology = parse_ok(FULL_CLUSTER, &pg_env());
    assert_eq!(topology.clusters.len(), 2);

    let main = topology.cluster("main").unwrap();
    assert_eq!(main.kind, ClusterKind::Postgres);
    assert_eq!(names(main), ["pg1", "pg2", "pg3"]);
    assert_eq!(main.writer_listen, Some("127.0.0.1:6432".parse().unwrap()));
    assert_eq!(main.reader_listen, Some("127.0.0.1:6433".parse().unwrap()));
    assert_eq!(main.check_interval, Duration::from_millis(500));
    assert_eq!(main.failure_threshold, 5);
    assert_eq!(main.rise, 4);
    assert_eq!(main.maximum_lag_on_failover, 524_288);
    assert_eq!(main.primary_silence, Duration::from_secs(4));
    assert!(main.synchronous_mode && main.synchronous_mode_strict && !main.auto_failover);
    assert_eq!(main.writer_wait, Duration::ZERO);
    assert_eq!(
        main.rejoin_command.as_deref(),
        Some("scripts/pg-rejoin {node} {host} {port} {primary_host} {primary_port}")
    );

    let pg1 = main.node("pg1").unwrap();
    assert_eq!((pg1.priority, pg1.no_failover), (0, false));
    assert_eq!(
        (
            pg1.postgres().unwrap().host.as_str(),
            pg1.postgres().unwrap().port
        ),
        ("127.0.0.1", 5433)
    );
    assert_eq!(
        (
            pg1.postgres().unwrap().user.as_str(),
            pg1.postgres().unwrap().dbname.as_str()
        ),
        ("lifeline", "postgres")
    );
    assert_eq!(
        pg1.postgres().unwrap().password.as_ref().unwrap().expose(),
        "s3cr3t"
    );
    let pg2 = main.node("pg2").unwrap();
    assert_eq!((pg2.priority, pg2.no_failover), (1, false));
    assert_eq!(pg2.postgres().unwrap().port, 5434);
    assert_eq!(
        pg2.postgres().unwrap().password.as_ref().unwrap().expose(),
        "s3cr3t too"
    );
    assert_eq!(pg2.postgres().unwrap().dbname, "postgres");
    assert_eq!(
        pg2.postgres().unwrap().sslmode,
        Some(lifeline_model::SslMode::Disable)
    );
    assert!(pg2.postgres().unwrap().options.is_empty());
    let pg3 = main.node("pg3").unwrap();
    assert_eq!(pg3.name, NodeName::from("pg3"));
    assert!(pg3.no_failover);
    assert_eq!(pg3.postgres().unwrap().address(), "pg3.internal:5432");
    assert!(pg3.postgres().unwrap().password.is_none());

    let shown = format!("{topology:?}\n{}", pg2.postgres().unwrap());
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[test]
fn cluster_defaults() {
    let topology = parse_ok(FULL_CLUSTER, &pg_env());
    let small = topology.cluster("small").unwrap();
    assert_eq!(small.kind, ClusterKind::Postgres, "the default kind");
    assert_eq!(names(small), ["a", "b"]);
    assert!(
        small
            .nodes
            .iter()
            .all(|n| n.priority == 0 && !n.no_failover)
    );
    assert_eq!((small.writer_listen, small.reader_listen), (None, None));
    assert_eq!(small.check_interval, Duration::from_secs(1));
    assert_eq!(small.failure_threshold, 3);
    assert_eq!(small.rise, 2);
    assert_eq!(small.maximum_lag_on_failover, 1_048_576);
    assert_eq!(small.primary_silence, Duration::from_secs(3));
    assert!(!small.synchronous_mode && !small.synchronous_mode_strict);
    assert!(small.auto_failover);
    assert_eq!(small.writer_wait, Duration::from_secs(10));
    assert!(small.rejoin_command.is_none());
}

#[test]
fn every_form_of_size() {
    let cluster = |lag: &str| {
        let text = format!(
            "[[cluster]]\nname = \"c\"\nkind = \"postgres\"\nmaximum_lag_on_failover = {lag}\nnodes = [{{ name = \"a\", dsn = \"host=h1 user=u\" }}, {{ name = \"b\", dsn = \"host=h2 user=u\" }}]\n"
        );
        parse_ok(&text, &env(&[])).clusters[0].maximum_lag_on_failover
    };
    assert_eq!(cluster("\"1MB\""), 1_048_576);
    assert_eq!(cluster("\"512kB\""), 524_288);
    assert_eq!(cluster("\"512KB\""), 524_288);
    assert_eq!(cluster("\"2 GB\""), 2 << 30);
    assert_eq!(cluster("\"100B\""), 100);
    assert_eq!(cluster("1000"), 1000);
    assert_eq!(cluster("0"), 0);
}

#[test]
fn endpoints_on_port_zero_never_clash() {
    let text = r#"[[load_balancer]]
name = "web"
listen = "127.0.0.1:0"
default_pools = ["p"]
[[pool]]
name = "p"
origins = [{ name = "o", address = "127.0.0.1:1" }]
[[cluster]]
name = "c"
kind = "postgres"
nodes = [{ name = "a", dsn = "host=h1 user=u" }, { name = "b", dsn = "host=h2 user=u" }]
writer_listen = "127.0.0.1:0"
reader_listen = "127.0.0.1:0"
"#;
    let topology = parse_ok(text, &env(&[]));
    assert_eq!(
        topology.clusters[0].writer_listen,
        Some("127.0.0.1:0".parse().unwrap())
    );
}

#[test]
fn the_commented_example_cluster_parses() {
    let example = include_str!("../../../../examples/lifeline.toml");
    let start = example.find("# [[cluster]]").unwrap();
    let text: String = example[start..]
        .lines()
        .map(|line| format!("{}\n", line.strip_prefix("# ").unwrap_or(line)))
        .collect();
    let topology = parse_ok(&text, &pg_env());
    let main = topology.cluster("main").unwrap();
    assert_eq!(main.kind, ClusterKind::Postgres);
    assert_eq!(names(main), ["pg1", "pg2", "pg3"]);
    assert_eq!(main.maximum_lag_on_failover, 1_048_576);
    assert!(main.rejoin_command.is_some());
}
