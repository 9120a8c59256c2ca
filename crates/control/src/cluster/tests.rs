//! Cluster decisions with made-up facts and a fake clock.

use std::sync::Arc;
use std::time::Duration;

use lifeline_model::{
    CheckFailure, Cluster, ClusterName, ClusterNode, EventKind, FailureKind, NodeFacts, NodeName,
    PgDsn, ReplicaView, Timestamp, WalReceiver,
};

use super::*;

pub(super) fn node(name: &str, port: u16) -> ClusterNode {
    ClusterNode {
        name: NodeName::new(name),
        dsn: PgDsn::parse(&format!("host=127.0.0.1 port={port} user=lifeline")).unwrap(),
        priority: 0,
        no_failover: false,
    }
}

pub(super) fn cluster(configure: impl FnOnce(&mut Cluster)) -> Arc<Cluster> {
    let mut cluster = Cluster {
        name: ClusterName::new("main"),
        nodes: vec![node("pg1", 5433), node("pg2", 5434), node("pg3", 5435)],
        writer_listen: None,
        reader_listen: None,
        check_interval: Duration::from_secs(1),
        failure_threshold: 3,
        rise: 2,
        maximum_lag_on_failover: 1024 * 1024,
        primary_silence: Duration::from_secs(3),
        synchronous_mode: false,
        synchronous_mode_strict: false,
        auto_failover: true,
        writer_wait: Duration::from_secs(10),
        rejoin_command: None,
    };
    configure(&mut cluster);
    Arc::new(cluster)
}

/// The standby `name` as the primary's `pg_stat_replication` shows it.
pub(super) fn replica(name: &str, lsn: u64) -> ReplicaView {
    ReplicaView {
        application_name: name.into(),
        state: "streaming".into(),
        sync_state: "async".into(),
        flush_lsn: Some(lsn),
        replay_lsn: Some(lsn),
    }
}

/// A primary whose `pg_stat_replication` shows pg2 and pg3 under their node names.
pub(super) fn primary_facts(lsn: u64) -> NodeFacts {
    NodeFacts {
        in_recovery: false,
        timeline: Some(1),
        wal_lsn: Some(lsn),
        replay_lsn: None,
        receiver: None,
        replicas: vec![replica("pg2", lsn), replica("pg3", lsn)],
        synchronous_standby_names: String::new(),
        wal_sender_timeout_ms: Some(2000),
        read_only: false,
    }
}

pub(super) fn standby_facts(lsn: u64, upstream_port: u16, age_ms: u64) -> NodeFacts {
    NodeFacts {
        in_recovery: true,
        timeline: Some(1),
        wal_lsn: Some(lsn),
        replay_lsn: Some(lsn),
        receiver: Some(WalReceiver {
            status: "streaming".into(),
            sender_host: Some("127.0.0.1".into()),
            sender_port: Some(upstream_port),
            last_message_age_ms: Some(age_ms),
            received_timeline: Some(1),
            flushed_lsn: Some(lsn),
            application_name: None,
        }),
        replicas: Vec::new(),
        synchronous_standby_names: String::new(),
        wal_sender_timeout_ms: Some(2000),
        read_only: false,
    }
}

pub(super) fn cut_off(mut facts: NodeFacts) -> NodeFacts {
    facts.receiver = None;
    facts
}

pub(super) fn ms(millis: u64) -> Timestamp {
    Timestamp::from_millis(1_000_000 + millis)
}

pub(super) struct Sim {
    pub(super) state: ClusterState,
    actions: Vec<ClusterAction>,
}

impl Sim {
    pub(super) fn new(cluster: Arc<Cluster>) -> Self {
        Self::with_record(cluster, ClusterRecord::default())
    }

    fn with_record(cluster: Arc<Cluster>, record: ClusterRecord) -> Self {
        Self {
            state: ClusterState::new(cluster, record),
            actions: Vec::new(),
        }
    }

    pub(super) fn check(&mut self, node: usize, at: u64, facts: NodeFacts) -> &mut Self {
        self.input(
            ClusterInput::Checked {
                node,
                at: ms(at),
                latency: Duration::from_millis(2),
                outcome: Ok(Box::new(facts)),
            },
            at,
        )
    }

