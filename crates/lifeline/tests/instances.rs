//! The instance a daemon runs as: in `/status`, in every event, in `lifeline status`; the store
//! in `/health`; `[store]` and `[instance]` fixed until a restart; etcd as the store (and etcd
//! unreachable at start, a fast and clear error).

mod common;

use std::time::{Duration, Instant};

use common::{binary, http_config, wait_events, wait_role};
use lifeline_model::InstanceName;
use lifeline_store::{EtcdStore, StateStore};
use lifeline_testkit::daemon::{Daemon, TOKEN};
use lifeline_testkit::etcd::Etcd;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;

fn config(a: &OriginProcess, head: &str) -> String {
    format!("{head}\n{}", http_config(&[a], 1))
}

#[tokio::test]
async fn status_lists_this_instance_as_leader_and_every_event_names_it() {
    let a = OriginProcess::spawn(binary(), "a");
    let daemon = Daemon::start(binary(), &config(&a, "[instance]\nname = \"lb-test\""));

    let this = &wait_role(&daemon, "leader", Duration::from_secs(5)).await;
    let (code, status) = daemon.get("/status").await;
    assert_eq!(code, 200, "{status}");
    let instances = status["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 1, "{status}");
    assert_eq!(this["name"], "lb-test", "{this}");
    assert_eq!(this["role"], "leader", "{this}");
    assert_eq!(this["store_reachable"], true, "{this}");
    assert!(this["fencing_token"].as_u64().unwrap() >= 1, "{this}");
    assert!(this["last_seen"].is_string(), "{this}");

    let elected = wait_events(&daemon, "leader_elected", "lb-test", 1).await;
    assert_eq!(
        elected[0]["reason"],
        format!("lb-test leads with fencing token {}", this["fencing_token"])
    );
    let (_, events) = daemon.get("/events?limit=1000").await;
    let events = events.as_array().unwrap();
    assert!(events.len() >= 2, "{events:?}");
    for event in events {
        assert_eq!(event["instance"], "lb-test", "{event}");
    }

    let (code, out, err) = daemon.cli(&["status"]);
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|line| line.starts_with("lb-test"))
        .unwrap_or_else(|| panic!("no instance row:\n{out}"));
    assert!(row.contains("leader") && row.contains("reachable"), "{row}");
}

#[tokio::test]
async fn a_reload_that_changes_the_store_or_the_instance_is_refused() {
    let a = OriginProcess::spawn(binary(), "a");
    let daemon = Daemon::start(binary(), &config(&a, "[instance]\nname = \"lb-1\""));
    daemon.write_config(&config(
        &a,
        "[instance]\nname = \"lb-2\"\n[store]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:1\"]",
    ));
    let (code, body) = daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 400, "{body}");
    let errors = common::reload_errors(&body);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("`[store] backend` changed"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("`[instance] name` changed"),
        "{errors:?}"
    );
    wait_events(
        &daemon,
        "config_rejected",
        &daemon.config_path.display().to_string(),
        1,
    )
    .await;
    let (_, status) = daemon.get("/status").await;
    assert_eq!(status["instances"][0]["name"], "lb-1", "{status}");
}

#[tokio::test]
async fn an_unreachable_etcd_stops_the_start_naming_its_endpoints() {
    let a = OriginProcess::spawn(binary(), "a");
    let mut daemon = Daemon::start(binary(), &config(&a, ""));
    assert_eq!(daemon.terminate().code(), Some(0), "{}", daemon.logs());
    // Ports nothing listens on: a closed port refuses at once, which must not become a hang.
    let (one, two) = (free_port(), free_port());
    daemon.write_config(&config(
        &a,
        &format!(
            "[store]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:{one}\", \
             \"http://127.0.0.1:{two}\"]\nlease_ttl = \"1s\""
        ),
    ));
    let started = Instant::now();
    let (code, stderr) = daemon.run_to_exit(&[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach etcd at http://127.0.0.1:{one}, http://127.0.0.1:{two}"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_daemon_on_etcd_serves_and_records_its_events_there() {
    let mut etcd = Etcd::start().await;
    let endpoints = etcd.endpoints();
    let a = OriginProcess::spawn(binary(), "a");
    let head = format!(
        "[instance]\nname = \"lb-etcd\"\n[store]\nbackend = \"etcd\"\nendpoints = [\"{}\"]\n\
         prefix = \"{}\"\nlease_ttl = \"2s\"",
        endpoints[0],
        common::ha::PREFIX
    );
    let daemon = Daemon::start(binary(), &config(&a, &head));
    common::wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;
    let (code, health) = daemon.get("/health").await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["checks"]["store"], "ok", "{health}");
    let this = wait_role(&daemon, "leader", Duration::from_secs(5)).await;
    assert_eq!(this["name"], "lb-etcd", "{this}");
    wait_events(&daemon, "leader_elected", "lb-etcd", 1).await;

    // The events are in etcd, under the prefix: another client reads them there.
    let settings = common::ha::etcd_settings(&etcd);
    let reader = EtcdStore::connect(&settings, &InstanceName::new("reader"))
        .await
        .unwrap();
    let stored = reader.latest_events(100).await.unwrap();
    let kinds: Vec<&str> = stored.iter().map(|e| e.event.kind.as_str()).collect();
    assert!(kinds.contains(&"leader_elected"), "{kinds:?}");
    assert!(kinds.contains(&"origin_up"), "{kinds:?}");
    assert!(
        stored
            .iter()
            .all(|e| e.event.instance == Some(InstanceName::new("lb-etcd"))),
        "{stored:?}"
    );
    drop(reader);

    // etcd gone: the daemon still answers, and says the store is unreachable and why.
    etcd.kill(0);
    let (health, _) = wait::until(
        "the store unreachable in /health",
        Duration::from_secs(15),
        || async {
            let (code, health) = daemon.get("/health").await;
            (code == 503 && health["checks"]["store"] == "unreachable").then_some(health)
        },
    )
    .await;
    assert!(
        health["checks"]["store_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{health}"
    );
}
