//! Old primaries: never the writer again, rejoined by the command, retried.

use super::*;

/// pg1 failed over to pg2 and came back writable: the actions of that check of pg1.
fn old_primary_back() -> (Sim, Vec<ClusterAction>) {
    let mut sim = Sim::healthy(
        cluster(|c| c.rejoin_command = Some("rejoin {node}".into())),
        5000,
    );
    sim.check(PG2, 900, cut_off(standby_facts(5000, 5433, 0)))
        .check(PG3, 900, cut_off(standby_facts(5000, 5433, 0)));
    sim.fail(PG1, 1000).fail(PG1, 1100).fail(PG1, 1200);
    sim.done(
        ActionResult::Promoted {
            node: PG2,
            timeline: Some(2),
        },
        1300,
    );
    // Down for three checks, it counts again after `rise` (2) good ones.
    sim.check(PG1, 1900, primary_facts(5100));
    sim.take();
    sim.check(PG1, 2000, primary_facts(5100));
    let actions = sim.take();
    (sim, actions)
}

#[test]
fn an_old_primary_back_as_a_writable_node_never_gets_the_writer_and_rejoins() {
    let (mut sim, actions) = old_primary_back();
    assert_eq!(sim.state.primary(), Some(PG2));
    assert!(
        has(
            &actions,
            &ClusterAction::Rejoin {
                node: PG1,
                primary: PG2
            }
        ),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| matches!(
        a,
        ClusterAction::Route {
            writer: Some(PG1),
            ..
        }
    )));
    sim.check(PG1, 3000, standby_facts(5200, 5434, 10))
        .check(PG2, 3000, primary_facts(5200))
        .check(PG3, 3000, standby_facts(5200, 5434, 10));
    let actions = sim.take();
    assert!(
        Sim::events(&actions)
            .iter()
            .any(|(k, _)| *k == EventKind::Rejoined)
    );
    assert!(sim.state.record().retired.is_empty());
    assert_eq!(sim.state.health(), ClusterHealth::Healthy);
    assert!(actions.iter().any(
        |a| matches!(a, ClusterAction::Route { writer: Some(PG2), readers } if readers.contains(&PG1))
    ));
}

/// [`old_primary_back`], its first rejoin ordered.
fn old_primary_rejoining() -> Sim {
    let (sim, actions) = old_primary_back();
    assert_eq!(rejoins(&actions), 1, "{actions:?}");
    sim
}

/// Checks every node at `at`: pg2 primary, pg3 streaming from it, pg1 as `old`.
fn check_all(sim: &mut Sim, at: u64, old: NodeFacts) -> Vec<ClusterAction> {
    sim.check(PG1, at, old)
        .check(PG2, at, primary_facts(5200))
        .check(PG3, at, standby_facts(5200, 5434, 10));
    sim.take()
}

fn rejoins(actions: &[ClusterAction]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, ClusterAction::Rejoin { node: PG1, .. }))
        .count()
}

#[test]
fn a_running_rejoin_is_never_ordered_twice() {
    let mut sim = old_primary_rejoining();
    for at in [10_000, 40_000, 90_000] {
        let actions = check_all(&mut sim, at, primary_facts(5100));
        assert_eq!(rejoins(&actions), 0, "at {at}: {actions:?}");
    }
    assert_eq!(sim.state.health(), ClusterHealth::RecoveryInProgress);
}

#[test]
fn a_failed_rejoin_is_run_again_after_the_retry_delay() {
    let mut sim = old_primary_rejoining();
    sim.done(
        ActionResult::Failed {
            node: PG1,
            action: ActionKind::Rejoin,
            error: "pg_rewind exited with 1".into(),
        },
        5_000,
    );
    let early = check_all(&mut sim, 5_000 + 29_000, primary_facts(5100));
    assert_eq!(rejoins(&early), 0, "{early:?}");
    let due = check_all(&mut sim, 5_000 + 30_000, primary_facts(5100));
    assert_eq!(rejoins(&due), 1, "{due:?}");
    assert!(
        Sim::events(&due)
            .iter()
            .any(|(k, r)| *k == EventKind::NeedsRejoin && r.contains("again")),
        "{due:?}"
    );
}

#[test]
fn a_rejoined_node_that_never_streams_is_rejoined_again() {
    let mut sim = old_primary_rejoining();
    sim.done(ActionResult::Rejoined { node: PG1 }, 5_000);
    // A standby again, but its WAL receiver never streams (pg_rewind skipped a needed rewind).
    let not_streaming = || cut_off(standby_facts(5100, 5434, 0));
    let early = check_all(&mut sim, 20_000, not_streaming());
    assert_eq!(rejoins(&early), 0, "{early:?}");
    assert_eq!(sim.state.health(), ClusterHealth::RecoveryInProgress);
    let due = check_all(&mut sim, 35_000, not_streaming());
    assert_eq!(rejoins(&due), 1, "{due:?}");

    // The second run works: it streams, leaves the retired list and no third run follows.
    sim.done(ActionResult::Rejoined { node: PG1 }, 40_000);
    check_all(&mut sim, 41_000, standby_facts(5200, 5434, 10));
    assert!(sim.state.record().retired.is_empty());
    assert_eq!(sim.state.health(), ClusterHealth::Healthy);
    let later = check_all(&mut sim, 90_000, standby_facts(5200, 5434, 10));
    assert_eq!(rejoins(&later), 0, "{later:?}");
}