    pub(super) fn fail(&mut self, node: usize, at: u64) -> &mut Self {
        let failure = CheckFailure::new(FailureKind::Connect, "connection refused");
        self.input(
            ClusterInput::Checked {
                node,
                at: ms(at),
                latency: Duration::from_millis(1),
                outcome: Err(failure),
            },
            at,
        )
    }

    pub(super) fn done(&mut self, result: ActionResult, at: u64) -> &mut Self {
        self.input(ClusterInput::Done(result), at)
    }

    fn input(&mut self, input: ClusterInput, at: u64) -> &mut Self {
        let actions = decide(&mut self.state, input, ms(at));
        self.actions.extend(actions);
        self
    }

    /// A healthy cluster: pg1 primary at `lsn`, pg2 and pg3 streaming from it.
    pub(super) fn healthy(cluster: Arc<Cluster>, lsn: u64) -> Self {
        let mut sim = Self::new(cluster);
        sim.check(0, 0, primary_facts(lsn))
            .check(1, 0, standby_facts(lsn, 5433, 100))
            .check(2, 0, standby_facts(lsn, 5433, 100));
        sim.actions.clear();
        sim
    }

    pub(super) fn take(&mut self) -> Vec<ClusterAction> {
        std::mem::take(&mut self.actions)
    }

    pub(super) fn events(actions: &[ClusterAction]) -> Vec<(EventKind, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                ClusterAction::Record(e) => Some((e.kind, e.reason.clone())),
                _ => None,
            })
            .collect()
    }
}

pub(super) fn has(actions: &[ClusterAction], wanted: &ClusterAction) -> bool {
    actions.contains(wanted)
}

#[test]
fn discovers_the_primary_and_routes_writer_and_readers() {
    let mut sim = Sim::new(cluster(|_| {}));
    sim.check(0, 0, primary_facts(1000))
        .check(1, 0, standby_facts(1000, 5433, 50))
        .check(2, 0, standby_facts(1000, 5433, 50));
    let actions = sim.take();
    assert_eq!(sim.state.primary(), Some(0));
    assert!(
        has(
            &actions,
            &ClusterAction::Route {
                writer: Some(0),
                readers: vec![1, 2]
            }
        ),
        "{actions:?}"
    );
    assert_eq!(sim.state.health(), ClusterHealth::Healthy);
}

#[test]
fn a_dead_primary_is_replaced_by_the_most_advanced_standby_after_the_threshold() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    sim.check(1, 900, cut_off(standby_facts(4990, 5433, 0)))
        .check(2, 900, cut_off(standby_facts(5000, 5433, 0)));
    sim.fail(0, 1000).fail(0, 1250);
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. })),
        "not before the threshold"
    );
    // Standby facts from after the first failure are needed.
    sim.check(1, 1300, cut_off(standby_facts(4990, 5433, 0)))
        .check(2, 1300, cut_off(standby_facts(5000, 5433, 0)));
    sim.fail(0, 1500);
    let actions = sim.take();
    assert!(
        has(&actions, &ClusterAction::Promote { node: 2 }),
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
            node: 2,
            timeline: 2,
        },
        1700,
    );
    let actions = sim.take();
    assert_eq!(sim.state.primary(), Some(2));
    assert_eq!(sim.state.record().epoch, 1);
    assert_eq!(sim.state.record().retired, vec![NodeName::new("pg1")]);
    assert!(
        has(
            &actions,
            &ClusterAction::Follow {
                node: 1,
                primary: 2
            }
        ),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        ClusterAction::Route {
            writer: Some(2),
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
    sim.fail(0, 1000).fail(0, 1250).fail(0, 1500);
    sim.check(1, 1600, standby_facts(5000, 5433, 400)).check(
        2,
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
    sim.check(1, 5000, standby_facts(5000, 5433, 3600))
        .check(2, 5000, standby_facts(5000, 5433, 3600))
        .fail(0, 5100);
    assert!(
        sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. }))
    );
}

