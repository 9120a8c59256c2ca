//! Planned switchovers: fence, catch up, promote, or give the writes back.

use super::*;

#[test]
fn planned_switchover_fences_waits_for_catch_up_then_promotes() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    let plan = plan_request(&sim.state, Some(&NodeName::new("pg2")), false, ms(100)).unwrap();
    assert_eq!(plan, Plan::Switchover { target: PG2 });
    sim.input(ClusterInput::Start(plan), 100);
    assert_eq!(
        plan_request(&sim.state, None, true, ms(110)),
        Err(OperationError::InProgress),
        "one operation at a time"
    );
    let actions = sim.take();
    assert!(has(&actions, &ClusterAction::Fence { node: PG1 }));
    assert!(has(
        &actions,
        &ClusterAction::Route {
            writer: None,
            readers: vec![]
        }
    ));
    // The fence is Lifeline's, stored with it, should the leader be lost before it is undone.
    assert_eq!(sim.state.record().fenced, Some(NodeName::new("pg1")));
    sim.done(
        ActionResult::Fenced {
            node: PG1,
            position: 5100,
        },
        150,
    );
    assert!(has(
        &sim.take(),
        &ClusterAction::AwaitCatchUp {
            node: PG2,
            position: 5100
        }
    ));
    sim.done(ActionResult::CaughtUp { node: PG2 }, 170);
    assert!(has(&sim.take(), &ClusterAction::Promote { node: PG2 }));
    sim.done(
        ActionResult::Promoted {
            node: PG2,
            timeline: Some(2),
        },
        400,
    );
    let actions = sim.take();
    let events = Sim::events(&actions);
    assert!(
        events
            .iter()
            .any(|(k, r)| *k == EventKind::SwitchoverCompleted && r.contains("write pause 0.300s")),
        "{events:?}"
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        ClusterAction::Route {
            writer: Some(PG2),
            ..
        }
    )));
    assert_eq!(sim.state.record().retired, vec![NodeName::new("pg1")]);
    assert_eq!(
        sim.state.record().fenced,
        None,
        "the fenced node is retired"
    );
}

#[test]
fn a_failed_catch_up_gives_the_writes_back() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    sim.input(ClusterInput::Start(Plan::Switchover { target: PG2 }), 100);
    sim.done(
        ActionResult::Fenced {
            node: PG1,
            position: 5100,
        },
        150,
    );
    sim.take();
    sim.done(
        ActionResult::Failed {
            node: PG2,
            action: ActionKind::CatchUp,
            error: "timed out".into(),
        },
        5000,
    );
    let actions = sim.take();
    assert!(has(&actions, &ClusterAction::Unfence { node: PG1 }));
    assert_eq!(
        plan_request(&sim.state, None, false, ms(5005)),
        Err(OperationError::InProgress),
        "no new fence while the last one is being undone"
    );
    sim.done(ActionResult::Unfenced { node: PG1 }, 5010);
    assert_eq!(sim.state.record().fenced, None);
    assert!(sim.take().iter().any(|a| matches!(
        a,
        ClusterAction::Route {
            writer: Some(PG1),
            ..
        }
    )));
}
