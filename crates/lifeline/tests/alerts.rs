//! Alerts to real receivers: a webhook (an HTTP server in the test) that is down at first and
//! through a daemon's kill -9 receives every notification once it is up; a real Alertmanager
//! (Debian's prometheus-alertmanager) that holds the alerts Lifeline posted; a command.

mod common;

use std::time::Duration;

use common::{binary, lb_config};
use lifeline_testkit::alertmanager::Alertmanager;
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::wait;
use lifeline_testkit::webhook::WebhookReceiver;
use serde_json::Value;

/// Every alert of every body the webhook received: `(status, alertname, subject label)`.
fn alerts_in(receiver: &WebhookReceiver) -> Vec<(String, String, String)> {
    receiver
        .received()
        .iter()
        .flat_map(|r| r.body["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            let labels = &a["labels"];
            let subject = ["pool", "load_balancer", "scorecard", "cluster"]
                .iter()
                .find_map(|k| labels[*k].as_str())
                .unwrap_or("")
                .to_string();
            (
                a["status"].as_str().unwrap().to_string(),
                labels["alertname"].as_str().unwrap().to_string(),
                subject,
            )
        })
        .collect()
}

fn has(alerts: &[(String, String, String)], status: &str, name: &str, subject: &str) -> bool {
    alerts
        .iter()
        .any(|(s, n, w)| s == status && n == name && w == subject)
}

#[tokio::test]
async fn every_alert_reaches_a_webhook_that_was_down_an_alertmanager_and_a_command() {
    let mut a = OriginProcess::spawn(binary(), "a");
    let backup = OriginProcess::spawn(binary(), "z");
    let mut webhook = WebhookReceiver::down();
    let alertmanager = Alertmanager::start().await;
    let dir = tempfile::tempdir().unwrap();
    let received_by_command = dir.path().join("command.jsonl");
    let extra = format!(
        r#"
[[signal]]
name = "primary-down"
pool = "primary"
weight = 4

[[scorecard]]
name = "site"
signals = ["primary-down"]
for = "200ms"

[[notify]]
name = "ops"
kind = "webhook"
url = "{webhook}"

[[notify]]
name = "am"
kind = "alertmanager"
url = "{am}"
alerts = ["pool_down", "failover_triggered"]

[[notify]]
name = "script"
kind = "command"
run = ["sh", "-c", "cat >> {file}; echo >> {file}"]
"#,
        webhook = webhook.url(),
        am = alertmanager.url(),
        file = received_by_command.display(),
    );
    let config = lb_config(&[&a], &backup, "200ms", "")
        .replace(
            "{lb}",
            &format!("127.0.0.1:{}", lifeline_testkit::ports::free_port()),
        )
        .replace("[admin]", &format!("{extra}\n[admin]"));
    let mut daemon = Daemon::start(binary(), &config);

    a.kill9();
    // The command gets the webhook body on its standard input.
    let (bodies, _) = wait::until(
        "the command's notification",
        Duration::from_secs(10),
        || async {
            let text = std::fs::read_to_string(&received_by_command).ok()?;
            let bodies: Vec<Value> = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            bodies
                .iter()
                .any(|b| {
                    b["alerts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|a| a["labels"]["alertname"] == "pool_down")
                })
                .then_some(bodies)
        },
    )
    .await;
    assert_eq!(bodies[0]["version"], "4");
    assert_eq!(bodies[0]["receiver"], "script");
    // Alertmanager holds what it was sent, with Lifeline's labels, and only what "am" takes.
    let (held, _) = wait::until(
        "alerts in Alertmanager",
        Duration::from_secs(10),
        || async {
            let held = alertmanager.alerts().await;
            (held.len() >= 2).then_some(held)
        },
    )
    .await;
    let names: Vec<&str> = held
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"pool_down") && names.contains(&"failover_triggered"),
        "{held:?}"
    );
    assert!(
        !names.contains(&"level_changed"),
        "am takes only pool_down and failover_triggered: {held:?}"
    );
    let down = held
        .iter()
        .find(|a| a["labels"]["alertname"] == "pool_down")
        .unwrap();
    assert_eq!(down["labels"]["pool"], "primary");
    assert_eq!(down["labels"]["severity"], "critical");
    assert_eq!(down["status"]["state"], "active");

    // The level alert fires too (after `for`), and everything waits for the webhook in the
    // store: kill -9 the daemon, start it again, then the webhook comes up.
    wait::until("level 1", Duration::from_secs(10), || async {
        let (_, body) = daemon.get("/scorecards").await;
        (body["scorecards"][0]["level"] == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // past group_wait: in the outbox
    daemon.kill9();
    daemon.restart();
    webhook.up().await;
    let (alerts, _) = wait::until(
        "the webhook's notifications",
        Duration::from_secs(15),
        || async {
            let alerts = alerts_in(&webhook);
            (has(&alerts, "firing", "pool_down", "primary")
                && has(&alerts, "firing", "failover_triggered", "api")
                && has(&alerts, "firing", "level_changed", "site"))
            .then_some(alerts)
        },
    )
    .await;
    assert!(
        !alerts.iter().any(|(s, _, _)| s == "resolved"),
        "{alerts:?}"
    );
    let body = &webhook.received()[0].body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "ops");
    assert_eq!(body["status"], "firing");
    assert!(
        body["alerts"][0]["fingerprint"].as_str().unwrap().len() == 16,
        "{body}"
    );

    // The origin back: each alert resolves, the restarted daemon knowing what fired before.
    a.start();
    let (alerts, _) = wait::until(
        "the resolved notifications",
        Duration::from_secs(20),
        || async {
            let alerts = alerts_in(&webhook);
            (has(&alerts, "resolved", "pool_down", "primary")
                && has(&alerts, "resolved", "failover_triggered", "api"))
            .then_some(alerts)
        },
    )
    .await;
    let firing_pool_down = alerts
        .iter()
        .filter(|a| *a == &("firing".into(), "pool_down".into(), "primary".into()))
        .count();
    assert_eq!(
        firing_pool_down, 1,
        "fired once, delivered once: {alerts:?}"
    );
    let (resolved, _) = wait::until(
        "Alertmanager to resolve pool_down",
        Duration::from_secs(10),
        || async {
            let held = alertmanager.alerts().await;
            (!held.iter().any(|a| a["labels"]["alertname"] == "pool_down")).then_some(held)
        },
    )
    .await;
    assert!(
        resolved
            .iter()
            .all(|a| a["labels"]["alertname"] != "pool_down")
    );
}
