//! PostgreSQL clusters: who is primary, when to fail over, to whom, and what then.
//!
//! Everything here is pure: [`decide`] folds a check result, an operator's request or the outcome
//! of an action into a [`ClusterState`] and returns [`ClusterAction`]s for the edges (promote,
//! re-point, fence, publish the writer and reader endpoints, record, persist). The facts it
//! decides on are read from the nodes themselves at check time, never from shared state that
//! could be stale.

mod adopt;
mod decide;
mod metrics;
mod runtime;
mod select;
mod state;
mod status;
mod sync;

pub use decide::{ActionResult, ClusterAction, ClusterInput, decide};
pub use metrics::ClusterMetrics;
pub use runtime::{ClusterHandle, ClusterManager, ClusterRoutes, RetireCheck};
pub use select::{Plan, plan_request};
pub use state::{ClusterHealth, ClusterRecord, ClusterState, NodeState, SyncSet};
pub use status::{ClusterSettings, ClusterStatus, NodeStatus};
pub use sync::sync_value;

#[cfg(test)]
mod adopt_tests;
#[cfg(test)]
mod tests;
