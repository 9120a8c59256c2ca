//! Several instances: a follower routes by the leader's record and orders nothing; a new leader
//! finishes the promotion its predecessor stored, once.

use super::*;

impl Sim {
    fn role(&mut self, leading: bool, record: Option<ClusterRecord>, at: u64) -> &mut Self {
        self.input(ClusterInput::Role { leading, record }, at)
    }

    fn stored(&mut self, record: ClusterRecord, at: u64) -> &mut Self {
        self.input(ClusterInput::Stored(record), at)
    }
}

fn record(primary: &str, epoch: u64, promoting: Option<&str>) -> ClusterRecord {
    ClusterRecord {
        primary: Some(NodeName::new(primary)),
        epoch,
        promoting: promoting.map(NodeName::new),
        ..ClusterRecord::default()
    }
}

fn writers(actions: &[ClusterAction]) -> Vec<Option<NodeId>> {
    actions
        .iter()
        .filter_map(|a| match a {
            ClusterAction::Route { writer, .. } => Some(*writer),
            _ => None,
        })
        .collect()
}

#[test]
fn a_follower_orders_and_records_nothing_when_the_primary_dies() {
    let mut sim = Sim::new(cluster(|_| {}));
    sim.role(false, None, 0)
        .stored(record("pg1", 1, None), 0)
        .check(PG1, 0, primary_facts(5000))
        .check(PG2, 0, standby_facts(5000, 5433, 100))
        .check(PG3, 0, standby_facts(5000, 5433, 100));
    assert_eq!(writers(&sim.take()), [Some(PG1)]);

    for at in [1000, 1250, 1500, 1750] {
        sim.check(PG2, at - 50, cut_off(standby_facts(5000, 5433, 0)))
            .check(PG3, at - 50, cut_off(standby_facts(5000, 5433, 0)))
            .fail(PG1, at);
    }
    let actions = sim.take();
    assert!(
        actions
            .iter()
            .all(|a| matches!(a, ClusterAction::Route { .. })),
        "a follower only routes: {actions:?}"
    );
    assert_eq!(
        writers(&actions),
        [None],
        "the dead primary loses the writer"
    );
    assert_eq!(
        sim.state.primary(),
        Some(PG1),
        "only the leader says who is primary"
    );
}

#[test]
fn a_follower_moves_its_writer_only_when_the_leaders_record_does() {
    let mut sim = Sim::new(cluster(|_| {}));
    sim.role(false, None, 0)
        .stored(record("pg1", 1, None), 0)
        .fail(PG1, 0)
        .check(PG2, 0, standby_facts(5000, 5433, 100))
        .check(PG3, 0, standby_facts(5000, 5433, 100));
    sim.take();
    // pg2 was promoted: the follower sees it writable before the leader's record says so.
    sim.check(PG2, 1000, primary_facts(5100));
    assert_eq!(writers(&sim.take()), Vec::<Option<NodeId>>::new());
    sim.stored(record("pg2", 2, None), 1100);
    assert_eq!(writers(&sim.take()), [Some(PG2)]);
}

#[test]
fn a_new_leader_finishes_the_stored_promotion_once() {
    let mut sim = Sim::new(cluster(|_| {}));
    sim.role(false, None, 0)
        .stored(record("pg1", 1, None), 0)
        .fail(PG1, 0)
        .check(PG2, 0, standby_facts(7000, 5433, 0))
        .check(PG3, 0, standby_facts(9000, 5433, 0));
    sim.take();
    // The old leader stored its promotion of pg2 and died before seeing it done.
    sim.role(true, Some(record("pg1", 1, Some("pg2"))), 100);
    let actions = sim.take();
    let promotes: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, ClusterAction::Promote { .. }))
        .collect();
    assert_eq!(
        promotes,
        [&ClusterAction::Promote { node: PG2 }],
        "the stored promotion, not the most advanced standby: {actions:?}"
    );
    sim.done(
        ActionResult::Promoted {
            node: PG2,
            timeline: Some(2),
        },
        300,
    );
    sim.check(PG2, 400, primary_facts(7100));
    let actions = sim.take();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. })),
        "{actions:?}"
    );
    assert_eq!(sim.state.primary(), Some(PG2));
    assert_eq!(sim.state.record().epoch, 2);
    assert_eq!(sim.state.record().promoting, None);
}

#[test]
fn losing_the_leadership_mid_failover_leaves_the_rest_to_the_next_leader() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    for at in [1000, 1250, 1500] {
        sim.check(PG2, at - 50, cut_off(standby_facts(4990, 5433, 0)))
            .check(PG3, at - 50, cut_off(standby_facts(5000, 5433, 0)))
            .fail(PG1, at);
    }
    assert!(has(&sim.take(), &ClusterAction::Promote { node: PG3 }));
    sim.role(false, None, 1600);
    // The promotion's outcome comes back to a follower: it records and orders nothing more.
    sim.done(
        ActionResult::Promoted {
            node: PG3,
            timeline: Some(2),
        },
        1700,
    );
    let actions = sim.take();
    assert!(
        actions
            .iter()
            .all(|a| matches!(a, ClusterAction::Route { .. })),
        "{actions:?}"
    );
    assert!(!sim.state.in_progress());
}

