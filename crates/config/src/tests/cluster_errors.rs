//! One test per class of problem in `[[cluster]]`, each checking exact lines and columns, and a
//! check that no diagnostic ever shows a node's password.

use std::path::Path;

use super::{FILE, env, problems, problems_with};
use crate::parse;

fn p(line: usize, col: usize, message: &str) -> (usize, usize, String) {
    (line, col, message.to_string())
}

/// Two valid nodes, for tests about other keys.
const NODES: &str =
    r#"nodes = [{ name = "a", dsn = "host=h1 user=u" }, { name = "b", dsn = "host=h2 user=u" }]"#;

#[test]
fn missing_cluster_keys() {
    let text = r#"[[cluster]]
writer_listen = "127.0.0.1:6432"
[[cluster]]
name = ""
kind = "postgres"
nodes = [{ priority = 1 }, { name = "b" }]
"#;
    assert_eq!(
        problems(text),
        [
            p(1, 1, "missing `name` in [[cluster]]"),
            p(1, 1, "missing `nodes` in [[cluster]]"),
            p(4, 8, "`name` must not be empty"),
            p(6, 10, "missing `name` in a node"),
            p(6, 10, "missing `dsn` in a node"),
            p(6, 28, "missing `dsn` in a node"),
        ]
    );
}

#[test]
fn unknown_keys_and_wrong_types_in_clusters() {
    let text = r#"[[cluster]]
name = "c"
kind = "postgres"
nodes = [{ name = "a", dsn = "host=h1 user=u", prio = 1 }, { name = "b", dsn = 5432 }]
max_lag = "1MB"
[[cluster.node]]
name = "c"
"#;
    assert_eq!(
        problems(text),
        [
            p(4, 48, "unknown key `prio` in `cluster.nodes`"),
            p(4, 80, "`dsn` must be a string, not integer"),
            p(5, 1, "unknown key `max_lag` in `cluster`"),
            p(6, 11, "unknown key `node` in `cluster`"),
        ]
    );
    let text = format!(
        "[[cluster]]\nname = \"c\"\nkind = \"postgres\"\n{NODES}\nmaximum_lag_on_failover = true\n"
    );
    assert_eq!(
        problems(&text),
        [p(
            5,
            27,
            "invalid type: boolean `true`, expected a size like 1048576 or \"1MB\""
        )]
    );
}

#[test]
fn duplicate_names() {
    let text = r#"[[pool]]
name = "p"
origins = [{ name = "web1", address = "127.0.0.1:1" }]
[[cluster]]
name = "c"
kind = "postgres"
nodes = [
  { name = "a", dsn = "host=h1 user=u" },
  { name = "a", dsn = "host=h2 user=u" },
  { name = "web1", dsn = "host=h3 user=u" },
]
[[cluster]]
name = "c"
kind = "postgres"
nodes = [{ name = "a", dsn = "host=h4 user=u" }, { name = "b", dsn = "host=h5 user=u" }]
"#;
    assert_eq!(
        problems(text),
        [
            p(9, 12, "duplicate node name `a` (first defined on line 8)"),
            p(
                10,
                12,
                "`web1` is already the name of an origin (line 3); node and origin names must differ, as both appear in the admin API"
            ),
            p(
                13,
                8,
                "duplicate cluster name `c` (first defined on line 5)"
            ),
        ]
    );
}

#[test]
fn impossible_cluster_values() {
    let text = r#"[[cluster]]
name = "c"
kind = "mysql"
nodes = [{ name = "a", dsn = "host=h1 user=u", priority = 1001 }]
writer_listen = "localhost:6432"
reader_listen = "6433"
check_interval = "0s"
failure_threshold = 0
maximum_lag_on_failover = "1 MiB"
primary_silence = "soon"
writer_wait = "-1s"
[[cluster]]
name = "d"
kind = "postgres"
nodes = []
failure_threshold = 101
maximum_lag_on_failover = -1
[[cluster]]
name = "e"
kind = "postgres"
[[cluster.nodes]]
name = "x"
dsn = "host=h8 user=u"
priority = -1
[[cluster.nodes]]
name = "y"
dsn = "host=h9 user=u"
"#;
    assert_eq!(
        problems(text),
        [
            p(
                3,
                8,
                "unknown cluster kind `mysql` (expected postgres or redis)"
            ),
            p(
                4,
                9,
                "`nodes` has 1 node(s); a cluster needs at least 2, a primary and a standby"
            ),
            p(4, 59, "`priority` must be at most 1000, not 1001"),
            p(
                5,
                17,
                "`writer_listen`: `localhost:6432` is not an IP address and port like 127.0.0.1:6432"
            ),
            p(
                6,
                17,
                "`reader_listen`: `6433` is not an IP address and port like 127.0.0.1:6432"
            ),
            p(7, 18, "`check_interval` must be longer than zero"),
            p(8, 21, "`failure_threshold` must be at least 1, not 0"),
            p(
                9,
                27,
                "`maximum_lag_on_failover`: `1 MiB` is not a size like \"512kB\", \"1MB\" or 1048576 (bytes; units B, kB, MB, GB, 1024-based)"
            ),
            p(
                10,
                19,
                "`primary_silence`: `soon` is not a duration like \"500ms\", \"5s\" or \"1m\""
            ),
            p(
                11,
                15,
                "`writer_wait`: `-1s` is not a duration like \"500ms\", \"5s\" or \"1m\""
            ),
            p(
                15,
                9,
                "`nodes` has 0 node(s); a cluster needs at least 2, a primary and a standby"
            ),
            p(16, 21, "`failure_threshold` must be at most 100, not 101"),
            p(
                17,
                27,
                "`maximum_lag_on_failover` must be at least 0, not -1"
            ),
            p(24, 12, "`priority` must be at least 0, not -1"),
        ]
    );
}

