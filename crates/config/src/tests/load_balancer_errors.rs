//! One test per class of problem in `[[load_balancer]]`, each checking exact lines and columns;
//! `listen_errors.rs` has those of `listen` and `hostnames`. The texts start with [`POOLS`] (lines 1-19), so load balancers start
//! on line 20.

use super::load_balancer::POOLS;
use super::problems;

pub(super) fn p(line: usize, col: usize, message: &str) -> (usize, usize, String) {
    (line, col, message.to_string())
}

/// The problems of `text` after [`POOLS`].
pub(super) fn lb_problems(text: &str) -> Vec<(usize, usize, String)> {
    assert_eq!(POOLS.lines().count(), 19);
    problems(&format!("{POOLS}{text}"))
}

#[test]
fn missing_load_balancer_keys() {
    let text = r#"[[load_balancer]]
hostnames = []
[[load_balancer]]
name = ""
listen = []
default_pools = []
[[load_balancer.rule]]
fallback_pool = "backup"
[[load_balancer]]
name = "x"
default_pools = ["primary"]
[[load_balancer.listen]]
tls_key = "key.pem"
"#;
    assert_eq!(
        lb_problems(text),
        [
            p(20, 1, "missing `name` in [[load_balancer]]"),
            p(20, 1, "missing `listen` in [[load_balancer]]"),
            p(20, 1, "missing `default_pools` in [[load_balancer]]"),
            p(23, 8, "`name` must not be empty"),
            p(
                24,
                10,
                "`listen` is empty; a load balancer needs at least one address"
            ),
            p(
                25,
                17,
                "`default_pools` is empty; name at least one [[pool]]"
            ),
            p(26, 1, "missing `path_prefix` in [[load_balancer.rule]]"),
            p(26, 1, "missing `default_pools` in [[load_balancer.rule]]"),
            p(31, 1, "missing `address` in a `listen` table"),
            p(
                32,
                11,
                "`tls_key` without `tls_certificate`; give both or neither"
            ),
        ]
    );
}

#[test]
fn unknown_keys_and_wrong_types_in_load_balancers() {
    let text = r#"[[load_balancer]]
name = "a"
listen = [{ address = "127.0.0.1:7000", tls_cert = "c.pem" }]
default_pools = ["primary"]
steering = "geo"
[[load_balancer.rule]]
path_prefix = "/x"
default_pools = ["primary"]
pools = ["backup"]
[[load_balancer]]
name = "b"
listen = { address = "127.0.0.1:7001", port = 1 }
default_pools = ["primary"]
"#;
    assert_eq!(
        lb_problems(text),
        [
            p(22, 41, "unknown key `tls_cert` in `load_balancer.listen`"),
            p(24, 1, "unknown key `steering` in `load_balancer`"),
            p(28, 1, "unknown key `pools` in `load_balancer.rule`"),
            p(31, 40, "unknown key `port` in `load_balancer.listen`"),
        ]
    );
    let text = "[[load_balancer]]\nname = \"a\"\nlisten = 8080\n";
    assert_eq!(
        lb_problems(text),
        [p(
            22,
            10,
            "invalid type: integer `8080`, expected an address like \"127.0.0.1:8080\", a table with `address`, or an array of them"
        )]
    );
    let text = "[[load_balancer]]\nname = \"a\"\nlisten = [\"127.0.0.1:1\", true]\n";
    assert_eq!(
        lb_problems(text),
        [p(
            22,
            26,
            "invalid type: boolean `true`, expected an address like \"127.0.0.1:8080\" or a table with `address`"
        )]
    );
}

#[test]
fn duplicate_load_balancer_names() {
    let text = r#"[[load_balancer]]
name = "lb"
listen = "127.0.0.1:7000"
default_pools = ["primary"]
[[load_balancer]]
name = "lb"
listen = "127.0.0.1:7001"
default_pools = ["primary"]
"#;
    assert_eq!(
        lb_problems(text),
        [p(
            25,
            8,
            "duplicate load balancer name `lb` (first defined on line 21)"
        )]
    );
}

#[test]
fn dangling_and_repeated_pool_references() {
    let text = r#"[[load_balancer]]
name = "a"
listen = "127.0.0.1:7000"
default_pools = ["primary", "primray", "primary"]
fallback_pool = "spare"
steering_policy = "geo"
region_pools = { eu = ["eu-pool", "asia-pool"], us = [] }
[[load_balancer.rule]]
path_prefix = "/ws/"
default_pools = ["websockets"]
fallback_pool = "backup"
"#;
    assert_eq!(
        lb_problems(text),
        [
            p(23, 29, "no [[pool]] is named `primray`"),
            p(23, 40, "pool `primary` appears twice in `default_pools`"),
            p(24, 17, "no [[pool]] is named `spare`"),
            p(26, 35, "no [[pool]] is named `asia-pool`"),
            p(
                26,
                54,
                "`region_pools.us` is empty; name at least one [[pool]]"
            ),
            p(29, 18, "no [[pool]] is named `websockets`"),
        ]
    );
}

