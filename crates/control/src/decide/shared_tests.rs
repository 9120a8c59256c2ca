//! Shared health: the leader's decisions route, this instance's own view is only shared.

use super::*;
use crate::decide::Verdict;

fn shared_state(clock: &mut Clock) -> State {
    let mut state = State::new(topology(vec![web_pool()]), Overrides::default());
    state.share_health();
    for origin in ["a", "b", "c"] {
        report(&mut state, clock, origin, true);
    }
    state
}

fn decided(
    state: &mut State,
    clock: &mut Clock,
    origin: &str,
    health: Option<Health>,
) -> Vec<Action> {
    let at = clock.tick();
    let verdict = health.map(|health| Verdict {
        health,
        reason: format!("2 of 3 instances see it {}", health.as_str()),
    });
    decide(
        state,
        Input::Verdicts {
            decisions: vec![(OriginName::new(origin), verdict)],
            at,
        },
        at,
    )
}

fn routed_healthy(state: &State) -> Vec<bool> {
    state.routing(1).pools[0]
        .origins
        .iter()
        .map(|origin| origin.healthy)
        .collect()
}

#[test]
fn before_the_leader_decides_an_instance_routes_by_its_own_view_and_shares_it() {
    let mut clock = Clock(0);
    let mut state = State::new(topology(vec![web_pool()]), Overrides::default());
    state.share_health();
    let actions = report(&mut state, &mut clock, "a", true);
    assert!(actions.contains(&Action::ShareView));
    assert_eq!(events(&actions)[0].0, EventKind::OriginUp);
    assert_eq!(state.health_of("a"), Some(Health::Healthy));
}

#[test]
fn once_the_leader_decides_an_instances_own_failures_are_only_shared() {
    let mut clock = Clock(0);
    let mut state = shared_state(&mut clock);
    decided(&mut state, &mut clock, "a", Some(Health::Healthy));

    report(&mut state, &mut clock, "a", false);
    let actions = report(&mut state, &mut clock, "a", false);
    assert_eq!(actions, vec![Action::ShareView]);
    assert_eq!(state.origin("a").unwrap().health, Health::Unhealthy);
    assert_eq!(state.health_of("a"), Some(Health::Healthy));
    assert_eq!(routed_healthy(&state), [true, true, true]);
    assert_eq!(
        state
            .own_views()
            .find(|(o, _)| o.as_str() == "a")
            .unwrap()
            .1,
        Health::Unhealthy
    );
}

#[test]
fn the_leaders_decision_takes_an_origin_out_with_its_reason_and_moves_the_pool() {
    let mut clock = Clock(0);
    let mut state = shared_state(&mut clock);
    decided(&mut state, &mut clock, "b", Some(Health::Healthy));
    let actions = decided(&mut state, &mut clock, "a", Some(Health::Unhealthy));
    let recorded = recorded(&actions);
    assert_eq!(recorded[0].kind, EventKind::OriginDown);
    assert_eq!(recorded[0].reason, "2 of 3 instances see it unhealthy");
    assert_eq!(recorded[0].new.as_deref(), Some("unhealthy"));
    assert!(actions.contains(&Action::PublishRouting));
    assert_eq!(routed_healthy(&state), [false, true, true]);
    // This instance saw it healthy all along: its own record still says so.
    assert_eq!(state.origin("a").unwrap().health, Health::Healthy);
    assert_eq!(
        state.snapshot(clock.tick(), clock.tick()).pools[0].origins[0]
            .health
            .health,
        Health::Unhealthy
    );

    let actions = decided(&mut state, &mut clock, "c", Some(Health::Unhealthy));
    assert_eq!(
        events(&actions)[1],
        (
            EventKind::PoolStateChanged,
            "web".into(),
            Some("down".into())
        )
    );
    assert_eq!(
        state.verdicts().count(),
        3,
        "every decision is kept for sharing: {:?}",
        state.verdicts().collect::<Vec<_>>()
    );
}

#[test]
fn the_same_decision_again_changes_nothing_and_a_withdrawn_one_hands_back_to_the_own_view() {
    let mut clock = Clock(0);
    let mut state = shared_state(&mut clock);
    assert!(!decided(&mut state, &mut clock, "a", Some(Health::Unhealthy)).is_empty());
    assert!(decided(&mut state, &mut clock, "a", Some(Health::Unhealthy)).is_empty());
    let actions = decided(&mut state, &mut clock, "a", None);
    assert_eq!(events(&actions)[0].0, EventKind::OriginUp);
    assert_eq!(state.health_of("a"), Some(Health::Healthy));
    assert_eq!(state.verdict_of("a"), None);
}

#[test]
fn without_sharing_nothing_is_shared() {
    let mut clock = Clock(0);
    let mut state = State::new(topology(vec![web_pool()]), Overrides::default());
    let actions = report(&mut state, &mut clock, "a", true);
    assert!(!actions.contains(&Action::ShareView));
}

#[test]
fn many_decisions_at_once_publish_one_routing_table() {
    let mut clock = Clock(0);
    let mut state = shared_state(&mut clock);
    let at = clock.tick();
    let down = |origin: &str| {
        let verdict = Verdict {
            health: Health::Unhealthy,
            reason: "3 of 3 instances see it down".into(),
        };
        (OriginName::new(origin), Some(verdict))
    };
    let decisions = vec![down("a"), down("b")];
    let actions = decide(&mut state, Input::Verdicts { decisions, at }, at);
    let published = actions
        .iter()
        .filter(|action| **action == Action::PublishRouting)
        .count();
    assert_eq!(published, 1, "{actions:?}");
    assert_eq!(routed_healthy(&state), [false, false, true]);
    assert_eq!(
        events(&actions).len(),
        4,
        "two origins down, the pool degraded then down"
    );
}
