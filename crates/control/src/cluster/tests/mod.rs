//! Cluster decisions with made-up facts and a fake clock: the helpers here, the tests by phase
//! in the submodules.

mod adoption;
mod failover;
mod leadership;
mod rejoin;
mod switchover;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use lifeline_model::{
    CheckFailure, Cluster, ClusterKind, ClusterName, ClusterNode, EventKind, FailureKind,
    LinkState, NodeConnection, NodeFacts, NodeName, PgDsn, ReplicaLink, Role, Timestamp, Upstream,
};

use super::*;

pub(super) fn node(name: &str, port: u16) -> ClusterNode {
    ClusterNode {
        name: NodeName::new(name),
        connection: NodeConnection::Postgres(
            PgDsn::parse(&format!("host=127.0.0.1 port={port} user=lifeline")).unwrap(),
        ),
        priority: 0,
        no_failover: false,
    }
}

pub(super) fn cluster(configure: impl FnOnce(&mut Cluster)) -> Arc<Cluster> {
    let mut cluster = Cluster {
        name: ClusterName::new("main"),
        kind: ClusterKind::Postgres,
        nodes: vec![node("pg1", 5433), node("pg2", 5434), node("pg3", 5435)],
        writer_listen: None,
        reader_listen: None,
        sentinel_listen: None,
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

/// The standby `name` as the primary shows it.
pub(super) fn replica(name: &str, position: u64) -> ReplicaLink {
    ReplicaLink {
        name: name.into(),
        state: LinkState::Streaming,
        synchronous: false,
        flushed: Some(position),
        applied: Some(position),
    }
}

/// A primary that shows pg2 and pg3 streaming under their node names.
pub(super) fn primary_facts(position: u64) -> NodeFacts {
    NodeFacts {
        role: Role::Primary,
        timeline: Some(1),
        position: Some(position),
        applied: None,
        lag_seconds: None,
        upstream: None,
        replicas: vec![replica("pg2", position), replica("pg3", position)],
        synchronous: Vec::new(),
        keepalive: Some(Duration::from_secs(1)),
        fenced: false,
    }
}

pub(super) fn standby_facts(position: u64, upstream_port: u16, age_ms: u64) -> NodeFacts {
    NodeFacts {
        role: Role::Replica,
        timeline: Some(1),
        position: Some(position),
        applied: Some(position),
        lag_seconds: Some(0.0),
        upstream: Some(Upstream {
            host: Some("127.0.0.1".into()),
            port: Some(upstream_port),
            state: LinkState::Streaming,
            last_message_age: Some(Duration::from_millis(age_ms)),
            name: None,
        }),
        replicas: Vec::new(),
        synchronous: Vec::new(),
        keepalive: Some(Duration::from_secs(1)),
        fenced: false,
    }
}

pub(super) fn cut_off(mut facts: NodeFacts) -> NodeFacts {
    facts.upstream = None;
    facts
}

pub(super) const PG1: NodeId = NodeId::new(0);
pub(super) const PG2: NodeId = NodeId::new(1);
pub(super) const PG3: NodeId = NodeId::new(2);

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

    pub(super) fn with_record(cluster: Arc<Cluster>, record: ClusterRecord) -> Self {
        Self {
            state: ClusterState::new(cluster, record),
            actions: Vec::new(),
        }
    }

    pub(super) fn check(&mut self, node: NodeId, at: u64, facts: NodeFacts) -> &mut Self {
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

    pub(super) fn fail(&mut self, node: NodeId, at: u64) -> &mut Self {
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

    pub(super) fn input(&mut self, input: ClusterInput, at: u64) -> &mut Self {
        let actions = decide(&mut self.state, input, ms(at));
        self.actions.extend(actions);
        self
    }

    /// A healthy cluster: pg1 primary at `lsn`, pg2 and pg3 streaming from it.
    pub(super) fn healthy(cluster: Arc<Cluster>, lsn: u64) -> Self {
        let mut sim = Self::new(cluster);
        sim.check(PG1, 0, primary_facts(lsn))
            .check(PG2, 0, standby_facts(lsn, 5433, 100))
            .check(PG3, 0, standby_facts(lsn, 5433, 100));
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
