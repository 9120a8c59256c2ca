//! The scheduler against real origins: every target checked on its own, and nothing after stop.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::{RunningOrigin, http_check, monitor, pool, topology};
use lifeline_health::Scheduler;
use lifeline_model::{FailureKind, MonitorKind, Observation};
use lifeline_origin::Behaviour;
use tokio::sync::mpsc;
use tokio::time::Instant;

const INTERVAL: Duration = Duration::from_millis(100);

async fn collect_for(rx: &mut mpsc::Receiver<Observation>, span: Duration) -> Vec<Observation> {
    let deadline = Instant::now() + span;
    let mut observations = Vec::new();
    while let Ok(Some(observation)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        observations.push(observation);
    }
    observations
}

#[tokio::test]
async fn checks_every_enabled_monitored_origin_until_stopped() {
    let mut servers = Vec::new();
    for name in ["a", "b", "c", "slow", "off", "unmonitored"] {
        let behaviour = match name {
            "slow" => Behaviour {
                delay: Duration::from_secs(5),
                ..Behaviour::default()
            },
            _ => Behaviour::default(),
        };
        servers.push(RunningOrigin::start(name, behaviour).await);
    }
    let mut off = servers[4].origin("off");
    off.enabled = false;
    let web = monitor(
        "web",
        MonitorKind::Http(http_check("/health")),
        INTERVAL,
        Duration::from_millis(50),
    );
    let topology = topology(
        vec![web],
        vec![
            pool(
                "front",
                Some("web"),
                vec![servers[0].origin("a"), servers[1].origin("b"), off],
            ),
            pool(
                "back",
                Some("web"),
                vec![servers[2].origin("c"), servers[3].origin("slow")],
            ),
            pool("static", None, vec![servers[5].origin("unmonitored")]),
        ],
    );

    let (tx, mut rx) = mpsc::channel(16);
    let scheduler = Scheduler::start(&topology, tx);
    assert_eq!(scheduler.targets(), 4);
    let observations = collect_for(&mut rx, Duration::from_secs(1)).await;

    let mut by_origin: HashMap<&str, Vec<&Observation>> = HashMap::new();
    for observation in &observations {
        by_origin
            .entry(observation.origin.as_str())
            .or_default()
            .push(observation);
    }
    let mut names: Vec<&str> = by_origin.keys().copied().collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b", "c", "slow"]);
    for (name, seen) in &by_origin {
        assert!(seen.len() >= 3, "{name} was checked {} times", seen.len());
        assert!(seen.len() <= 12, "{name} was checked {} times", seen.len());
        for observation in seen {
            match *name {
                "slow" => assert_eq!(
                    observation.outcome.as_ref().unwrap_err().kind,
                    FailureKind::Timeout
                ),
                _ => assert!(
                    observation.is_success(),
                    "{name}: {:?}",
                    observation.outcome
                ),
            }
        }
    }
    let firsts: Vec<u64> = ["a", "b", "c", "slow"]
        .iter()
        .map(|name| by_origin[name][0].at.as_millis())
        .collect();
    assert!(
        firsts.iter().any(|at| *at != firsts[0]),
        "all first checks at {firsts:?}"
    );

    scheduler.stop();
    // What was sent before the stop may still be queued; nothing new may follow.
    tokio::time::sleep(Duration::from_millis(50)).await;
    while rx.try_recv().is_ok() {}
    let after = collect_for(&mut rx, Duration::from_millis(400)).await;
    assert!(after.is_empty(), "{} observations after stop", after.len());
}

#[tokio::test]
async fn dropping_the_scheduler_stops_it_too() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let web = monitor(
        "web",
        MonitorKind::Http(http_check("/health")),
        INTERVAL,
        Duration::from_millis(50),
    );
    let topology = topology(
        vec![web],
        vec![pool("p", Some("web"), vec![server.origin("a")])],
    );
    let (tx, mut rx) = mpsc::channel(4);
    let scheduler = Scheduler::start(&topology, tx);
    assert!(rx.recv().await.is_some());
    drop(scheduler);
    let deadline = Duration::from_secs(2);
    // Once every task is gone, so is every sender, and the channel closes.
    let closed = tokio::time::timeout(deadline, async { while rx.recv().await.is_some() {} }).await;
    assert!(closed.is_ok(), "the channel never closed");
}
