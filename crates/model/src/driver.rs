//! The cluster seam: [`ClusterDriver`], one database kind's edge I/O for the failover manager,
//! and [`NodeDriver`], its connection to one node.
//!
//! The cluster decisions (in the control crate) reach databases only through these traits and
//! the kind-neutral [`NodeFacts`]; each kind's crate (PostgreSQL's `lifeline-postgres`, later
//! Redis's) implements them, and the daemon picks the driver for a cluster's `kind`. A driver
//! probes and acts, and decides nothing. The traits live here, with the vocabulary every crate
//! shares, because they need nothing but `std`: no runtime, no I/O of their own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::cluster::ClusterNode;
use crate::finding::Finding;
use crate::names::NodeName;
use crate::observation::CheckFailure;
use crate::replication::NodeFacts;

/// A driver call in flight, borrowing what it was given.
pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One database kind, for the failover manager: connections to its nodes, and what needs none.
pub trait ClusterDriver: Send + Sync {
    /// A connection to `node`, made on first use, kept between calls and made again after any
    /// error. `timeout` bounds connecting and each call, unless a call says otherwise.
    fn connect(&self, node: &ClusterNode, timeout: Duration) -> Box<dyn NodeDriver>;

    /// Makes `node`, an old primary, a replica of `primary` within `timeout`: by the cluster's
    /// `rejoin_command` (its placeholders filled from `node` and `primary`), or by the node
    /// itself for a kind that [rejoins by replicating](crate::ClusterKind::rejoins_by_replicating).
    fn rejoin<'a>(
        &'a self,
        command: Option<&'a str>,
        node: &'a ClusterNode,
        primary: &'a ClusterNode,
        timeout: Duration,
    ) -> DriverFuture<'a, Result<(), DriverError>>;

    /// The preflight of a cluster's `nodes`: what makes failover slow or unsafe on them, each
    /// finding with its fix. Each node is read within `timeout`; `check_interval` is the
    /// cluster's.
    fn preflight<'a>(
        &'a self,
        nodes: &'a [ClusterNode],
        check_interval: Duration,
        timeout: Duration,
    ) -> DriverFuture<'a, Vec<Finding>>;
}

/// One node's connection: it reads the node's facts and carries out actions on it.
pub trait NodeDriver: Send {
    /// Reads everything in [`NodeFacts`], connecting first if needed.
    fn probe(&mut self) -> DriverFuture<'_, Result<NodeFacts, CheckFailure>>;

    /// Resolves when the connection kept between calls breaks (the node died or closed it), so
    /// the node is checked at once rather than at its next interval; pending while there is no
    /// kept connection.
    fn connection_lost(&mut self) -> DriverFuture<'_, ()>;

    /// Makes this replica a primary, waiting at most `wait` (plus the timeout) for it to take
    /// writes; returns its new timeline, for a kind that has timelines.
    fn promote(&mut self, wait: Duration) -> DriverFuture<'_, Result<Option<u32>, DriverError>>;

    /// Stops the primary's writes (every other session ended, new ones read-only) and returns
    /// its final position: no acknowledged write comes after it.
    fn fence(&mut self) -> DriverFuture<'_, Result<u64, DriverError>>;

    /// Undoes [`fence`](NodeDriver::fence): new transactions may write again.
    fn unfence(&mut self) -> DriverFuture<'_, Result<(), DriverError>>;

    /// Makes this replica replicate from `primary`, under its own node name.
    fn follow<'a>(
        &'a mut self,
        primary: &'a ClusterNode,
    ) -> DriverFuture<'a, Result<(), DriverError>>;

    /// Makes this replica stream under its own node name from the upstream it already has,
    /// keeping the rest of how it connects, so that the primary can tell it apart.
    fn adopt(&mut self) -> DriverFuture<'_, Result<(), DriverError>>;

    /// Makes `members` this primary's synchronous set, a commit acknowledged once any one of
    /// them has it (none: commits wait for no replica), and returns once the node uses it.
    fn set_synchronous<'a>(
        &'a mut self,
        members: &'a [NodeName],
    ) -> DriverFuture<'a, Result<(), DriverError>>;
}

/// A failed driver action, on one line that never holds a secret: the driver's own error,
/// with the node and the action in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverError(String);

// === impl DriverError ===

impl DriverError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DriverError {}
