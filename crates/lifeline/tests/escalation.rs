//! Scorecards on real origin processes: origins killed one by one drive a scorecard's score
//! through levels 1, 2 and 3, and their return brings it back to 0 once `cool_down` and
//! `hold` allow; every change is an event that names every signal.

mod common;

use std::time::Duration;

use common::{binary, metrics_text};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::wait;
use serde_json::Value;

/// Three pools of one origin each, a signal on each (two on pools, one on an origin), weights
/// 4 + 4 + 4 against seed 003's levels 4 / 8 / 11.
fn config(origins: &[OriginProcess]) -> String {
    let pools: String = origins
        .iter()
        .map(|o| {
            format!(
                "[[pool]]\nname = \"pool-{n}\"\nmonitor = \"web\"\norigins = [{{ name = \"{n}\", \
                 address = \"{a}\" }}]\n\n",
                n = o.name,
                a = o.address()
            )
        })
        .collect();
    format!(
        r#"[admin]
listen = "{{admin}}"
token = "{{token}}"

[[monitor]]
name = "web"
type = "http"
path = "/health"
interval = "200ms"
timeout = "150ms"
retries = 2
rise = 2

{pools}
[[signal]]
name = "a-down"
pool = "pool-a"
weight = 4

[[signal]]
name = "b-down"
pool = "pool-b"
state = "down"
weight = 4

[[signal]]
name = "c-down"
origin = "c"
weight = 4

[[scorecard]]
name = "site"
signals = ["a-down", "b-down", "c-down"]
cool_down = "1s"
hold = "2s"
"#
    )
}

async fn scorecard(daemon: &Daemon) -> Value {
    let (code, body) = daemon.get("/scorecards").await;
    assert_eq!(code, 200, "{body}");
    body["scorecards"][0].clone()
}

async fn wait_level(daemon: &Daemon, level: u64) -> Value {
    let what = format!("scorecard site at level {level}");
    let (card, _) = wait::until(&what, Duration::from_secs(10), || async {
        let card = scorecard(daemon).await;
        (card["level"] == level).then_some(card)
    })
    .await;
    card
}

async fn events(daemon: &Daemon, kind: &str) -> Vec<Value> {
    let (_, events) = daemon.get("/events?limit=1000").await;
    let mut events: Vec<Value> = events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == kind && e["subject"] == "scorecard/site")
        .cloned()
        .collect();
    events.sort_by_key(|e| e["id"].as_u64());
    events
}

fn millis(event: &Value) -> i64 {
    let at = event["at"].as_str().unwrap();
    humantime::parse_rfc3339(at)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn origins_lost_one_by_one_drive_the_level_up_and_their_return_brings_it_down() {
    let mut origins: Vec<OriginProcess> = ["a", "b", "c"]
        .iter()
        .map(|name| OriginProcess::spawn(binary(), name))
        .collect();
    let daemon = Daemon::start(binary(), &config(&origins));
    let card = wait_level(&daemon, 0).await;
    assert_eq!(card["score"], 0);
    assert_eq!(card["levels"], serde_json::json!([4, 8, 11]));

    for (index, level) in [(0, 1), (1, 2), (2, 3)] {
        origins[index].kill9();
        let card = wait_level(&daemon, level).await;
        assert_eq!(card["score"], 4 * level, "{card}");
        assert!(card["signals"][index]["on"].as_bool().unwrap(), "{card}");
    }
    let metrics = metrics_text(&daemon).await;
    assert!(
        metrics.contains("lifeline_level{scorecard=\"site\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lifeline_score{scorecard=\"site\"} 12"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lifeline_signal_on{scorecard=\"site\",signal=\"c-down\"} 1"),
        "{metrics}"
    );

    for origin in &mut origins {
        origin.start();
    }
    wait_level(&daemon, 0).await;
    let levels = events(&daemon, "level_changed").await;
    let moves: Vec<(&str, &str)> = levels
        .iter()
        .map(|e| (e["old"].as_str().unwrap(), e["new"].as_str().unwrap()))
        .collect();
    // Straight down to 0: the score fell below level 1 and stayed there.
    assert_eq!(
        moves,
        [("0", "1"), ("1", "2"), ("2", "3"), ("3", "0")],
        "{levels:?}"
    );
    // Why level 3: every signal with its state and weight.
    let reason = levels[2]["reason"].as_str().unwrap();
    for signal in [
        "a-down on (down, +4)",
        "b-down on (down, +4)",
        "c-down on (unhealthy, +4)",
    ] {
        assert!(reason.contains(signal), "{reason}");
    }
    assert!(reason.starts_with("level 2 -> 3"), "{reason}");

    let scores = events(&daemon, "score_changed").await;
    let last_zero = scores
        .iter()
        .rfind(|e| e["new"] == "0")
        .expect("the score back to 0");
    let down = millis(&levels[3]) - millis(last_zero);
    assert!(
        down >= 1000,
        "left level 3 {down} ms after the score fell: cool_down is 1 s"
    );
    let since_up = millis(&levels[3]) - millis(&levels[2]);
    assert!(
        since_up >= 2000,
        "left level 3 {since_up} ms after entering it: hold is 2 s"
    );
    let entered: Vec<&str> = scores.iter().map(|e| e["new"].as_str().unwrap()).collect();
    assert_eq!(&entered[..3], ["4", "8", "12"], "{scores:?}");
}