#[test]
fn a_lagging_standby_is_refused_unless_forced() {
    let mut sim = Sim::new(cluster(|c| c.nodes.truncate(2)));
    sim.check(0, 0, primary_facts(10 * 1024 * 1024))
        .check(1, 0, standby_facts(1024, 5433, 10));
    sim.fail(0, 1000)
        .fail(0, 1100)
        .check(1, 1150, cut_off(standby_facts(1024, 5433, 0)))
        .fail(0, 1200);
    let events = Sim::events(&sim.take());
    assert!(
        events
            .iter()
            .any(|(k, r)| *k == EventKind::FailoverRefused && r.contains("bytes behind")),
        "{events:?}"
    );

    let now = ms(1300);
    let refused = plan_request(&sim.state, Some(&NodeName::new("pg2")), false, now).unwrap_err();
    assert!(refused.contains("maximum_lag_on_failover"), "{refused}");
    assert_eq!(
        plan_request(&sim.state, Some(&NodeName::new("pg2")), true, now),
        Ok(Plan::Failover { candidate: 1 })
    );
}

#[test]
fn a_fresh_cluster_killed_before_its_standby_streamed_refuses() {
    // The standby's own facts say it has received nothing: lag is read from the node, not from
    // stale shared state (the Patroni trap).
    let mut sim = Sim::new(cluster(|c| c.nodes.truncate(2)));
    let mut empty = cut_off(standby_facts(0, 5433, 0));
    empty.wal_lsn = None;
    sim.check(0, 0, primary_facts(50 * 1024 * 1024))
        .check(1, 0, empty.clone());
    sim.fail(0, 1000)
        .fail(0, 1100)
        .check(1, 1150, empty)
        .fail(0, 1200);
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
fn synchronous_mode_manages_the_names_and_promotes_only_a_proven_standby() {
    let mut sim = Sim::new(cluster(|c| c.synchronous_mode = true));
    sim.check(0, 0, primary_facts(5000))
        .check(1, 0, standby_facts(5000, 5433, 100));
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::SetSyncNames { .. })),
        "not before every node answered"
    );
    sim.check(2, 0, standby_facts(5000, 5433, 100));
    let actions = sim.take();
    let members = vec![NodeName::new("pg2"), NodeName::new("pg3")];
    assert!(
        has(
            &actions,
            &ClusterAction::SetSyncNames {
                primary: 0,
                members: members.clone()
            }
        ),
        "{actions:?}"
    );
    sim.done(ActionResult::SyncSet { members, lsn: 5000 }, 200);
    let mut synced = primary_facts(6000);
    synced.synchronous_standby_names = sync_value(&[NodeName::new("pg2"), NodeName::new("pg3")]);
    sim.check(0, 300, synced);
    assert!(
        !sim.take()
            .iter()
            .any(|a| matches!(a, ClusterAction::SetSyncNames { .. })),
        "settled"
    );

    // pg3 unreachable when the primary dies: pg2 cannot be proven to hold every commit.
    sim.fail(2, 900).fail(2, 950).fail(2, 1000);
    sim.fail(0, 1100)
        .check(1, 1150, cut_off(standby_facts(6000, 5433, 0)))
        .fail(0, 1200)
        .fail(0, 1300);
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
    sim.check(2, 1350, cut_off(standby_facts(6100, 5433, 0)))
        .check(2, 1400, cut_off(standby_facts(6100, 5433, 0)))
        .check(1, 1400, cut_off(standby_facts(6000, 5433, 0)))
        .fail(0, 1500);
    assert!(has(&sim.take(), &ClusterAction::Promote { node: 2 }));
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
    synced.synchronous_standby_names = sync_value(&[NodeName::new("pg2"), NodeName::new("pg3")]);
    sim.check(0, 40, synced.clone());
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg2"), NodeName::new("pg3")],
            lsn: 5000,
        },
        50,
    );
    sim.take();
    for at in [100, 200, 300] {
        sim.fail(1, at).fail(2, at);
    }
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg3")],
            lsn: 5000,
        },
        350,
    );
    sim.check(0, 400, synced);
    let actions = sim.take();
    assert!(
        !actions.iter().any(
            |a| matches!(a, ClusterAction::SetSyncNames { members, .. } if members.is_empty())
        ),
        "strict: never degrades to async: {actions:?}"
    );

    let mut sim = Sim::healthy(cluster(|c| c.synchronous_mode = true), 5000);
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg2"), NodeName::new("pg3")],
            lsn: 5000,
        },
        50,
    );
    sim.take();
    for at in [100, 200, 300] {
        sim.fail(1, at);
    }
    assert!(has(
        &sim.take(),
        &ClusterAction::SetSyncNames {
            primary: 0,
            members: vec![NodeName::new("pg3")]
        }
    ));
    for at in [100, 200, 300] {
        sim.fail(2, at);
    }
    sim.done(
        ActionResult::SyncSet {
            members: vec![NodeName::new("pg3")],
            lsn: 5000,
        },
        350,
    );
    assert!(
        has(
            &sim.take(),
            &ClusterAction::SetSyncNames {
                primary: 0,
                members: vec![]
            }
        ),
        "not strict: degrade to async"
    );
}

