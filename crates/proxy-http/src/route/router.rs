//! The router of one routing snapshot: every load balancer compiled once, found by listener
//! address and `Host`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use lifeline_model::{OriginName, RoutingTable};

use super::hosts::Listeners;
use super::load_balancer::{Available, LbRouter};
use super::pool::PoolPlan;
use super::stats::StatsRegistry;

/// Compiled once per [`RoutingTable`], shared as `Arc<Router>` by every request.
#[derive(Debug)]
pub struct Router {
    table: Arc<RoutingTable>,
    load_balancers: Box<[LbRouter]>,
    listeners: Listeners,
}

// === impl Router ===

impl Router {
    pub fn compile(table: Arc<RoutingTable>, stats: &StatsRegistry) -> Router {
        let topology = &table.topology;
        let configured: HashSet<&OriginName> =
            topology.origins().map(|(_, origin)| &origin.name).collect();
        stats.retain(|name| configured.contains(name));
        let mut first_slot = 0;
        let pools: Arc<[PoolPlan]> = topology
            .pools
            .iter()
            .enumerate()
            .map(|(index, pool)| {
                let plan = PoolPlan::compile(pool, first_slot, table.pools.get(index), stats);
                first_slot += pool.origins.len();
                plan
            })
            .collect();
        let available: Available = pools
            .iter()
            .enumerate()
            .flat_map(|(pool, plan)| {
                plan.members
                    .iter()
                    .enumerate()
                    .map(move |(member, m)| (m.candidate.origin.clone(), (pool, member)))
            })
            .collect::<HashMap<_, _>>();
        let available = Arc::new(available);
        let load_balancers = topology
            .load_balancers
            .iter()
            .enumerate()
            .map(|(index, definition)| {
                let forced = table.forced(&definition.name);
                LbRouter::compile(topology, index, &pools, &available, forced)
            })
            .collect();
        let listeners = Listeners::build(&topology.load_balancers);
        Router {
            table,
            load_balancers,
            listeners,
        }
    }

    pub fn generation(&self) -> u64 {
        self.table.generation
    }

    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// The load balancer serving a request that arrived on listener address `local` with this
    /// Host header (port stripped, case-insensitive; exact hostnames beat `*.` wildcards beat a
    /// load balancer without hostnames). None: no load balancer for that host on that address.
    pub fn load_balancer(&self, local: SocketAddr, host: Option<&str>) -> Option<&LbRouter> {
        let index = self.listeners.find(local, host)?;
        self.load_balancers.get(index)
    }
}
