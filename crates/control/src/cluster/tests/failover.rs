//! Discovery, failover decisions, restarts, split brain and the reader pool.

use super::*;

#[test]
fn discovers_the_primary_and_routes_writer_and_readers() {
    let mut sim = Sim::new(cluster(|_| {}));
    sim.check(PG1, 0, primary_facts(1000))
        .check(PG2, 0, standby_facts(1000, 5433, 50))
        .check(PG3, 0, standby_facts(1000, 5433, 50));
    let actions = sim.take();
    assert_eq!(sim.state.primary(), Some(PG1));
    assert!(
        has(
            &actions,
            &ClusterAction::Route {
                writer: Some(PG1),
                readers: vec![PG2, PG3]
            }
        ),
        "{actions:?}"
    );
    assert_eq!(sim.state.health(), ClusterHealth::Healthy);
}

#[test]
fn a_dead_primary_is_replaced_by_the_most_advanced_standby_after_the_threshold() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    sim.check(PG2, 900, cut_off(standby_facts(4990, 5433, 0)))
        .check(PG3, 900, cut_off(standby_facts(5000, 5433, 0)));
    sim.fail(PG1, 1000).fail(PG1, 1250);
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. })),
        "not before the threshold"
    );
    // Standby facts from after the first failure are needed.
    sim.check(PG2, 1300, cut_off(standby_facts(4990, 5433, 0)))
        .check(PG3, 1300, cut_off(standby_facts(5000, 5433, 0)));
    sim.fail(PG1, 1500);
    let actions = sim.take();
    assert!(
        has(&actions, &ClusterAction::Promote { node: PG3 }),
        "pg3 has the most WAL: {actions:?}"
    );
    assert!(
        has(
            &actions,
            &ClusterAction::Route {
                writer: None,
                readers: vec![]
            }
        ),
        "writer holds during promotion"
    );
    assert!(actions.iter().any(
        |a| matches!(a, ClusterAction::Persist(r) if r.promoting == Some(NodeName::new("pg3")))
    ));
    assert_eq!(sim.state.health(), ClusterHealth::FailoverInProgress);

    sim.done(
        ActionResult::Promoted {
            node: PG3,
            timeline: Some(2),
        },
        1700,
    );
    let actions = sim.take();
    assert_eq!(sim.state.primary(), Some(PG3));
    assert_eq!(sim.state.record().epoch, 1);
    assert_eq!(sim.state.record().retired, vec![NodeName::new("pg1")]);
    assert!(
        has(
            &actions,
            &ClusterAction::Follow {
                node: PG2,
                primary: PG3
            }
        ),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        ClusterAction::Route {
            writer: Some(PG3),
            ..
        }
    )));
    let events = Sim::events(&actions);
    assert!(
        events
            .iter()
            .any(|(k, r)| *k == EventKind::FailoverCompleted && r.contains("took 0.200s")),
        "{events:?}"
    );
    assert!(events.iter().any(|(k, _)| *k == EventKind::NeedsRejoin));
    assert_eq!(sim.state.health(), ClusterHealth::FailoverComplete);
}

#[test]
fn no_failover_while_standbys_still_hear_the_primary() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    sim.fail(PG1, 1000).fail(PG1, 1250).fail(PG1, 1500);
    sim.check(PG2, 1600, standby_facts(5000, 5433, 400)).check(
        PG3,
        1600,
        standby_facts(5000, 5433, 400),
    );
    let actions = sim.take();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. })),
        "{actions:?}"
    );
    let events = Sim::events(&actions);
    assert!(
        events
            .iter()
            .any(|(k, r)| *k == EventKind::PrimaryUnreachable && r.contains("pg2 still streams")),
        "{events:?}"
    );
    // A hung primary: the standbys stop hearing from it, and then it is replaced.
    sim.check(PG2, 5000, standby_facts(5000, 5433, 3600))
        .check(PG3, 5000, standby_facts(5000, 5433, 3600))
        .fail(PG1, 5100);
    assert!(
        sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. }))
    );
}