#[test]
fn impossible_rejoin_commands() {
    let cluster = |command: &str| {
        format!(
            "[[cluster]]\nname = \"c\"\nkind = \"postgres\"\n{NODES}\nrejoin_command = {command}\n"
        )
    };
    assert_eq!(
        problems(&cluster(r#""pg-rejoin {node} {primary} {Host}""#)),
        [
            p(
                5,
                18,
                "unknown placeholder `{primary}` in `rejoin_command` (expected {node}, {host}, {port}, {primary_host} or {primary_port})"
            ),
            p(
                5,
                18,
                "unknown placeholder `{Host}` in `rejoin_command` (expected {node}, {host}, {port}, {primary_host} or {primary_port})"
            ),
        ]
    );
    assert_eq!(
        problems(&cluster(r#""pg-rejoin {node""#)),
        [p(5, 18, "`rejoin_command`: `{` without a closing `}`")]
    );
    assert_eq!(
        problems(&cluster(r#""  ""#)),
        [p(5, 18, "`rejoin_command` must not be empty")]
    );
}

#[test]
fn invalid_connection_strings() {
    let text = r#"[[cluster]]
name = "c"
kind = "postgres"
nodes = [
  { name = "a", dsn = "host=h1" },
  { name = "b", dsn = "user=u port=5432" },
  { name = "c", dsn = "host=h3 user=u port=abc" },
  { name = "d", dsn = "host=h4 user=u dbname='app" },
  { name = "e", dsn = "host=h5 usr" },
  { name = "f", dsn = "" },
]
"#;
    assert_eq!(
        problems(text),
        [
            p(5, 23, "the connection string has no `user`"),
            p(6, 23, "the connection string has no `host`"),
            p(7, 23, "port `abc` is not a port number"),
            p(8, 23, "the value of `dbname` has no closing quote"),
            p(9, 23, "`usr` has no `=value`"),
            p(10, 23, "the connection string has no `host`"),
        ]
    );
}

#[test]
fn a_server_is_one_node() {
    let text = r#"[[cluster]]
name = "c"
kind = "postgres"
nodes = [
  { name = "a", dsn = "host=db1 port=5432 user=u" },
  { name = "b", dsn = "host=DB1 user=other" },
]
[[cluster]]
name = "d"
kind = "postgres"
nodes = [
  { name = "x", dsn = "host=db2 user=u" },
  { name = "y", dsn = "host=db1 user=u" },
]
"#;
    assert_eq!(
        problems(text),
        [
            p(
                6,
                23,
                "`DB1:5432` is already the address of node `a` (line 5)"
            ),
            p(
                13,
                23,
                "`db1:5432` is already the address of node `a` in cluster `c` (line 5)"
            ),
        ]
    );
}

#[test]
fn impossible_failover_settings() {
    let text = r#"[[cluster]]
name = "c"
kind = "postgres"
nodes = [
  { name = "a", dsn = "host=h1 user=u", no_failover = true },
  { name = "b", dsn = "host=h2 user=u", no_failover = true },
]
synchronous_mode_strict = true
[[cluster]]
name = "d"
kind = "postgres"
nodes = [
  { name = "a", dsn = "host=h3 user=u", no_failover = true },
  { name = "b", dsn = "host=h4 user=u", no_failover = true },
]
auto_failover = false
synchronous_mode = false
synchronous_mode_strict = false
"#;
    assert_eq!(
        problems(text),
        [
            p(
                4,
                9,
                "every node has `no_failover = true`, so automatic failover could never promote one; let a node fail over or set `auto_failover = false`"
            ),
            p(
                8,
                27,
                "`synchronous_mode_strict` needs `synchronous_mode = true`"
            ),
        ]
    );
}

#[test]
fn endpoints_that_clash() {
    let text = format!(
        r#"[admin]
listen = "127.0.0.1:9090"
[[pool]]
name = "p"
origins = [{{ name = "o", address = "127.0.0.1:1" }}]
[[load_balancer]]
name = "web"
listen = ["127.0.0.1:8080", "127.0.0.1:6432"]
default_pools = ["p"]
[[cluster]]
name = "one"
kind = "postgres"
{NODES}
writer_listen = "127.0.0.1:6432"
reader_listen = "127.0.0.1:9090"
[[cluster]]
name = "two"
kind = "postgres"
nodes = [{{ name = "a", dsn = "host=h3 user=u" }}, {{ name = "b", dsn = "host=h4 user=u" }}]
writer_listen = "127.0.0.1:7000"
reader_listen = "127.0.0.1:7000"
[[cluster]]
name = "three"
kind = "postgres"
nodes = [{{ name = "a", dsn = "host=h5 user=u" }}, {{ name = "b", dsn = "host=h6 user=u" }}]
reader_listen = "127.0.0.1:7000"
writer_listen = "127.0.0.1:8081"
[[load_balancer]]
name = "late"
listen = "127.0.0.1:8081"
default_pools = ["p"]
"#
    );
    assert_eq!(
        problems(&text),
        [
            p(
                14,
                17,
                "`127.0.0.1:6432` is already a listener of load balancer `web` (line 8)"
            ),
            p(
                15,
                17,
                "`127.0.0.1:9090` is the admin API's address (`listen` in [admin])"
            ),
            p(
                21,
                17,
                "`127.0.0.1:7000` is already this cluster's `writer_listen` (line 20)"
            ),
            p(
                26,
                17,
                "`127.0.0.1:7000` is already the `writer_listen` of cluster `two` (line 20)"
            ),
            p(
                30,
                10,
                "`127.0.0.1:8081` is already the `writer_listen` of cluster `three` (line 27)"
            ),
        ]
    );
}

#[test]
fn every_problem_of_a_cluster_at_once() {
    let text = r#"[[cluster]]
name = "main"
kind = "postgres"
nodes = [
  { name = "pg1", dsn = "host=127.0.0.1 port=5433 user=lifeline password=${PG_PASSWORD}" },
  { name = "pg1", dsn = "host=127.0.0.1 port=5433 user=lifeline", priority = 2000 },
]
writer_listen = "127.0.0.1:6432"
reader_listen = "127.0.0.1:6432"
check_interval = "1 sekond"
synchronous_mode_strict = true
rejoin_command = "rejoin {nod}"
"#;
    let found = problems_with(text, &env(&[("PG_PASSWORD", "hunter2")]));
    let positions: Vec<_> = found.iter().map(|(line, col, _)| (*line, *col)).collect();
    assert_eq!(
        positions,
        [
            (6, 12),
            (6, 25),
            (6, 78),
            (9, 17),
            (10, 18),
            (11, 27),
            (12, 18)
        ],
        "{found:?}"
    );
}

#[test]
fn diagnostics_never_show_a_password() {
    let env = env(&[("PG_PASSWORD", "hunter2 stolen"), ("PORT", "5x")]);
    let text = r#"[[cluster]]
name = "c"
kind = "postgres"
nodes = [
  { name = "a", dsn = "host=h1 user=u password=${PG_PASSWORD} dbname=d" },
  { name = "b", dsn = "host=h2 user=u password=${PG_PASSWORD}", bogus = "${PG_PASSWORD}" },
  { name = "c", dsn = "host=h3 user=u password='${PG_PASSWORD}' port=${PORT}" },
  { name = "d", dsn = "user=u password='${PG_PASSWORD}'" },
  { name = "e", dsn = "host=h5 user=u password=literal secret" },
  { name = "f", dsn = "host=h6 password='${PG_PASSWORD}" },
  { name = "g", dsn = "host=h7 user=u password=${PG_PASSWORD}" },
]
"#;
    let diagnostics = parse(Path::new(FILE), text, &env).unwrap_err();
    let mut shown = format!("{diagnostics}\n{diagnostics:?}");
    let wrong_type = format!(
        "[[cluster]]\nname = \"c\"\nkind = \"postgres\"\n{NODES}\nfailure_threshold = \"${{PG_PASSWORD}}\"\n"
    );
    let type_error = parse(Path::new(FILE), &wrong_type, &env).unwrap_err();
    shown.push_str(&format!("\n{type_error}"));
    for secret in ["hunter2", "stolen", "literal", "secret"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    // Every dsn is reported, even the ones whose detail is hidden.
    let lines: Vec<_> = diagnostics.iter().map(|d| d.line).collect();
    assert!((5..=10).all(|line| lines.contains(&line)), "{shown}");
}
