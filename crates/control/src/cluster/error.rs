//! [`OperationError`]: why an operator's failover or switchover did not start. Its variant is
//! the kind of refusal, which the admin API turns into a status code in one place; its message
//! (never a secret) is the answer's, and the `failover_refused` event's, reason.

use lifeline_model::{ClusterName, NodeName};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OperationError {
    /// Another failover or switchover is running.
    #[error("a failover or switchover is already in progress")]
    InProgress,
    /// The cluster's state forbids it now: no standby may be promoted, the data-loss rules say
    /// no, or a switchover was asked for without a healthy primary.
    #[error("{0}")]
    Refused(String),
    #[error("no cluster is named `{0}`")]
    UnknownCluster(String),
    #[error("cluster {cluster} has no node `{node}`")]
    UnknownNode {
        cluster: ClusterName,
        node: NodeName,
    },
    /// Another instance leads: only the leader starts failovers and switchovers.
    #[error("this instance does not lead; ask the leader (GET /status lists the instances)")]
    NotLeader,
    /// The cluster's loop has ended (the daemon is stopping): nothing can be started.
    #[error("the manager of cluster {0} has stopped")]
    Stopped(ClusterName),
}
