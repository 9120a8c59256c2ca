//! `[[cluster]]`: a PostgreSQL replication group with a writer endpoint (always the current
//! primary) and a reader endpoint (healthy standbys), and what its nodes say about themselves.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::dsn::PgDsn;
use crate::names::{ClusterName, NodeName};

/// Equality compares every setting (passwords included), so a reload sees any change.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub name: ClusterName,
    pub nodes: Vec<ClusterNode>,
    /// Always the current primary. Clients never change their connection string.
    pub writer_listen: Option<SocketAddr>,
    /// Healthy standbys within `maximum_lag_on_failover`; the primary when there is none.
    pub reader_listen: Option<SocketAddr>,
    /// Time between two checks of a node.
    pub check_interval: Duration,
    /// Consecutive failed checks before the primary counts as down (seed 004: 3).
    pub failure_threshold: u32,
    /// Consecutive good checks before a node that was down counts as healthy again, so a
    /// flapping node does not rewrite the synchronous set and the readers on every flap.
    pub rise: u32,
    /// Async mode: never promote a standby whose received WAL is further behind than this many
    /// bytes of the primary's last known position; also the reader endpoint's lag limit.
    pub maximum_lag_on_failover: u64,
    /// A standby that heard from the primary more recently than this says the primary is
    /// alive: only Lifeline's link to it is broken, so there is no failover.
    pub primary_silence: Duration,
    /// Lifeline keeps `synchronous_standby_names` on the primary equal to the healthy standbys.
    pub synchronous_mode: bool,
    /// With no healthy standby: writes block (true) or the cluster degrades to async (false).
    pub synchronous_mode_strict: bool,
    /// Fail over on its own; without it only an operator's trigger does.
    pub auto_failover: bool,
    /// New writer connections wait at most this long for a primary before they are refused.
    pub writer_wait: Duration,
    /// Run for a node that must rejoin as a standby (an old primary): `{node}`, `{host}`,
    /// `{port}`, `{primary_host}`, `{primary_port}` are replaced.
    pub rejoin_command: Option<String>,
}

impl Cluster {
    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.name.as_str() == name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterNode {
    pub name: NodeName,
    pub dsn: PgDsn,
    /// Among standbys equally advanced, the higher priority is promoted first.
    pub priority: u32,
    /// Never promoted (a delayed or remote standby, say).
    pub no_failover: bool,
}

/// What one check of a PostgreSQL node found. Read from the node itself at check time, never
/// from shared state that could be stale.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeFacts {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    pub timeline: Option<u32>,
    /// Primary: `pg_current_wal_lsn()`; standby: `pg_last_wal_receive_lsn()`. Bytes.
    pub wal_lsn: Option<u64>,
    /// Standby: `pg_last_wal_replay_lsn()`.
    pub replay_lsn: Option<u64>,
    /// Standby: its WAL receiver (`pg_stat_wal_receiver`), if one runs.
    pub receiver: Option<WalReceiver>,
    /// Primary: its standbys as it sees them (`pg_stat_replication`).
    pub replicas: Vec<ReplicaView>,
    /// The node's current `synchronous_standby_names`.
    pub synchronous_standby_names: String,
    /// The node's `wal_sender_timeout` in milliseconds: a primary sends its standbys a
    /// keepalive at least every half of it, so silence longer than that means trouble.
    pub wal_sender_timeout_ms: Option<u64>,
    /// `default_transaction_read_only`: on while Lifeline fences the node (switchover).
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WalReceiver {
    /// `streaming`, `catchup`, `waiting`, ...
    pub status: String,
    pub sender_host: Option<String>,
    pub sender_port: Option<u16>,
    /// Milliseconds since the last message from the primary (`now() - last_msg_receipt_time`).
    pub last_message_age_ms: Option<u64>,
    pub received_timeline: Option<u32>,
    /// Flushed WAL position it reported.
    pub flushed_lsn: Option<u64>,
    /// The `application_name` it streams under: how its upstream's `pg_stat_replication`
    /// names it (`walreceiver` for a standby made with `pg_basebackup -R`).
    pub application_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaView {
    pub application_name: String,
    /// `streaming`, `catchup`, ...
    pub state: String,
    /// `sync`, `quorum`, `async`, `potential`.
    pub sync_state: String,
    pub flush_lsn: Option<u64>,
    pub replay_lsn: Option<u64>,
}
