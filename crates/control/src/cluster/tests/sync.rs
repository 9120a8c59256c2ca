//! Synchronous mode: the names Lifeline sets, and promoting only a proven standby.

use super::*;

#[test]
fn synchronous_mode_manages_the_names_and_promotes_only_a_proven_standby() {
    let mut sim = Sim::new(cluster(|c| c.synchronous_mode = true));
    sim.check(PG1, 0, primary_facts(5000))
        .check(PG2, 0, standby_facts(5000, 5433, 100));
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::SetSync { .. })),
        "not before every node answered"
    );
    sim.check(PG3, 0, standby_facts(5000, 5433, 100));
    let actions = sim.take();
    let members = vec![NodeName::new("pg2"), NodeName::new("pg3")];
    assert!(
        has(
            &actions,
            &ClusterAction::SetSync {
                primary: PG1,
                members: members.clone()
            }
        ),
        "{actions:?}"
    );
    sim.done(
        ActionResult::SyncSet {
            members,
            position: 5000,
        },
        200,
    );
    let mut synced = primary_facts(6000);
    synced.synchronous = vec!["pg2".into(), "pg3".into()];
    sim.check(PG1, 300, synced);
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::SetSync { .. })),
        "settled"
    );

    // pg3 unreachable when the primary dies: pg2 cannot be proven to hold every commit.
    sim.fail(PG3, 900).fail(PG3, 950).fail(PG3, 1000);
    sim.fail(PG1, 1100)
        .check(PG2, 1150, cut_off(standby_facts(6000, 5433, 0)))
        .fail(PG1, 1200)
        .fail(PG1, 1300);
    let actions = sim.take();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. }))
    );
    let events = Sim::events(&actions);
    assert!(
        events
            .iter()
            .any(|(k, r)| *k == EventKind::FailoverRefused && r.contains("pg3 is unreachable")),
        "{events:?}"
    );

    // pg3 is back (two good checks: `rise`): the more advanced of the two is proven.
    sim.check(PG3, 1350, cut_off(standby_facts(6100, 5433, 0)))
        .check(PG3, 1400, cut_off(standby_facts(6100, 5433, 0)))
        .check(PG2, 1400, cut_off(standby_facts(6000, 5433, 0)))
        .fail(PG1, 1500);
    assert!(has(&sim.take(), &ClusterAction::Promote { node: PG3 }));
}

#[test]
fn strict_synchronous_mode_keeps_writes_waiting_without_standbys() {
    let mut sim = Sim::healthy(
        cluster(|c| {
            c.synchronous_mode = true;
            c.synchronous_mode_strict = true;
        }),
        5000,
    );
    let mut synced = primary_facts(5000);
    synced.synchronous = vec!["pg2".into(), "pg3".into()];
    sim.check(PG1, 40, synced.clone());
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg2"), NodeName::new("pg3")],
            position: 5000,
        },
        50,
    );
    sim.take();
    for at in [100, 200, 300] {
        sim.fail(PG2, at).fail(PG3, at);
    }
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg3")],
            position: 5000,
        },
        350,
    );
    sim.check(PG1, 400, synced);
    let actions = sim.take();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, ClusterAction::SetSync { members, .. } if members.is_empty())),
        "strict: never degrades to async: {actions:?}"
    );

    let mut sim = Sim::healthy(cluster(|c| c.synchronous_mode = true), 5000);
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg2"), NodeName::new("pg3")],
            position: 5000,
        },
        50,
    );
    sim.take();
    for at in [100, 200, 300] {
        sim.fail(PG2, at);
    }
    assert!(has(
        &sim.take(),
        &ClusterAction::SetSync {
            primary: PG1,
            members: vec![NodeName::new("pg3")]
        }
    ));
    for at in [100, 200, 300] {
        sim.fail(PG3, at);
    }
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg3")],
            position: 5000,
        },
        350,
    );
    assert!(
        has(
            &sim.take(),
            &ClusterAction::SetSync {
                primary: PG1,
                members: vec![]
            }
        ),
        "not strict: degrade to async"
    );
}
