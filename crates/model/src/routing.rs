//! The routing snapshot: what the data plane needs, published by the controller after every
//! change and read by every request without locks. It is immutable; a change publishes a new one.

use std::sync::Arc;

use crate::health::PoolState;
use crate::names::{LoadBalancerName, OriginName, PoolName};
use crate::observation::CheckFailure;
use crate::time::Timestamp;
use crate::topology::Topology;

#[derive(Clone, Debug)]
pub struct RoutingTable {
    /// Grows by one with every table the controller publishes.
    pub generation: u64,
    /// Load balancer and pool definitions.
    pub topology: Arc<Topology>,
    /// Live state of each pool, in `topology.pools` order.
    pub pools: Vec<PoolRouting>,
    /// Load balancers an operator pinned to one pool or origin (`lifeline force`).
    pub forced: Vec<(LoadBalancerName, ForceTarget)>,
}

impl RoutingTable {
    pub fn forced(&self, load_balancer: &LoadBalancerName) -> Option<&ForceTarget> {
        self.forced
            .iter()
            .find(|(name, _)| name == load_balancer)
            .map(|(_, target)| target)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PoolRouting {
    pub state: PoolState,
    /// When the pool last went from not serving to serving: the start of its failback ramp.
    pub serving_since: Option<Timestamp>,
    /// In the pool's `origins` order.
    pub origins: Vec<OriginRouting>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OriginRouting {
    /// Healthy after hysteresis, passive ejection included, and enabled.
    pub healthy: bool,
    /// Drained by an operator: no new requests, in-flight ones finish.
    pub draining: bool,
    /// When it last became healthy: the start of its slow-start ramp.
    pub healthy_since: Option<Timestamp>,
}

impl OriginRouting {
    /// Whether it may take new requests.
    pub fn is_available(&self) -> bool {
        self.healthy && !self.draining
    }
}

/// What `lifeline force` pins a load balancer to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForceTarget {
    Pool(PoolName),
    Origin(OriginName),
}

/// Sent by the data plane when live traffic to one origin failed `eject_after` times in a row.
/// The controller decides what it means.
#[derive(Clone, Debug)]
pub struct Ejection {
    pub origin: OriginName,
    pub at: Timestamp,
    pub consecutive_failures: u32,
    pub last_failure: CheckFailure,
}
