//! Session affinity: the cookie pins a client to an origin while it is available; `ip_cookie`
//! picks the origin by a stable hash of the client's address first.

use std::collections::BTreeMap;
use std::net::IpAddr;

use fastrand::Rng;
use lifeline_model::{PoolName, PoolState, SessionAffinity};

use super::support::*;
use crate::route::{Plan, RequestFacts, Router};

fn router(affinity: SessionAffinity, table: TestTable) -> Router {
    table
        .lb("web", &["primary", "backup"], |lb| {
            lb.session_affinity = affinity;
            lb.routes.fallback_pool = Some(PoolName::new("last"));
        })
        .router()
}

fn pools() -> TestTable {
    TestTable::new()
        .pool("primary", &[("a", 1), ("b", 1), ("c", 1), ("d", 1)])
        .pool("backup", &[("e", 1)])
        .pool("last", &[("z", 1)])
        .pool("elsewhere", &[("x", 1)])
}

fn with_cookie<'a>(router: &'a Router, cookie: Option<&str>, seed: u64) -> Plan<'a> {
    let request = RequestFacts {
        affinity_cookie: cookie,
        ..facts("/")
    };
    lb(router).plan_with(&request, NOW, &mut Rng::with_seed(seed))
}

#[test]
fn a_cookie_naming_an_available_origin_is_honoured() {
    let router = router(SessionAffinity::Cookie, pools());
    for seed in 0..5 {
        let plan = with_cookie(&router, Some("c"), seed);
        assert_eq!(plan.candidates[0].origin.as_str(), "c");
        assert_eq!(plan.set_affinity_cookie, None);
    }
    // The fallback pool is part of the route too.
    assert_eq!(names(&with_cookie(&router, Some("z"), 0))[0], "z");
}

#[test]
fn a_missing_or_stale_cookie_is_set_to_the_pick() {
    let router = router(SessionAffinity::Cookie, pools().down("c"));
    let plan = with_cookie(&router, None, 0);
    assert_eq!(plan.set_affinity_cookie.as_deref(), Some(names(&plan)[0]));

    for stale in ["c", "x", "no-such-origin"] {
        let plan = with_cookie(&router, Some(stale), 0);
        assert_ne!(names(&plan)[0], stale);
        assert_eq!(
            plan.set_affinity_cookie.as_deref(),
            Some(names(&plan)[0]),
            "{stale}"
        );
    }
}

#[test]
fn a_cookie_for_a_pool_that_stopped_serving_is_re_pinned() {
    let router = router(
        SessionAffinity::Cookie,
        pools().pool_state("primary", PoolState::Down),
    );
    let plan = with_cookie(&router, Some("a"), 0);
    assert_eq!(names(&plan), ["e", "z"]);
    assert_eq!(plan.set_affinity_cookie.as_deref(), Some("e"));
}

#[test]
fn without_affinity_the_cookie_is_ignored_and_never_set() {
    let router = router(SessionAffinity::None, pools());
    let plan = with_cookie(&router, Some("c"), 0);
    assert_eq!(names(&plan)[0], "a");
    assert_eq!(plan.set_affinity_cookie, None);
}

/// The first pick of `ip_cookie` affinity for 1,000 clients, each planned with its own seed.
fn ip_picks(router: &Router) -> BTreeMap<u32, String> {
    (0..1_000_u32)
        .map(|n| {
            let client = IpAddr::from((0x0a00_0000 + n * 7919).to_be_bytes());
            let request = RequestFacts {
                client,
                ..facts("/")
            };
            let plan = lb(router).plan_with(&request, NOW, &mut Rng::with_seed(u64::from(n)));
            assert_eq!(plan.set_affinity_cookie.as_deref(), Some(names(&plan)[0]));
            (n, names(&plan)[0].to_string())
        })
        .collect()
}

#[test]
fn ip_cookie_is_stable_per_client_and_spread_evenly() {
    let router = router(SessionAffinity::IpCookie, pools());
    let first = ip_picks(&router);
    assert_eq!(ip_picks(&router), first, "same clients, same origins");
    for origin in ["a", "b", "c", "d"] {
        let share = first.values().filter(|o| *o == origin).count();
        assert!((180..320).contains(&share), "{origin}: {share}");
    }
    // A valid cookie still wins over the hash.
    let request = RequestFacts {
        affinity_cookie: Some("e"),
        ..facts("/")
    };
    let plan = lb(&router).plan_with(&request, NOW, &mut Rng::with_seed(0));
    assert_eq!(names(&plan)[0], "e");
}

#[test]
fn ip_cookie_moves_only_the_clients_of_a_lost_origin() {
    let before = ip_picks(&router(SessionAffinity::IpCookie, pools()));
    let after = ip_picks(&router(SessionAffinity::IpCookie, pools().down("d")));
    let mut moved = 0;
    for (client, origin) in &before {
        if origin == "d" {
            assert_ne!(after[client], "d");
            moved += 1;
        } else {
            assert_eq!(&after[client], origin, "client {client} moved off {origin}");
        }
    }
    assert!(moved > 0);
}
