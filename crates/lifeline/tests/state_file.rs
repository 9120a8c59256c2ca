//! Starting the daemon on a state file that is empty or damaged, and starting over with
//! `--reset-state`.

mod common;

use std::path::{Path, PathBuf};

use common::binary;
use lifeline_testkit::daemon::Daemon;

const CONFIG: &str = "[admin]\nlisten = \"{admin}\"\ntoken = \"{token}\"\n\n[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", address = \"127.0.0.1:1\" }]\n";

/// A daemon that has run once and stopped, so its state file holds a real store.
fn stopped_daemon() -> (Daemon, PathBuf) {
    let mut daemon = Daemon::start(binary(), CONFIG);
    let status = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{}", daemon.logs());
    let state = daemon.dir().join("lifeline.redb");
    assert!(state.exists(), "{}", daemon.logs());
    let logs = daemon.logs();
    assert!(
        logs.contains("no state file yet: created an empty one"),
        "{logs}"
    );
    (daemon, state)
}

/// Deterministic noise (xorshift64).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x5EED_0F11_FE11_E5ED;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Random bytes over every page after the first (the header), as a bad disk might leave it.
fn damage(state: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(state).unwrap();
    let len = bytes.len();
    bytes[4096..].copy_from_slice(&noise(len - 4096));
    std::fs::write(state, &bytes).unwrap();
    bytes
}

/// Exit 1 with one error that names the file and the way out, and no panic.
fn assert_clear_error(code: Option<i32>, stderr: &str, state: &Path, what: &str) {
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(&state.display().to_string()), "{stderr}");
    assert!(stderr.contains(what), "{stderr}");
    assert!(stderr.contains("Restore it from a backup"), "{stderr}");
    assert!(stderr.contains("lifeline run --reset-state"), "{stderr}");
}

#[test]
fn an_empty_state_file_is_a_clear_error() {
    let (daemon, state) = stopped_daemon();
    std::fs::write(&state, b"").unwrap();
    let (code, stderr) = daemon.run_to_exit(&[]);
    assert_clear_error(code, &stderr, &state, "is empty");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"",
        "the file was left alone"
    );
}

#[test]
fn a_damaged_state_file_is_a_clear_error() {
    let (daemon, state) = stopped_daemon();
    let damaged = damage(&state);
    let (code, stderr) = daemon.run_to_exit(&[]);
    assert_clear_error(code, &stderr, &state, "is damaged");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        damaged,
        "the file was left alone"
    );
}

#[tokio::test]
async fn reset_state_moves_the_damaged_file_aside_and_serves() {
    let (mut daemon, state) = stopped_daemon();
    let damaged = damage(&state);
    daemon.restart_with(&["--reset-state"]);

    let aside: Vec<PathBuf> = std::fs::read_dir(daemon.dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("lifeline.redb.reset-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), damaged, "the old bytes");
    let logs = daemon.logs();
    assert!(logs.contains("moved the old state file aside"), "{logs}");
    assert!(logs.contains(&aside[0].display().to_string()), "{logs}");

    // A fresh store: the daemon's own start is its first event, then its election with the
    // first fencing token.
    // The campaign runs beside serving: its event is awaited.
    let (events, _) = lifeline_testkit::wait::until(
        "the election recorded",
        std::time::Duration::from_secs(5),
        || async {
            let (status, events) = daemon.get("/events?since=0").await;
            assert_eq!(status, 200, "{events}");
            (events.as_array()?.len() >= 2).then_some(events)
        },
    )
    .await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[..2], ["daemon_started", "leader_elected"], "{events}");
    assert_eq!(events[0]["seq"], 1, "{events}");
    assert_eq!(
        events[1]["reason"],
        format!(
            "{} leads with fencing token 1",
            events[1]["instance"].as_str().unwrap()
        ),
        "{events}"
    );
    assert_eq!(daemon.terminate().code(), Some(0), "{}", daemon.logs());
}
