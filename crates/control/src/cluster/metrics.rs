//! Seed 004's six `failover_*` metrics, verbatim, with a `cluster` label.

use lifeline_model::{Cluster, NodeName};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::state::ClusterState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StandbyLabels {
    cluster: String,
    standby: String,
}

#[derive(Clone, Default)]
pub struct ClusterMetrics {
    state: Family<ClusterLabels, Gauge>,
    failovers: Family<ClusterLabels, Counter>,
    recoveries: Family<ClusterLabels, Counter>,
    check_failures: Family<ClusterLabels, Counter>,
    primary_healthy: Family<ClusterLabels, Gauge>,
    standby_healthy: Family<StandbyLabels, Gauge>,
    lag_bytes: Family<StandbyLabels, Gauge>,
}

impl ClusterMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "failover_state",
            "Cluster state: 0 unknown, 1 healthy, 2 degraded, 3 failover_in_progress, 4 failover_complete, 5 recovery_in_progress",
            metrics.state.clone(),
        );
        registry.register(
            "failover",
            "Promotions (failovers and switchovers) completed",
            metrics.failovers.clone(),
        );
        registry.register(
            "failover_recoveries",
            "Nodes that came back after being down",
            metrics.recoveries.clone(),
        );
        registry.register(
            "failover_health_check_failures",
            "Failed node health checks",
            metrics.check_failures.clone(),
        );
        registry.register(
            "failover_primary_healthy",
            "1 if the primary is healthy",
            metrics.primary_healthy.clone(),
        );
        registry.register(
            "failover_standby_healthy",
            "1 if the standby is healthy",
            metrics.standby_healthy.clone(),
        );
        registry.register(
            "failover_replication_lag_bytes",
            "Bytes the primary has written that the standby has not received (Redis: offsets)",
            metrics.lag_bytes.clone(),
        );
        metrics
    }

    fn labels(cluster: &Cluster) -> ClusterLabels {
        ClusterLabels {
            cluster: cluster.name.to_string(),
        }
    }

    pub(super) fn check_failed(&self, cluster: &Cluster) {
        self.check_failures
            .get_or_create(&Self::labels(cluster))
            .inc();
    }

    pub(super) fn failed_over(&self, cluster: &Cluster) {
        self.failovers.get_or_create(&Self::labels(cluster)).inc();
    }

    pub(super) fn recovered(&self, cluster: &Cluster) {
        self.recoveries.get_or_create(&Self::labels(cluster)).inc();
    }

    /// Drops the gauges of nodes a reload removed: nothing reports a node Lifeline no longer
    /// watches. Counters stay: they only grow.
    pub fn forget_nodes(&self, cluster: &Cluster, nodes: &[NodeName]) {
        for node in nodes {
            let labels = StandbyLabels {
                cluster: cluster.name.to_string(),
                standby: node.to_string(),
            };
            self.standby_healthy.remove(&labels);
            self.lag_bytes.remove(&labels);
        }
    }

    /// Drops the gauges of a cluster a reload removed.
    pub fn forget_cluster(&self, cluster: &Cluster) {
        let labels = Self::labels(cluster);
        self.state.remove(&labels);
        self.primary_healthy.remove(&labels);
        let nodes: Vec<NodeName> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        self.forget_nodes(cluster, &nodes);
    }

    /// Sets the gauges from the state (and makes the counters appear at 0).
    pub(super) fn observe(&self, state: &ClusterState) {
        let cluster = state.cluster();
        let labels = Self::labels(cluster);
        self.state.get_or_create(&labels).set(state.health().code());
        for counter in [&self.failovers, &self.recoveries, &self.check_failures] {
            // Touching the series makes it appear at 0 before anything happened.
            drop(counter.get_or_create(&labels));
        }
        let primary = state.primary();
        let primary_healthy = primary.is_some_and(|p| state.node(p).healthy);
        self.primary_healthy
            .get_or_create(&labels)
            .set(i64::from(primary_healthy));
        let position = |id| state.node(id).facts.as_ref().and_then(|f| f.position);
        let primary_position = primary.and_then(position);
        for node in state.ids() {
            let labels = StandbyLabels {
                cluster: cluster.name.to_string(),
                standby: state.name(node).to_string(),
            };
            if Some(node) == primary {
                self.standby_healthy.remove(&labels);
                self.lag_bytes.remove(&labels);
                continue;
            }
            self.standby_healthy
                .get_or_create(&labels)
                .set(i64::from(state.node(node).healthy));
            match primary_position.zip(position(node)) {
                Some((primary, standby)) => {
                    let lag = primary.saturating_sub(standby);
                    self.lag_bytes
                        .get_or_create(&labels)
                        .set(i64::try_from(lag).unwrap_or(i64::MAX));
                }
                None => {
                    self.lag_bytes.remove(&labels);
                }
            }
        }
    }
}
