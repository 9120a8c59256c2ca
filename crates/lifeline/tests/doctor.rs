//! `lifeline doctor` and the daemon's preflight on real clusters: one at PostgreSQL's stock
//! settings (reported, exit 1, in `/failover/health` and the log, refreshed after a failover),
//! one set right (exit 0), and a config that does not load (exit 2).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::binary;
use common::pg::Setup;
use lifeline_testkit::pg::{PgCluster, PgNode, PgOptions};
use lifeline_testkit::wait;
use serde_json::Value;

/// `lifeline doctor -c path`: exit code, stdout, stderr.
fn doctor(path: &std::path::Path) -> (i32, String, String) {
    let output = Command::new(binary())
        .args(["doctor", "-c"])
        .arg(path)
        .output()
        .expect("cannot run lifeline doctor");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `(node, code)` of the findings `/failover/health` shows for the cluster.
fn codes(health: &Value) -> Vec<(String, String)> {
    health["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["node"].as_str().unwrap_or_default().to_string(),
                f["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn has(codes: &[(String, String)], node: &str, code: &str) -> bool {
    codes.iter().any(|(n, c)| n == node && c == code)
}

#[tokio::test]
async fn a_cluster_at_stock_settings_is_reported_with_fixes_and_exits_1() {
    let started = Instant::now();
    let setup = Setup::start(
        PgOptions {
            standbys: 1,
            stock_settings: true,
            ..PgOptions::default()
        },
        "",
    )
    .await;
    let password = setup.cluster.password().to_string();

    let (code, out, err) = doctor(&setup.daemon.config_path);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.starts_with("cluster main\n  pg1:\n"), "{out}");
    for node in ["pg1", "pg2"] {
        let section: &str = out
            .split(&format!("  {node}:\n"))
            .nth(1)
            .unwrap_or_default();
        assert!(
            section.starts_with(
                "    [wal_sender_timeout_default] wal_sender_timeout is 60s: as a primary it \
                 sends keepalives only every 30s"
            ),
            "{node} in:\n{out}"
        );
        assert!(
            section.contains(
                "      fix: ALTER SYSTEM SET wal_sender_timeout = '5s'; SELECT pg_reload_conf();\n"
            ),
            "{out}"
        );
    }
    assert!(out.contains("[pg_rewind_impossible]"), "{out}");
    assert!(
        out.ends_with("4 finding(s) on 2 node(s) of 1 cluster(s)\n"),
        "{out}"
    );
    assert!(!out.contains(&password) && !err.contains(&password));

    // The same findings in /failover/health, and one warn line each in the daemon's log.
    let (health, _) = wait::until(
        "the daemon's first preflight",
        Duration::from_secs(15),
        || async {
            let (_, body) = setup.daemon.get("/failover/health?cluster=main").await;
            let health = body["clusters"][0].clone();
            health["findingsCheckedAt"].is_string().then_some(health)
        },
    )
    .await;
    let found = codes(&health);
    assert_eq!(found.len(), 4, "{health:#}");
    for node in ["pg1", "pg2"] {
        assert!(
            has(&found, node, "wal_sender_timeout_default"),
            "{health:#}"
        );
        assert!(has(&found, node, "pg_rewind_impossible"), "{health:#}");
    }
    assert_eq!(
        health["findings"][0]["fix"],
        "ALTER SYSTEM SET wal_sender_timeout = '5s'; SELECT pg_reload_conf();"
    );
    assert!(health["primary"].is_object() && health["standbys"].is_array());
    let logs = setup.daemon.logs();
    let warned = logs
        .lines()
        .filter(|line| {
            line.contains("WARN") && line.contains("preflight: wal_sender_timeout is 60s")
        })
        .count();
    assert_eq!(warned, 2, "{logs}");

    // After a failover the preflight runs again at once (well before its minute is up): the
    // old primary is unreachable.
    setup.cluster.primary().kill9();
    setup.wait_promoted(0, Duration::from_secs(60)).await;
    let (health, _) = wait::until(
        "the preflight after the failover",
        Duration::from_secs(15),
        || async {
            let (_, body) = setup.daemon.get("/failover/health?cluster=main").await;
            let health = body["clusters"][0].clone();
            has(&codes(&health), "pg1", "unreachable").then_some(health)
        },
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(55),
        "too slow to tell the failover's refresh from the periodic one"
    );
    assert!(!health.to_string().contains(&password), "{health}");
}

#[tokio::test]
async fn a_cluster_set_right_exits_0_and_a_bad_config_exits_2() {
    let cluster = PgCluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let node = |node: &PgNode| {
        format!(
            "  {{ name = \"{}\", dsn = \"{}\" }},",
            node.name,
            node.dsn(cluster.password())
        )
    };
    let nodes: Vec<String> = cluster.nodes().iter().map(node).collect();
    let config = format!(
        "[[cluster]]\nname = \"main\"\nkind = \"postgres\"\nnodes = [\n{}\n]\n",
        nodes.join("\n")
    );
    let path = dir.path().join("lifeline.toml");
    std::fs::write(&path, config).unwrap();
    let (code, out, err) = doctor(&path);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out,
        "cluster main\n  pg1: ok\n  pg2: ok\nno findings: every node of 1 cluster(s) is ready \
         for failover\n"
    );

    std::fs::write(&path, "[[cluster]]\nname = \"main\"\n").unwrap();
    let (code, out, err) = doctor(&path);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("missing `nodes` in [[cluster]]"), "{err}");
    assert_eq!(out, "");
}
