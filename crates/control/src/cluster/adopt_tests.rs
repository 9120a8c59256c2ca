//! Standbys as `pg_basebackup -R` makes them, and node hysteresis, with made-up facts.

use lifeline_model::{EventKind, NodeFacts, NodeName};

use super::tests::{Sim, cluster, has, primary_facts, replica, standby_facts};
use super::*;

/// A standby streaming from pg1 under `name` (`walreceiver` unless adopted).
fn streaming_as(name: &str, lsn: u64) -> NodeFacts {
    let mut facts = standby_facts(lsn, 5433, 50);
    if let Some(receiver) = &mut facts.receiver {
        receiver.application_name = Some(name.into());
    }
    facts
}

/// A primary whose `pg_stat_replication` shows its standbys under `names`.
fn primary_seeing(names: &[&str], lsn: u64) -> NodeFacts {
    let mut facts = primary_facts(lsn);
    facts.replicas = names.iter().map(|name| replica(name, lsn)).collect();
    facts
}

fn sync_sets(actions: &[ClusterAction]) -> Vec<Vec<NodeName>> {
    actions
        .iter()
        .filter_map(|a| match a {
            ClusterAction::SetSyncNames { members, .. } => Some(members.clone()),
            _ => None,
        })
        .collect()
}

fn kinds(actions: &[ClusterAction]) -> Vec<EventKind> {
    Sim::events(actions).into_iter().map(|(k, _)| k).collect()
}

/// A synchronous cluster as built by the manual: both standbys stream as `walreceiver`.
fn basebackup_cluster() -> (Sim, Vec<ClusterAction>) {
    let mut sim = Sim::new(cluster(|c| c.synchronous_mode = true));
    sim.check(0, 0, primary_seeing(&["walreceiver", "walreceiver"], 5000))
        .check(1, 0, streaming_as("walreceiver", 5000))
        .check(2, 0, streaming_as("walreceiver", 5000));
    let actions = sim.take();
    (sim, actions)
}

#[test]
fn standbys_streaming_as_walreceiver_are_renamed_and_never_named_before_the_primary_sees_them() {
    let (mut sim, actions) = basebackup_cluster();
    assert!(
        has(&actions, &ClusterAction::Adopt { node: 1 }),
        "{actions:?}"
    );
    assert!(
        has(&actions, &ClusterAction::Adopt { node: 2 }),
        "{actions:?}"
    );
    // No standby the primary could match: async, never a list that makes every commit wait.
    assert_eq!(
        sync_sets(&actions),
        vec![Vec::<NodeName>::new()],
        "{actions:?}"
    );
    assert!(!kinds(&actions).contains(&EventKind::StandbyUnidentified));

    // Renaming is ordered once, not on every check while it runs.
    sim.check(1, 500, streaming_as("walreceiver", 5000));
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::Adopt { .. }))
    );

    sim.done(ActionResult::Adopted { node: 1 }, 600)
        .done(ActionResult::Adopted { node: 2 }, 600);
    sim.done(
        ActionResult::SyncSet {
            members: vec![],
            lsn: 5000,
        },
        600,
    );
    let adopted = sim.take();
    assert_eq!(
        kinds(&adopted)
            .iter()
            .filter(|k| **k == EventKind::StandbyAdopted)
            .count(),
        2,
        "{adopted:?}"
    );

    // Once the primary shows pg2 under its name, pg2 (and only pg2) becomes synchronous.
    sim.check(1, 1000, streaming_as("pg2", 5000)).check(
        0,
        1000,
        primary_seeing(&["pg2", "walreceiver"], 5000),
    );
    let actions = sim.take();
    assert_eq!(
        sync_sets(&actions),
        vec![vec![NodeName::new("pg2")]],
        "{actions:?}"
    );
}

#[test]
fn a_standby_that_cannot_be_renamed_is_reported_left_out_and_tried_again_later() {
    let (mut sim, _) = basebackup_cluster();
    sim.done(
        ActionResult::Failed {
            node: 2,
            action: adopt::ADOPT,
            error: "permission denied to read primary_conninfo".into(),
        },
        100,
    );
    sim.check(0, 200, primary_seeing(&["pg2", "walreceiver"], 5000))
        .check(1, 200, streaming_as("pg2", 5000))
        .check(2, 200, streaming_as("walreceiver", 5000));
    let actions = sim.take();
    let events = Sim::events(&actions);
    let unidentified: Vec<_> = events
        .iter()
        .filter(|(k, _)| *k == EventKind::StandbyUnidentified)
        .collect();
    assert_eq!(unidentified.len(), 1, "{events:?}");
    assert!(
        unidentified[0].1.contains("walreceiver"),
        "{unidentified:?}"
    );
    assert!(!has(&actions, &ClusterAction::Adopt { node: 2 }));
    assert!(
        !sync_sets(&actions)
            .iter()
            .any(|set| set.contains(&NodeName::new("pg3")))
    );

    // Said once per incident; renaming is tried again after the retry delay.
    sim.check(2, 20_000, streaming_as("walreceiver", 5000));
    let later = sim.take();
    assert!(!kinds(&later).contains(&EventKind::StandbyUnidentified));
    assert!(!has(&later, &ClusterAction::Adopt { node: 2 }));
    sim.check(0, 30_200, primary_seeing(&["pg2", "walreceiver"], 5000))
        .check(1, 30_200, streaming_as("pg2", 5000))
        .check(2, 30_200, streaming_as("walreceiver", 5000));
    assert!(has(&sim.take(), &ClusterAction::Adopt { node: 2 }));
}

#[test]
fn a_node_that_was_down_needs_rise_good_checks_and_one_failed_check_moves_nothing() {
    let mut sim = Sim::healthy(cluster(|c| c.synchronous_mode = true), 5000);
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg2"), NodeName::new("pg3")],
            lsn: 5000,
        },
        10,
    );
    let mut synced = primary_facts(5000);
    synced.synchronous_standby_names =
        sync::sync_value(&[NodeName::new("pg2"), NodeName::new("pg3")]);
    sim.check(0, 20, synced.clone());
    sim.take();

    // One failed check of pg3: readers, membership and health stay as they are.
    sim.fail(2, 100).check(0, 100, synced);
    let flap = sim.take();
    assert!(
        !flap.iter().any(|a| matches!(
            a,
            ClusterAction::Route { .. } | ClusterAction::SetSyncNames { .. }
        )),
        "{flap:?}"
    );
    assert_eq!(sim.state.health(), ClusterHealth::Healthy);

    // Down after three; back only after two good checks in a row.
    sim.fail(2, 200).fail(2, 300);
    let down = sim.take();
    assert!(has(
        &down,
        &ClusterAction::Route {
            writer: Some(0),
            readers: vec![1]
        }
    ));
    sim.check(2, 400, standby_facts(5000, 5433, 50));
    let once = sim.take();
    assert!(
        !once
            .iter()
            .any(|a| matches!(a, ClusterAction::Route { .. })),
        "{once:?}"
    );
    assert!(!sim.state.nodes()[2].healthy);
    sim.check(2, 500, standby_facts(5000, 5433, 50));
    let back = sim.take();
    assert!(
        has(
            &back,
            &ClusterAction::Route {
                writer: Some(0),
                readers: vec![1, 2]
            }
        ),
        "{back:?}"
    );
    assert!(
        Sim::events(&back)
            .iter()
            .any(|(k, r)| *k == EventKind::NodeUp && r.contains("2 consecutive")),
        "{back:?}"
    );
}
