//! Standbys as `pg_basebackup -R` makes them (streaming as `walreceiver`), and node hysteresis,
//! with made-up facts.

use lifeline_model::{EventKind, NodeFacts, NodeName};

use super::*;

/// A standby streaming from pg1 under `name` (`walreceiver` unless adopted).
fn streaming_as(name: &str, lsn: u64) -> NodeFacts {
    let mut facts = standby_facts(lsn, 5433, 50);
    if let Some(upstream) = &mut facts.upstream {
        upstream.name = Some(name.into());
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
            ClusterAction::SetSync { members, .. } => Some(members.clone()),
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
    sim.check(
        PG1,
        0,
        primary_seeing(&["walreceiver", "walreceiver"], 5000),
    )
    .check(PG2, 0, streaming_as("walreceiver", 5000))
    .check(PG3, 0, streaming_as("walreceiver", 5000));
    let actions = sim.take();
    (sim, actions)
}

#[test]
fn standbys_streaming_as_walreceiver_are_renamed_and_never_named_before_the_primary_sees_them() {
    let (mut sim, actions) = basebackup_cluster();
    assert!(
        has(&actions, &ClusterAction::Adopt { node: PG2 }),
        "{actions:?}"
    );
    assert!(
        has(&actions, &ClusterAction::Adopt { node: PG3 }),
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
    sim.check(PG2, 500, streaming_as("walreceiver", 5000));
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::Adopt { .. }))
    );

    sim.done(ActionResult::Adopted { node: PG2 }, 600)
        .done(ActionResult::Adopted { node: PG3 }, 600);
    sim.done(
        ActionResult::SyncSet {
            members: vec![],
            position: 5000,
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
    sim.check(PG2, 1000, streaming_as("pg2", 5000)).check(
        PG1,
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
            node: PG3,
            action: ActionKind::Adopt,
            error: "permission denied to read primary_conninfo".into(),
        },
        100,
    );
    sim.check(PG1, 200, primary_seeing(&["pg2", "walreceiver"], 5000))
        .check(PG2, 200, streaming_as("pg2", 5000))
        .check(PG3, 200, streaming_as("walreceiver", 5000));
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
    assert!(!has(&actions, &ClusterAction::Adopt { node: PG3 }));
    assert!(
        !sync_sets(&actions)
            .iter()
            .any(|set| set.contains(&NodeName::new("pg3")))
    );

    // Said once per incident; renaming is tried again after the retry delay.
    sim.check(PG3, 20_000, streaming_as("walreceiver", 5000));
    let later = sim.take();
    assert!(!kinds(&later).contains(&EventKind::StandbyUnidentified));
    assert!(!has(&later, &ClusterAction::Adopt { node: PG3 }));
    sim.check(PG1, 30_200, primary_seeing(&["pg2", "walreceiver"], 5000))
        .check(PG2, 30_200, streaming_as("pg2", 5000))
        .check(PG3, 30_200, streaming_as("walreceiver", 5000));
    assert!(has(&sim.take(), &ClusterAction::Adopt { node: PG3 }));
}

#[test]
fn a_node_that_was_down_needs_rise_good_checks_and_one_failed_check_moves_nothing() {
    let mut sim = Sim::healthy(cluster(|c| c.synchronous_mode = true), 5000);
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg2"), NodeName::new("pg3")],
            position: 5000,
        },
        10,
    );
    let mut synced = primary_facts(5000);
    synced.synchronous = vec!["pg2".into(), "pg3".into()];
    sim.check(PG1, 20, synced.clone());
    sim.take();

    // One failed check of pg3: readers, membership and health stay as they are.
    sim.fail(PG3, 100).check(PG1, 100, synced);
    let flap = sim.take();
    assert!(
        !flap.iter().any(|a| matches!(
            a,
            ClusterAction::Route { .. } | ClusterAction::SetSync { .. }
        )),
        "{flap:?}"
    );
    assert_eq!(sim.state.health(), ClusterHealth::Healthy);

    // Down after three; back only after two good checks in a row.
    sim.fail(PG3, 200).fail(PG3, 300);
    let down = sim.take();
    assert!(has(
        &down,
        &ClusterAction::Route {
            writer: Some(PG1),
            readers: vec![PG2]
        }
    ));
    sim.check(PG3, 400, standby_facts(5000, 5433, 50));
    let once = sim.take();
    assert!(
        !once
            .iter()
            .any(|a| matches!(a, ClusterAction::Route { .. })),
        "{once:?}"
    );
    assert!(!sim.state.node(PG3).healthy);
    sim.check(PG3, 500, standby_facts(5000, 5433, 50));
    let back = sim.take();
    assert!(
        has(
            &back,
            &ClusterAction::Route {
                writer: Some(PG1),
                readers: vec![PG2, PG3]
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