#[test]
fn planned_switchover_fences_waits_for_catch_up_then_promotes() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    let plan = plan_request(&sim.state, Some(&NodeName::new("pg2")), false, ms(100)).unwrap();
    assert_eq!(plan, Plan::Switchover { target: 1 });
    sim.input(ClusterInput::Start(plan), 100);
    let actions = sim.take();
    assert!(has(&actions, &ClusterAction::Fence { node: 0 }));
    assert!(has(
        &actions,
        &ClusterAction::Route {
            writer: None,
            readers: vec![]
        }
    ));
    sim.done(ActionResult::Fenced { node: 0, lsn: 5100 }, 150);
    assert!(has(
        &sim.take(),
        &ClusterAction::AwaitCatchUp { node: 1, lsn: 5100 }
    ));
    sim.done(ActionResult::CaughtUp { node: 1 }, 170);
    assert!(has(&sim.take(), &ClusterAction::Promote { node: 1 }));
    sim.done(
        ActionResult::Promoted {
            node: 1,
            timeline: 2,
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
            writer: Some(1),
            ..
        }
    )));
    assert_eq!(sim.state.record().retired, vec![NodeName::new("pg1")]);
}

#[test]
fn a_failed_catch_up_gives_the_writes_back() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    sim.input(ClusterInput::Start(Plan::Switchover { target: 1 }), 100);
    sim.done(ActionResult::Fenced { node: 0, lsn: 5100 }, 150);
    sim.take();
    sim.done(
        ActionResult::Failed {
            node: 1,
            action: "catch up",
            error: "timed out".into(),
        },
        5000,
    );
    let actions = sim.take();
    assert!(has(&actions, &ClusterAction::Unfence { node: 0 }));
    sim.done(ActionResult::Unfenced { node: 0 }, 5010);
    assert!(sim.take().iter().any(|a| matches!(
        a,
        ClusterAction::Route {
            writer: Some(0),
            ..
        }
    )));
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
    sim.fail(0, 0);
    sim.check(2, 5, standby_facts(7000, 5434, 0));
    sim.check(1, 10, primary_facts(7000));
    let actions = sim.take();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, ClusterAction::Promote { .. })),
        "{actions:?}"
    );
    assert_eq!(sim.state.primary(), Some(1));
    assert_eq!(sim.state.record().epoch, 5);
    // pg2 was not promoted yet: order the same promotion again, and only that one.
    let mut sim = Sim::with_record(cluster(|_| {}), record);
    sim.fail(0, 0);
    sim.check(2, 5, standby_facts(9000, 5433, 0));
    sim.check(1, 10, standby_facts(7000, 5433, 0));
    let actions = sim.take();
    let promotes: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, ClusterAction::Promote { .. }))
        .collect();
    assert_eq!(promotes, vec![&ClusterAction::Promote { node: 1 }]);
}

