//! Where the endpoints send clients (the writer to the primary, the reader to standbys that
//! keep up), and the cluster's state in seed 004's words.

use lifeline_model::{EventKind, NewEvent, Timestamp};

use super::{ClusterAction, Out};
use crate::cluster::state::{ClusterHealth, ClusterState, NodeId};

// === impl ClusterState: routes and health ===

impl ClusterState {
    /// The writer endpoint goes to `writer` (`None`: new connections wait); the reader endpoint
    /// to the standbys within `maximum_lag_on_failover` of the primary, else to the writer.
    pub(super) fn publish_route(&mut self, writer: Option<NodeId>, out: &mut Out) {
        let primary_position = self.last_primary_position;
        let limit = self.cluster.maximum_lag_on_failover;
        let mut readers: Vec<NodeId> = match writer {
            Some(primary) => self
                .ids()
                .filter(|n| *n != primary && !self.is_retired(*n))
                .filter(|n| {
                    self.settled_facts(*n).is_some_and(|f| {
                        f.is_replica()
                            && f.applied.is_some_and(|applied| {
                                primary_position.is_none_or(|p| p.saturating_sub(applied) <= limit)
                            })
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        if readers.is_empty() {
            readers.extend(writer);
        }
        let route = (writer, readers);
        if self.route.as_ref() != Some(&route) {
            self.route = Some(route.clone());
            out.push(ClusterAction::Route {
                writer: route.0,
                readers: route.1,
            });
        }
    }

    /// Records the cluster's state when it changed.
    pub(super) fn report_health(&mut self, now: Timestamp, out: &mut Out) {
        let health = self.compute_health(now);
        if health != self.health {
            out.push(ClusterAction::Record(
                NewEvent::new(
                    now,
                    EventKind::ClusterStateChanged,
                    self.cluster.name.as_str(),
                    self.health_reason(health),
                )
                .transition(self.health.as_str(), health.as_str()),
            ));
            self.health = health;
        }
    }

    fn compute_health(&self, now: Timestamp) -> ClusterHealth {
        if self.operation.is_some() {
            return ClusterHealth::FailoverInProgress;
        }
        let Some(primary) = self.primary().filter(|p| self.nodes[*p].healthy) else {
            return if self.nodes.iter().any(|n| n.healthy) && self.primary().is_some() {
                ClusterHealth::Degraded
            } else {
                ClusterHealth::Unknown
            };
        };
        if !self.record.retired.is_empty() {
            let rejoining = self
                .record
                .retired
                .iter()
                .filter_map(|n| self.id(n))
                .any(|n| {
                    self.rejoins.iter().any(|r| &r.node == self.name(n))
                        || self.fresh_facts(n, now).is_some_and(|f| f.is_replica())
                });
            return if rejoining {
                ClusterHealth::RecoveryInProgress
            } else {
                ClusterHealth::FailoverComplete
            };
        }
        let standbys_fine = self
            .ids()
            .filter(|n| *n != primary)
            .all(|n| self.settled_streams_from(n, primary));
        if standbys_fine {
            ClusterHealth::Healthy
        } else {
            ClusterHealth::Degraded
        }
    }

    fn health_reason(&self, health: ClusterHealth) -> String {
        let primary = self
            .primary()
            .map_or("none".to_string(), |p| self.name(p).to_string());
        match health {
            ClusterHealth::Healthy => format!("primary {primary}, every standby streams"),
            ClusterHealth::Degraded => {
                format!("primary {primary}; a node is down or not streaming")
            }
            ClusterHealth::FailoverInProgress => "failover or switchover in progress".to_string(),
            ClusterHealth::FailoverComplete => {
                format!("primary {primary}; the old primary needs a rejoin")
            }
            ClusterHealth::RecoveryInProgress => {
                format!("primary {primary}; the old primary is rejoining")
            }
            ClusterHealth::Unknown => "no node is known to be primary".to_string(),
        }
    }
}
