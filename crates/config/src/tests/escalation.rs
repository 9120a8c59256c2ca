//! `[[signal]]` and `[[scorecard]]`: the model they build, and each problem at its line.

use std::time::Duration;

use lifeline_model::{Lag, SEED_LEVELS, Severity, SignalSource};

use super::{env, parse_ok, problems};

const BASE: &str = r#"
[[monitor]]
name = "web"
type = "http"
interval = "3s"

[[pool]]
name = "primary"
monitor = "web"
origins = [{ name = "a", address = "127.0.0.1:8001" }]

[[pool]]
name = "dr"
origins = [{ name = "d", address = "127.0.0.1:8002" }]

[[load_balancer]]
name = "api"
listen = "127.0.0.1:8080"
default_pools = ["primary", "dr"]

[[cluster]]
name = "main"
nodes = [
  { name = "pg1", dsn = "host=127.0.0.1 port=5432 user=lifeline" },
  { name = "pg2", dsn = "host=127.0.0.1 port=5433 user=lifeline" },
]
check_interval = "2s"
"#;

fn with(extra: &str) -> String {
    format!("{BASE}\n{extra}")
}

#[test]
fn signals_and_a_scorecard_build_the_model() {
    let text = with(
        r#"
[[signal]]
name = "primary-down"
pool = "primary"
weight = 8

[[signal]]
name = "api-failed-over"
load_balancer = "api"
state = "degraded"
weight = 2

[[signal]]
name = "db-lag"
cluster = "main"
lag_above = "16MB"
weight = 3

[[signal]]
name = "db-late"
cluster = "main"
lag_above = "30s"
weight = 3

[[signal]]
name = "pg2-down"
cluster = "main"
node = "pg2"
weight = 1

[[signal]]
name = "a-down"
origin = "a"
weight = 1

[[scorecard]]
name = "site"
signals = ["primary-down", "api-failed-over", "db-lag", "db-late", "pg2-down", "a-down"]
"#,
    );
    let topology = parse_ok(&text, &env(&[]));
    let card = &topology.scorecards[0];
    assert_eq!(card.name.as_str(), "site");
    assert_eq!(card.levels, SEED_LEVELS);
    // Two of the slowest source's check interval (the monitor's 3 s).
    assert_eq!(card.hold_for, Duration::from_secs(6));
    assert_eq!(card.cool_down, Duration::from_secs(30));
    assert_eq!(card.hold, Duration::from_secs(60));
    let sources: Vec<&SignalSource> = card.signals.iter().map(|s| &s.source).collect();
    assert!(matches!(
        sources[0],
        SignalSource::Pool {
            when: Severity::Down,
            ..
        }
    ));
    assert!(matches!(
        sources[1],
        SignalSource::LoadBalancer {
            when: Severity::Degraded,
            ..
        }
    ));
    assert!(matches!(
        sources[2],
        SignalSource::Lag {
            above: Lag::Bytes(16_777_216),
            ..
        }
    ));
    assert!(
        matches!(sources[3], SignalSource::Lag { above: Lag::Time(t), .. } if *t == Duration::from_secs(30))
    );
    assert!(matches!(sources[4], SignalSource::Node { node, .. } if node.as_str() == "pg2"));
    assert!(matches!(sources[5], SignalSource::Origin { origin } if origin.as_str() == "a"));
    assert_eq!(card.signals[0].weight, 8);
}

#[test]
fn levels_and_timing_can_be_set() {
    let text = with(
        r#"
[[signal]]
name = "s"
pool = "dr"
weight = 1

[[scorecard]]
name = "site"
signals = ["s"]
levels = [1, 2, 3]
for = "0s"
cool_down = "5s"
hold = "10s"
"#,
    );
    let card = parse_ok(&text, &env(&[])).scorecards[0].clone();
    assert_eq!(card.levels, [1, 2, 3]);
    assert_eq!(card.hold_for, Duration::ZERO);
    assert_eq!(card.hold, Duration::from_secs(10));
}

#[test]
fn each_problem_is_named_at_its_line() {
    let text = with(
        r#"
[[signal]]
name = "nowhere"
pool = "nope"
weight = 1

[[signal]]
name = "two"
pool = "primary"
origin = "a"
weight = 1

[[signal]]
name = "no-weight"
pool = "primary"

[[signal]]
name = "bad-state"
origin = "a"
state = "down"
weight = 1

[[signal]]
name = "lag"
cluster = "main"
lag_above = "soon"
weight = 1

[[signal]]
name = "node"
cluster = "main"
node = "pg9"
weight = 1

[[scorecard]]
name = "site"
signals = ["nowhere", "missing", "nowhere"]
levels = [8, 4, 11]
"#,
    );
    let found: Vec<(usize, String)> = problems(&text)
        .into_iter()
        .map(|(line, _, message)| (line, message))
        .collect();
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("no line with {needle}"))
    };
    let expect = [
        (line_of("pool = \"nope\""), "unknown pool `nope`"),
        (
            line_of("name = \"two\"") - 1,
            "exactly one of `pool`, `origin`, `load_balancer` or `cluster` (found pool, origin)",
        ),
        (
            line_of("name = \"no-weight\"") - 1,
            "missing `weight` in [[signal]]",
        ),
        (
            line_of("state = \"down\""),
            "`state` applies to a pool, a load balancer or a whole cluster",
        ),
        (
            line_of("lag_above = \"soon\""),
            "`lag_above` must be a size like",
        ),
        (
            line_of("node = \"pg9\""),
            "unknown node `pg9` of cluster `main`",
        ),
        (line_of("\"missing\""), "unknown signal `missing`"),
        (line_of("\"missing\""), "signal `nowhere` is listed twice"),
        (
            line_of("levels = [8, 4, 11]"),
            "`levels` must be three ascending scores",
        ),
    ];
    for (line, message) in expect {
        assert!(
            found.iter().any(|(l, m)| *l == line && m.contains(message)),
            "no `{message}` on line {line} in {found:?}"
        );
    }
}
