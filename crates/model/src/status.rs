//! The view the admin API serves: every pool and origin with its health, published by the
//! controller as an immutable snapshot.

use serde::Serialize;

use crate::health::{OriginHealth, PoolState};
use crate::names::{LoadBalancerName, MonitorName, OriginName, PoolName};
use crate::routing::ForceTarget;
use crate::time::Timestamp;

#[derive(Clone, Debug, Serialize)]
pub struct StatusSnapshot {
    /// When the daemon started.
    pub started_at: Timestamp,
    /// When this snapshot was taken.
    pub at: Timestamp,
    /// True once every enabled, monitored origin has been checked at least once.
    pub all_checked: bool,
    pub load_balancers: Vec<LoadBalancerStatus>,
    pub pools: Vec<PoolStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LoadBalancerStatus {
    pub name: LoadBalancerName,
    pub listen: Vec<String>,
    pub steering_policy: &'static str,
    /// Where `default_pools` traffic goes now: the first pool that can serve, else the fallback.
    pub active_pool: Option<PoolName>,
    /// Pinned by an operator (`lifeline force`).
    pub forced: Option<ForceTarget>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PoolStatus {
    pub name: PoolName,
    pub state: PoolState,
    pub monitor: Option<MonitorName>,
    pub minimum_origins: usize,
    pub healthy_origins: usize,
    pub origins: Vec<OriginStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OriginStatus {
    pub name: OriginName,
    pub address: String,
    pub weight: u32,
    pub enabled: bool,
    /// Drained by an operator: no new requests.
    pub draining: bool,
    #[serde(flatten)]
    pub health: OriginHealth,
}
