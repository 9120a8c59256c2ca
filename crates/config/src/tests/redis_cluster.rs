//! `[[cluster]] kind = "redis"`: the model it builds, and its problems, each at its line and
//! column, with the password never in a message.

use std::time::Duration;

use lifeline_model::{ClusterKind, RedisNode};

use super::{env, parse_ok, problems, problems_with};

const REDIS_CLUSTER: &str = r#"
[[cluster]]
name = "cache"
kind = "redis"
nodes = [
  { name = "r1", address = "127.0.0.1:6379" },
  { name = "r2", address = "127.0.0.1:6380", priority = 10 },
  { name = "r3", address = "[::1]:6381", no_failover = true },
]
username = "lifeline"
password = "${REDIS_PASSWORD}"
writer_listen = "127.0.0.1:7379"
reader_listen = "127.0.0.1:7380"
sentinel_listen = "127.0.0.1:26379"
check_interval = "500ms"
maximum_lag_on_failover = "64kB"
"#;

#[test]
fn a_redis_cluster_builds_the_model() {
    let topology = parse_ok(REDIS_CLUSTER, &env(&[("REDIS_PASSWORD", "hunter2")]));
    let cache = topology.cluster("cache").unwrap();
    assert_eq!(cache.kind, ClusterKind::Redis);
    assert_eq!(
        cache.sentinel_listen,
        Some("127.0.0.1:26379".parse().unwrap())
    );
    assert_eq!(cache.check_interval, Duration::from_millis(500));
    assert_eq!(cache.maximum_lag_on_failover, 65_536);
    let r2: &RedisNode = cache.node("r2").unwrap().redis().unwrap();
    assert_eq!((r2.host.as_str(), r2.port), ("127.0.0.1", 6380));
    assert_eq!(r2.username.as_deref(), Some("lifeline"));
    assert_eq!(r2.password.as_ref().unwrap().expose(), "hunter2");
    assert!(r2.tls.is_none());
    assert_eq!(cache.node("r2").unwrap().priority, 10);
    let r3 = cache.node("r3").unwrap();
    assert!(r3.no_failover);
    assert_eq!(r3.address(), "[::1]:6381");
    assert_eq!(
        r3.masked_connection(),
        "redis://lifeline:***@[::1]:6381",
        "the password is masked"
    );
    assert!(!format!("{topology:?}").contains("hunter2"));
}

#[test]
fn a_redis_node_has_an_address_and_no_dsn() {
    let text = r#"[[cluster]]
name = "cache"
kind = "redis"
nodes = [{ name = "a", dsn = "host=h user=u" }, { name = "b" }, { name = "c", address = "h:0" }, { name = "d", address = "no-port" }]
"#;
    assert_eq!(
        problems(text),
        [
            (
                4,
                30,
                "a Redis node has no `dsn`: give its `address` (\"host:port\"), and the \
                 cluster's `password`"
                    .to_string()
            ),
            (4, 49, "missing `address` in a node".to_string()),
            (
                4,
                89,
                "`address`: `h:0` is not a host and port like 127.0.0.1:6379".to_string()
            ),
            (
                4,
                122,
                "`address`: `no-port` is not a host and port like 127.0.0.1:6379".to_string()
            ),
        ]
    );
}

#[test]
fn keys_of_the_other_kind_are_refused() {
    let text = r#"[[cluster]]
name = "cache"
kind = "redis"
nodes = [{ name = "a", address = "h1:6379" }, { name = "b", address = "h2:6379" }]
synchronous_mode = true
rejoin_command = "true"
[[cluster]]
name = "main"
nodes = [{ name = "c", dsn = "host=h1 user=u" }, { name = "d", address = "h2:5432" }]
password = "x"
sentinel_listen = "127.0.0.1:26379"
"#;
    let found = problems(text);
    let lines: Vec<(usize, usize)> = found.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(
        lines,
        [(5, 20), (6, 18), (9, 74), (10, 12), (11, 19)],
        "{found:?}"
    );
    assert!(
        found[0]
            .2
            .contains("Redis replication is asynchronous only")
    );
    assert!(found[1].2.contains("rejoins by `REPLICAOF`"));
    assert!(found[2].2.starts_with("a PostgreSQL node has no `address`"));
    assert!(
        found[3]
            .2
            .starts_with("`password` is not a setting of a PostgreSQL cluster")
    );
    assert!(
        found[4]
            .2
            .starts_with("`sentinel_listen` is not a setting of a PostgreSQL cluster")
    );
}

#[test]
fn credentials_tls_and_endpoints_are_checked() {
    let text = r#"[[cluster]]
name = "cache"
kind = "redis"
nodes = [{ name = "a", address = "h1:6379" }, { name = "b", address = "h1:6379" }]
username = "lifeline"
ca_file = "/nonexistent/ca.pem"
writer_listen = "127.0.0.1:7379"
sentinel_listen = "127.0.0.1:7379"
"#;
    let found = problems_with(text, &env(&[]));
    let messages: Vec<&str> = found.iter().map(|(_, _, m)| m.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`username` needs a `password`")),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"`ca_file` needs `tls = true`"),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("`h1:6379` is already the address of node `a`")),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"`127.0.0.1:7379` is already this cluster's `writer_listen` (line 7)"),
        "{messages:?}"
    );
}

#[test]
fn the_password_is_never_shown() {
    let text = r#"[[cluster]]
name = "cache"
kind = "redis"
nodes = [{ name = "a", address = "h1:6379" }, { name = "b", address = "h2:6379" }]
password = 12345
"#;
    assert_eq!(
        problems(text),
        [(
            5,
            12,
            "`password` must be a string, not integer".to_string()
        )]
    );
}
