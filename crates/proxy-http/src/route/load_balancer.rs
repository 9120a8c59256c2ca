//! One load balancer compiled for a routing snapshot, and the plan of one request: the origins
//! to try, best first.
//!
//! Everything that depends only on the snapshot (pool names to indices, rules, regions, the
//! forced target, the candidate cap) is resolved in [`LbRouter::compile`], so that
//! [`LbRouter::plan`] only walks small slices and allocates nothing but the candidate list (of
//! references into the compiled pools).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fastrand::Rng;
use lifeline_model::{
    ForceTarget, LoadBalancer, OriginName, PoolName, Route, SessionAffinity, SteeringPolicy,
    Timestamp, Topology,
};

use super::affinity::client_key;
use super::pool::{PoolPlan, Ramp, Shortlist, Within};
use super::steering::{PoolOrder, Region, Regions};
use super::{Plan, RequestFacts};

/// Where each available origin sits: `(pool, member)` indices into the compiled pools.
pub(super) type Available = HashMap<OriginName, (usize, usize)>;

/// A load balancer ready to plan requests; shared by every request of one snapshot.
#[derive(Debug)]
pub struct LbRouter {
    topology: Arc<Topology>,
    /// Position in `topology.load_balancers`.
    index: usize,
    pools: Arc<[PoolPlan]>,
    available: Arc<Available>,
    route: CompiledRoute,
    /// `(path_prefix, route)`, first match wins.
    rules: Box<[(Box<str>, CompiledRoute)]>,
    /// `Some` for `geo` steering.
    regions: Option<Regions>,
    forced: Option<Forced>,
    /// `random` steering: pools in weighted random order rather than in order.
    random_pools: bool,
    within: Within,
    affinity: SessionAffinity,
    slow_start: Duration,
    /// `retries + 2`, and no more than there are available origins.
    cap: usize,
}

#[derive(Debug)]
struct CompiledRoute {
    /// Pool indices, in order, without duplicates.
    preferred: Box<[usize]>,
    fallback: Option<usize>,
}

/// `lifeline force`, resolved; only kept when the target can serve.
#[derive(Clone, Copy, Debug)]
enum Forced {
    Pool(usize),
    Origin { pool: usize, member: usize },
}

// === impl LbRouter ===

impl LbRouter {
    pub(super) fn compile(
        topology: &Arc<Topology>,
        index: usize,
        pools: &Arc<[PoolPlan]>,
        available: &Arc<Available>,
        forced: Option<&ForceTarget>,
    ) -> Self {
        let definition = &topology.load_balancers[index];
        let pool_index =
            |name: &PoolName| topology.pools.iter().position(|pool| &pool.name == name);
        let regions = (definition.steering_policy == SteeringPolicy::Geo).then(|| {
            let region_pools = definition
                .region_pools
                .iter()
                .map(|(region, names)| Region {
                    name: region.as_str().into(),
                    pools: resolve(names, pool_index),
                })
                .collect();
            Regions::new(region_pools, &definition.regions)
        });
        // A forced pool with no available origin, or a forced origin that is not available,
        // would leave nothing to serve: the normal plan applies until it recovers.
        let forced = forced.and_then(|target| match target {
            ForceTarget::Pool(name) => pool_index(name)
                .filter(|pool| !pools[*pool].members.is_empty())
                .map(Forced::Pool),
            ForceTarget::Origin(name) => available
                .get(name)
                .map(|&(pool, member)| Forced::Origin { pool, member }),
        });
        let retries = usize::try_from(definition.retries).unwrap_or(usize::MAX);
        Self {
            topology: Arc::clone(topology),
            index,
            pools: Arc::clone(pools),
            available: Arc::clone(available),
            route: CompiledRoute::compile(&definition.routes, pool_index),
            rules: definition
                .rules
                .iter()
                .map(|rule| {
                    let route = CompiledRoute::compile(&rule.route, pool_index);
                    (rule.path_prefix.as_str().into(), route)
                })
                .collect(),
            regions,
            forced,
            random_pools: definition.steering_policy == SteeringPolicy::Random,
            within: match definition.steering_policy {
                SteeringPolicy::LeastOutstanding => Within::LeastOutstanding,
                SteeringPolicy::DynamicLatency => Within::LowestLatency,
                SteeringPolicy::Failover | SteeringPolicy::Random | SteeringPolicy::Geo => {
                    Within::RoundRobin
                }
            },
            affinity: definition.session_affinity,
            slow_start: definition.slow_start,
            cap: retries.saturating_add(2).min(available.len()),
        }
    }