#[test]
fn a_lagging_standby_is_refused_unless_forced() {
    let mut sim = Sim::new(cluster(|c| c.nodes.truncate(2)));
    sim.check(PG1, 0, primary_facts(10 * 1024 * 1024))
        .check(PG2, 0, standby_facts(1024, 5433, 10));
    sim.fail(PG1, 1000)
        .fail(PG1, 1100)
        .check(PG2, 1150, cut_off(standby_facts(1024, 5433, 0)))
        .fail(PG1, 1200);
    let events = Sim::events(&sim.take());
    assert!(
        events
            .iter()
            .any(|(k, r)| *k == EventKind::FailoverRefused && r.contains("bytes behind")),
        "{events:?}"
    );

    let now = ms(1300);
    let refused = plan_request(&sim.state, Some(&NodeName::new("pg2")), false, now).unwrap_err();
    assert!(
        matches!(&refused, OperationError::Refused(why) if why.contains("maximum_lag_on_failover")),
        "{refused}"
    );
    assert_eq!(
        plan_request(&sim.state, Some(&NodeName::new("pg7")), true, now),
        Err(OperationError::UnknownNode {
            cluster: ClusterName::new("main"),
            node: NodeName::new("pg7")
        })
    );
    assert_eq!(
        plan_request(&sim.state, Some(&NodeName::new("pg2")), true, now),
        Ok(Plan::Failover { candidate: PG2 })
    );
}

#[test]
fn a_fresh_cluster_killed_before_its_standby_streamed_refuses() {
    // The standby's own facts say it has received nothing: lag is read from the node, not from
    // stale shared state (the Patroni trap).
    let mut sim = Sim::new(cluster(|c| c.nodes.truncate(2)));
    let mut empty = cut_off(standby_facts(0, 5433, 0));
    empty.position = None;
    sim.check(PG1, 0, primary_facts(50 * 1024 * 1024))
        .check(PG2, 0, empty.clone());
    sim.fail(PG1, 1000)
        .fail(PG1, 1100)
        .check(PG2, 1150, empty)
        .fail(PG1, 1200);
    let actions = sim.take();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. }))
    );
    assert!(
        Sim::events(&actions)
            .iter()
            .any(|(k, _)| *k == EventKind::FailoverRefused)
    );
}

#[test]
fn a_restart_mid_failover_resumes_the_same_promotion() {
    let record = ClusterRecord {
        primary: Some(NodeName::new("pg1")),
        epoch: 4,
        promoting: Some(NodeName::new("pg2")),
        ..ClusterRecord::default()
    };
    // pg2 was promoted before the restart: finish, don't promote again.
    let mut sim = Sim::with_record(cluster(|_| {}), record.clone());
    sim.fail(PG1, 0);
    sim.check(PG3, 5, standby_facts(7000, 5434, 0));
    sim.check(PG2, 10, primary_facts(7000));
    let actions = sim.take();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. })),
        "{actions:?}"
    );
    assert_eq!(sim.state.primary(), Some(PG2));
    assert_eq!(sim.state.record().epoch, 5);
    // pg2 was not promoted yet: order the same promotion again, and only that one.
    let mut sim = Sim::with_record(cluster(|_| {}), record);
    sim.fail(PG1, 0);
    sim.check(PG3, 5, standby_facts(9000, 5433, 0));
    sim.check(PG2, 10, standby_facts(7000, 5433, 0));
    let actions = sim.take();
    let promotes: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, ClusterAction::Promote { .. }))
        .collect();
    assert_eq!(promotes, vec![&ClusterAction::Promote { node: PG2 }]);
}

#[test]
fn two_writable_primaries_resolve_by_timeline_or_hold_the_writer() {
    let mut sim = Sim::new(cluster(|_| {}));
    let mut newer = primary_facts(100);
    newer.timeline = Some(2);
    sim.check(PG1, 0, primary_facts(500))
        .check(PG2, 0, newer)
        .check(PG3, 0, standby_facts(100, 5434, 0));
    let actions = sim.take();
    assert_eq!(sim.state.primary(), Some(PG2));
    assert!(
        Sim::events(&actions)
            .iter()
            .any(|(k, _)| *k == EventKind::SplitBrain)
    );
    assert_eq!(sim.state.record().retired, vec![NodeName::new("pg1")]);

    let mut sim = Sim::new(cluster(|_| {}));
    sim.check(PG1, 0, primary_facts(500))
        .check(PG2, 0, primary_facts(100))
        .check(PG3, 0, standby_facts(100, 5433, 0));
    let actions = sim.take();
    assert_eq!(sim.state.primary(), None);
    assert!(!actions.iter().any(|a| matches!(
        a,
        ClusterAction::Route {
            writer: Some(_),
            ..
        }
    )));
    assert!(
        Sim::events(&actions)
            .iter()
            .any(|(k, r)| *k == EventKind::SplitBrain && r.contains("neither"))
    );
}

#[test]
fn a_killed_standby_leaves_the_reader_pool() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    sim.fail(PG3, 100).fail(PG3, 200).fail(PG3, 300);
    let actions = sim.take();
    assert!(
        has(
            &actions,
            &ClusterAction::Route {
                writer: Some(PG1),
                readers: vec![PG2]
            }
        ),
        "{actions:?}"
    );
    assert_eq!(sim.state.health(), ClusterHealth::Degraded);
}
