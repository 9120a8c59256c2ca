//! Shared health across three real instances on etcd, one of them in its own network namespace:
//! the leader decides each origin's health from every instance's view (`health_quorum`), and every
//! instance routes by the leader's decisions. The namespace's path to an origin is cut by a
//! blackhole route, so that instance alone cannot reach it, as with a broken network link.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::ha::{PREFIX, SIGCONT, SIGSTOP, etcd_settings};
use common::{binary, get_origin, lb_config, wait_role};
use lifeline_model::InstanceName;
use lifeline_store::{EtcdStore, StateStore};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::etcd::Etcd;
use lifeline_testkit::netns::{Namespace, TestNet};
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::signal::send_signal;
use lifeline_testkit::wait;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(20);

/// lb-1 (leading) and lb-2 on the host, lb-3 in a namespace; origin `a` in the primary pool,
/// `b` in the backup pool, etcd and both origins on addresses every instance reaches.
/// Fields drop in order: the instances stop before the network goes.
struct Group {
    instances: Vec<(Daemon, u16)>,
    a: OriginProcess,
    b: OriginProcess,
    etcd: Etcd,
    store: EtcdStore,
    namespace: Namespace,
    _net: TestNet,
}

impl Group {
    async fn start(quorum: &str) -> Self {
        let mut net = TestNet::new();
        let ip = |n: &str| n.parse::<Ipv4Addr>().expect("an IPv4 address");
        let etcd_ip = net.service_ip(1);
        let (a_ip, b_ip) = (net.service_ip(2), net.service_ip(3));
        let namespace = net.namespace(0);
        let etcd = Etcd::on(&etcd_ip, 1).await;
        let a = OriginProcess::spawn_on(binary(), "a", ip(&a_ip));
        let b = OriginProcess::spawn_on(binary(), "b", ip(&b_ip));
        let config = |name: &str, lb_port: u16| {
            format!(
                "[instance]\nname = \"{name}\"\n\n[store]\nbackend = \"etcd\"\nendpoints = [\"{}\"]\n\
                 prefix = \"{PREFIX}\"\nlease_ttl = \"2s\"\nhealth_quorum = \"{quorum}\"\n\n{}",
                etcd.endpoints()[0],
                lb_config(&[&a], &b, "200ms", "").replace("{lb}", &format!("{{host}}:{lb_port}")),
            )
        };
        let mut instances = Vec::new();
        for name in ["lb-1", "lb-2", "lb-3"] {
            let lb_port = free_port();
            let daemon = match name {
                "lb-3" => Daemon::start_in(binary(), &config(name, lb_port), &namespace),
                _ => Daemon::start(binary(), &config(name, lb_port)),
            };
            if name == "lb-1" {
                wait_role(&daemon, "leader", DEADLINE).await;
            }
            instances.push((daemon, lb_port));
        }
        let store = EtcdStore::connect(&etcd_settings(&etcd), &InstanceName::new("test"))
            .await
            .expect("the test reaches etcd");
        let group = Self {
            instances,
            a,
            b,
            etcd,
            store,
            namespace,
            _net: net,
        };
        group
            .wait_everywhere("a and b healthy", &[("a", "healthy"), ("b", "healthy")])
            .await;
        // Every instance has checked every origin itself and shared it, not only taken up the
        // decisions.
        for name in ["lb-1", "lb-2", "lb-3"] {
            let key = format!("health/views/{name}");
            for origin in ["a", "b"] {
                group.wait_stored(&key, origin, "healthy").await;
            }
        }
        group
    }

    fn daemon(&self, n: usize) -> &Daemon {
        &self.instances[n].0
    }

    /// Waits until every instance routes by `expected` (origin, health) pairs.
    async fn wait_everywhere(&self, what: &str, expected: &[(&str, &str)]) {
        for (daemon, _) in &self.instances {
            wait::until(what, DEADLINE, || async {
                for (origin, health) in expected {
                    if daemon.origin_health(origin).await != *health {
                        return None;
                    }
                }
                Some(())
            })
            .await;
        }
    }

    /// A shared health entry as stored: `health/views/<instance>` or `health/decided`.
    async fn stored(&self, key: &str) -> Value {
        let stored = self.store.get(key).await.expect("etcd answers");
        stored.map_or(Value::Null, |v| {
            serde_json::from_slice(&v.value).expect("JSON")
        })
    }

    async fn wait_stored(&self, key: &str, origin: &str, health: &str) {
        wait::until(
            &format!("{key} to say {origin} is {health}"),
            DEADLINE,
            || async {
                let stored = &self.stored(key).await["origins"][origin];
                // A view holds where it checks the origin too; a decision only the health.
                (stored == health || stored["health"] == health).then_some(())
            },
        )
        .await;
    }

    /// The origin a GET through instance `n`'s load balancer reached (from the host).
    async fn served_by(&self, n: usize) -> Option<String> {
        let (daemon, port) = &self.instances[n];
        get_origin(&format!("http://{}:{port}/", daemon.host))
            .await
            .1
    }

