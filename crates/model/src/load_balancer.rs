//! `[[load_balancer]]`: a listener that routes requests to pools.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::names::{LoadBalancerName, PoolName};

#[derive(Clone, Debug)]
pub struct LoadBalancer {
    pub name: LoadBalancerName,
    /// Where it accepts clients. Several load balancers may share an address when their
    /// `hostnames` tell them apart.
    pub listeners: Vec<Listener>,
    /// Requests whose `Host` is one of these (without port, lower case; `*.example.com` matches
    /// one label) come here. Empty: every host not claimed by another load balancer on the
    /// same address.
    pub hostnames: Vec<String>,
    /// Where requests go when no rule matches.
    pub routes: Route,
    /// `[[load_balancer.rule]]`, first match wins.
    pub rules: Vec<Rule>,
    pub steering_policy: SteeringPolicy,
    /// For `geo`: region name to pools in order of preference.
    pub region_pools: Vec<(String, Vec<PoolName>)>,
    /// For `geo`: the client's region from its address, most specific prefix first.
    pub regions: Vec<(Cidr, String)>,
    /// For `geo`: a request header that carries the client's region (set by a trusted proxy in
    /// front); used before `regions`.
    pub region_header: Option<String>,
    pub session_affinity: SessionAffinity,
    /// How long one attempt may wait for response headers before the next origin is tried.
    pub try_timeout: Duration,
    /// Further attempts on other origins or pools after the first one failed, when safe.
    pub retries: u32,
    /// An idempotent request still unanswered after this is also sent to the next origin; the
    /// first answer wins.
    pub hedge_after: Option<Duration>,
    /// An origin or pool that comes back gets a share of traffic that grows to its full weight
    /// over this time. Zero: at once.
    pub slow_start: Duration,
    /// A failover that takes longer than this (first failed check to traffic moved) also
    /// raises an `rto_exceeded` event (seed 001's "RTO exceeded" alert).
    pub rto_alert: Duration,
}

/// Pools in order of preference and the one to use when none of them can serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub default_pools: Vec<PoolName>,
    pub fallback_pool: Option<PoolName>,
}

/// `[[load_balancer.rule]]`: requests whose path starts with `path_prefix` take `route`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub path_prefix: String,
    pub route: Route,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub address: SocketAddr,
    /// HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<TlsFiles>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SteeringPolicy {
    /// The first healthy pool in order; weighted round-robin inside it.
    #[default]
    Failover,
    /// A healthy pool at random, weighted by the pools' healthy origin weights.
    Random,
    /// The client's region picks `region_pools`, else `default_pools`.
    Geo,
    /// Inside the chosen pool, the origin with the fewest requests in flight.
    LeastOutstanding,
    /// Inside the chosen pool, the origin with the lowest moving average of response time.
    DynamicLatency,
}

impl SteeringPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SteeringPolicy::Failover => "failover",
            SteeringPolicy::Random => "random",
            SteeringPolicy::Geo => "geo",
            SteeringPolicy::LeastOutstanding => "least_outstanding",
            SteeringPolicy::DynamicLatency => "dynamic_latency",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SessionAffinity {
    #[default]
    None,
    /// A cookie naming the origin, honoured while that origin is healthy.
    Cookie,
    /// The client address picks the origin, then the cookie keeps it.
    IpCookie,
}

/// An address prefix such as `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an address prefix like 10.0.0.0/8"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a prefix length above {max}"))?
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matches_v4_and_v6_prefixes() {
        let lan = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(lan.contains("10.1.200.3".parse().unwrap()));
        assert!(!lan.contains("10.2.0.1".parse().unwrap()));
        assert!(!lan.contains("::1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            Cidr::parse("127.0.0.1")
                .unwrap()
                .contains("127.0.0.1".parse().unwrap())
        );
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope/8", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
