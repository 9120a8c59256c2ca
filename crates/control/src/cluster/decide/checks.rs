//! A node's check result: its facts, and its health by the failure and rise thresholds.

use std::time::Duration;

use lifeline_model::{CheckFailure, EventKind, NodeFacts, Timestamp};

use super::Out;
use crate::cluster::state::{ClusterState, NodeId};

// === impl ClusterState: checks ===

impl ClusterState {
    pub(super) fn checked(
        &mut self,
        node: NodeId,
        at: Timestamp,
        latency: Duration,
        outcome: Result<Box<NodeFacts>, CheckFailure>,
        out: &mut Out,
    ) {
        let (threshold, rise) = (self.cluster.failure_threshold, self.cluster.rise);
        let subject = self.subject(node);
        let state = &mut self.nodes[node];
        state.last_check = Some(at);
        state.response_time = Some(latency);
        match outcome {
            Ok(facts) => {
                state.consecutive_failures = 0;
                state.consecutive_successes = state.consecutive_successes.saturating_add(1);
                state.down_since = None;
                if let Some(upstream) = facts.streaming_upstream() {
                    state.upstream_port = upstream.port.or(state.upstream_port);
                }
                state.facts = Some(*facts);
                state.facts_at = Some(at);
                // A node seen for the first time counts at once; one that was down needs `rise`
                // good checks in a row, so that a flapping node stays out.
                let was_down = !state.healthy && state.last_error.is_some();
                if !state.healthy && (!was_down || state.consecutive_successes >= rise) {
                    state.healthy = true;
                    if was_down {
                        let reason = format!(
                            "{} consecutive checks succeed again",
                            state.consecutive_successes
                        );
                        out.event(at, EventKind::NodeUp, subject, reason);
                    }
                }
            }
            Err(failure) => {
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                state.consecutive_successes = 0;
                state.down_since.get_or_insert(at);
                state.last_error = Some(failure.to_string());
                let was_healthy = state.healthy;
                // A node never seen healthy is down at once; a healthy one after the threshold.
                let falls = state.consecutive_failures >= threshold || state.facts.is_none();
                if falls {
                    state.healthy = false;
                }
                let first_ever = state.facts.is_none() && state.consecutive_failures == 1;
                if falls && (was_healthy || first_ever) {
                    let reason = format!(
                        "{} consecutive failed checks, last: {failure}",
                        state.consecutive_failures
                    );
                    out.event(at, EventKind::NodeDown, subject, reason);
                }
            }
        }
    }
}
