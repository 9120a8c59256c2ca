//! Connection strings whose password breaks them leak nothing anywhere: not through `check`, the
//! `POST /reload` answer, `GET /events`, `GET /status`, `lifeline status` or the daemon's log.

mod common;

use std::process::Command;
use std::time::Duration;

use common::binary;
use lifeline_testkit::daemon::{Daemon, TOKEN};
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;

/// A password with a quote in it, which ends `password='${PG_QUOTED}'` early.
const QUOTED: &str = "Pa55'w0rdSECRETtail";
/// A password with a space in it, which splits an unquoted `password=${PG_PASSWORD}`.
const SPACED: &str = "Pa55 w0rd=SECRETtail";
const FRAGMENTS: [&str; 3] = ["SECRETtail", "w0rd", "Pa55"];

/// A cluster of two nodes on ports nothing listens on, their passwords as given.
fn cluster_config(password_a: &str, password_b: &str) -> String {
    let node = |name: &str, password: &str| {
        format!(
            "  {{ name = \"{name}\", dsn = \"host=127.0.0.1 port={} user=lifeline \
             password={password} connect_timeout=1\" }},",
            free_port()
        )
    };
    format!(
        "[admin]\nlisten = \"{{admin}}\"\ntoken = \"{{token}}\"\n\n[[cluster]]\nname = \"main\"\n\
         kind = \"postgres\"\nnodes = [\n{}\n{}\n]\n",
        node("pg1", password_a),
        node("pg2", password_b)
    )
}

fn assert_nothing_leaks(what: &str, text: &str) {
    for fragment in FRAGMENTS {
        assert!(!text.contains(fragment), "{fragment} in {what}: {text}");
    }
}

#[test]
fn check_shows_no_piece_of_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lifeline.toml");
    let configs = [
        ("the quoted variable", cluster_config("'${PG_QUOTED}'", "x")),
        (
            "the unquoted variable",
            cluster_config("${PG_PASSWORD}", "x"),
        ),
        ("the unquoted literal", cluster_config(SPACED, "x")),
    ];
    for (what, config) in configs {
        let config = config
            .replace("{admin}", "127.0.0.1:9")
            .replace("{token}", "t");
        std::fs::write(&path, config).unwrap();
        let output = Command::new(binary())
            .args(["check", "-c"])
            .arg(&path)
            .env("PG_QUOTED", QUOTED)
            .env("PG_PASSWORD", SPACED)
            .output()
            .unwrap();
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(2), "{what}: {shown}");
        assert!(shown.contains("lifeline.toml:9:"), "{what}: {shown}");
        assert_nothing_leaks(what, &shown);
    }
}

#[tokio::test]
async fn a_rejected_reload_leaks_nothing_anywhere() {
    let env = [("PG_QUOTED", QUOTED), ("PG_PASSWORD", SPACED)];
    let good = cluster_config("'${PG_PASSWORD}'", "'${PG_PASSWORD}'");
    let daemon = Daemon::start_with_env(binary(), &good, &env);
    let (code, status) = daemon.get("/status").await;
    assert_eq!(code, 200);
    let dsn = status["clusters"][0]["nodes"][0]["dsn"].to_string();
    assert!(dsn.contains("password=***"), "{status}");
    // A failed check of a node, so that its error is in the status and the log too.
    wait::until("a failed node check", Duration::from_secs(10), || async {
        let (_, status) = daemon.get("/status").await;
        (!status["clusters"][0]["nodes"][0]["last_error"].is_null()).then_some(())
    })
    .await;

    daemon.write_config(&cluster_config("'${PG_QUOTED}'", "${PG_PASSWORD}"));
    let (code, reload) = daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 400, "{reload}");
    assert_eq!(
        reload["errors"].as_array().map(Vec::len),
        Some(2),
        "{reload}"
    );
    let (_, events) = daemon.get("/events?limit=1000").await;
    assert!(events.to_string().contains("config_rejected"), "{events}");
    let (_, status) = daemon.get("/status").await;
    let (_, cli, _) = daemon.cli(&["status"]);
    assert_nothing_leaks("the reload answer", &reload.to_string());
    assert_nothing_leaks("the events", &events.to_string());
    assert_nothing_leaks("the status", &status.to_string());
    assert_nothing_leaks("lifeline status", &cli);
    assert_nothing_leaks("the log", &daemon.logs());
}
