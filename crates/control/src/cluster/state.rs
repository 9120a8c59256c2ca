//! A cluster's state: each node's last facts and health, and what survives a restart.

use std::sync::Arc;
use std::time::Duration;

use lifeline_model::{Cluster, NodeFacts, NodeName, Timestamp};
use serde::{Deserialize, Serialize};

/// Seed 004's cluster states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterHealth {
    /// No node answers, or nobody is known to be primary yet.
    Unknown,
    /// The primary and every standby are healthy and streaming.
    Healthy,
    /// Writes work, but a standby is down or not streaming, or the primary is down and no
    /// failover is possible.
    Degraded,
    FailoverInProgress,
    /// A new primary serves; the old one has not rejoined as a standby yet.
    FailoverComplete,
    /// An old primary is rejoining as a standby.
    RecoveryInProgress,
}

impl ClusterHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterHealth::Unknown => "unknown",
            ClusterHealth::Healthy => "healthy",
            ClusterHealth::Degraded => "degraded",
            ClusterHealth::FailoverInProgress => "failover_in_progress",
            ClusterHealth::FailoverComplete => "failover_complete",
            ClusterHealth::RecoveryInProgress => "recovery_in_progress",
        }
    }

    /// The value of the `failover_state` metric (0 is seed 004's "all databases down").
    pub fn code(self) -> i64 {
        match self {
            ClusterHealth::Unknown => 0,
            ClusterHealth::Healthy => 1,
            ClusterHealth::Degraded => 2,
            ClusterHealth::FailoverInProgress => 3,
            ClusterHealth::FailoverComplete => 4,
            ClusterHealth::RecoveryInProgress => 5,
        }
    }
}

/// One node as the last checks saw it (seed 004's per-node fields).
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeState {
    pub healthy: bool,
    pub last_check: Option<Timestamp>,
    pub consecutive_failures: u32,
    /// Good checks in a row: a node that was down is healthy again at the cluster's `rise`.
    pub consecutive_successes: u32,
    #[serde(serialize_with = "millis")]
    pub response_time: Option<Duration>,
    pub down_since: Option<Timestamp>,
    pub last_error: Option<String>,
    /// What the last successful check read.
    pub facts: Option<NodeFacts>,
    /// When that check started.
    pub facts_at: Option<Timestamp>,
    /// The port of the node it was last seen streaming from (kept while it reconnects).
    pub upstream_port: Option<u16>,
}

fn millis<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_f64(duration.as_secs_f64() * 1000.0),
        None => serializer.serialize_none(),
    }
}

/// What must survive a restart, stored under `clusters/<name>`: a restarted daemon resumes from
/// it and the nodes' own state, and never promotes twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// The node Lifeline last knew as primary.
    pub primary: Option<NodeName>,
    /// Grows by one with every promotion.
    pub epoch: u64,
    /// Old primaries: never the writer again until they stream from the primary as standbys.
    pub retired: Vec<NodeName>,
    /// A promotion was ordered and its outcome not seen yet.
    pub promoting: Option<NodeName>,
    /// The synchronous standbys Lifeline set on the primary.
    pub sync: Option<SyncSet>,
}

/// `synchronous_standby_names` as Lifeline last set it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSet {
    pub members: Vec<NodeName>,
    /// The primary's WAL position when this set took effect: every commit acknowledged after
    /// it is on at least one member; one acknowledged before it may be on a former member only.
    pub since_lsn: u64,
}

