//! `[[cluster]]`: a replication group of database nodes with a writer endpoint (always the
//! current primary) and a reader endpoint (healthy standbys), and the kind of database it is.

use std::net::SocketAddr;
use std::time::Duration;

use crate::dsn::PgDsn;
use crate::names::{ClusterName, NodeName};
use crate::redis_node::RedisNode;

/// Equality compares every setting (passwords included), so a reload sees any change.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub name: ClusterName,
    /// Which database the nodes run, and so which driver speaks to them.
    pub kind: ClusterKind,
    pub nodes: Vec<ClusterNode>,
    /// Always the current primary. Clients never change their connection string.
    pub writer_listen: Option<SocketAddr>,
    /// Healthy standbys within `maximum_lag_on_failover`; the primary when there is none.
    pub reader_listen: Option<SocketAddr>,
    /// Redis: answers the Sentinel commands clients discover the master with, under the
    /// cluster's name as the master name.
    pub sentinel_listen: Option<SocketAddr>,
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

/// `kind` in `[[cluster]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClusterKind {
    /// PostgreSQL streaming replication.
    Postgres,
    /// Redis replication (`replicaof`).
    Redis,
}

// === impl Cluster ===

impl Cluster {
    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.name.as_str() == name)
    }
}

// === impl ClusterKind ===

impl ClusterKind {
    /// Every kind, in the order a config error lists them.
    pub const ALL: [ClusterKind; 2] = [ClusterKind::Postgres, ClusterKind::Redis];

    /// The config's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterKind::Postgres => "postgres",
            ClusterKind::Redis => "redis",
        }
    }

    /// An old primary becomes a replica of the new one by a command on the node itself
    /// (Redis's `REPLICAOF`), so it rejoins with no `rejoin_command`; a PostgreSQL primary
    /// needs its data directory rewound or copied first, which only a command can do.
    pub fn rejoins_by_replicating(self) -> bool {
        match self {
            ClusterKind::Postgres => false,
            ClusterKind::Redis => true,
        }
    }

    /// The kind the config's word names.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == word)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterNode {
    pub name: NodeName,
    /// How Lifeline connects to it, in its kind's terms.
    pub connection: NodeConnection,
    /// Among standbys equally advanced, the higher priority is promoted first.
    pub priority: u32,
    /// Never promoted (a delayed or remote standby, say).
    pub no_failover: bool,
}

/// A node's connection settings, one variant per [`ClusterKind`]; each driver reads its own.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeConnection {
    Postgres(PgDsn),
    Redis(RedisNode),
}

// === impl NodeConnection ===

impl NodeConnection {
    /// The config key of a node that sets it.
    pub fn key(&self) -> &'static str {
        match self {
            NodeConnection::Postgres(_) => "dsn",
            NodeConnection::Redis(_) => "address",
        }
    }
}

// === impl ClusterNode ===

impl ClusterNode {
    /// The host the node is reached at, as its connection settings give it.
    pub fn host(&self) -> &str {
        match &self.connection {
            NodeConnection::Postgres(dsn) => &dsn.host,
            NodeConnection::Redis(redis) => &redis.host,
        }
    }

    pub fn port(&self) -> u16 {
        match &self.connection {
            NodeConnection::Postgres(dsn) => dsn.port,
            NodeConnection::Redis(redis) => redis.port,
        }
    }

    /// `host:port`, where the endpoints send clients.
    pub fn address(&self) -> String {
        match &self.connection {
            NodeConnection::Postgres(dsn) => dsn.address(),
            NodeConnection::Redis(redis) => redis.address(),
        }
    }

    /// How Lifeline connects to the node, with every secret masked: for status and logs.
    pub fn masked_connection(&self) -> String {
        match &self.connection {
            NodeConnection::Postgres(dsn) => dsn.to_string(),
            NodeConnection::Redis(redis) => redis.to_string(),
        }
    }

    /// The PostgreSQL connection string, for a node of a PostgreSQL cluster.
    pub fn postgres(&self) -> Option<&PgDsn> {
        match &self.connection {
            NodeConnection::Postgres(dsn) => Some(dsn),
            NodeConnection::Redis(_) => None,
        }
    }

    /// The Redis connection settings, for a node of a Redis cluster.
    pub fn redis(&self) -> Option<&RedisNode> {
        match &self.connection {
            NodeConnection::Redis(redis) => Some(redis),
            NodeConnection::Postgres(_) => None,
        }
    }
}