/// pg1 as primary, fenced, and pg2 and pg3 streaming, seen by a follower whose leader stored
/// `record`; then this instance leads with that record.
fn lead_over_a_fenced_primary(record: ClusterRecord) -> (Sim, Vec<ClusterAction>) {
    let mut sim = Sim::new(cluster(|_| {}));
    sim.role(false, None, 0).stored(record.clone(), 0);
    sim.check(PG1, 0, fenced_primary())
        .check(PG2, 0, standby_facts(5000, 5433, 100))
        .check(PG3, 0, standby_facts(5000, 5433, 100));
    let actions = sim.take();
    assert!(
        !has(&actions, &ClusterAction::Unfence { node: PG1 }),
        "a follower orders nothing: {actions:?}"
    );
    sim.role(true, Some(record), 100);
    let actions = sim.take();
    (sim, actions)
}

fn fenced_primary() -> NodeFacts {
    NodeFacts {
        fenced: true,
        ..primary_facts(5000)
    }
}

fn fenced_by_lifeline(promoting: Option<&str>) -> ClusterRecord {
    ClusterRecord {
        fenced: Some(NodeName::new("pg1")),
        ..record("pg1", 1, promoting)
    }
}

#[test]
fn a_new_leader_gives_the_writes_back_to_a_primary_its_predecessor_fenced_and_left() {
    // The old leader fenced pg1 for a switchover and was lost before promoting anyone.
    let (mut sim, actions) = lead_over_a_fenced_primary(fenced_by_lifeline(None));
    assert!(
        has(&actions, &ClusterAction::Unfence { node: PG1 }),
        "{actions:?}"
    );
    assert!(
        Sim::events(&actions)
            .iter()
            .any(|(kind, _)| *kind == EventKind::PrimaryUnfenced),
        "{actions:?}"
    );
    // Once, while it is being unfenced; new sessions wait for it.
    sim.check(PG1, 200, fenced_primary());
    let actions = sim.take();
    assert!(
        !has(&actions, &ClusterAction::Unfence { node: PG1 }),
        "{actions:?}"
    );
    sim.done(ActionResult::Unfenced { node: PG1 }, 300)
        .check(PG1, 400, primary_facts(5100));
    assert_eq!(writers(&sim.take()).last(), Some(&Some(PG1)));
    assert_eq!(sim.state.record().epoch, 1, "nothing was promoted");
    assert_eq!(sim.state.record().fenced, None, "the fence is undone");
}

#[test]
fn a_failed_unfence_of_a_stranded_fence_is_tried_again_later_not_at_every_check() {
    let (mut sim, actions) = lead_over_a_fenced_primary(fenced_by_lifeline(None));
    assert!(
        has(&actions, &ClusterAction::Unfence { node: PG1 }),
        "{actions:?}"
    );
    sim.done(
        ActionResult::Failed {
            node: PG1,
            action: ActionKind::Unfence,
            error: "connection refused".into(),
        },
        200,
    );
    sim.check(PG1, 1000, fenced_primary());
    assert!(!has(&sim.take(), &ClusterAction::Unfence { node: PG1 }));
    sim.check(PG1, 5200, fenced_primary());
    assert!(has(&sim.take(), &ClusterAction::Unfence { node: PG1 }));
}

#[test]
fn a_primary_read_only_by_an_operator_or_with_a_promotion_stored_is_not_unfenced() {
    // Not Lifeline's fence: the record says nothing of it.
    let (_, actions) = lead_over_a_fenced_primary(record("pg1", 1, None));
    assert!(
        !has(&actions, &ClusterAction::Unfence { node: PG1 }),
        "{actions:?}"
    );
    // Fenced for a switchover whose promotion was stored: that promotion is finished instead;
    // unfencing the old primary now would let it write past the fence.
    let (_, actions) = lead_over_a_fenced_primary(fenced_by_lifeline(Some("pg2")));
    assert!(
        !has(&actions, &ClusterAction::Unfence { node: PG1 }),
        "{actions:?}"
    );
}

#[test]
fn a_follower_that_leads_after_the_primary_died_with_the_leader_fails_over_in_async_mode() {
    // It read the primary's position while following, so the candidates' lag is known.
    let mut sim = Sim::new(cluster(|_| {}));
    sim.role(false, None, 0)
        .stored(record("pg1", 1, None), 0)
        .check(PG1, 0, primary_facts(5000))
        .check(PG2, 0, standby_facts(5000, 5433, 100))
        .check(PG3, 0, standby_facts(4000, 5433, 100));
    for at in [1000, 1250, 1500] {
        sim.check(PG2, at - 50, cut_off(standby_facts(5000, 5433, 0)))
            .check(PG3, at - 50, cut_off(standby_facts(4000, 5433, 0)))
            .fail(PG1, at);
    }
    sim.take();
    sim.role(true, Some(record("pg1", 1, None)), 1600);
    sim.check(PG2, 1700, cut_off(standby_facts(5000, 5433, 0)));
    let actions = sim.take();
    assert!(
        has(&actions, &ClusterAction::Promote { node: PG2 }),
        "the new leader promotes the most advanced standby: {actions:?}"
    );
}
