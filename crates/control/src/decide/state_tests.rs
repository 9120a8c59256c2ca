use std::path::PathBuf;
use std::time::Duration;

use lifeline_model::{
    AdminSettings, CheckFailure, FailureKind, HostPort, Monitor, MonitorKind, MonitorName, Origin,
    OriginProtocol, Pool, PoolName,
};

use super::super::Overrides;
use super::*;

fn origin(name: &str, port: u16) -> Origin {
    Origin {
        name: OriginName::new(name),
        address: HostPort {
            host: "127.0.0.1".into(),
            port,
        },
        weight: 1,
        enabled: true,
    }
}

fn topology(pools: Vec<Pool>) -> Arc<Topology> {
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
        pools,
        clusters: Vec::new(),
        scorecards: Vec::new(),
        receivers: Vec::new(),
        load_balancers: Vec::new(),
    })
}

fn web_pool() -> Pool {
    Pool {
        name: PoolName::new("web"),
        monitor: Some(MonitorName::new("tcp")),
        origins: vec![origin("a", 1), origin("b", 2), origin("c", 3)],
        minimum_origins: 2,
        origin_protocol: OriginProtocol::Http,
        eject_after: 5,
    }
}

/// A fake clock: each call is one second later.
struct Clock(u64);

impl Clock {
    fn tick(&mut self) -> Timestamp {
        self.0 += 1;
        Timestamp::from_millis(self.0 * 1000)
    }
}

fn report(state: &mut State, clock: &mut Clock, origin: &str, ok: bool) -> Vec<Action> {
    let at = clock.tick();
    let observation = Observation {
        origin: OriginName::new(origin),
        at,
        latency: Duration::from_millis(3),
        outcome: if ok {
            Ok(())
        } else {
            Err(CheckFailure::new(
                FailureKind::Connect,
                "connection refused",
            ))
        },
        postgres: None,
    };
    decide(state, Input::Observation(observation), at)
}

fn events(actions: &[Action]) -> Vec<(EventKind, String, Option<String>)> {
    recorded(actions)
        .into_iter()
        .map(|event| (event.kind, event.subject.clone(), event.new.clone()))
        .collect()
}

fn recorded(actions: &[Action]) -> Vec<&NewEvent> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Record(event) => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn pool_goes_from_unknown_to_healthy_as_origins_are_checked() {
    let mut state = State::new(topology(vec![web_pool()]), Overrides::default());
    let mut clock = Clock(0);
    assert_eq!(state.pool_state("web"), Some(PoolState::Unknown));
    assert!(!state.all_checked());

    assert_eq!(events(&report(&mut state, &mut clock, "a", true)).len(), 1);
    let actions = report(&mut state, &mut clock, "b", true);
    assert_eq!(
        events(&actions)[1],
        (
            EventKind::PoolStateChanged,
            "web".into(),
            Some("degraded".into())
        )
    );
    let actions = report(&mut state, &mut clock, "c", true);
    assert_eq!(
        events(&actions)[1],
        (
            EventKind::PoolStateChanged,
            "web".into(),
            Some("healthy".into())
        )
    );
    assert!(state.all_checked());
}

#[test]
fn pool_degrades_then_goes_down_against_minimum_origins() {
    let mut state = State::new(topology(vec![web_pool()]), Overrides::default());
    let mut clock = Clock(0);
    for name in ["a", "b", "c"] {
        report(&mut state, &mut clock, name, true);
    }

    assert!(
        report(&mut state, &mut clock, "a", false).is_empty(),
        "one failure is not enough"
    );
    let actions = report(&mut state, &mut clock, "a", false);
    assert_eq!(
        events(&actions),
        vec![
            (EventKind::OriginDown, "a".into(), Some("unhealthy".into())),
            (
                EventKind::PoolStateChanged,
                "web".into(),
                Some("degraded".into())
            ),
        ]
    );
    let pool_event = recorded(&actions)[1];
    assert_eq!(pool_event.old.as_deref(), Some("healthy"));
    assert_eq!(
        pool_event.reason,
        "2 of 3 enabled origins healthy, minimum 2"
    );

    report(&mut state, &mut clock, "b", false);
    let actions = report(&mut state, &mut clock, "b", false);
    assert_eq!(events(&actions)[1].2.as_deref(), Some("down"));
    assert_eq!(state.pool_state("web"), Some(PoolState::Down));

    report(&mut state, &mut clock, "a", true);
    let actions = report(&mut state, &mut clock, "a", true);
    assert_eq!(
        events(&actions),
        vec![
            (EventKind::OriginUp, "a".into(), Some("healthy".into())),
            (
                EventKind::PoolStateChanged,
                "web".into(),
                Some("degraded".into())
            ),
        ]
    );
}

