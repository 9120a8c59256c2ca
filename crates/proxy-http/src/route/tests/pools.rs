//! Inside one pool: weighted round-robin, draining, least outstanding, dynamic latency, and the
//! slow-start ramp of a recovered origin.

use std::time::Duration;

use fastrand::Rng;
use lifeline_model::{OriginName, SteeringPolicy};

use super::support::*;
use crate::route::{Router, StatsRegistry};

#[test]
fn weighted_round_robin_splits_exactly_by_weight() {
    let router = TestTable::new()
        .pool("p", &[("a", 3), ("b", 1)])
        .lb("web", &["p"], |_| {})
        .router();
    let picks = first_picks(lb(&router), &facts("/"), NOW, 400);
    assert_eq!(picks, counts(&[("a", 300), ("b", 100)]));
}

#[test]
fn round_robin_interleaves_and_offers_the_rest_of_the_pool_next() {
    let router = TestTable::new()
        .pool("p", &[("a", 1), ("b", 1), ("c", 1)])
        .lb("web", &["p"], |_| {})
        .router();
    let mut rng = Rng::with_seed(1);
    let plans: Vec<Vec<String>> = (0..4)
        .map(|_| {
            let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
            names(&plan).into_iter().map(String::from).collect()
        })
        .collect();
    assert_eq!(
        plans,
        [
            ["a", "b", "c"],
            ["b", "c", "a"],
            ["c", "a", "b"],
            ["a", "b", "c"]
        ]
    );
}

#[test]
fn draining_and_unhealthy_origins_get_no_requests() {
    let router = TestTable::new()
        .pool("p", &[("a", 1), ("b", 1), ("c", 1)])
        .drain("b")
        .down("c")
        .lb("web", &["p"], |lb| lb.retries = 5)
        .router();
    let mut rng = Rng::with_seed(1);
    for _ in 0..10 {
        let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
        assert_eq!(names(&plan), ["a"]);
    }
}

#[test]
fn least_outstanding_follows_requests_in_flight() {
    let stats = StatsRegistry::new();
    let table = TestTable::new()
        .pool("p", &[("a", 1), ("b", 1), ("c", 1)])
        .lb("web", &["p"], |lb| {
            lb.steering_policy = SteeringPolicy::LeastOutstanding;
        })
        .table();
    let router = Router::compile(table, &stats);
    let busy = stats.get(&OriginName::new("a"));
    let _a = [busy.begin(), busy.begin()];
    let _b = stats.get(&OriginName::new("b")).begin();
    let mut rng = Rng::with_seed(3);
    let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
    assert_eq!(names(&plan), ["c", "b", "a"]);

    let _c = [0, 1, 2].map(|_| stats.get(&OriginName::new("c")).begin());
    let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
    assert_eq!(names(&plan), ["b", "a", "c"]);
}

#[test]
fn least_outstanding_breaks_ties_by_weight_then_at_random() {
    let router = TestTable::new()
        .pool("p", &[("a", 1), ("b", 1), ("heavy", 5)])
        .lb("web", &["p"], |lb| {
            lb.steering_policy = SteeringPolicy::LeastOutstanding;
            lb.retries = 0;
        })
        .router();
    let mut rng = Rng::with_seed(5);
    let seconds: Vec<String> = (0..200)
        .map(|_| {
            let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
            assert_eq!(plan.candidates[0].origin.as_str(), "heavy");
            plan.candidates[1].origin.to_string()
        })
        .collect();
    let a = seconds.iter().filter(|n| *n == "a").count();
    assert!((60..140).contains(&a), "a second {a} times of 200");
}

#[test]
fn dynamic_latency_prefers_the_fastest_and_probes_new_origins_first() {
    let stats = StatsRegistry::new();
    let table = TestTable::new()
        .pool("p", &[("slow", 1), ("fast", 1), ("new", 1)])
        .lb("web", &["p"], |lb| {
            lb.steering_policy = SteeringPolicy::DynamicLatency;
        })
        .table();
    let router = Router::compile(table, &stats);
    let record = |origin: &str, millis| {
        stats
            .get(&OriginName::new(origin))
            .record_success(Duration::from_millis(millis));
    };
    record("slow", 30);
    record("fast", 10);
    let mut rng = Rng::with_seed(9);
    let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
    assert_eq!(names(&plan), ["new", "fast", "slow"]);

    record("new", 50);
    let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
    assert_eq!(names(&plan), ["fast", "slow", "new"]);

    // The fast one slows down: the moving average moves it behind.
    for _ in 0..10 {
        record("fast", 100);
    }
    let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
    assert_eq!(names(&plan), ["slow", "new", "fast"]);
}

#[test]
fn a_recovered_origin_ramps_up_its_weight() {
    let slow_start = Duration::from_secs(10);
    let table = |since| {
        TestTable::new()
            .pool("p", &[("steady", 1), ("back", 1)])
            .healthy_since("back", since)
            .lb("web", &["p"], |lb| lb.slow_start = slow_start)
            .router()
    };
    // Half way: weight 0.5 against 1, a third of the requests.
    let router = table(NOW.plus(Duration::from_secs(5)));
    let picks = first_picks(lb(&router), &facts("/"), NOW.plus(slow_start), 3_000);
    assert!((900..1_100).contains(&picks["back"]), "{picks:?}");
    // Just back: 5 % of its weight, about 48 of 1,000.
    let picks = first_picks(
        lb(&router),
        &facts("/"),
        NOW.plus(Duration::from_secs(5)),
        1_000,
    );
    assert!((25..75).contains(&picks["back"]), "{picks:?}");
    // Ramp over: exact round-robin again.
    let picks = first_picks(
        lb(&router),
        &facts("/"),
        NOW.plus(Duration::from_secs(15)),
        100,
    );
    assert_eq!(picks, counts(&[("back", 50), ("steady", 50)]));
}