    pub fn definition(&self) -> &LoadBalancer {
        &self.topology.load_balancers[self.index]
    }

    /// The load balancer's position in the topology's `load_balancers`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Plans where one request goes.
    pub fn plan(&self, request: &RequestFacts<'_>, now: Timestamp) -> Plan<'_> {
        self.plan_with(request, now, &mut Rng::new())
    }

    /// [`plan`](Self::plan) with the random source given: the same seed gives the same plans.
    pub fn plan_with(&self, request: &RequestFacts<'_>, now: Timestamp, rng: &mut Rng) -> Plan<'_> {
        let ramp = Ramp {
            now,
            slow_start: self.slow_start,
        };
        let mut shortlist = Shortlist::new(self.cap);
        let mut order = match self.forced {
            Some(Forced::Pool(pool)) => PoolOrder::only(&self.pools, pool, ramp),
            forced => {
                if let Some(Forced::Origin { pool, member }) = forced {
                    shortlist.push(self.pools[pool].member(member));
                }
                let (preferred, fallback) = self.route_for(request);
                if self.random_pools {
                    PoolOrder::weighted(&self.pools, preferred, fallback, ramp)
                } else {
                    PoolOrder::in_order(&self.pools, preferred, fallback, ramp, rng)
                }
            }
        };
        let pinned = request
            .affinity_cookie
            .filter(|_| self.affinity != SessionAffinity::None)
            .and_then(|origin| self.available.get(origin))
            .filter(|(pool, _)| order.allows(*pool));
        if let Some(&(pool, member)) = pinned {
            shortlist.push(self.pools[pool].member(member));
        }
        let mut hash_client = pinned.is_none() && self.affinity == SessionAffinity::IpCookie;
        while !shortlist.is_full() {
            let Some(pool) = order.next(rng) else { break };
            let pool = &self.pools[pool];
            if hash_client {
                // The first pool with an available origin owns the client.
                if let Some(member) = pool.rendezvous(client_key(request.client)) {
                    shortlist.push(member);
                    hash_client = false;
                }
            }
            pool.rank(self.within, ramp, rng, &mut shortlist);
        }
        let candidates = shortlist.list;
        let set_affinity_cookie = match candidates.first() {
            Some(pick)
                if self.affinity != SessionAffinity::None
                    && request.affinity_cookie != Some(pick.origin.as_str()) =>
            {
                Some(pick.origin.to_string())
            }
            _ => None,
        };
        Plan {
            candidates,
            set_affinity_cookie,
        }
    }

    /// The preferred pools and fallback for this request: the first rule whose prefix matches
    /// the path, else the load balancer's own route, its pools replaced by the client's
    /// region's under `geo` (rules name their pools explicitly and are not re-steered).
    fn route_for(&self, request: &RequestFacts<'_>) -> (&[usize], Option<usize>) {
        if let Some((_, rule)) = self
            .rules
            .iter()
            .find(|(prefix, _)| request.path.starts_with(&**prefix))
        {
            return (&rule.preferred, rule.fallback);
        }
        let preferred = self
            .regions
            .as_ref()
            .and_then(|regions| regions.pools_for(request.region_header, request.client))
            .unwrap_or(&self.route.preferred);
        (preferred, self.route.fallback)
    }
}

// === impl CompiledRoute ===

impl CompiledRoute {
    fn compile(route: &Route, pool_index: impl Fn(&PoolName) -> Option<usize>) -> Self {
        Self {
            preferred: resolve(&route.default_pools, &pool_index),
            fallback: route.fallback_pool.as_ref().and_then(pool_index),
        }
    }
}

/// Pool names to indices, in order, dropping unknown names and repeats.
fn resolve(names: &[PoolName], pool_index: impl Fn(&PoolName) -> Option<usize>) -> Box<[usize]> {
    let mut indices = Vec::with_capacity(names.len());
    for index in names.iter().filter_map(pool_index) {
        if !indices.contains(&index) {
            indices.push(index);
        }
    }
    indices.into_boxed_slice()
}
