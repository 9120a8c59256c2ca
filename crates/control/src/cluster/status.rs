//! A cluster as `GET /failover/status` and `lifeline status` show it (seed 004's fields).

use lifeline_model::{ClusterName, NodeName, Timestamp};
use serde::Serialize;

use super::state::{ClusterHealth, ClusterState};

#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    pub name: ClusterName,
    pub state: ClusterHealth,
    pub primary: Option<NodeName>,
    /// Grows with every promotion.
    pub epoch: u64,
    /// Where the writer endpoint sends new connections (`null`: they wait).
    pub writer: Option<NodeName>,
    pub readers: Vec<NodeName>,
    pub failover_count: u64,
    pub last_failover_time: Option<Timestamp>,
    pub needs_rejoin: Vec<NodeName>,
    /// Synchronous mode: the standbys Lifeline set in `synchronous_standby_names`, each
    /// streaming under its node name (empty: commits are acknowledged without a standby).
    pub synchronous_standbys: Vec<NodeName>,
    pub nodes: Vec<NodeStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeStatus {
    pub name: NodeName,
    /// `host=... port=... user=... password=*** dbname=...`: never the password.
    pub dsn: String,
    /// `primary`, `standby`, `needs_rejoin` or `unknown`.
    pub role: &'static str,
    pub healthy: bool,
    pub last_health_check: Option<Timestamp>,
    pub failure_count: u32,
    pub response_time: Option<f64>,
    pub down_since: Option<Timestamp>,
    pub promotion_eligible: bool,
    pub timeline: Option<u32>,
    pub wal_lsn: Option<u64>,
    pub replay_lsn: Option<u64>,
    /// Bytes of WAL the primary has that this standby has not received.
    pub lag_bytes: Option<u64>,
    /// The port of the node it streams from.
    pub streaming_from: Option<u16>,
    /// The `application_name` it streams under, as its upstream names it.
    pub streams_as: Option<String>,
    pub last_error: Option<String>,
}

impl ClusterStatus {
    pub fn of(
        state: &ClusterState,
        failover_count: u64,
        last_failover_time: Option<Timestamp>,
    ) -> Self {
        let cluster = state.cluster();
        let primary = state.primary();
        let primary_lsn = primary
            .and_then(|p| state.nodes()[p].facts.as_ref())
            .and_then(|f| f.wal_lsn);
        let (writer, readers) = state.route();
        let nodes = cluster
            .nodes
            .iter()
            .zip(state.nodes())
            .enumerate()
            .map(|(index, (node, live))| {
                let facts = live.facts.as_ref();
                let retired = state.is_retired(index);
                let role = if retired {
                    "needs_rejoin"
                } else if Some(index) == primary {
                    "primary"
                } else if facts.is_some_and(|f| f.in_recovery) {
                    "standby"
                } else {
                    "unknown"
                };
                NodeStatus {
                    name: node.name.clone(),
                    dsn: node.dsn.to_string(),
                    role,
                    healthy: live.healthy,
                    last_health_check: live.last_check,
                    failure_count: live.consecutive_failures,
                    response_time: live.response_time.map(|d| d.as_secs_f64() * 1000.0),
                    down_since: live.down_since,
                    promotion_eligible: role == "standby" && live.healthy && !node.no_failover,
                    timeline: facts.and_then(|f| f.timeline),
                    wal_lsn: facts.and_then(|f| f.wal_lsn),
                    replay_lsn: facts.and_then(|f| f.replay_lsn),
                    lag_bytes: match (role, primary_lsn, facts.and_then(|f| f.wal_lsn)) {
                        ("standby", Some(p), Some(mine)) => Some(p.saturating_sub(mine)),
                        _ => None,
                    },
                    streaming_from: facts
                        .and_then(|f| f.receiver.as_ref())
                        .filter(|r| r.status == "streaming")
                        .and_then(|r| r.sender_port),
                    streams_as: facts
                        .and_then(|f| f.receiver.as_ref())
                        .and_then(|r| r.application_name.clone()),
                    last_error: live.last_error.clone(),
                }
            })
            .collect();
        Self {
            name: cluster.name.clone(),
            state: state.health(),
            primary: state.record().primary.clone(),
            epoch: state.record().epoch,
            writer: writer.map(|n| state.name(n).clone()),
            readers: readers.into_iter().map(|n| state.name(n).clone()).collect(),
            failover_count,
            last_failover_time,
            needs_rejoin: state.record().retired.clone(),
            synchronous_standbys: state
                .record()
                .sync
                .as_ref()
                .map(|sync| sync.members.clone())
                .unwrap_or_default(),
            nodes,
        }
    }
}