#[test]
fn pool_without_monitor_is_healthy_from_the_start() {
    let mut pool = web_pool();
    pool.monitor = None;
    let state = State::new(topology(vec![pool]), Overrides::default());
    assert_eq!(state.pool_state("web"), Some(PoolState::Healthy));
    assert_eq!(state.origin("a").unwrap().health, Health::Healthy);
    assert!(state.all_checked());
}

#[test]
fn disabled_origins_are_ignored() {
    let mut pool = web_pool();
    pool.origins[2].enabled = false;
    let mut state = State::new(topology(vec![pool]), Overrides::default());
    let mut clock = Clock(0);
    assert!(report(&mut state, &mut clock, "c", true).is_empty());
    report(&mut state, &mut clock, "a", true);
    report(&mut state, &mut clock, "b", true);
    assert_eq!(state.pool_state("web"), Some(PoolState::Healthy));
    assert!(state.all_checked());
}

#[test]
fn observations_for_unknown_origins_are_dropped() {
    let mut state = State::new(topology(vec![web_pool()]), Overrides::default());
    let mut clock = Clock(0);
    assert!(report(&mut state, &mut clock, "gone", false).is_empty());
}

#[test]
fn reload_keeps_health_of_unchanged_origins_only() {
    let mut state = State::new(topology(vec![web_pool()]), Overrides::default());
    let mut clock = Clock(0);
    for name in ["a", "b", "c"] {
        report(&mut state, &mut clock, name, true);
    }

    let mut pool = web_pool();
    pool.origins[1].address.port = 20; // b moved: its old health says nothing about the new address
    pool.origins.remove(2); // c removed
    pool.origins.push(origin("d", 4)); // d added
    let now = clock.tick();
    let actions = decide(&mut state, Input::Reload(topology(vec![pool])), now);

    assert_eq!(state.origin("a").unwrap().health, Health::Healthy);
    assert_eq!(state.origin("b").unwrap().health, Health::Unknown);
    assert!(state.origin("c").is_none());
    assert_eq!(state.origin("d").unwrap().health, Health::Unknown);
    let reloaded = recorded(&actions)[0];
    assert_eq!(reloaded.kind, EventKind::ConfigReloaded);
    assert_eq!(
        reloaded.reason,
        "1 pools, 3 origins: 1 added, 1 removed, 1 kept their health"
    );
    assert_eq!(
        events(&actions)[1],
        (
            EventKind::PoolStateChanged,
            "web".into(),
            Some("unknown".into())
        )
    );
}

#[test]
fn snapshot_reports_every_pool_and_origin() {
    let mut state = State::new(topology(vec![web_pool()]), Overrides::default());
    let mut clock = Clock(0);
    report(&mut state, &mut clock, "a", true);
    report(&mut state, &mut clock, "b", false);
    let snapshot = state.snapshot(Timestamp::from_millis(0), clock.tick());
    let pool = &snapshot.pools[0];
    assert_eq!(pool.healthy_origins, 1);
    assert_eq!(pool.origins.len(), 3);
    assert_eq!(
        pool.origins[1].health.last_error.as_deref(),
        Some("connect: connection refused")
    );
    assert_eq!(pool.origins[0].address, "127.0.0.1:1");
    assert!(!snapshot.all_checked);
}

#[path = "shared_tests.rs"]
mod shared;
