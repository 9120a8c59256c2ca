//! What one check of a database node found, in words every cluster kind shares: the cluster
//! decisions read only these, and each driver (PostgreSQL, Redis) fills them from its own.
//!
//! Read from the node itself at check time, never from shared state that could be stale.
//! Positions are bytes of the replication stream (PostgreSQL: WAL bytes from `0/0`), so they
//! compare across the nodes of one cluster.

use std::time::Duration;

use serde::Serialize;

/// One node's replication facts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeFacts {
    pub role: Role,
    /// The line of history the node is on; a promotion starts a new, higher one (PostgreSQL's
    /// timeline). Of two writable nodes, the one on the higher line is the newer primary.
    pub timeline: Option<u32>,
    /// A primary: how far it has written; a replica: how far it has received.
    pub position: Option<u64>,
    /// A replica: how far it has applied what it received.
    pub applied: Option<u64>,
    /// A replica: seconds since the last change it applied was made on the primary; `None`
    /// before the first.
    pub lag_seconds: Option<f64>,
    /// A replica: its link to the node it replicates from, while one exists.
    pub upstream: Option<Upstream>,
    /// A primary: its links to the replicas it sends to, as it sees them.
    pub replicas: Vec<ReplicaLink>,
    /// A primary: the names in its synchronous set (a commit waits for one of them); empty
    /// when commits wait for none.
    pub synchronous: Vec<String>,
    /// A primary sends its replicas something at least this often, even when idle: silence
    /// longer than this (plus a check interval) means trouble. `None` when unknown or off.
    pub keepalive: Option<Duration>,
    /// New transactions are read-only: Lifeline fenced the node (a switchover's first step).
    pub fenced: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes writes.
    Primary,
    /// Follows a primary (a PostgreSQL standby in recovery).
    Replica,
}

/// A replica's link to its upstream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Upstream {
    /// The upstream's address as the replica reports it.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub state: LinkState,
    /// Time since the last message from the upstream.
    #[serde(serialize_with = "millis")]
    pub last_message_age: Option<Duration>,
    /// The name the replica gives itself upstream, which is how the primary's
    /// [`ReplicaLink::name`] shows it (PostgreSQL: the `application_name` it connects with).
    pub name: Option<String>,
}

/// A primary's link to one replica.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaLink {
    /// The name the replica gives itself (PostgreSQL: its `application_name`).
    pub name: String,
    pub state: LinkState,
    /// The replica is one the primary waits for (or may, in a quorum) before it acknowledges
    /// a commit.
    pub synchronous: bool,
    /// How far the replica has made durable what it received.
    pub flushed: Option<u64>,
    /// How far the replica has applied it.
    pub applied: Option<u64>,
}

/// How a replication link stands, seen from either end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Changes arrive as the upstream makes them.
    Streaming,
    /// Connected, and catching up on a backlog.
    CatchingUp,
    /// Starting, waiting to retry or restarting: nothing arrives yet.
    Connecting,
    /// Stopping or stopped.
    Stopped,
    /// Any other state (a base backup's sender, say): not a replica receiving changes.
    Other,
}

// === impl NodeFacts ===

impl NodeFacts {
    pub fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }

    pub fn is_replica(&self) -> bool {
        self.role == Role::Replica
    }

    /// The name this replica streams under, as its upstream names it.
    pub fn streams_as(&self) -> Option<&str> {
        self.upstream.as_ref()?.name.as_deref()
    }

    /// The upstream link, if it streams.
    pub fn streaming_upstream(&self) -> Option<&Upstream> {
        self.upstream
            .as_ref()
            .filter(|upstream| upstream.state == LinkState::Streaming)
    }
}

fn millis<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => {
            serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
        }
        None => serializer.serialize_none(),
    }
}