#[test]
fn two_writable_primaries_resolve_by_timeline_or_hold_the_writer() {
    let mut sim = Sim::new(cluster(|_| {}));
    let mut newer = primary_facts(100);
    newer.timeline = Some(2);
    sim.check(0, 0, primary_facts(500))
        .check(1, 0, newer)
        .check(2, 0, standby_facts(100, 5434, 0));
    let actions = sim.take();
    assert_eq!(sim.state.primary(), Some(1));
    assert!(
        Sim::events(&actions)
            .iter()
            .any(|(k, _)| *k == EventKind::SplitBrain)
    );
    assert_eq!(sim.state.record().retired, vec![NodeName::new("pg1")]);

    let mut sim = Sim::new(cluster(|_| {}));
    sim.check(0, 0, primary_facts(500))
        .check(1, 0, primary_facts(100))
        .check(2, 0, standby_facts(100, 5433, 0));
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

/// pg1 failed over to pg2 and came back writable: the actions of that check of pg1.
fn old_primary_back() -> (Sim, Vec<ClusterAction>) {
    let mut sim = Sim::healthy(
        cluster(|c| c.rejoin_command = Some("rejoin {node}".into())),
        5000,
    );
    sim.check(1, 900, cut_off(standby_facts(5000, 5433, 0)))
        .check(2, 900, cut_off(standby_facts(5000, 5433, 0)));
    sim.fail(0, 1000).fail(0, 1100).fail(0, 1200);
    sim.done(
        ActionResult::Promoted {
            node: 1,
            timeline: 2,
        },
        1300,
    );
    // Down for three checks, it counts again after `rise` (2) good ones.
    sim.check(0, 1900, primary_facts(5100));
    sim.take();
    sim.check(0, 2000, primary_facts(5100));
    let actions = sim.take();
    (sim, actions)
}

#[test]
fn an_old_primary_back_as_a_writable_node_never_gets_the_writer_and_rejoins() {
    let (mut sim, actions) = old_primary_back();
    assert_eq!(sim.state.primary(), Some(1));
    assert!(
        has(
            &actions,
            &ClusterAction::Rejoin {
                node: 0,
                primary: 1
            }
        ),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| matches!(
        a,
        ClusterAction::Route {
            writer: Some(0),
            ..
        }
    )));
    sim.check(0, 3000, standby_facts(5200, 5434, 10))
        .check(1, 3000, primary_facts(5200))
        .check(2, 3000, standby_facts(5200, 5434, 10));
    let actions = sim.take();
    assert!(
        Sim::events(&actions)
            .iter()
            .any(|(k, _)| *k == EventKind::Rejoined)
    );
    assert!(sim.state.record().retired.is_empty());
    assert_eq!(sim.state.health(), ClusterHealth::Healthy);
    assert!(actions.iter().any(
        |a| matches!(a, ClusterAction::Route { writer: Some(1), readers } if readers.contains(&0))
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
    sim.check(0, at, old)
        .check(1, at, primary_facts(5200))
        .check(2, at, standby_facts(5200, 5434, 10));
    sim.take()
}

fn rejoins(actions: &[ClusterAction]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, ClusterAction::Rejoin { node: 0, .. }))
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
            node: 0,
            action: "rejoin",
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
    sim.done(ActionResult::Rejoined { node: 0 }, 5_000);
    // A standby again, but its WAL receiver never streams (pg_rewind skipped a needed rewind).
    let not_streaming = || cut_off(standby_facts(5100, 5434, 0));
    let early = check_all(&mut sim, 20_000, not_streaming());
    assert_eq!(rejoins(&early), 0, "{early:?}");
    assert_eq!(sim.state.health(), ClusterHealth::RecoveryInProgress);
    let due = check_all(&mut sim, 35_000, not_streaming());
    assert_eq!(rejoins(&due), 1, "{due:?}");

    // The second run works: it streams, leaves the retired list and no third run follows.
    sim.done(ActionResult::Rejoined { node: 0 }, 40_000);
    check_all(&mut sim, 41_000, standby_facts(5200, 5434, 10));
    assert!(sim.state.record().retired.is_empty());
    assert_eq!(sim.state.health(), ClusterHealth::Healthy);
    let later = check_all(&mut sim, 90_000, standby_facts(5200, 5434, 10));
    assert_eq!(rejoins(&later), 0, "{later:?}");
}

#[test]
fn a_killed_standby_leaves_the_reader_pool() {
    let mut sim = Sim::healthy(cluster(|_| {}), 5000);
    sim.fail(2, 100).fail(2, 200).fail(2, 300);
    let actions = sim.take();
    assert!(
        has(
            &actions,
            &ClusterAction::Route {
                writer: Some(0),
                readers: vec![1]
            }
        ),
        "{actions:?}"
    );
    assert_eq!(sim.state.health(), ClusterHealth::Degraded);
}
