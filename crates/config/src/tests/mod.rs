//! Whole-file tests: valid configs build the expected [`Topology`]; `errors.rs` covers each class
//! of problem with its exact position. Load balancers have their own files:
//! `load_balancer.rs`, `load_balancer_errors.rs` and `listen_errors.rs`; so do clusters:
//! `cluster.rs` and `cluster_errors.rs`. `hardening.rs` covers secrets and hostile input,
//! `fuzz.rs` random input.

mod cluster;
mod cluster_errors;
mod errors;
mod escalation;
mod fuzz;
mod hardening;
mod listen_errors;
mod load_balancer;
mod load_balancer_errors;
mod node_tls;
mod notify;
mod redis_cluster;
mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lifeline_model::{CodeMatcher, HostPort, MonitorKind, SteeringPolicy, Topology};

use crate::{Env, load, parse};

const FILE: &str = "/etc/lifeline/lifeline.toml";

const NOTHING_TO_RUN: &str = "there is nothing to run: the file has no `[[pool]]` (of origins to \
                              check and load balance) and no `[[cluster]]`";

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn parse_ok(text: &str, env: &dyn Env) -> Topology {
    parse(Path::new(FILE), text, env)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"))
        .topology
}

/// `(line, col, message)` of each problem in `text`, in order.
fn problems_with(text: &str, env: &dyn Env) -> Vec<(usize, usize, String)> {
    let diagnostics = match parse(Path::new(FILE), text, env) {
        Ok(loaded) => panic!("expected problems, got {loaded:?}"),
        Err(diagnostics) => diagnostics,
    };
    assert!(!diagnostics.is_empty());
    diagnostics
        .into_iter()
        .map(|d| {
            assert_eq!(d.file, Path::new(FILE));
            (d.line, d.col, d.message)
        })
        .collect()
}

fn problems(text: &str) -> Vec<(usize, usize, String)> {
    problems_with(text, &env(&[]))
}

const FULL: &str = r#"
[admin]
listen = "0.0.0.0:9191"
token = "${LIFELINE_TOKEN}"
state_file = "state/lifeline.redb"

[[monitor]]
name = "web"
type = "https"
interval = "10s"
timeout = "1500ms"
fall = 3
method = "HEAD"
path = "/health?full=1"
port = 8443
headers = { Host = "api.example.com", "User-Agent" = "lifeline" }
expected_codes = "200,204"
expected_body = "ok"
follow_redirects = true
allow_insecure = true

[[monitor]]
name = "db"
type = "postgres"
user = "lifeline"
password = "${PG_PASSWORD}"

[[monitor]]
name = "port"
type = "tcp"

[[pool]]
name = "primary"
monitor = "web"
minimum_origins = 2
origins = [
  { name = "a", address = "10.0.0.1:80", weight = 3 },
  { name = "b", address = "[::1]:80" },
  { name = "c", address = "c.internal:80", weight = 0, enabled = false },
]

[[pool]]
name = "database"
monitor = "db"

[[pool.origins]]
name = "pg1"
address = "${PG_HOST}:5432"
"#;

fn full_env() -> HashMap<String, String> {
    env(&[
        ("LIFELINE_TOKEN", "t0ken-value"),
        ("PG_PASSWORD", "hunter2"),
        ("PG_HOST", "db.internal"),
    ])
}

#[test]
fn full_example_builds_the_topology() {
    let topology = parse_ok(FULL, &full_env());

    let admin = &topology.admin;
    assert_eq!(admin.listen, "0.0.0.0:9191".parse::<SocketAddr>().unwrap());
    assert_eq!(admin.token.as_ref().unwrap().expose(), "t0ken-value");
    assert_eq!(
        admin.state_file,
        PathBuf::from("/etc/lifeline/state/lifeline.redb")
    );

    let web = topology.monitor("web").unwrap();
    assert_eq!(web.interval, Duration::from_secs(10));
    assert_eq!(web.timeout, Duration::from_millis(1500));
    assert_eq!((web.retries, web.rise), (3, 2));
    let MonitorKind::Http(http) = &web.kind else {
        panic!("web is {:?}", web.kind);
    };
    assert!(http.tls && http.follow_redirects && http.allow_insecure);
    assert_eq!(web.kind.type_name(), "https");
    assert_eq!(
        (http.method.as_str(), http.path.as_str()),
        ("HEAD", "/health?full=1")
    );
    assert_eq!(http.port, Some(8443));
    assert_eq!(
        http.headers,
        vec![
            ("Host".to_string(), "api.example.com".to_string()),
            ("User-Agent".to_string(), "lifeline".to_string()),
        ]
    );
    assert_eq!(http.expected_codes, CodeMatcher::parse("200,204").unwrap());
    assert_eq!(http.expected_body.as_deref(), Some("ok"));

    let db = topology.monitor("db").unwrap();
    let MonitorKind::Postgres(pg) = &db.kind else {
        panic!("db is {:?}", db.kind);
    };
    assert_eq!(
        (pg.user.as_str(), pg.database.as_str()),
        ("lifeline", "postgres")
    );
    assert_eq!(pg.password.as_ref().unwrap().expose(), "hunter2");
    assert!(matches!(
        topology.monitor("port").unwrap().kind,
        MonitorKind::Tcp
    ));

    let primary = topology.pool("primary").unwrap();
    assert_eq!(primary.monitor.as_ref().unwrap().as_str(), "web");
    assert_eq!(primary.minimum_origins, 2);
    let weights: Vec<_> = primary
        .origins
        .iter()
        .map(|o| (o.weight, o.enabled))
        .collect();
    assert_eq!(weights, [(3, true), (1, true), (0, false)]);
    assert_eq!(primary.origins[1].address.host, "::1");

    let database = topology.pool("database").unwrap();
    assert_eq!(database.minimum_origins, 1);
    assert_eq!(
        database.origins[0].address,
        HostPort::parse("db.internal:5432").unwrap()
    );
    assert_eq!(topology.origins().count(), 4);

    let debug = format!("{topology:?}");
    assert!(!debug.contains("hunter2") && !debug.contains("t0ken-value"));
}

