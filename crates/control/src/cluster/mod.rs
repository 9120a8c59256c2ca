//! Database clusters: who is primary, when to fail over, to whom, and what then.
//!
//! The decisions are pure: [`decide`] folds a check result, an operator's request or the
//! outcome of an action into a [`ClusterState`] and returns [`ClusterAction`]s for the edges
//! (promote, re-point, fence, publish the writer and reader endpoints, record, persist). The
//! facts it decides on are read from the nodes themselves at check time, never from shared
//! state that could be stale, and are kind-neutral ([`NodeFacts`]): the [`ClusterManager`]
//! reaches the nodes only through the [`ClusterDriver`] it is given, whatever database they run.
//!
//! [`NodeFacts`]: lifeline_model::NodeFacts
//! [`ClusterDriver`]: lifeline_model::ClusterDriver

mod decide;
mod edges;
mod error;
mod metrics;
mod runtime;
mod select;
mod state;
mod status;

pub use decide::{ActionKind, ActionResult, ClusterAction, ClusterInput, decide};
pub use error::OperationError;
pub use metrics::ClusterMetrics;
pub use runtime::{ClusterHandle, ClusterManager, ClusterRoutes, RetireCheck};
pub use select::{Plan, plan_request};
pub use state::{ClusterHealth, ClusterRecord, ClusterState, NodeId, NodeState, SyncSet};
pub use status::{ClusterSettings, ClusterStatus, NodeStatus};

#[cfg(test)]
mod tests;
