//! Across pools: failover, fallback, rules, forcing, geo, random order, the failback ramp and
//! the candidate cap.

use std::net::IpAddr;
use std::time::Duration;

use fastrand::Rng;
use lifeline_model::{Cidr, ForceTarget, OriginName, PoolName, PoolState, Rule, SteeringPolicy};

use super::support::*;
use crate::route::{RequestFacts, Router};

fn three_pools() -> TestTable {
    TestTable::new()
        .pool("primary", &[("a", 1), ("b", 1)])
        .pool("backup", &[("c", 1), ("d", 1)])
        .pool("last", &[("z", 1)])
}

fn plan(router: &Router, path: &str) -> Vec<String> {
    let plan = lb(router).plan_with(&facts(path), NOW, &mut Rng::with_seed(1));
    names(&plan).into_iter().map(String::from).collect()
}

#[test]
fn pools_are_tried_in_order_with_the_fallback_last() {
    let router = three_pools()
        .lb("web", &["primary", "backup"], |lb| {
            lb.routes.fallback_pool = Some(PoolName::new("last"));
            lb.retries = 10;
        })
        .router();
    assert_eq!(plan(&router, "/"), ["a", "b", "c", "d", "z"]);
}

#[test]
fn a_pool_that_is_not_serving_is_skipped() {
    for state in [PoolState::Down, PoolState::Unknown] {
        let router = three_pools()
            .pool_state("primary", state)
            .lb("web", &["primary", "backup"], |_| {})
            .router();
        assert_eq!(plan(&router, "/"), ["c", "d"], "{state:?}");
    }
}

#[test]
fn the_fallback_serves_when_every_preferred_pool_is_down() {
    let router = three_pools()
        .pool_state("primary", PoolState::Down)
        .pool_state("backup", PoolState::Down)
        // Down, but its one origin still answers: the last resort is used anyway.
        .pool_state("last", PoolState::Down)
        .lb("web", &["primary", "backup"], |lb| {
            lb.routes.fallback_pool = Some(PoolName::new("last"));
        })
        .router();
    assert_eq!(plan(&router, "/"), ["z"]);
}

#[test]
fn nothing_available_gives_an_empty_plan() {
    let router = three_pools()
        .pool_state("primary", PoolState::Down)
        .pool_state("backup", PoolState::Down)
        .pool_state("last", PoolState::Down)
        .down("z")
        .lb("web", &["primary", "backup"], |lb| {
            lb.routes.fallback_pool = Some(PoolName::new("last"));
            lb.session_affinity = lifeline_model::SessionAffinity::Cookie;
        })
        .router();
    let plan = lb(&router).plan_with(&facts("/"), NOW, &mut Rng::with_seed(1));
    assert!(plan.candidates.is_empty());
    assert_eq!(plan.set_affinity_cookie, None);
}

#[test]
fn the_first_matching_rule_picks_the_route() {
    let router = three_pools()
        .lb("web", &["primary"], |lb| {
            lb.rules = vec![
                Rule {
                    path_prefix: "/api/".into(),
                    route: route(&["backup"], Some("last")),
                },
                Rule {
                    path_prefix: "/api/v2".into(),
                    route: route(&["last"], None),
                },
            ];
            lb.retries = 10;
        })
        .router();
    let pools = |path| {
        let plan = lb(&router).plan_with(&facts(path), NOW, &mut Rng::with_seed(1));
        let pools: Vec<String> = plan.candidates.iter().map(|c| c.pool.to_string()).collect();
        pools
    };
    assert_eq!(pools("/api/v2/users"), ["backup", "backup", "last"]);
    assert_eq!(pools("/api"), ["primary", "primary"]);
    assert_eq!(pools("/"), ["primary", "primary"]);
}

#[test]
fn a_forced_pool_is_the_only_one_even_when_down() {
    let router = three_pools()
        .pool_state("backup", PoolState::Down)
        .force("web", ForceTarget::Pool(PoolName::new("backup")))
        .lb("web", &["primary", "backup"], |lb| lb.retries = 10)
        .router();
    assert_eq!(plan(&router, "/"), ["c", "d"]);
}

#[test]
fn a_forced_pool_without_available_origins_falls_back_to_the_normal_plan() {
    let router = three_pools()
        .down("c")
        .drain("d")
        .force("web", ForceTarget::Pool(PoolName::new("backup")))
        .lb("web", &["primary", "backup"], |_| {})
        .router();
    assert_eq!(plan(&router, "/"), ["a", "b"]);
}

#[test]
fn a_forced_origin_goes_first_then_the_normal_plan() {
    let router = three_pools()
        .force("web", ForceTarget::Origin(OriginName::new("z")))
        .force("other", ForceTarget::Origin(OriginName::new("c")))
        .lb("web", &["primary", "backup"], |_| {})
        .router();
    assert_eq!(plan(&router, "/"), ["z", "a", "b"]);

    let router = three_pools()
        .down("z")
        .force("web", ForceTarget::Origin(OriginName::new("z")))
        .lb("web", &["primary", "backup"], |_| {})
        .router();
    assert_eq!(plan(&router, "/"), ["a", "b", "c"]);
}

