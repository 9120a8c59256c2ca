//! Finding the load balancer: listener address, then exact hostname, `*.` wildcard, or the one
//! without hostnames.

use std::net::SocketAddr;

use lifeline_model::Listener;

use super::support::*;

fn hosts() -> TestTable {
    TestTable::new()
        .pool("p", &[("a", 1)])
        .lb("any", &["p"], |_| {})
        .lb("wild", &["p"], |lb| {
            lb.hostnames = vec!["*.example.com".into()]
        })
        .lb("exact", &["p"], |lb| {
            lb.hostnames = vec!["api.example.com".into(), "example.org".into()];
        })
}

#[test]
fn exact_beats_wildcard_beats_any() {
    let router = hosts().router();
    let find = |host: Option<&str>| {
        router
            .load_balancer(listen(), host)
            .map(|lb| lb.definition().name.to_string())
    };
    assert_eq!(find(Some("api.example.com")).as_deref(), Some("exact"));
    assert_eq!(find(Some("API.Example.COM:8080")).as_deref(), Some("exact"));
    assert_eq!(find(Some("example.org.")).as_deref(), Some("exact"));
    assert_eq!(find(Some("www.example.com")).as_deref(), Some("wild"));
    assert_eq!(
        find(Some("example.com")).as_deref(),
        Some("any"),
        "a wildcard needs a label"
    );
    assert_eq!(
        find(Some("a.b.example.com")).as_deref(),
        Some("any"),
        "only one label"
    );
    assert_eq!(find(Some("other.net")).as_deref(), Some("any"));
    assert_eq!(find(None).as_deref(), Some("any"));
}

#[test]
fn without_a_catch_all_an_unknown_host_finds_nothing() {
    let router = TestTable::new()
        .pool("p", &[("a", 1)])
        .lb("exact", &["p"], |lb| {
            lb.hostnames = vec!["example.org".into()]
        })
        .router();
    assert!(
        router
            .load_balancer(listen(), Some("example.org"))
            .is_some()
    );
    assert!(
        router
            .load_balancer(listen(), Some("example.net"))
            .is_none()
    );
    assert!(router.load_balancer(listen(), None).is_none());
    let elsewhere: SocketAddr = "127.0.0.1:9999".parse().unwrap();
    assert!(
        router
            .load_balancer(elsewhere, Some("example.org"))
            .is_none()
    );
}

#[test]
fn a_wildcard_listener_matches_the_accepted_socket_address() {
    let router = TestTable::new()
        .pool("p", &[("a", 1)])
        .lb("web", &["p"], |lb| {
            lb.listeners = vec![Listener {
                address: "0.0.0.0:8081".parse().unwrap(),
                tls: None,
            }];
        })
        .router();
    let local: SocketAddr = "10.0.0.5:8081".parse().unwrap();
    assert!(router.load_balancer(local, Some("x")).is_some());
    assert!(
        router
            .load_balancer("0.0.0.0:8081".parse().unwrap(), None)
            .is_some()
    );
    assert!(
        router
            .load_balancer("10.0.0.5:8082".parse().unwrap(), None)
            .is_none()
    );
}

#[test]
fn the_router_exposes_its_table() {
    let router = hosts().router();
    assert_eq!(router.generation(), 7);
    assert_eq!(router.table().topology.load_balancers.len(), 3);
}