/// An operation in flight.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Operation {
    Failover {
        candidate: usize,
        /// The primary it replaces, if there was one.
        old: Option<usize>,
        started: Timestamp,
        attempts: u32,
    },
    Switchover {
        target: usize,
        old: usize,
        started: Timestamp,
        stage: SwitchStage,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SwitchStage {
    Fencing,
    CatchingUp,
    Promoting { attempts: u32 },
}

/// Everything Lifeline knows about one cluster.
#[derive(Clone, Debug)]
pub struct ClusterState {
    pub(super) cluster: Arc<Cluster>,
    pub(super) nodes: Vec<NodeState>,
    pub(super) record: ClusterRecord,
    pub(super) operation: Option<Operation>,
    pub(super) health: ClusterHealth,
    /// The writer and readers last published.
    pub(super) route: Option<(Option<usize>, Vec<usize>)>,
    /// The primary's last WAL position Lifeline read.
    pub(super) last_primary_lsn: Option<u64>,
    /// Events that are reported once per incident.
    pub(super) refused_reported: bool,
    pub(super) unreachable_reported: bool,
    pub(super) split_reported: bool,
    /// Actions in flight, so they are not ordered twice.
    pub(super) following: Vec<usize>,
    pub(super) sync_pending: bool,
    pub(super) unfencing: Vec<usize>,
    pub(super) rejoins: Vec<RejoinRun>,
    /// Standbys being given their node name as `application_name`, or that failed to be.
    pub(super) adoptions: Vec<Adoption>,
    /// Streaming standbys reported as not identifiable on the primary (once per incident).
    pub(super) unidentified: Vec<usize>,
}

/// A standby being renamed so that the primary's `pg_stat_replication` shows its node name.
#[derive(Clone, Debug)]
pub(super) struct Adoption {
    pub node: usize,
    pub stage: AdoptionStage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AdoptionStage {
    Running,
    /// Renamed at this time; waiting for its WAL receiver to reconnect under the new name.
    Done(Timestamp),
    Failed(Timestamp),
}

/// The rejoin command's latest run for an old primary. One that does not stream a while after
/// the run finished gets another run.
#[derive(Clone, Debug)]
pub(super) struct RejoinRun {
    pub node: NodeName,
    /// `None` while the command runs.
    pub finished: Option<Timestamp>,
}

impl ClusterState {
    /// A cluster as a (re)started daemon sees it: nothing checked yet, resuming from `record`.
    pub fn new(cluster: Arc<Cluster>, record: ClusterRecord) -> Self {
        Self {
            nodes: vec![NodeState::default(); cluster.nodes.len()],
            cluster,
            record,
            operation: None,
            health: ClusterHealth::Unknown,
            route: None,
            last_primary_lsn: None,
            refused_reported: false,
            unreachable_reported: false,
            split_reported: false,
            following: Vec::new(),
            sync_pending: false,
            unfencing: Vec::new(),
            rejoins: Vec::new(),
            adoptions: Vec::new(),
            unidentified: Vec::new(),
        }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    pub fn record(&self) -> &ClusterRecord {
        &self.record
    }

    pub fn health(&self) -> ClusterHealth {
        self.health
    }

    pub fn nodes(&self) -> &[NodeState] {
        &self.nodes
    }

    /// The index of the node Lifeline knows as primary.
    pub fn primary(&self) -> Option<usize> {
        let name = self.record.primary.as_ref()?;
        self.index(name)
    }

    pub fn index(&self, name: &NodeName) -> Option<usize> {
        self.cluster.nodes.iter().position(|n| &n.name == name)
    }

    pub fn name(&self, node: usize) -> &NodeName {
        &self.cluster.nodes[node].name
    }

    pub fn is_retired(&self, node: usize) -> bool {
        self.record.retired.contains(self.name(node))
    }

    pub fn in_progress(&self) -> bool {
        self.operation.is_some()
    }

    /// The writer and reader endpoints' nodes as last published.
    pub fn route(&self) -> (Option<usize>, Vec<usize>) {
        self.route.clone().unwrap_or_default()
    }

    /// Facts fresh enough to decide on: read within the last two check intervals.
    pub(super) fn fresh_facts(&self, node: usize, now: Timestamp) -> Option<&NodeFacts> {
        let state = &self.nodes[node];
        let at = state.facts_at?;
        let fresh = now.since(at) <= self.cluster.check_interval * 2 + Duration::from_millis(500);
        (state.healthy && state.consecutive_failures == 0 && fresh).then_some(state.facts.as_ref()?)
    }

    /// The last facts of a node that counts as healthy: unlike [`fresh_facts`], one failed
    /// check does not take them away, only `failure_threshold` of them (and `rise` good ones
    /// give them back). For what should not change on every flap: readers, membership, health.
    ///
    /// [`fresh_facts`]: ClusterState::fresh_facts
    pub(super) fn settled_facts(&self, node: usize) -> Option<&NodeFacts> {
        let state = &self.nodes[node];
        state.healthy.then_some(state.facts.as_ref()?)
    }

    /// Whether a standby streams from `primary`: its WAL receiver streams, and its sender is
    /// not another node of the cluster. A sender that matches no node's address is taken for
    /// the primary reached by another route (Lifeline may reach nodes through a proxy or NAT).
    pub(super) fn streams_from(&self, node: usize, primary: usize, now: Timestamp) -> bool {
        self.fresh_facts(node, now)
            .is_some_and(|facts| self.receiver_streams_from(facts, primary))
    }

    /// [`streams_from`](ClusterState::streams_from) on settled facts.
    pub(super) fn settled_streams_from(&self, node: usize, primary: usize) -> bool {
        self.settled_facts(node)
            .is_some_and(|facts| self.receiver_streams_from(facts, primary))
    }

    fn receiver_streams_from(&self, facts: &NodeFacts, primary: usize) -> bool {
        facts.receiver.as_ref().is_some_and(|receiver| {
            receiver.status == "streaming"
                && self
                    .node_at(receiver.sender_host.as_deref(), receiver.sender_port)
                    .is_none_or(|upstream| upstream == primary)
        })
    }

    /// Whether the primary's `pg_stat_replication` shows `node` streaming under its own name:
    /// only such a standby can be named in `synchronous_standby_names`.
    pub(super) fn identified_on(&self, node: usize, primary: usize) -> bool {
        let name = self.name(node).as_str();
        self.settled_facts(primary).is_some_and(|facts| {
            facts
                .replicas
                .iter()
                .any(|r| r.application_name == name && r.state == "streaming")
        })
    }

    /// The cluster node with this address, as a WAL receiver reports its sender.
    pub(super) fn node_at(&self, host: Option<&str>, port: Option<u16>) -> Option<usize> {
        let port = port?;
        self.cluster
            .nodes
            .iter()
            .position(|n| n.dsn.port == port && host.is_none_or(|host| host == n.dsn.host))
    }
}
