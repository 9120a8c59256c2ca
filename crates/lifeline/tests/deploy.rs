//! What `deploy/` ships: the Prometheus alert rules pass Prometheus's own checks and unit tests
//! (`promtool`), and every metric the rules and the Grafana dashboard use is exported by a
//! running daemon with origins, a load balancer, a Redis cluster and a scorecard.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::redis::RedisSetup;
use common::{binary, metrics_text};
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file)
}

#[test]
fn the_alert_rules_pass_promtool() {
    let promtool = lifeline_testkit::install::promtool();
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts_test.yml"],
    ] {
        let output = Command::new(promtool)
            .args(&args)
            .current_dir(deploy("prometheus"))
            .output()
            .expect("cannot run promtool");
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The Lifeline metric names a text uses: words starting `lifeline_` or `failover_`.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("lifeline_") || w.starts_with("failover_"))
        .map(str::to_string)
        .collect()
}

/// The names an exposition has: every sample's, and every family's with the suffixes its
/// type gives its samples (a family with no series yet is still exported).
fn exported(metrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap();
            names.insert(family.to_string());
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[],
            };
            names.extend(suffixes.iter().map(|s| format!("{family}{s}")));
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            names.insert(name.to_string());
        }
    }
    names
}

#[tokio::test]
async fn every_metric_of_the_rules_and_the_dashboard_is_exported() {
    let mut origin = OriginProcess::spawn(binary(), "a");
    let lb_port = free_port();
    let extra = format!(
        r#"
[[monitor]]
name = "web"
type = "http"
path = "/health"
interval = "200ms"
timeout = "150ms"

[[pool]]
name = "primary"
monitor = "web"
origins = [{{ name = "a", address = "{}" }}]

[[load_balancer]]
name = "api"
listen = "127.0.0.1:{lb_port}"
default_pools = ["primary"]

[[signal]]
name = "primary-down"
pool = "primary"
weight = 8

[[scorecard]]
name = "site"
signals = ["primary-down"]
"#,
        origin.address()
    );
    let setup = RedisSetup::start("", &extra).await;
    let url = format!("http://127.0.0.1:{lb_port}/");
    wait::until(
        "a request through the load balancer",
        Duration::from_secs(10),
        || async {
            let answer = lifeline_testkit::http::client()
                .get(&url)
                .send()
                .await
                .ok()?;
            answer.status().is_success().then_some(())
        },
    )
    .await;
    // One failed attempt (a refused connect), so that the error series exists.
    origin.kill9();
    let _ = lifeline_testkit::http::client().get(&url).send().await;
    origin.start();
    let mut used = metric_names(&std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap());
    used.extend(metric_names(
        &std::fs::read_to_string(deploy("grafana/lifeline.json")).unwrap(),
    ));
    assert!(used.len() > 15, "{used:?}");
    // Series appear as the daemon checks the cluster's nodes: a few checks at most.
    let started = std::time::Instant::now();
    let missing = loop {
        let exported = exported(&metrics_text(&setup.daemon).await);
        let missing: Vec<String> = used.difference(&exported).cloned().collect();
        if missing.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        missing.is_empty(),
        "used by deploy/ but not exported: {missing:?}"
    );
}

#[test]
fn the_dashboard_is_grafana_json_with_a_query_in_every_panel() {
    let text = std::fs::read_to_string(deploy("grafana/lifeline.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "lifeline");
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(
            !targets.is_empty()
                && targets
                    .iter()
                    .all(|t| t["expr"].as_str().is_some_and(|e| !e.is_empty())),
            "{panel}"
        );
    }
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Healthy origins by pool",
        "Requests by origin",
        "Failovers",
        "Replication lag",
        "Score and level over time",
    ] {
        assert!(titles.contains(&wanted), "{titles:?}");
    }
}
