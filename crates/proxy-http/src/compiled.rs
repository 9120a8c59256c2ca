//! One routing generation as requests use it: the compiled [`Router`] plus what each request
//! would otherwise look up or format again (metric handles, the origin's URI authority and
//! connection pool, its `X-Origin` value, its pool's `eject_after`, the load balancer's 503 body),
//! and the proxy's `Via` element.
//!
//! Built off the request path each time the controller publishes a table, and swapped in whole.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderValue;
use http::uri::{Authority, Scheme};
use lifeline_model::{OriginName, OriginProtocol, ProxySettings, RoutingTable, Timestamp};

use crate::metrics::{LbMetrics, OriginMetrics, ProxyMetrics};
use crate::origin_pool::{OriginPool, OriginPools};
use crate::respond;
use crate::route::{Router, StatsRegistry};
use crate::via::Via;

/// A compiled routing generation.
pub(crate) struct Compiled {
    pub(crate) router: Router,
    /// The limits on clients.
    pub(crate) proxy: ProxySettings,
    pub(crate) clock: ClockAnchor,
    pub(crate) via: Via,
    /// In the topology's `load_balancers` order ([`LbRouter::index`](crate::route::LbRouter::index)).
    load_balancers: Box<[LbHandles]>,
}

/// The wall-clock time at one monotonic instant, so that a request tells the time of day (which
/// slow-start ramps are measured in) from the `Instant` it read anyway rather than from a second
/// clock read. A generation is compiled whenever an origin recovers, so the anchor is fresh
/// whenever a ramp is running.
pub(crate) struct ClockAnchor {
    instant: Instant,
    timestamp: Timestamp,
}

/// Per load balancer.
pub(crate) struct LbHandles {
    pub(crate) metrics: LbMetrics,
    /// The JSON body of its 503.
    pub(crate) unavailable_body: Bytes,
    /// By [`Candidate::slot`](crate::route::Candidate::slot); `None`: the origin's address or
    /// name cannot be used.
    origins: Box<[Option<OriginHandles>]>,
}

/// Per origin, as seen from one load balancer.
pub(crate) struct OriginHandles {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// The authority as a `Host` value, for a request that came without one.
    pub(crate) host: HeaderValue,
    /// The keep-alive pool of a plain-HTTP origin; `None` for HTTPS.
    pub(crate) pool: Option<Arc<OriginPool>>,
    pub(crate) x_origin: HeaderValue,
    /// The pool's `eject_after`; 0: passive ejection off.
    pub(crate) eject_after: u32,
    pub(crate) metrics: OriginMetrics,
}

// === impl Compiled ===

impl Compiled {
    pub(crate) fn new(
        table: Arc<RoutingTable>,
        stats: &StatsRegistry,
        metrics: &ProxyMetrics,
        pools: &OriginPools,
    ) -> Self {
        let topology = Arc::clone(&table.topology);
        let mut plain = HashSet::new();
        let load_balancers = topology
            .load_balancers
            .iter()
            .map(|load_balancer| {
                let name = &load_balancer.name;
                let origins = topology
                    .origins()
                    .map(|(pool, origin)| {
                        let handles = OriginHandles::new(
                            &origin.address.to_string(),
                            &origin.name,
                            &pool.origin_protocol,
                            pool.eject_after,
                            metrics.origin(name, &pool.name, &origin.name),
                            pools,
                        )?;
                        if handles.pool.is_some() {
                            plain.insert(handles.authority.clone());
                        }
                        Some(handles)
                    })
                    .collect();
                LbHandles {
                    metrics: metrics.load_balancer(name),
                    unavailable_body: respond::unavailable_body(name),
                    origins,
                }
            })
            .collect();
        pools.retain(&plain);
        Self {
            proxy: topology.proxy,
            router: Router::compile(table, stats),
            clock: ClockAnchor::now(),
            via: Via::new(),
            load_balancers,
        }
    }

    /// The handles of the load balancer at `index` in the topology.
    pub(crate) fn load_balancer(&self, index: usize) -> Option<&LbHandles> {
        self.load_balancers.get(index)
    }
}

// === impl ClockAnchor ===

impl ClockAnchor {
    fn now() -> Self {
        Self {
            instant: Instant::now(),
            timestamp: Timestamp::now(),
        }
    }

    /// The wall-clock time at `instant`.
    pub(crate) fn timestamp_at(&self, instant: Instant) -> Timestamp {
        self.timestamp
            .plus(instant.saturating_duration_since(self.instant))
    }
}

// === impl LbHandles ===

impl LbHandles {
    /// The handles of the origin at `slot` in the topology.
    pub(crate) fn origin(&self, slot: usize) -> Option<&OriginHandles> {
        self.origins.get(slot)?.as_ref()
    }
}

// === impl OriginHandles ===

impl OriginHandles {
    /// `None` (logged) when the address or name cannot appear in a URI or header.
    fn new(
        address: &str,
        name: &OriginName,
        protocol: &OriginProtocol,
        eject_after: u32,
        metrics: OriginMetrics,
        pools: &OriginPools,
    ) -> Option<Self> {
        let authority = match Authority::try_from(address) {
            Ok(authority) => authority,
            Err(err) => {
                tracing::error!(origin = %name, %address, error = %err, "origin address is not a valid URI authority; not routing to it");
                return None;
            }
        };
        let x_origin = match HeaderValue::from_str(name.as_str()) {
            Ok(value) => value,
            Err(err) => {
                tracing::error!(origin = %name, error = %err, "origin name is not a valid header value; not routing to it");
                return None;
            }
        };
        let (scheme, pool) = match protocol {
            OriginProtocol::Http => (Scheme::HTTP, Some(pools.get(&authority))),
            OriginProtocol::Https { .. } => (Scheme::HTTPS, None),
        };
        // An authority is always a valid header value.
        let host = HeaderValue::from_str(authority.as_str()).ok()?;
        Some(Self {
            scheme,
            authority,
            host,
            pool,
            x_origin,
            eject_after,
            metrics,
        })
    }
}
