//! Valid `[[load_balancer]]` sections and the pool keys load balancers use build the expected
//! model values; `load_balancer_errors.rs` covers their problems.

use std::net::SocketAddr;
use std::time::Duration;

use lifeline_model::{
    Cidr, Listener, LoadBalancer, OriginProtocol, PoolName, Route, SessionAffinity, SteeringPolicy,
    TlsFiles,
};

use super::{env, parse_ok};
use crate::load;

/// Pools for load balancers to name.
pub(super) const POOLS: &str = r#"
[[pool]]
name = "primary"
origins = [{ name = "p1", address = "127.0.0.1:8081" }]
[[pool]]
name = "backup"
origins = [{ name = "b1", address = "127.0.0.1:8082" }]
[[pool]]
name = "eu-pool"
origins = [{ name = "e1", address = "127.0.0.1:8083" }]
[[pool]]
name = "us-pool"
origins = [{ name = "u1", address = "127.0.0.1:8084" }]
[[pool]]
name = "websocket"
origin_protocol = "https"
origin_allow_insecure = true
eject_after = 0
origins = [{ name = "w1", address = "127.0.0.1:8085" }]
"#;

const FULL_LB: &str = r#"
[[load_balancer]]
name = "api"
listen = [
  "127.0.0.1:8080",
  { address = "127.0.0.1:8443", tls_certificate = "tls/cert.pem", tls_key = "tls/key.pem" },
]
hostnames = ["API.Example.com", "*.example.com"]
default_pools = ["primary", "backup"]
fallback_pool = "backup"
steering_policy = "geo"
region_pools = { eu = ["eu-pool", "backup"], us = ["us-pool"] }
regions = { "10.0.0.0/8" = "us", "10.1.0.0/16" = "eu", "10.1.2.0/24" = "us", "2001:db8::/32" = "eu" }
region_header = "X-Client-Region"
session_affinity = "ip_cookie"
try_timeout = "2s"
retries = 3
hedge_after = "300ms"
slow_start = "30s"
rto_alert = "90s"

[[load_balancer.rule]]
path_prefix = "/ws/"
default_pools = ["websocket"]
fallback_pool = "backup"

[[load_balancer.rule]]
path_prefix = "/static"
default_pools = ["backup", "primary"]

[[load_balancer]]
name = "plain"
listen = "127.0.0.1:8080"
default_pools = ["primary"]
"#;

fn names(pools: &[&str]) -> Vec<PoolName> {
    pools.iter().copied().map(PoolName::from).collect()
}

fn route(pools: &[&str], fallback: Option<&str>) -> Route {
    Route {
        default_pools: names(pools),
        fallback_pool: fallback.map(PoolName::from),
    }
}

#[test]
fn a_full_load_balancer_builds_the_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/cert.pem"), "not really a certificate").unwrap();
    std::fs::write(dir.path().join("tls/key.pem"), "not really a key").unwrap();
    let path = dir.path().join("lifeline.toml");
    std::fs::write(&path, format!("{POOLS}{FULL_LB}")).unwrap();
    let topology = load(&path, &env(&[]))
        .unwrap_or_else(|diagnostics| panic!("{diagnostics}"))
        .topology;

    assert_eq!(topology.load_balancers.len(), 2);
    let api = topology.load_balancer("api").unwrap();
    assert_eq!(
        api.listeners,
        [
            Listener {
                address: "127.0.0.1:8080".parse().unwrap(),
                tls: None,
            },
            Listener {
                address: "127.0.0.1:8443".parse().unwrap(),
                tls: Some(TlsFiles {
                    certificate: dir.path().join("tls/cert.pem"),
                    key: dir.path().join("tls/key.pem"),
                }),
            },
        ]
    );
    assert_eq!(api.hostnames, ["api.example.com", "*.example.com"]);
    assert_eq!(api.routes, route(&["primary", "backup"], Some("backup")));
    assert_eq!(api.rules.len(), 2);
    assert_eq!(api.rules[0].path_prefix, "/ws/");
    assert_eq!(api.rules[0].route, route(&["websocket"], Some("backup")));
    assert_eq!(api.rules[1].route, route(&["backup", "primary"], None));

    assert_eq!(api.steering_policy, SteeringPolicy::Geo);
    assert_eq!(
        api.region_pools,
        [
            ("eu".to_string(), names(&["eu-pool", "backup"])),
            ("us".to_string(), names(&["us-pool"])),
        ]
    );
    // Most specific prefix first.
    let regions: Vec<_> = api
        .regions
        .iter()
        .map(|(cidr, region)| (cidr.prefix, region.as_str()))
        .collect();
    assert_eq!(regions, [(32, "eu"), (24, "us"), (16, "eu"), (8, "us")]);
    assert_eq!(api.regions[1].0, Cidr::parse("10.1.2.0/24").unwrap());
    assert_eq!(api.region_header.as_deref(), Some("X-Client-Region"));

    assert_eq!(api.session_affinity, SessionAffinity::IpCookie);
    assert_eq!(api.try_timeout, Duration::from_secs(2));
    assert_eq!(api.retries, 3);
    assert_eq!(api.hedge_after, Some(Duration::from_millis(300)));
    assert_eq!(api.slow_start, Duration::from_secs(30));
    assert_eq!(api.rto_alert, Duration::from_secs(90));

    // The catch-all beside it on the shared plain address gets every default.
    let plain = topology.load_balancer("plain").unwrap();
    assert_defaults(plain);
    assert_eq!(plain.listeners[0].address, api.listeners[0].address);

    let websocket = topology.pool("websocket").unwrap();
    assert_eq!(
        websocket.origin_protocol,
        OriginProtocol::Https {
            allow_insecure: true
        }
    );
    assert_eq!(websocket.eject_after, 0);
}

