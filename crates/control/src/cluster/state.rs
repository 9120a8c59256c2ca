//! A cluster's state: each node's last facts and health, and what survives a restart.

use std::ops::{Index, IndexMut};
use std::sync::Arc;
use std::time::Duration;

use lifeline_model::{Cluster, ClusterNode, LinkState, NodeFacts, NodeName, Timestamp};
use serde::{Deserialize, Serialize};

/// One node of a cluster: its place in the config's list of nodes, which stays the same while
/// the cluster runs. It indexes that list and the nodes' states alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(usize);

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
    /// When it was last re-pointed at the primary: a check begun before says nothing about
    /// whom it follows now.
    #[serde(skip)]
    pub repointed_at: Option<Timestamp>,
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
    /// The primary Lifeline fenced for a switchover, until it is unfenced or replaced: a
    /// leader that finds it fenced with nothing in flight gives it its writes back. Only
    /// Lifeline's own fence: a node an operator made read-only is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced: Option<NodeName>,
}

/// The primary's synchronous set as Lifeline last set it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSet {
    pub members: Vec<NodeName>,
    /// The primary's position when this set took effect: every commit acknowledged after it
    /// is on at least one member; one acknowledged before it may be on a former member only.
    /// Stored under its first name, so state files written before stay readable.
    #[serde(rename = "since_lsn")]
    pub since: u64,
}

/// An operation in flight.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Operation {
    Failover {
        candidate: NodeId,
        /// The primary it replaces, if there was one.
        old: Option<NodeId>,
        started: Timestamp,
        attempts: u32,
    },
    Switchover {
        target: NodeId,
        old: NodeId,
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
    /// Whether this instance leads: only the leader acts and records; a follower routes by
    /// the leader's record and its own checks.
    pub(super) leading: bool,
    /// Cut off from the store and most other instances: the writer stays closed.
    pub(super) isolated: bool,
    pub(super) operation: Option<Operation>,
    pub(super) health: ClusterHealth,
    /// The writer and readers last published.
    pub(super) route: Option<(Option<NodeId>, Vec<NodeId>)>,
    /// The primary's last position Lifeline read.
    pub(super) last_primary_position: Option<u64>,
    /// Events that are reported once per incident.
    pub(super) refused_reported: bool,
    pub(super) unreachable_reported: bool,
    pub(super) split_reported: bool,
    /// Actions in flight, so they are not ordered twice.
    pub(super) following: Vec<NodeId>,
    pub(super) sync_pending: bool,
    pub(super) unfencing: Vec<NodeId>,
    /// A stranded fence (see [`ClusterRecord::fenced`]) is not undone again before this.
    pub(super) unfence_again_at: Option<Timestamp>,
    pub(super) rejoins: Vec<RejoinRun>,
    /// Standbys being given their node name upstream, or that failed to be.
    pub(super) adoptions: Vec<Adoption>,
    /// Streaming standbys reported as not identifiable on the primary (once per incident).
    pub(super) unidentified: Vec<NodeId>,
}

