//! [`Finding`]: one thing about a node that makes failover slow or unsafe, found by a preflight
//! check (`lifeline doctor`, the daemon's periodic check), with the fix. Kind-neutral: every
//! cluster driver reports its findings in this shape.

use serde::Serialize;

use crate::names::NodeName;
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub node: NodeName,
    /// Stable and machine-readable, such as `wal_sender_timeout_default`: what scripts and alert
    /// rules match on (the texts may change).
    pub code: &'static str,
    /// What is wrong and what it does to a failover, on one line.
    pub problem: String,
    /// What to run or change, on one line.
    pub fix: String,
}

impl Finding {
    pub fn new(
        node: &NodeName,
        code: &'static str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            node: node.clone(),
            code,
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// One cluster's latest preflight: when it ran and what it found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preflight {
    pub checked_at: Timestamp,
    pub findings: Vec<Finding>,
}
