//! The admin API of a running daemon: tokens, reloads (API and SIGHUP), metrics, secrets.

mod common;

use std::time::Duration;

use common::{binary, events_of, http_config, metrics_text, wait_events, wait_health};
use lifeline_testkit::daemon::{Daemon, TOKEN};
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::wait;

#[tokio::test]
async fn changes_need_the_token_and_nothing_happens_without_it() {
    let a = OriginProcess::spawn(binary(), "a");
    let daemon = Daemon::start(binary(), &http_config(&[&a], 1));
    for token in [None, Some("wrong-token")] {
        let (code, body) = daemon.post("/reload", token).await;
        assert_eq!(code, 401, "{body}");
    }
    assert!(
        events_of(&daemon, "config_reloaded", "config")
            .await
            .is_empty()
    );

    let (code, body) = daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        wait_events(&daemon, "config_reloaded", "config", 1)
            .await
            .len(),
        1
    );

    // The CLI sends the token from the environment.
    let (code, out, err) = daemon.cli(&["reload", "--token", TOKEN]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("reloaded: 1 monitors, 1 pools, 1 origins"),
        "{out}"
    );
    let (code, _, err) = daemon.cli(&["reload", "--token", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
}

#[tokio::test]
async fn a_bad_reload_keeps_the_running_config_and_a_good_one_applies_without_restart() {
    let a = OriginProcess::spawn(binary(), "a");
    let b = OriginProcess::spawn(binary(), "b");
    let daemon = Daemon::start(binary(), &http_config(&[&a], 1));
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;

    let good = http_config(&[&a, &b], 1);
    daemon.write_config(
        &good
            .replace("retries = 2", "retries = 2\ntiemout = \"1s\"")
            .replace("minimum_origins = 1", "minimum_origins = 9"),
    );
    let (code, body) = daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 400, "{body}");
    let errors = common::reload_errors(&body);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("lifeline.toml:12:1") && e.contains("tiemout")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("minimum_origins")),
        "{errors:?}"
    );
    let (_, status) = daemon.get("/status").await;
    assert_eq!(
        status["pools"][0]["origins"].as_array().unwrap().len(),
        1,
        "still the old config"
    );
    assert_eq!(daemon.origin_health("a").await, "healthy");
    // The log is written a moment after the answer: await the event, then count.
    let path = daemon.config_path.display().to_string();
    assert_eq!(
        wait_events(&daemon, "config_rejected", &path, 1)
            .await
            .len(),
        1
    );

    // SIGHUP with a good file: the new origin is checked, the old one keeps its health.
    daemon.write_config(&good);
    daemon.signal(libc::SIGHUP);
    wait_health(&daemon, "b", "healthy", Duration::from_secs(5)).await;
    assert_eq!(daemon.origin_health("a").await, "healthy");
    let reloads = wait_events(&daemon, "config_reloaded", "config", 1).await;
    assert_eq!(reloads.len(), 1);
    assert!(
        reloads[0]["reason"]
            .as_str()
            .unwrap()
            .contains("1 added, 0 removed, 1 kept"),
        "{reloads:?}"
    );
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let a = OriginProcess::spawn(binary(), "a");
    let daemon = Daemon::start(binary(), &http_config(&[&a], 1));
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;
    let text = metrics_text(&daemon).await;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, label: (&str, &str)| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .map(|s| s.value.clone())
    };
    assert_eq!(
        value("lifeline_origin_healthy", ("origin", "a")),
        Some(prometheus_parse::Value::Gauge(1.0)),
        "{text}"
    );
    assert_eq!(
        value("lifeline_pool_state", ("state", "healthy")),
        Some(prometheus_parse::Value::Gauge(1.0)),
        "{text}"
    );
    match value("lifeline_check_duration_seconds", ("origin", "a")) {
        Some(prometheus_parse::Value::Histogram(buckets)) => {
            assert!(buckets.iter().any(|b| b.count >= 1.0))
        }
        other => panic!("no check latency histogram: {other:?}\n{text}"),
    }
    assert!(
        text.contains("lifeline_events_total{kind=\"origin_up\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn secrets_never_reach_logs_or_responses() {
    let a = OriginProcess::spawn(binary(), "a");
    let daemon = Daemon::start(binary(), &http_config(&[&a], 1));
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;
    let (code, _) = daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 200);
    daemon.post("/reload", Some("guess")).await;
    daemon.write_config("[admin]\nlisten = \"{admin}\"\ntoken = \"{token}\"\nbogus = 1\n");
    daemon.post("/reload", Some(TOKEN)).await;
    for path in ["/status", "/health", "/ready", "/events", "/metrics"] {
        let body = lifeline_testkit::http::client()
            .get(format!("{}{path}", daemon.admin_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!body.contains(TOKEN), "{path} shows the token");
    }
    let (_, out, _) = daemon.cli(&["status", "--json"]);
    assert!(!out.contains(TOKEN));
    let logs = daemon.logs();
    assert!(logs.contains("config rejected"), "{logs}");
    assert!(!logs.contains(TOKEN), "the log shows the token:\n{logs}");
}

#[tokio::test]
async fn cli_shows_status_and_events_as_tables_and_json() {
    let a = OriginProcess::spawn(binary(), "a");
    let daemon = Daemon::start(binary(), &http_config(&[&a], 1));
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;

    let (code, out, err) = daemon.cli(&["status"]);
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.contains(&a.address()))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.starts_with("primary") && row.contains("healthy"),
        "{out}"
    );

    let (code, out, _) = daemon.cli(&["status", "--json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["pools"][0]["origins"][0]["name"], "a");

    let (_, out, _) = daemon.cli(&["events"]);
    assert!(
        out.lines()
            .any(|l| l.contains("origin_up") && l.contains("unknown -> healthy")),
        "{out}"
    );
    let (_, out, _) = daemon.cli(&["events", "--json", "--since", "1", "--limit", "1"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["seq"], 2);

    let (_, body) = daemon.get("/ready").await;
    assert_eq!(body["ready"], true);

    // A daemon that is not there: exit 1 and a clear message.
    let (code, _, err) = daemon.cli(&["status", "--admin", "http://127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the admin API"), "{err}");

    wait::until("nothing", Duration::from_millis(1), || async { Some(()) }).await;
}