/// A standby being renamed so that the primary shows it under its node name.
#[derive(Clone, Debug)]
pub(super) struct Adoption {
    pub node: NodeId,
    pub stage: AdoptionStage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AdoptionStage {
    Running,
    /// Renamed at this time; waiting for it to reconnect under the new name.
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
    /// A cluster as a (re)started daemon sees it: nothing checked yet, resuming from `record`,
    /// leading (the one instance) until told otherwise.
    pub fn new(cluster: Arc<Cluster>, record: ClusterRecord) -> Self {
        Self {
            nodes: vec![NodeState::default(); cluster.nodes.len()],
            cluster,
            record,
            leading: true,
            isolated: false,
            operation: None,
            health: ClusterHealth::Unknown,
            route: None,
            last_primary_position: None,
            refused_reported: false,
            unreachable_reported: false,
            split_reported: false,
            following: Vec::new(),
            sync_pending: false,
            unfencing: Vec::new(),
            unfence_again_at: None,
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

    /// The index of the node Lifeline knows as primary.
    pub fn primary(&self) -> Option<NodeId> {
        let name = self.record.primary.as_ref()?;
        self.id(name)
    }

    pub fn id(&self, name: &NodeName) -> Option<NodeId> {
        self.cluster
            .nodes
            .iter()
            .position(|n| &n.name == name)
            .map(NodeId)
    }

    /// Every node, in the config's order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + use<> {
        (0..self.cluster.nodes.len()).map(NodeId)
    }

    /// Every node has answered (or failed) a check at least once.
    pub fn all_checked(&self) -> bool {
        self.nodes.iter().all(|n| n.last_check.is_some())
    }

    /// What the last checks saw of `node`.
    pub fn node(&self, node: NodeId) -> &NodeState {
        &self.nodes[node]
    }

    pub fn name(&self, node: NodeId) -> &NodeName {
        &self.cluster.nodes[node].name
    }

    pub fn is_retired(&self, node: NodeId) -> bool {
        self.record.retired.contains(self.name(node))
    }

    pub fn leading(&self) -> bool {
        self.leading
    }

    pub fn in_progress(&self) -> bool {
        self.operation.is_some()
    }

    /// The writer and reader endpoints' nodes as last published.
    pub fn route(&self) -> (Option<NodeId>, Vec<NodeId>) {
        self.route.clone().unwrap_or_default()
    }

    /// Facts fresh enough to decide on: read within the last two check intervals.
    pub(super) fn fresh_facts(&self, node: NodeId, now: Timestamp) -> Option<&NodeFacts> {
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
    pub(super) fn settled_facts(&self, node: NodeId) -> Option<&NodeFacts> {
        let state = &self.nodes[node];
        state.healthy.then_some(state.facts.as_ref()?)
    }

    /// Whether a standby streams from `primary`: its upstream link streams, and its upstream is
    /// not another node of the cluster. An upstream that matches no node's address is taken for
    /// the primary reached by another route (Lifeline may reach nodes through a proxy or NAT).
    pub(super) fn streams_from(&self, node: NodeId, primary: NodeId, now: Timestamp) -> bool {
        self.fresh_facts(node, now)
            .is_some_and(|facts| self.upstream_is(facts, primary))
    }

    /// [`streams_from`](ClusterState::streams_from) on settled facts.
    pub(super) fn settled_streams_from(&self, node: NodeId, primary: NodeId) -> bool {
        self.settled_facts(node)
            .is_some_and(|facts| self.upstream_is(facts, primary))
    }

    /// Whether these facts show a link streaming from `primary` (or from no other node).
    fn upstream_is(&self, facts: &NodeFacts, primary: NodeId) -> bool {
        facts.streaming_upstream().is_some_and(|upstream| {
            self.node_at(upstream.host.as_deref(), upstream.port)
                .is_none_or(|node| node == primary)
        })
    }

    /// Whether the primary shows `node` streaming under its own name: only such a standby can
    /// be named in the synchronous set.
    pub(super) fn identified_on(&self, node: NodeId, primary: NodeId) -> bool {
        let name = self.name(node).as_str();
        self.settled_facts(primary).is_some_and(|facts| {
            facts
                .replicas
                .iter()
                .any(|r| r.name == name && r.state == LinkState::Streaming)
        })
    }

    /// The cluster node with this address, as a replica reports its upstream.
    pub(super) fn node_at(&self, host: Option<&str>, port: Option<u16>) -> Option<NodeId> {
        let port = port?;
        self.cluster
            .nodes
            .iter()
            .position(|n| n.port() == port && host.is_none_or(|host| host == n.host()))
            .map(NodeId)
    }
}

// === impl NodeId ===

impl NodeId {
    /// The node at `index` in the config's list; only tests make ids from numbers.
    #[cfg(test)]
    pub(super) const fn new(index: usize) -> Self {
        Self(index)
    }

    /// Its place in the config's list of nodes.
    pub fn index(self) -> usize {
        self.0
    }
}

impl Index<NodeId> for Vec<NodeState> {
    type Output = NodeState;

    fn index(&self, node: NodeId) -> &NodeState {
        &self[node.0]
    }
}

impl IndexMut<NodeId> for Vec<NodeState> {
    fn index_mut(&mut self, node: NodeId) -> &mut NodeState {
        &mut self[node.0]
    }
}

impl Index<NodeId> for Vec<ClusterNode> {
    type Output = ClusterNode;

    fn index(&self, node: NodeId) -> &ClusterNode {
        &self[node.0]
    }
}
