//! Starting, checking, stopping and restarting the daemon.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{binary, http_config, wait_events, wait_health};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;

const BAD: &str = r#"[admin]
listen = "127.0.0.1:PORT"

[[monitor]]
name = "web"
type = "http"
interval = "1s"
timeout = "2s"

[[pool]]
name = "p"
monitor = "nope"
origins = [{ name = "a", address = "127.0.0.1:1", weight = 0 }]
"#;

#[test]
fn check_reports_every_problem_with_its_position_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, BAD.replace("PORT", "9")).unwrap();
    let output = Command::new(binary())
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    let at = |line: usize| format!("{}:{line}:", path.display());
    assert!(
        lines[0].starts_with(&at(8)) && lines[0].contains("timeout"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&at(12)) && lines[1].contains("nope"),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with(&at(13)) && lines[2].contains("weight"),
        "{stderr}"
    );

    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let output = Command::new(binary())
            .args(["check", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        (output.status.code(), stderr)
    };
    let (code, stderr) = check("[admin]\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nothing to run"), "{stderr}");

    let pool = "[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", address = \"127.0.0.1:1\" }]\n";
    assert_eq!(check(pool), (Some(0), String::new()));
    // A warning is shown, and the file is still good.
    let (code, stderr) = check(&format!("[admin]\nlisten = \"0.0.0.0:9090\"\n{pool}"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}:2:10: warning: ", path.display())),
        "{stderr}"
    );
}

#[test]
fn run_with_a_bad_config_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, BAD.replace("PORT", &port.to_string())).unwrap();
    let output = Command::new(binary())
        .args(["run", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr).unwrap().contains("weight"));
    assert!(
        !dir.path().join("lifeline.redb").exists(),
        "no state file was created"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the admin port was never bound"
    );
}

#[test]
fn run_with_an_unset_variable_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.toml");
    std::fs::write(
        &path,
        "[admin]\ntoken = \"${LIFELINE_TEST_UNSET_VARIABLE}\"\n",
    )
    .unwrap();
    let output = Command::new(binary())
        .args(["run", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(":2:") && stderr.contains("LIFELINE_TEST_UNSET_VARIABLE"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_the_event_log_survives_a_restart() {
    let a = OriginProcess::spawn(binary(), "a");
    let mut daemon = Daemon::start(binary(), &http_config(&[&a], 1));
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;
    wait_events(&daemon, "pool_state_changed", "primary", 1).await;
    let (_, before) = daemon.get("/events").await;
    let before = before.as_array().unwrap().clone();

    let status = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{}", daemon.logs());

    daemon.restart();
    let (_, after) = daemon.get("/events?since=0&limit=1000").await;
    let after = after.as_array().unwrap();
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the old events are still there"
    );
    let kinds: Vec<&str> = after[before.len()..]
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        &kinds[..2],
        &["daemon_stopped", "daemon_started"],
        "{after:?}"
    );
    assert!(
        after[before.len()]["reason"]
            .as_str()
            .unwrap()
            .contains("SIGTERM")
    );

    // Each start leads with a larger fencing token, carried by the event.
    let (elected, _) = wait::until(
        "two leader_elected events",
        Duration::from_secs(5),
        || async {
            let (_, events) = daemon.get("/events?limit=1000").await;
            let elected: Vec<serde_json::Value> = events
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["kind"] == "leader_elected")
                .cloned()
                .collect();
            (elected.len() >= 2).then_some(elected)
        },
    )
    .await;
    let token = |e: &serde_json::Value| e["fencing_token"].as_u64().expect("a fencing token");
    assert!(
        token(&elected[1]) > token(&elected[0]),
        "fencing tokens grow: {elected:?}"
    );
}

#[tokio::test]
async fn a_second_daemon_on_the_same_state_file_is_refused() {
    let a = OriginProcess::spawn(binary(), "a");
    let daemon = Daemon::start(binary(), &http_config(&[&a], 1));
    let config = std::fs::read_to_string(&daemon.config_path)
        .unwrap()
        .replace(
            &format!("127.0.0.1:{}", daemon.admin_port),
            &format!("127.0.0.1:{}", free_port()),
        );
    let second = daemon.dir().join("second.toml");
    std::fs::write(&second, config).unwrap();
    let output = Command::new(binary())
        .args(["run", "-c"])
        .arg(&second)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("in use by another Lifeline process"));
}
