//! Preflight: what in each node's settings, and in the rights of the role Lifeline connects as,
//! makes failover slow or unsafe, as [`Finding`]s with their fixes (`lifeline doctor`, the
//! daemon's periodic check, `GET /failover/health`).
//!
//! - `query`: the one statement that reads a node's [`NodeSettings`], and reaching the node.
//! - `evaluate`: pure, from what every node said to findings (per node, and across nodes:
//!   several primaries, timelines that disagree); `rights`: the role's part of it.

mod evaluate;
mod query;
mod rights;

#[cfg(test)]
mod tests;

use std::time::Duration;

use lifeline_model::{ClusterNode, Finding, NodeName};
use tokio::task::JoinSet;

use crate::client::NodeClient;

pub use evaluate::evaluate;

/// What one node said, or why it said nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeReading {
    Read(NodeSettings),
    /// It refuses connections because it is a standby with `hot_standby = off`.
    HotStandbyOff,
    /// No answer: the reason, without any password.
    Unreachable(String),
}

/// A node's settings and role, as the preflight statement reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSettings {
    /// `server_version_num`, e.g. 150004.
    pub version: u32,
    pub in_recovery: bool,
    /// A primary's from its WAL file name; a standby's the one its WAL receiver streams (else
    /// its last checkpoint's).
    pub timeline: Option<u32>,
    pub receiver: Receiver,
    pub wal_sender_timeout_ms: Option<u64>,
    pub wal_log_hints: bool,
    pub data_checksums: bool,
    pub hot_standby: bool,
    pub role: RoleRights,
}

/// A standby's WAL receiver, as far as the role may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receiver {
    NotRunning,
    /// It runs, but the role may not see its state (not a member of `pg_read_all_stats`).
    Hidden,
    /// `streaming`, `catchup`, `waiting`, ...
    Status(String),
}

/// What the connecting role may do of what Lifeline does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRights {
    pub name: String,
    pub superuser: bool,
    /// Standbys that Lifeline re-points stream as this role (its DSN is their `primary_conninfo`).
    pub replication: bool,
    /// Has the privileges of `pg_monitor`: sees replication state.
    pub pg_monitor: bool,
    /// Has the privileges of `pg_signal_backend`: a switchover's fence ends others' sessions.
    pub pg_signal_backend: bool,
    pub execute_promote: bool,
    pub execute_reload: bool,
    /// The parameters of [`ALTERED_PARAMETERS`] it may not `ALTER SYSTEM SET`.
    pub alter_system_denied: Vec<&'static str>,
}

/// The parameters Lifeline changes with `ALTER SYSTEM`: the synchronous standbys on a primary,
/// the upstream of a standby, and the fence of a switchover.
pub const ALTERED_PARAMETERS: [&str; 3] = [
    "synchronous_standby_names",
    "primary_conninfo",
    "default_transaction_read_only",
];

/// A standby found not streaming is read again after this: longer than PostgreSQL's default
/// `wal_retrieve_retry_interval` (5 s), the pause before it starts a WAL receiver again (after
/// a new `primary_conninfo`, say), so that a receiver being restarted is not reported.
const STREAMING_GRACE: Duration = Duration::from_secs(6);

/// Reads every node of a cluster at once (each bounded by `timeout`) and evaluates what they
/// said; `check_interval` is the cluster's. A driver for another kind of database returns the
/// same [`Finding`]s.
pub async fn preflight(
    nodes: &[ClusterNode],
    check_interval: Duration,
    timeout: Duration,
) -> Vec<Finding> {
    let mut readings: Vec<(NodeName, NodeReading)> = nodes
        .iter()
        .map(|node| {
            (
                node.name.clone(),
                NodeReading::Unreachable("its check did not finish".to_string()),
            )
        })
        .collect();
    read(nodes, 0..nodes.len(), timeout, &mut readings).await;
    let lagging: Vec<usize> = (0..nodes.len())
        .filter(|&index| matches!(&readings[index].1, NodeReading::Read(s) if !s.streams()))
        .collect();
    if !lagging.is_empty() {
        tokio::time::sleep(STREAMING_GRACE).await;
        read(nodes, lagging, timeout, &mut readings).await;
    }
    evaluate(&readings, check_interval)
}

/// Reads the nodes at `indices` at once into `readings`.
async fn read(
    nodes: &[ClusterNode],
    indices: impl IntoIterator<Item = usize>,
    timeout: Duration,
    readings: &mut [(NodeName, NodeReading)],
) {
    let mut reads = JoinSet::new();
    for index in indices {
        let mut client = NodeClient::new(&nodes[index], timeout);
        reads.spawn(async move { (index, client.read_settings().await) });
    }
    while let Some(joined) = reads.join_next().await {
        match joined {
            Ok((index, reading)) => readings[index].1 = reading,
            Err(error) => tracing::error!(%error, "a preflight read failed"),
        }
    }
}

// === impl NodeSettings ===

impl NodeSettings {
    /// A primary, or a standby whose WAL receiver streams (or may, unseen by the role).
    fn streams(&self) -> bool {
        !self.in_recovery
            || match &self.receiver {
                Receiver::Status(status) => status == "streaming",
                Receiver::Hidden => true,
                Receiver::NotRunning => false,
            }
    }
}
