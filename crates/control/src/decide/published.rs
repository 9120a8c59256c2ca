//! What the state publishes: the status `GET /status` serves and the table the data plane
//! routes by.

use lifeline_model::{
    Health, LoadBalancerStatus, OriginRouting, OriginStatus, PoolRouting, PoolStatus, RoutingTable,
    StatusSnapshot, Timestamp,
};

use super::State;
use crate::decide::failover::Active;

impl State {
    /// The view served by `GET /status`.
    pub fn snapshot(&self, started_at: Timestamp, now: Timestamp) -> StatusSnapshot {
        let load_balancers = self
            .topology
            .load_balancers
            .iter()
            .zip(&self.active)
            .map(|(lb, active)| LoadBalancerStatus {
                name: lb.name.clone(),
                listen: lb.listeners.iter().map(|l| l.address.to_string()).collect(),
                steering_policy: lb.steering_policy.as_str(),
                active_pool: match active {
                    Active::Pool(pool) => Some(pool.clone()),
                    Active::Unset | Active::Nothing => None,
                },
                forced: self.overrides.forced.get(&lb.name).cloned(),
            })
            .collect();
        let pools = self
            .topology
            .pools
            .iter()
            .zip(&self.pools)
            .enumerate()
            .map(|(index, (pool, entry))| PoolStatus {
                name: pool.name.clone(),
                state: entry.state,
                monitor: pool.monitor.clone(),
                minimum_origins: pool.minimum_origins,
                healthy_origins: self.pool_counts(index).healthy,
                origins: pool
                    .origins
                    .iter()
                    .map(|origin| OriginStatus {
                        name: origin.name.clone(),
                        address: origin.address.to_string(),
                        weight: origin.weight,
                        enabled: origin.enabled,
                        draining: self.overrides.draining.contains(&origin.name),
                        health: self.origins[&origin.name].shown(),
                    })
                    .collect(),
            })
            .collect();
        StatusSnapshot {
            started_at,
            at: now,
            all_checked: self.all_checked(),
            load_balancers,
            pools,
        }
    }

    /// The snapshot the data plane routes by.
    pub fn routing(&self, generation: u64) -> RoutingTable {
        let pools = self
            .topology
            .pools
            .iter()
            .zip(&self.pools)
            .map(|(pool, entry)| PoolRouting {
                state: entry.state,
                serving_since: entry.serving_since,
                origins: pool
                    .origins
                    .iter()
                    .map(|origin| {
                        let entry = &self.origins[&origin.name];
                        OriginRouting {
                            healthy: origin.enabled && entry.effective() == Health::Healthy,
                            draining: self.overrides.draining.contains(&origin.name),
                            healthy_since: entry.healthy_since,
                        }
                    })
                    .collect(),
            })
            .collect();
        RoutingTable {
            generation,
            topology: self.topology.clone(),
            pools,
            forced: self
                .overrides
                .forced
                .iter()
                .map(|(lb, target)| (lb.clone(), target.clone()))
                .collect(),
        }
    }
}