#[test]
fn impossible_steering_values() {
    let text = r#"[[load_balancer]]
name = "a"
listen = "127.0.0.1:7000"
default_pools = ["primary"]
steering_policy = "nearest"
session_affinity = "sticky"
[[load_balancer]]
name = "b"
listen = "127.0.0.1:7001"
default_pools = ["primary"]
steering_policy = "geo"
[[load_balancer]]
name = "c"
listen = "127.0.0.1:7002"
default_pools = ["primary"]
region_pools = { eu = ["eu-pool"] }
regions = { "10.0.0.0/8" = "eu" }
region_header = "X-Region"
[[load_balancer]]
name = "d"
listen = "127.0.0.1:7003"
default_pools = ["primary"]
steering_policy = "geo"
region_pools = {}
[[load_balancer]]
name = "e"
listen = "127.0.0.1:7004"
default_pools = ["primary"]
steering_policy = "geo"
region_pools = { eu = ["eu-pool"] }
regions = { "10.0.0.0/33" = "eu", "10.2.0.0/16" = "asia", "nowhere" = "eu" }
region_header = "X Region"
"#;
    assert_eq!(
        lb_problems(text),
        [
            p(
                24,
                19,
                "unknown steering_policy `nearest` (expected failover, random, geo, least_outstanding or dynamic_latency)"
            ),
            p(
                25,
                20,
                "unknown session_affinity `sticky` (expected none, cookie or ip_cookie)"
            ),
            p(30, 19, "steering_policy = \"geo\" needs `region_pools`"),
            p(
                35,
                16,
                "`region_pools` applies to steering_policy = \"geo\""
            ),
            p(36, 11, "`regions` applies to steering_policy = \"geo\""),
            p(
                37,
                17,
                "`region_header` applies to steering_policy = \"geo\""
            ),
            p(
                43,
                16,
                "`region_pools` is empty; geo steering needs at least one region"
            ),
            p(
                50,
                29,
                "`regions`: `10.0.0.0/33` has a prefix length above 32"
            ),
            p(50, 51, "region `asia` is not a key of `region_pools`"),
            p(
                50,
                71,
                "`regions`: `nowhere` is not an address prefix like 10.0.0.0/8"
            ),
            p(
                51,
                17,
                "`region_header`: `X Region` is not a valid header name"
            ),
        ]
    );
}

#[test]
fn impossible_timing_values() {
    let text = r#"[[load_balancer]]
name = "a"
listen = "127.0.0.1:7000"
default_pools = ["primary"]
try_timeout = "0s"
retries = 11
slow_start = "later"
rto_alert = "0ms"
[[load_balancer]]
name = "b"
listen = "127.0.0.1:7001"
default_pools = ["primary"]
hedge_after = "5s"
[[load_balancer]]
name = "c"
listen = "127.0.0.1:7002"
default_pools = ["primary"]
try_timeout = "1s"
hedge_after = "1500ms"
retries = -1
"#;
    assert_eq!(
        lb_problems(text),
        [
            p(24, 15, "`try_timeout` must be longer than zero"),
            p(25, 11, "`retries` must be at most 10, not 11"),
            p(
                26,
                14,
                "`slow_start`: `later` is not a duration like \"500ms\", \"5s\" or \"1m\""
            ),
            p(27, 13, "`rto_alert` must be longer than zero"),
            p(
                32,
                15,
                "`hedge_after` (5s) must be shorter than `try_timeout` (5s)"
            ),
            p(
                38,
                15,
                "`hedge_after` (1s 500ms) must be shorter than `try_timeout` (1s)"
            ),
            p(39, 11, "`retries` must be at least 0, not -1"),
        ]
    );
}

#[test]
fn impossible_rules() {
    let text = r#"[[load_balancer]]
name = "a"
listen = "127.0.0.1:7000"
default_pools = ["primary"]
[[load_balancer.rule]]
path_prefix = "ws/"
default_pools = ["websocket"]
[[load_balancer.rule]]
path_prefix = "/api"
default_pools = ["backup"]
[[load_balancer.rule]]
path_prefix = "/api/v2"
default_pools = ["primary"]
[[load_balancer.rule]]
path_prefix = "/a b"
default_pools = ["primary"]
"#;
    assert_eq!(
        lb_problems(text),
        [
            p(25, 15, "`path_prefix` must start with `/`"),
            p(
                31,
                15,
                "this rule never matches: the rule for `/api` on line 28 comes first and takes every path it would"
            ),
            p(
                34,
                15,
                "`path_prefix` must not contain spaces or control characters"
            ),
        ]
    );
}

#[test]
fn several_load_balancer_problems_at_once() {
    let text = r#"[[pool]]
name = "web"
origin_protocol = "tls"
origins = [{ name = "w", address = "127.0.0.1:1" }]
[[load_balancer]]
name = "api"
listen = ["127.0.0.1:8080", "127.0.0.1:9090"]
default_pools = ["web", "wbe"]
steering_policy = "failover"
region_pools = { eu = ["web"] }
try_timeout = "1s"
hedge_after = "2s"
colour = "blue"
[[load_balancer.rule]]
path_prefix = "/"
default_pools = ["web"]
[[load_balancer.rule]]
path_prefix = "/ws"
default_pools = ["web"]
[[load_balancer]]
name = "api"
listen = "127.0.0.1:8080"
default_pools = ["web"]
session_affinity = "cookies"
"#;
    let found = problems(text);
    let positions: Vec<_> = found.iter().map(|(line, col, _)| (*line, *col)).collect();
    assert_eq!(
        positions,
        [
            (3, 19),  // unknown origin_protocol
            (7, 29),  // the admin API's address
            (8, 25),  // dangling pool
            (10, 16), // region_pools without geo
            (12, 15), // hedge_after >= try_timeout
            (13, 1),  // unknown key
            (18, 15), // rule shadowed by `/`
            (21, 8),  // duplicate name
            (22, 10), // shared address, neither has hostnames
            (24, 20), // unknown session_affinity
        ],
        "{found:?}"
    );
}