#[test]
fn admin_defaults() {
    let topology = parse_ok(
        "[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", address = \"127.0.0.1:1\" }]\n",
        &env(&[]),
    );
    assert_eq!(topology.admin.listen.to_string(), "127.0.0.1:9090");
    assert!(topology.admin.token.is_none());
    assert_eq!(
        topology.admin.state_file,
        PathBuf::from("/etc/lifeline/lifeline.redb")
    );
}

#[test]
fn monitor_defaults() {
    let text = "[[monitor]]\nname = \"m\"\ntype = \"http\"\n[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", address = \"127.0.0.1:1\" }]\n";
    let topology = parse_ok(text, &env(&[]));
    let monitor = &topology.monitors[0];
    assert_eq!(monitor.interval, Duration::from_secs(5));
    assert_eq!(monitor.timeout, Duration::from_secs(2));
    assert_eq!((monitor.retries, monitor.rise), (2, 2));
    let MonitorKind::Http(http) = &monitor.kind else {
        panic!("{:?}", monitor.kind);
    };
    assert!(!http.tls && !http.follow_redirects && !http.allow_insecure);
    assert_eq!((http.method.as_str(), http.path.as_str()), ("GET", "/"));
    assert_eq!(http.expected_codes, CodeMatcher::default());
    assert!(http.port.is_none() && http.headers.is_empty() && http.expected_body.is_none());
}

#[test]
fn example_config_parses_without_environment() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/lifeline.toml"
    ));
    let topology = load(path, &env(&[]))
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"))
        .topology;
    assert_eq!(topology.admin.listen.to_string(), "127.0.0.1:9090");
    assert!(topology.admin.token.is_none());

    let web = topology.monitor("web").unwrap();
    assert_eq!(web.interval, Duration::from_secs(1));
    let MonitorKind::Http(http) = &web.kind else {
        panic!("{:?}", web.kind);
    };
    assert_eq!(http.path, "/health");
    assert_eq!(http.expected_body.as_deref(), Some("healthy"));

    let primary = topology.pool("primary").unwrap();
    let addresses: Vec<_> = primary
        .origins
        .iter()
        .map(|o| o.address.to_string())
        .collect();
    assert_eq!(addresses, ["127.0.0.1:8081", "127.0.0.1:8082"]);
    let backup = topology.pool("backup").unwrap();
    assert_eq!(backup.origins[0].address.to_string(), "127.0.0.1:8083");

    let lb = topology.load_balancer("web").unwrap();
    let listeners: Vec<_> = lb.listeners.iter().map(|l| l.address.to_string()).collect();
    assert_eq!(listeners, ["127.0.0.1:8080"]);
    assert!(lb.listeners[0].tls.is_none() && lb.hostnames.is_empty() && lb.rules.is_empty());
    let pools: Vec<_> = lb.routes.default_pools.iter().map(|p| p.as_str()).collect();
    assert_eq!(pools, ["primary", "backup"]);
    assert_eq!(lb.routes.fallback_pool.as_ref().unwrap().as_str(), "backup");
    assert_eq!(lb.steering_policy, SteeringPolicy::Failover);
    assert_eq!(lb.retries, 2);
    assert_eq!(lb.try_timeout, Duration::from_secs(2));
    assert_eq!(lb.slow_start, Duration::from_secs(10));
}

#[test]
fn load_reads_the_file_and_resolves_state_file_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lifeline.toml");
    let text = "[admin]\nstate_file = \"data.redb\"\n[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", address = \"127.0.0.1:1\" }]\n";
    std::fs::write(&path, text).unwrap();
    let topology = load(&path, &env(&[])).unwrap().topology;
    assert_eq!(topology.admin.state_file, dir.path().join("data.redb"));
}

#[test]
fn an_unreadable_file_is_one_diagnostic_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let diagnostics = load(&path, &env(&[])).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    let diagnostic = diagnostics.iter().next().unwrap();
    assert_eq!(diagnostic.file, path);
    assert_eq!((diagnostic.line, diagnostic.col), (0, 0));
    assert!(
        diagnostics
            .to_string()
            .starts_with(&path.display().to_string())
    );
}
