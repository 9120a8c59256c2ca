//! The daemon watching real HTTP origin processes that are broken, slowed, hung and killed.

mod common;

use std::time::Duration;

use common::{
    binary, change_deadline, events_of, http_config, metrics_text, wait_events, wait_health,
};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::origin::OriginProcess;

#[tokio::test]
async fn origin_health_follows_500s_slowness_and_kill9() {
    let a = OriginProcess::spawn(binary(), "a");
    let mut b = OriginProcess::spawn(binary(), "b");
    let daemon = Daemon::start(binary(), &http_config(&[&a, &b], 1));
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;
    wait_health(&daemon, "b", "healthy", Duration::from_secs(5)).await;
    let (code, _) = daemon.get("/health").await;
    assert_eq!(code, 200);

    // 500s: down within retries x interval, pool degraded, event with the reason.
    b.behave(500, Duration::ZERO).await;
    wait_health(&daemon, "b", "unhealthy", change_deadline()).await;
    let downs = wait_events(&daemon, "origin_down", "b", 1).await;
    assert_eq!(downs.len(), 1, "{downs:?}");
    assert_eq!(downs[0]["old"], "healthy");
    assert!(
        downs[0]["reason"].as_str().unwrap().contains("got 500"),
        "{downs:?}"
    );
    let (code, health) = daemon.get("/health").await;
    assert_eq!(code, 503);
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["checks"]["pools"]["primary"], "degraded");

    // Back to 200: up after `rise` successes.
    b.behave(200, Duration::ZERO).await;
    wait_health(&daemon, "b", "healthy", change_deadline()).await;
    assert_eq!(
        wait_events(&daemon, "origin_up", "b", 2).await.len(),
        2,
        "first check, then the recovery"
    );

    // Slower than the monitor's timeout: cut at the timeout, down.
    b.behave(200, Duration::from_secs(2)).await;
    wait_health(&daemon, "b", "unhealthy", change_deadline()).await;
    let (_, status) = daemon.get("/status").await;
    let origin_b = &status["pools"][0]["origins"][1];
    assert!(
        origin_b["last_error"]
            .as_str()
            .unwrap()
            .starts_with("timeout"),
        "{origin_b}"
    );
    assert!(origin_b["down_since"].is_string());
    assert!(origin_b["consecutive_failures"].as_u64().unwrap() >= 2);
    b.behave(200, Duration::ZERO).await;
    wait_health(&daemon, "b", "healthy", change_deadline()).await;

    // kill -9: connection refused, down; both down: pool down.
    b.kill9();
    wait_health(&daemon, "b", "unhealthy", change_deadline()).await;
    let (_, status) = daemon.get("/status").await;
    assert!(
        status["pools"][0]["origins"][1]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("connect")
    );
    a.behave(503, Duration::ZERO).await;
    wait_health(&daemon, "a", "unhealthy", change_deadline()).await;
    // unknown -> degraded -> healthy, then degraded and healthy twice (500s, slowness), then
    // degraded (kill) and down.
    let pool_changes = wait_events(&daemon, "pool_state_changed", "primary", 8).await;
    assert_eq!(pool_changes[7]["new"], "down", "{pool_changes:?}");

    // The killed origin comes back on its port.
    b.start();
    wait_health(&daemon, "b", "healthy", change_deadline()).await;
}

#[tokio::test]
async fn a_hung_origin_is_cut_at_the_timeout_without_blocking_the_others() {
    let a = OriginProcess::spawn(binary(), "a");
    let b = OriginProcess::spawn(binary(), "b");
    let daemon = Daemon::start(binary(), &http_config(&[&a, &b], 1));
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;
    wait_health(&daemon, "b", "healthy", Duration::from_secs(5)).await;

    b.sigstop();
    wait_health(&daemon, "b", "unhealthy", change_deadline()).await;
    // a kept being checked while b hung.
    let (_, before) = daemon.get("/status").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, after) = daemon.get("/status").await;
    assert_ne!(
        before["pools"][0]["origins"][0]["last_check"],
        after["pools"][0]["origins"][0]["last_check"]
    );
    assert_eq!(after["pools"][0]["origins"][0]["health"], "healthy");
    b.sigcont();
    wait_health(&daemon, "b", "healthy", change_deadline()).await;
}

#[tokio::test]
async fn a_flapping_origin_does_not_flip() {
    let a = OriginProcess::spawn(binary(), "a");
    // Checks every 400 ms; a failed one is confirmed 95 to 105 ms later (a quarter of it, ±5 %).
    let config = http_config(&[&a], 1).replace(r#"interval = "200ms""#, r#"interval = "400ms""#);
    let daemon = Daemon::start(binary(), &config);
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;

    // 500s for 25 ms out of every 175: a check that fails is confirmed within the same 175 ms,
    // after the 500s stopped, whatever the checks' phase; so never two failures in a row. Until
    // three checks have failed, so that the flapping was seen.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while failed_checks(&daemon, "a").await < 3.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no three checks hit the 500s"
        );
        a.behave(500, Duration::ZERO).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
        a.behave(200, Duration::ZERO).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(events_of(&daemon, "origin_down", "a").await.is_empty());
    assert_eq!(daemon.origin_health("a").await, "healthy");
}

/// Failed checks of `origin` so far, of every kind, from `/metrics`.
async fn failed_checks(daemon: &Daemon, origin: &str) -> f64 {
    let text = metrics_text(daemon).await;
    let label = format!(r#"origin="{origin}""#);
    text.lines()
        .filter(|line| line.starts_with("lifeline_check_failures_total{") && line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn tcp_monitor_sees_a_closed_port() {
    let mut a = OriginProcess::spawn(binary(), "a");
    let config = format!(
        r#"[admin]
listen = "{{admin}}"

[[monitor]]
name = "port"
type = "tcp"
interval = "200ms"
timeout = "150ms"

[[pool]]
name = "raw"
monitor = "port"
origins = [{{ name = "a", address = "{}" }}]
"#,
        a.address()
    );
    let daemon = Daemon::start(binary(), &config);
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;
    a.kill9();
    wait_health(&daemon, "a", "unhealthy", change_deadline()).await;
    a.start();
    wait_health(&daemon, "a", "healthy", change_deadline()).await;
}