fn assert_defaults(lb: &LoadBalancer) {
    assert!(lb.hostnames.is_empty() && lb.rules.is_empty());
    assert_eq!(lb.routes, route(&["primary"], None));
    assert_eq!(lb.steering_policy, SteeringPolicy::Failover);
    assert!(lb.region_pools.is_empty() && lb.regions.is_empty() && lb.region_header.is_none());
    assert_eq!(lb.session_affinity, SessionAffinity::None);
    assert_eq!(lb.try_timeout, Duration::from_secs(5));
    assert_eq!(lb.retries, 2);
    assert_eq!(lb.hedge_after, None);
    assert_eq!(lb.slow_start, Duration::ZERO);
    assert_eq!(lb.rto_alert, Duration::from_secs(60));
}

#[test]
fn pool_defaults_for_load_balancers() {
    let topology = parse_ok(POOLS, &env(&[]));
    let primary = topology.pool("primary").unwrap();
    assert_eq!(primary.origin_protocol, OriginProtocol::Http);
    assert_eq!(primary.eject_after, 5);
    let text = "[[pool]]\nname = \"p\"\norigin_protocol = \"https\"\neject_after = 1000\norigins = [{ name = \"o\", address = \"127.0.0.1:1\" }]\n";
    let pool = parse_ok(text, &env(&[])).pools.remove(0);
    assert_eq!(
        pool.origin_protocol,
        OriginProtocol::Https {
            allow_insecure: false
        }
    );
    assert_eq!(pool.eject_after, 1000);
}

#[test]
fn every_form_of_listen() {
    let text = format!(
        r#"{POOLS}
[[load_balancer]]
name = "table"
listen = {{ address = "127.0.0.1:7001" }}
default_pools = ["primary"]
slow_start = "0s"
[[load_balancer]]
name = "array-of-tables"
default_pools = ["primary"]
[[load_balancer.listen]]
address = "[::1]:7002"
[[load_balancer.listen]]
address = "127.0.0.1:7003"
"#
    );
    let topology = parse_ok(&text, &env(&[]));
    let addresses = |name: &str| -> Vec<SocketAddr> {
        let lb = topology.load_balancer(name).unwrap();
        assert!(lb.listeners.iter().all(|l| l.tls.is_none()));
        lb.listeners.iter().map(|l| l.address).collect()
    };
    assert_eq!(addresses("table"), ["127.0.0.1:7001".parse().unwrap()]);
    assert_eq!(
        addresses("array-of-tables"),
        [
            "[::1]:7002".parse().unwrap(),
            "127.0.0.1:7003".parse().unwrap()
        ]
    );
    assert_eq!(
        topology.load_balancer("table").unwrap().slow_start,
        Duration::ZERO
    );
}