#[test]
fn geo_steers_by_region_header_then_longest_prefix() {
    let router = TestTable::new()
        .pool("eu", &[("eu1", 1)])
        .pool("us", &[("us1", 1)])
        .pool("world", &[("w1", 1)])
        .lb("web", &["world"], |lb| {
            lb.steering_policy = SteeringPolicy::Geo;
            lb.retries = 0;
            lb.region_pools = vec![
                (
                    "eu".into(),
                    vec![PoolName::new("eu"), PoolName::new("world")],
                ),
                (
                    "us".into(),
                    vec![PoolName::new("us"), PoolName::new("world")],
                ),
            ];
            lb.regions = vec![
                (Cidr::parse("10.1.0.0/16").unwrap(), "us".into()),
                (Cidr::parse("10.0.0.0/8").unwrap(), "eu".into()),
                (Cidr::parse("10.1.2.0/24").unwrap(), "eu".into()),
            ];
        })
        .router();
    let geo = |client: &str, header: Option<&str>| {
        let request = RequestFacts {
            client: client.parse::<IpAddr>().unwrap(),
            region_header: header,
            ..facts("/")
        };
        let plan = lb(&router).plan_with(&request, NOW, &mut Rng::with_seed(1));
        names(&plan).join(",")
    };
    assert_eq!(geo("10.1.9.9", None), "us1,w1");
    assert_eq!(geo("10.1.2.3", None), "eu1,w1", "the /24 beats the /16");
    assert_eq!(geo("10.200.0.1", None), "eu1,w1");
    assert_eq!(geo("::ffff:10.1.9.9", None), "us1,w1");
    assert_eq!(
        geo("192.0.2.1", None),
        "w1",
        "unknown region: default pools"
    );
    assert_eq!(geo("10.200.0.1", Some("US")), "us1,w1", "the header wins");
    assert_eq!(
        geo("10.1.9.9", Some("mars")),
        "us1,w1",
        "unknown header: prefixes"
    );
}

#[test]
fn random_steering_orders_pools_by_weight() {
    let router = TestTable::new()
        .pool("big", &[("a", 2), ("b", 1)])
        .pool("small", &[("c", 1)])
        .pool("off", &[("x", 5)])
        .pool_state("off", PoolState::Down)
        .lb("web", &["big", "small", "off"], |lb| {
            lb.steering_policy = SteeringPolicy::Random;
            lb.retries = 10;
        })
        .router();
    let mut rng = Rng::with_seed(11);
    let mut small_first = 0;
    for _ in 0..4_000 {
        let plan = lb(&router).plan_with(&facts("/"), NOW, &mut rng);
        let pools: Vec<&str> = plan.candidates.iter().map(|c| c.pool.as_str()).collect();
        if pools[0] == "small" {
            small_first += 1;
            assert_eq!(pools, ["small", "big", "big"]);
        } else {
            assert_eq!(pools, ["big", "big", "small"]);
        }
    }
    // Weights 3 against 1: a quarter of the requests.
    assert!((900..1_100).contains(&small_first), "{small_first}");
}

#[test]
fn a_recovered_pool_ramps_up_its_share() {
    let slow_start = Duration::from_secs(60);
    let router = three_pools()
        .serving_since("primary", NOW)
        .lb("web", &["primary", "backup"], |lb| {
            lb.slow_start = slow_start;
            lb.retries = 10;
        })
        .router();
    let half_way = NOW.plus(Duration::from_secs(30));
    let mut rng = Rng::with_seed(7);
    let mut primary_first = 0;
    for _ in 0..1_000 {
        let plan = lb(&router).plan_with(&facts("/"), half_way, &mut rng);
        let pools: Vec<&str> = plan.candidates.iter().map(|c| c.pool.as_str()).collect();
        if pools[0] == "primary" {
            primary_first += 1;
        } else {
            assert_eq!(
                pools,
                ["backup", "backup", "primary", "primary"],
                "the ramping pool comes second"
            );
        }
    }
    assert!((450..550).contains(&primary_first), "{primary_first}");

    let done = NOW.plus(slow_start);
    let picks = first_picks(lb(&router), &facts("/"), done, 100);
    assert_eq!(picks, counts(&[("a", 50), ("b", 50)]));
}

#[test]
fn failback_from_the_fallback_pool_ramps_up_too() {
    let slow_start = Duration::from_secs(60);
    let router = three_pools()
        .serving_since("primary", NOW)
        .lb("web", &["primary"], |lb| {
            lb.routes.fallback_pool = Some(PoolName::new("backup"));
            lb.slow_start = slow_start;
            lb.retries = 10;
        })
        .router();
    let mut rng = Rng::with_seed(11);
    let mut primary_first = 0;
    for _ in 0..1_000 {
        let plan = lb(&router).plan_with(&facts("/"), NOW.plus(Duration::from_secs(15)), &mut rng);
        let pools: Vec<&str> = plan.candidates.iter().map(|c| c.pool.as_str()).collect();
        if pools[0] == "primary" {
            primary_first += 1;
        } else {
            assert_eq!(
                pools,
                ["backup", "backup", "primary", "primary"],
                "the ramping pool comes second"
            );
        }
    }
    assert!(
        (200..300).contains(&primary_first),
        "a quarter of the way: {primary_first}"
    );
}

#[test]
fn a_ramping_pool_with_no_serving_successor_takes_everything() {
    let router = three_pools()
        .serving_since("primary", NOW)
        .pool_state("backup", PoolState::Down)
        .lb("web", &["primary", "backup"], |lb| {
            lb.slow_start = Duration::from_secs(60);
        })
        .router();
    let picks = first_picks(lb(&router), &facts("/"), NOW, 100);
    assert_eq!(picks, counts(&[("a", 50), ("b", 50)]));
}

#[test]
fn candidates_are_distinct_and_capped_at_retries_plus_two() {
    for (retries, expected) in [(0, 2), (1, 3), (3, 5), (u32::MAX, 5)] {
        let router = three_pools()
            .lb("web", &["primary", "backup", "primary"], |lb| {
                lb.routes.fallback_pool = Some(PoolName::new("last"));
                lb.retries = retries;
            })
            .router();
        let names = plan(&router, "/");
        assert_eq!(names.len(), expected, "retries {retries}: {names:?}");
        let mut distinct = names.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
    }
}
