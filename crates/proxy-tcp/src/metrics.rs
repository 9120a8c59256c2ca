//! The endpoints' Prometheus metrics, all named `lifeline_tcp_*`.
//!
//! An endpoint looks up its own series once, when it starts ([`EndpointMetrics`]); a connection
//! looks up its node's series once, when it connects. Copying bytes touches no metric.

use std::fmt::{self, Write};
use std::sync::Arc;

use lifeline_model::NodeName;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    endpoint: Arc<str>,
    node: NodeLabel,
}

/// A node's name as a label value, without copying it.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct NodeLabel(NodeName);

/// Handles to the endpoints' metric families; cheap to clone.
#[derive(Clone)]
pub struct TcpMetrics {
    families: Arc<Families>,
}

struct Families {
    connections: Family<NodeLabels, Counter>,
    active: Family<NodeLabels, Gauge>,
    connect_failures: Family<NodeLabels, Counter>,
    wait_timeouts: Family<EndpointLabels, Counter>,
    closed_by_route_change: Family<EndpointLabels, Counter>,
}

/// One endpoint's series.
pub(crate) struct EndpointMetrics {
    families: Arc<Families>,
    endpoint: Arc<str>,
    pub(crate) wait_timeouts: Counter,
    pub(crate) closed_by_route_change: Counter,
}

/// Counts one proxied connection in `active_connections` while it lives.
pub(crate) struct Active(Gauge);

// === impl TcpMetrics ===

impl TcpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let families = Families {
            connections: Family::default(),
            active: Family::default(),
            connect_failures: Family::default(),
            wait_timeouts: Family::default(),
            closed_by_route_change: Family::default(),
        };
        registry.register(
            "lifeline_tcp_connections",
            "Client connections proxied to a backend node",
            families.connections.clone(),
        );
        registry.register(
            "lifeline_tcp_active_connections",
            "Client connections being proxied to a backend node now",
            families.active.clone(),
        );
        registry.register(
            "lifeline_tcp_connect_failures",
            "Failed connects to a backend node (the next backend is tried)",
            families.connect_failures.clone(),
        );
        registry.register(
            "lifeline_tcp_wait_timeouts",
            "Client connections closed because the endpoint held longer than its wait",
            families.wait_timeouts.clone(),
        );
        registry.register(
            "lifeline_tcp_closed_by_route_change",
            "Client connections closed because a new route dropped their backend",
            families.closed_by_route_change.clone(),
        );
        Self {
            families: Arc::new(families),
        }
    }

    /// The series of endpoint `name`, created now so that they read 0 before anything happens.
    pub(crate) fn endpoint(&self, name: &str) -> EndpointMetrics {
        let labels = EndpointLabels {
            endpoint: Arc::from(name),
        };
        EndpointMetrics {
            families: Arc::clone(&self.families),
            wait_timeouts: self.families.wait_timeouts.get_or_create(&labels).clone(),
            closed_by_route_change: self
                .families
                .closed_by_route_change
                .get_or_create(&labels)
                .clone(),
            endpoint: labels.endpoint,
        }
    }
}

// === impl EndpointMetrics ===

impl EndpointMetrics {
    /// Counts a connection proxied to `node`; it stays active until the guard is dropped.
    pub(crate) fn connected(&self, node: &NodeName) -> Active {
        let labels = self.labels(node);
        self.families.connections.get_or_create(&labels).inc();
        let active = self.families.active.get_or_create(&labels).clone();
        active.inc();
        Active(active)
    }

    pub(crate) fn connect_failed(&self, node: &NodeName) {
        self.families
            .connect_failures
            .get_or_create(&self.labels(node))
            .inc();
    }

    fn labels(&self, node: &NodeName) -> NodeLabels {
        NodeLabels {
            endpoint: Arc::clone(&self.endpoint),
            node: NodeLabel(node.clone()),
        }
    }
}

// === impl Active ===

impl Drop for Active {
    fn drop(&mut self) {
        self.0.dec();
    }
}

// === impl NodeLabel ===

impl EncodeLabelValue for NodeLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        encoder.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn series_carry_the_endpoint_and_node() {
        let mut registry = Registry::default();
        let metrics = TcpMetrics::register(&mut registry).endpoint("main/writer");
        let node = NodeName::new("pg1");
        let active = metrics.connected(&node);
        metrics.connect_failed(&node);
        metrics.closed_by_route_change.inc();
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            r#"lifeline_tcp_connections_total{endpoint="main/writer",node="pg1"} 1"#,
            r#"lifeline_tcp_active_connections{endpoint="main/writer",node="pg1"} 1"#,
            r#"lifeline_tcp_connect_failures_total{endpoint="main/writer",node="pg1"} 1"#,
            r#"lifeline_tcp_wait_timeouts_total{endpoint="main/writer"} 0"#,
            r#"lifeline_tcp_closed_by_route_change_total{endpoint="main/writer"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        drop(active);
        text.clear();
        encode(&mut text, &registry).unwrap();
        let gone = r#"lifeline_tcp_active_connections{endpoint="main/writer",node="pg1"} 0"#;
        assert!(text.lines().any(|l| l == gone), "{text}");
    }
}
