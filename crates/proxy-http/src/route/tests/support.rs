//! Builders for routing tables in tests: pools of origins on `127.0.0.1`, one load balancer per
//! call, and setters for the live state the controller would publish.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fastrand::Rng;
use lifeline_model::{
    AdminSettings, ForceTarget, HostPort, Listener, LoadBalancer, LoadBalancerName, Origin,
    OriginName, OriginProtocol, OriginRouting, Pool, PoolName, PoolRouting, PoolState, Route,
    RoutingTable, Timestamp, Topology,
};

use crate::route::{LbRouter, Plan, RequestFacts, Router, StatsRegistry};

/// The default listener address.
pub const LISTEN: &str = "127.0.0.1:8080";
/// A fixed "now" for tests.
pub const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

pub struct TestTable {
    topology: Topology,
    pools: Vec<PoolRouting>,
    forced: Vec<(LoadBalancerName, ForceTarget)>,
}

impl TestTable {
    pub fn new() -> Self {
        Self {
            topology: Topology {
                store: lifeline_model::StoreBackend::Embedded,
                instance: lifeline_model::InstanceSettings {
                    name: lifeline_model::InstanceName::new("test"),
                },
                proxy: lifeline_model::ProxySettings::default(),
                admin: AdminSettings {
                    listen: "127.0.0.1:9090".parse().unwrap(),
                    token: None,
                    state_file: PathBuf::from("unused"),
                    limits: lifeline_model::AdminLimits::default(),
                },
                monitors: Vec::new(),
                pools: Vec::new(),
                clusters: Vec::new(),
                scorecards: Vec::new(),
                receivers: Vec::new(),
                load_balancers: Vec::new(),
            },
            pools: Vec::new(),
            forced: Vec::new(),
        }
    }

    /// A healthy pool of healthy origins with these names and weights.
    pub fn pool(mut self, name: &str, origins: &[(&str, u32)]) -> Self {
        let first_port = 10_000 + 100 * self.topology.pools.len() as u16;
        self.topology.pools.push(Pool {
            name: PoolName::new(name),
            monitor: None,
            origins: origins
                .iter()
                .zip(first_port..)
                .map(|((name, weight), port)| Origin {
                    name: OriginName::new(*name),
                    address: HostPort {
                        host: "127.0.0.1".into(),
                        port,
                    },
                    weight: *weight,
                    enabled: true,
                })
                .collect(),
            minimum_origins: 1,
            origin_protocol: OriginProtocol::Http,
            eject_after: 0,
        });
        self.pools.push(PoolRouting {
            state: PoolState::Healthy,
            serving_since: None,
            origins: origins
                .iter()
                .map(|_| OriginRouting {
                    healthy: true,
                    draining: false,
                    healthy_since: None,
                })
                .collect(),
        });
        self
    }

    /// A `failover` load balancer on [`LISTEN`] preferring `pools`, with 1 retry; `edit` changes
    /// the rest.
    pub fn lb(mut self, name: &str, pools: &[&str], edit: impl FnOnce(&mut LoadBalancer)) -> Self {
        let mut lb = LoadBalancer {
            name: LoadBalancerName::new(name),
            listeners: vec![Listener {
                address: LISTEN.parse().unwrap(),
                tls: None,
            }],
            hostnames: Vec::new(),
            routes: route(pools, None),
            rules: Vec::new(),
            steering_policy: Default::default(),
            region_pools: Vec::new(),
            regions: Vec::new(),
            region_header: None,
            session_affinity: Default::default(),
            try_timeout: Duration::from_secs(5),
            retries: 1,
            hedge_after: None,
            slow_start: Duration::ZERO,
            rto_alert: Duration::from_secs(30),
        };
        edit(&mut lb);
        self.topology.load_balancers.push(lb);
        self
    }

    pub fn pool_state(mut self, pool: &str, state: PoolState) -> Self {
        self.pool_mut(pool).state = state;
        self
    }

    pub fn serving_since(mut self, pool: &str, at: Timestamp) -> Self {
        self.pool_mut(pool).serving_since = Some(at);
        self
    }

    /// Marks an origin unhealthy; its pool's state is left as is.
    pub fn down(mut self, origin: &str) -> Self {
        self.origin_mut(origin).healthy = false;
        self
    }

    pub fn drain(mut self, origin: &str) -> Self {
        self.origin_mut(origin).draining = true;
        self
    }

    pub fn healthy_since(mut self, origin: &str, at: Timestamp) -> Self {
        self.origin_mut(origin).healthy_since = Some(at);
        self
    }

    pub fn force(mut self, lb: &str, target: ForceTarget) -> Self {
        self.forced.push((LoadBalancerName::new(lb), target));
        self
    }

    pub fn table(self) -> Arc<RoutingTable> {
        Arc::new(RoutingTable {
            generation: 7,
            topology: Arc::new(self.topology),
            pools: self.pools,
            forced: self.forced,
        })
    }

    pub fn router(self) -> Router {
        Router::compile(self.table(), &StatsRegistry::new())
    }

    fn pool_mut(&mut self, pool: &str) -> &mut PoolRouting {
        let index = self
            .topology
            .pools
            .iter()
            .position(|p| p.name.as_str() == pool)
            .unwrap();
        &mut self.pools[index]
    }

    fn origin_mut(&mut self, origin: &str) -> &mut OriginRouting {
        for (pool, routing) in self.topology.pools.iter().zip(&mut self.pools) {
            if let Some(index) = pool.origins.iter().position(|o| o.name.as_str() == origin) {
                return &mut routing.origins[index];
            }
        }
        panic!("no origin {origin}");
    }
}

pub fn route(pools: &[&str], fallback: Option<&str>) -> Route {
    Route {
        default_pools: pools.iter().map(|p| PoolName::new(*p)).collect(),
        fallback_pool: fallback.map(PoolName::new),
    }
}

/// The only load balancer on [`LISTEN`] without hostnames.
pub fn lb(router: &Router) -> &LbRouter {
    router.load_balancer(LISTEN.parse().unwrap(), None).unwrap()
}

pub fn facts(path: &str) -> RequestFacts<'_> {
    RequestFacts {
        path,
        client: IpAddr::from([192, 0, 2, 1]),
        region_header: None,
        affinity_cookie: None,
    }
}

pub fn listen() -> SocketAddr {
    LISTEN.parse().unwrap()
}

/// The candidates' origin names.
pub fn names<'a>(plan: &Plan<'a>) -> Vec<&'a str> {
    plan.candidates.iter().map(|c| c.origin.as_str()).collect()
}

/// How many of `count` plans of `request` picked each origin first.
pub fn first_picks(
    lb: &LbRouter,
    request: &RequestFacts<'_>,
    now: Timestamp,
    count: usize,
) -> BTreeMap<String, usize> {
    let mut rng = Rng::with_seed(42);
    let mut picks = BTreeMap::new();
    for _ in 0..count {
        let plan = lb.plan_with(request, now, &mut rng);
        let first = plan.candidates.first().map_or("-", |c| c.origin.as_str());
        *picks.entry(first.to_string()).or_default() += 1;
    }
    picks
}

/// `[("a", 300), ...]` as a map, for comparing with [`first_picks`].
pub fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}
