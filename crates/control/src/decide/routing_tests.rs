//! Load balancers on top of pool health: failover events and their timing, ejection, force and
//! drain, and the routing table the data plane gets.

use std::path::PathBuf;
use std::time::Duration;

use lifeline_model::{
    AdminSettings, CheckFailure, FailureKind, HostPort, LoadBalancer, Monitor, MonitorKind,
    MonitorName, Origin, OriginProtocol, Pool, PoolName, Route, SessionAffinity, SteeringPolicy,
};

use super::super::Overrides;
use super::*;

fn pool(name: &str, origins: &[&str]) -> Pool {
    Pool {
        name: PoolName::new(name),
        monitor: Some(MonitorName::new("tcp")),
        origins: origins
            .iter()
            .enumerate()
            .map(|(i, origin)| Origin {
                name: OriginName::new(*origin),
                address: HostPort {
                    host: "127.0.0.1".into(),
                    port: 1000 + u16::try_from(i).unwrap(),
                },
                weight: 1,
                enabled: true,
            })
            .collect(),
        minimum_origins: 1,
        origin_protocol: OriginProtocol::Http,
        eject_after: 5,
    }
}

fn topology() -> Arc<Topology> {
    Arc::new(Topology {
        store: lifeline_model::StoreBackend::Embedded,
        instance: lifeline_model::InstanceSettings {
            name: lifeline_model::InstanceName::new("test"),
        },
        proxy: lifeline_model::ProxySettings::default(),
        admin: AdminSettings {
            listen: "127.0.0.1:9090".parse().unwrap(),
            token: None,
            state_file: PathBuf::from("state.redb"),
            limits: lifeline_model::AdminLimits::default(),
        },
        monitors: vec![Monitor {
            name: MonitorName::new("tcp"),
            kind: MonitorKind::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            retries: 2,
            rise: 2,
        }],
        pools: vec![pool("primary", &["p1", "p2"]), pool("backup", &["b1"])],
        clusters: Vec::new(),
        scorecards: Vec::new(),
        receivers: Vec::new(),
        load_balancers: vec![LoadBalancer {
            name: LoadBalancerName::new("api"),
            listeners: Vec::new(),
            hostnames: Vec::new(),
            routes: Route {
                default_pools: vec![PoolName::new("primary")],
                fallback_pool: Some(PoolName::new("backup")),
            },
            rules: Vec::new(),
            steering_policy: SteeringPolicy::Failover,
            region_pools: Vec::new(),
            regions: Vec::new(),
            region_header: None,
            session_affinity: SessionAffinity::None,
            try_timeout: Duration::from_secs(5),
            retries: 2,
            hedge_after: None,
            slow_start: Duration::ZERO,
            rto_alert: Duration::from_secs(3),
        }],
    })
}

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_millis(seconds * 1000)
}

fn check(state: &mut State, origin: &str, ok: bool, seconds: u64) -> Vec<Action> {
    let observation = Observation {
        origin: OriginName::new(origin),
        at: at(seconds),
        latency: Duration::from_millis(1),
        outcome: if ok {
            Ok(())
        } else {
            Err(CheckFailure::new(FailureKind::Connect, "refused"))
        },
        postgres: None,
    };
    decide(state, Input::Observation(observation), at(seconds))
}

fn kinds(actions: &[Action]) -> Vec<(EventKind, Option<String>, Option<String>, String)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Record(e) => Some((e.kind, e.old.clone(), e.new.clone(), e.reason.clone())),
            _ => None,
        })
        .collect()
}

fn all_healthy() -> State {
    let mut state = State::new(topology(), Overrides::default());
    for origin in ["p1", "p2", "b1"] {
        check(&mut state, origin, true, 0);
    }
    state
}

#[test]
fn the_first_active_pool_is_no_event_but_failover_and_failback_are() {
    let mut state = State::new(topology(), Overrides::default());
    let actions = check(&mut state, "p1", true, 0);
    assert!(
        kinds(&actions).iter().all(|k| k.0 != EventKind::Failover),
        "{actions:?}"
    );
    assert_eq!(
        state.snapshot(at(0), at(0)).load_balancers[0].active_pool,
        Some(PoolName::new("primary"))
    );

    check(&mut state, "p2", true, 0);
    check(&mut state, "b1", true, 0);
    // p1 fails at 10s, p2 at 11s; each goes down at its second failure.
    check(&mut state, "p1", false, 10);
    check(&mut state, "p1", false, 11);
    check(&mut state, "p2", false, 11);
    let actions = check(&mut state, "p2", false, 12);
    let failover = kinds(&actions)
        .into_iter()
        .find(|k| k.0 == EventKind::Failover)
        .unwrap();
    assert_eq!(
        (failover.1.as_deref(), failover.2.as_deref()),
        (Some("primary"), Some("backup"))
    );
    assert_eq!(
        failover.3,
        "primary cannot serve; traffic moved 1.0s after its first failed check"
    );
    assert!(
        !kinds(&actions)
            .iter()
            .any(|k| k.0 == EventKind::RtoExceeded),
        "1 s is within rto_alert"
    );
    assert!(actions.contains(&Action::PublishRouting));

    check(&mut state, "p1", true, 20);
    let actions = check(&mut state, "p1", true, 21);
    let failback = kinds(&actions)
        .into_iter()
        .find(|k| k.0 == EventKind::Failover)
        .unwrap();
    assert_eq!(
        (failback.1.as_deref(), failback.2.as_deref()),
        (Some("backup"), Some("primary"))
    );
    assert_eq!(failback.3, "primary can serve again");
    let routing = state.routing(7);
    assert_eq!(
        routing.pools[0].serving_since,
        Some(at(21)),
        "the failback ramp starts"
    );
    assert_eq!(routing.pools[0].origins[0].healthy_since, Some(at(21)));
}

