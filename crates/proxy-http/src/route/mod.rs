//! Routing and steering: which load balancer a request belongs to and which origins it may go
//! to, best first.
//!
//! A [`Router`] is compiled once per [`RoutingTable`](lifeline_model::RoutingTable) and shared by
//! every request. [`LbRouter::plan`] is pure decision logic: it reads the snapshot, the live
//! [`OriginStats`] and the request's facts, takes `now` and a random source as inputs, and
//! returns ranked [`Candidate`]s like pingora's `BackendIter`: the caller tries the first, and
//! retries or hedges on the next ones. It does no I/O and never waits.

mod affinity;
mod hosts;
mod load_balancer;
mod pool;
mod router;
mod stats;
mod steering;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use lifeline_model::{HostPort, OriginName, OriginProtocol, PoolName};

pub use load_balancer::LbRouter;
pub use router::Router;
pub use stats::{InFlight, OriginStats, StatsRegistry};

/// The cookie that pins a client to an origin under `cookie` and `ip_cookie` affinity; its value
/// is the origin's name.
pub const AFFINITY_COOKIE: &str = "lifeline_origin";

/// What planning needs to know about one request.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    /// The request path, without the query.
    pub path: &'a str,
    /// The client's address.
    pub client: IpAddr,
    /// The value of the load balancer's `region_header`, if it has one and the request carries it.
    pub region_header: Option<&'a str>,
    /// The value of the [`AFFINITY_COOKIE`] cookie, if the request carries it.
    pub affinity_cookie: Option<&'a str>,
}

/// Where one request goes; borrows the [`LbRouter`] that planned it.
#[derive(Debug)]
pub struct Plan<'a> {
    /// Distinct origins in order of preference: `[0]` is the pick, retries and hedges take the
    /// next ones. At most retries + 2 entries. Empty: nothing can serve (the caller answers 503
    /// + Retry-After).
    pub candidates: Vec<&'a Candidate>,
    /// Some(value) when the response must set the affinity cookie (cookie/ip_cookie affinity and
    /// the cookie was absent or named an origin that is no longer available). The value names
    /// `candidates[0]`; a caller that ends up served by another candidate should name that one.
    pub set_affinity_cookie: Option<String>,
}

/// One origin a request may go to.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub origin: OriginName,
    /// The origin's position in [`Topology::origins`](lifeline_model::Topology::origins) of the
    /// snapshot's topology: per-origin tables built from the same topology are indexed by it.
    pub slot: usize,
    pub pool: PoolName,
    pub address: HostPort,
    pub protocol: OriginProtocol,
    /// Live statistics to update with the outcome (and [`OriginStats::begin`] while in flight).
    pub stats: Arc<OriginStats>,
}