    async fn events_about(&self, kind: &str, subject: &str) -> Vec<Value> {
        let (_, events) = self.daemon(0).get("/events?limit=1000").await;
        events
            .as_array()
            .expect("an event list")
            .iter()
            .filter(|e| e["kind"] == kind && e["subject"] == subject)
            .cloned()
            .collect()
    }

    /// lb-3's own record of origin `a`: its checks, whatever it routes by.
    async fn own_failures_of_a_on_lb3(&self) -> u64 {
        let (_, status) = self.daemon(2).get("/status").await;
        status["pools"][0]["origins"][0]["consecutive_failures"]
            .as_u64()
            .expect("a failure count")
    }

    fn a_ip(&self) -> String {
        self.a.ip.to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_cut_off_from_an_origin_does_not_fail_it_over_by_majority() {
    let mut group = Group::start("majority").await;
    group.namespace.cut(&group.a_ip());
    // lb-3's own view has it down, and is shared...
    group
        .wait_stored("health/views/lb-3", "a", "unhealthy")
        .await;
    // ... and taken into account: a later decision (b really down) is made with it in the
    // store, so by then the leader has decided on `a` with lb-3's view too.
    group.b.kill9();
    group.wait_stored("health/decided", "b", "unhealthy").await;
    assert_eq!(
        group.stored("health/decided").await["origins"]["a"]["health"],
        "healthy"
    );
    group
        .wait_everywhere("a still in, b out", &[("a", "healthy"), ("b", "unhealthy")])
        .await;
    // lb-3 routes by the leader's decision, not by its own failing checks.
    wait::until("lb-3's own checks of a failing", DEADLINE, || async {
        (group.own_failures_of_a_on_lb3().await >= 2).then_some(())
    })
    .await;
    assert_eq!(group.daemon(2).origin_health("a").await, "healthy");
    assert_eq!(group.served_by(0).await.as_deref(), Some("a"));
    assert!(group.events_about("origin_down", "a").await.is_empty());

    // Now `a` dies for everyone: most instances see it down, and every instance fails over.
    group.b.start();
    group.wait_everywhere("b back", &[("b", "healthy")]).await;
    group.a.kill9();
    group
        .wait_everywhere("a out everywhere", &[("a", "unhealthy")])
        .await;
    assert_eq!(group.served_by(1).await.as_deref(), Some("b"));
    let down = group.events_about("origin_down", "a").await;
    assert_eq!(down.len(), 1, "one decision, recorded once: {down:?}");
    let reason = down[0]["reason"].as_str().expect("a reason");
    assert!(reason.contains(" of 3 instances see it down ("), "{reason}");
    assert!(
        reason.contains("lb-3"),
        "lb-3 saw it down all along: {reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_quorum_any_one_instance_seeing_an_origin_down_takes_it_out_everywhere() {
    let group = Group::start("any").await;
    group.namespace.cut(&group.a_ip());
    group
        .wait_everywhere("a out everywhere", &[("a", "unhealthy")])
        .await;
    // lb-1 reaches `a` itself, and still sends to the backup: the leader decided.
    assert_eq!(group.served_by(0).await.as_deref(), Some("b"));
    let down = group.events_about("origin_down", "a").await;
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(
        down[0]["reason"].as_str(),
        Some("1 of 3 instances see it down (lb-3)"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_etcd_every_instance_routes_origins_by_its_own_checks_until_it_is_back() {
    let mut group = Group::start("majority").await;
    let etcd = group.etcd.pid(0);
    assert!(send_signal(etcd, SIGSTOP));
    // Nobody can decide while etcd hangs; an origin dying meanwhile is still taken out, by
    // each instance's own checks, once the store has been silent for a lease (2 s).
    group.a.kill9();
    group
        .wait_everywhere("a out everywhere", &[("a", "unhealthy")])
        .await;
    assert_eq!(group.served_by(1).await.as_deref(), Some("b"));
    assert!(send_signal(etcd, SIGCONT));

    // etcd back: a leader decides again, from every view, and `a` comes back by its decision.
    wait::until("a leader again", DEADLINE, || async {
        let (_, status) = group.daemon(0).get("/status").await;
        let instances = status["instances"].as_array()?.clone();
        instances
            .iter()
            .any(|i| i["role"] == "leader")
            .then_some(())
    })
    .await;
    group.wait_stored("health/decided", "a", "unhealthy").await;
    group.a.start();
    group.wait_stored("health/decided", "a", "healthy").await;
    group
        .wait_everywhere("a back everywhere", &[("a", "healthy")])
        .await;
    // And every instance follows the decisions again: lb-3 cut off from `a` keeps routing to it
    // (its own view changed before it was shared, so it would have shown by now).
    group.namespace.cut(&group.a_ip());
    group
        .wait_stored("health/views/lb-3", "a", "unhealthy")
        .await;
    assert_eq!(group.daemon(2).origin_health("a").await, "healthy");
}