#[test]
fn a_backup_checked_before_the_primary_is_no_failover() {
    let mut state = State::new(topology(), Overrides::default());
    let mut actions = check(&mut state, "b1", true, 0);
    actions.extend(check(&mut state, "p1", true, 0));
    actions.extend(check(&mut state, "p2", true, 0));
    assert!(
        kinds(&actions).iter().all(|k| k.0 != EventKind::Failover),
        "{actions:?}"
    );
    let status = state.snapshot(at(0), at(0));
    assert_eq!(
        status.load_balancers[0].active_pool,
        Some(PoolName::new("primary"))
    );
}

#[test]
fn a_slow_failover_raises_rto_exceeded_and_nothing_left_is_an_event() {
    let mut state = all_healthy();
    check(&mut state, "p1", false, 10);
    check(&mut state, "p1", false, 11);
    check(&mut state, "p2", false, 10);
    // Down 5 s after its first failure: more than rto_alert (3 s).
    let actions = check(&mut state, "p2", false, 15);
    let events = kinds(&actions);
    let rto = events
        .iter()
        .find(|k| k.0 == EventKind::RtoExceeded)
        .unwrap();
    assert_eq!(rto.3, "failover took 5.0s, more than rto_alert 3.0s");

    check(&mut state, "b1", false, 16);
    let actions = check(&mut state, "b1", false, 17);
    let nothing = kinds(&actions)
        .into_iter()
        .find(|k| k.0 == EventKind::Failover)
        .unwrap();
    assert_eq!(nothing.2.as_deref(), Some("none"));
    assert_eq!(nothing.3, "no pool can serve: requests get 503");
}

#[test]
fn ejection_takes_a_monitored_origin_out_at_once() {
    let mut state = all_healthy();
    let ejection = Ejection {
        origin: OriginName::new("p1"),
        at: at(5),
        consecutive_failures: 5,
        last_failure: CheckFailure::new(FailureKind::Status, "502"),
    };
    let actions = decide(&mut state, Input::Ejection(ejection.clone()), at(5));
    let events = kinds(&actions);
    assert_eq!(events[0].0, EventKind::OriginEjected);
    assert_eq!(events[1].0, EventKind::PoolStateChanged);
    assert!(!state.routing(1).pools[0].origins[0].healthy);
    assert!(
        decide(&mut state, Input::Ejection(ejection), at(6)).is_empty(),
        "already out"
    );
}

#[test]
fn force_and_drain_are_persisted_routed_and_recorded() {
    let mut state = all_healthy();
    let lb = LoadBalancerName::new("api");
    let target = ForceTarget::Pool(PoolName::new("backup"));
    let actions = decide(
        &mut state,
        Input::Force {
            load_balancer: lb.clone(),
            target: Some(target.clone()),
        },
        at(1),
    );
    assert_eq!(
        actions[0],
        Action::Persist {
            key: "overrides/force/api".into(),
            value: Some(Overrides::force_value(&target))
        }
    );
    let events = kinds(&actions);
    assert_eq!(events[0].0, EventKind::ForceSet);
    assert_eq!(events[0].2.as_deref(), Some("pool backup"));
    assert_eq!(
        events[1].0,
        EventKind::Failover,
        "forcing moves the traffic"
    );
    assert_eq!(state.routing(1).forced(&lb), Some(&target));
    assert!(
        decide(
            &mut state,
            Input::Force {
                load_balancer: lb.clone(),
                target: Some(target)
            },
            at(2)
        )
        .is_empty()
    );

    let actions = decide(
        &mut state,
        Input::Force {
            load_balancer: lb.clone(),
            target: None,
        },
        at(3),
    );
    assert_eq!(
        actions[0],
        Action::Persist {
            key: "overrides/force/api".into(),
            value: None
        }
    );
    assert_eq!(kinds(&actions)[0].0, EventKind::ForceCleared);
    assert!(state.routing(2).forced.is_empty());

    let actions = decide(
        &mut state,
        Input::Drain {
            origin: OriginName::new("p2"),
            draining: true,
        },
        at(4),
    );
    assert_eq!(kinds(&actions)[0].0, EventKind::OriginDrained);
    let routing = state.routing(3);
    assert!(routing.pools[0].origins[1].draining);
    assert!(!routing.pools[0].origins[1].is_available());
    assert!(state.snapshot(at(0), at(4)).pools[0].origins[1].draining);
    let actions = decide(
        &mut state,
        Input::Drain {
            origin: OriginName::new("p2"),
            draining: false,
        },
        at(5),
    );
    assert_eq!(kinds(&actions)[0].0, EventKind::OriginUndrained);
    assert!(
        decide(
            &mut state,
            Input::Drain {
                origin: OriginName::new("p2"),
                draining: false
            },
            at(6)
        )
        .is_empty()
    );
}

#[test]
fn commands_naming_nothing_are_refused() {
    let topology = topology();
    let lb = LoadBalancerName::new("api");
    assert!(
        super::super::check_force(
            &topology,
            &lb,
            Some(&ForceTarget::Pool(PoolName::new("backup")))
        )
        .is_ok()
    );
    assert_eq!(
        super::super::check_force(&topology, &LoadBalancerName::new("nope"), None),
        Err("no load balancer is named `nope`".to_string())
    );
    assert_eq!(
        super::super::check_force(
            &topology,
            &lb,
            Some(&ForceTarget::Origin(OriginName::new("zz")))
        ),
        Err("no origin is named `zz`".to_string())
    );
    assert!(super::super::check_drain(&topology, &OriginName::new("zz")).is_err());
}
