//! A cluster as `GET /failover/status` and `lifeline status` show it (seed 004's fields).

use lifeline_model::{ClusterName, NodeFacts, NodeName, Timestamp};
use serde::Serialize;

use super::state::{ClusterHealth, ClusterState};

#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    pub name: ClusterName,
    /// `postgres` or `redis`.
    pub kind: &'static str,
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
    /// The `[[cluster]]` settings this manager runs with (a reload restarts it with new ones).
    pub settings: ClusterSettings,
    /// Synchronous mode: the standbys Lifeline set as the primary's synchronous set, each
    /// streaming under its node name (empty: commits are acknowledged without a standby).
    pub synchronous_standbys: Vec<NodeName>,
    pub nodes: Vec<NodeStatus>,
}

/// `[[cluster]]`'s thresholds and switches as the manager runs them; durations in ms.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterSettings {
    pub check_interval_ms: u64,
    pub failure_threshold: u32,
    pub rise: u32,
    pub maximum_lag_on_failover: u64,
    pub primary_silence_ms: u64,
    pub synchronous_mode: bool,
    pub synchronous_mode_strict: bool,
    pub auto_failover: bool,
    pub writer_wait_ms: u64,
    /// Whether a rejoin command is set (the command itself may hold a secret).
    pub rejoin_command: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeStatus {
    pub name: NodeName,
    /// How Lifeline connects to it (`host=... port=... user=... password=*** dbname=...`):
    /// never the password.
    pub dsn: String,
    pub priority: u32,
    pub no_failover: bool,
    /// `primary`, `standby`, `needs_rejoin` or `unknown`.
    pub role: &'static str,
    pub healthy: bool,
    pub last_health_check: Option<Timestamp>,
    pub failure_count: u32,
    pub response_time: Option<f64>,
    pub down_since: Option<Timestamp>,
    pub promotion_eligible: bool,
    pub timeline: Option<u32>,
    /// How far it has written (a primary) or received (a standby), in bytes (Redis: its
    /// replication offset). Named as PostgreSQL calls it: the API was first written for it,
    /// and is shared by every kind.
    #[serde(rename = "wal_lsn")]
    pub position: Option<u64>,
    /// How far a standby has applied what it received (`replay_lsn`).
    #[serde(rename = "replay_lsn")]
    pub applied: Option<u64>,
    /// Bytes the primary has that this standby has not received.
    pub lag_bytes: Option<u64>,
    /// Seconds since the last change this standby applied was made on the primary.
    pub lag_seconds: Option<f64>,
    /// The port of the node it streams from.
    pub streaming_from: Option<u16>,
    /// The name it streams under, as its upstream shows it (PostgreSQL: `application_name`).
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
        let primary_position = primary
            .and_then(|p| state.node(p).facts.as_ref())
            .and_then(|f| f.position);
        let (writer, readers) = state.route();
        let nodes = state
            .ids()
            .map(|id| {
                let (node, live) = (&cluster.nodes[id], state.node(id));
                let facts = live.facts.as_ref();
                let retired = state.is_retired(id);
                let role = if retired {
                    "needs_rejoin"
                } else if Some(id) == primary {
                    "primary"
                } else if facts.is_some_and(|f| f.is_replica()) {
                    "standby"
                } else {
                    "unknown"
                };
                NodeStatus {
                    name: node.name.clone(),
                    dsn: node.masked_connection(),
                    priority: node.priority,
                    no_failover: node.no_failover,
                    role,
                    healthy: live.healthy,
                    last_health_check: live.last_check,
                    failure_count: live.consecutive_failures,
                    response_time: live.response_time.map(|d| d.as_secs_f64() * 1000.0),
                    down_since: live.down_since,
                    promotion_eligible: role == "standby" && live.healthy && !node.no_failover,
                    timeline: facts.and_then(|f| f.timeline),
                    position: facts.and_then(|f| f.position),
                    applied: facts.and_then(|f| f.applied),
                    lag_bytes: match (role, primary_position, facts.and_then(|f| f.position)) {
                        ("standby", Some(p), Some(mine)) => Some(p.saturating_sub(mine)),
                        _ => None,
                    },
                    lag_seconds: facts.and_then(|f| f.lag_seconds),
                    streaming_from: facts
                        .and_then(|f| f.streaming_upstream())
                        .and_then(|upstream| upstream.port),
                    streams_as: facts.and_then(NodeFacts::streams_as).map(str::to_string),
                    last_error: live.last_error.clone(),
                }
            })
            .collect();
        Self {
            name: cluster.name.clone(),
            kind: cluster.kind.as_str(),
            state: state.health(),
            primary: state.record().primary.clone(),
            epoch: state.record().epoch,
            writer: writer.map(|n| state.name(n).clone()),
            readers: readers.into_iter().map(|n| state.name(n).clone()).collect(),
            failover_count,
            last_failover_time,
            needs_rejoin: state.record().retired.clone(),
            settings: ClusterSettings {
                check_interval_ms: millis(cluster.check_interval),
                failure_threshold: cluster.failure_threshold,
                rise: cluster.rise,
                maximum_lag_on_failover: cluster.maximum_lag_on_failover,
                primary_silence_ms: millis(cluster.primary_silence),
                synchronous_mode: cluster.synchronous_mode,
                synchronous_mode_strict: cluster.synchronous_mode_strict,
                auto_failover: cluster.auto_failover,
                writer_wait_ms: millis(cluster.writer_wait),
                rejoin_command: cluster.rejoin_command.is_some(),
            },
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

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
