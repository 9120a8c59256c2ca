//! A Redis cluster under two Lifeline instances on one etcd: one leads and the other only
//! routes by the leader's record; when the leader dies together with the master, the other
//! takes over, promotes a replica and its own writer endpoint takes the writes.

mod common;

use std::time::Duration;

use common::redis::config;
use common::{binary, wait_role};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::etcd::Etcd;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::redis::{RedisGroup, RedisNode};
use lifeline_testkit::redis_writes::RedisWriter;
use lifeline_testkit::wait;
use serde_json::Value;

/// An instance named `name` on `etcd` managing `group`, and its writer endpoint's port.
fn instance(name: &str, etcd: &Etcd, group: &RedisGroup) -> (Daemon, u16) {
    let addresses: Vec<String> = group.nodes().iter().map(RedisNode::address).collect();
    let ports = [free_port(), free_port(), free_port()];
    let config = format!(
        "[instance]\nname = \"{name}\"\n\n[store]\nbackend = \"etcd\"\nendpoints = [\"{}\"]\n\
         prefix = \"/lifeline/redis\"\nlease_ttl = \"2s\"\n\n{}",
        etcd.endpoints()[0],
        config(group, &addresses, ports, "check_interval = \"500ms\"")
    );
    (Daemon::start(binary(), &config), ports[0])
}

async fn cluster_status(daemon: &Daemon) -> Value {
    let (_, status) = daemon.get("/failover/status?cluster=cache").await;
    status["clusters"][0].clone()
}

#[tokio::test]
async fn the_leader_killed_with_the_master_is_replaced_by_a_follower_that_fails_over() {
    let etcd = Etcd::start().await;
    let mut group = RedisGroup::start(2).await;
    let (mut first, _) = instance("lb-1", &etcd, &group);
    wait_role(&first, "leader", Duration::from_secs(10)).await;
    let (second, second_writer) = instance("lb-2", &etcd, &group);
    wait_role(&second, "follower", Duration::from_secs(10)).await;
    // The follower's writer endpoint routes to the master the leader stored.
    wait::until("lb-2 routes to r1", Duration::from_secs(10), || async {
        (cluster_status(&second).await["writer"] == "r1").then_some(())
    })
    .await;
    let address = format!("127.0.0.1:{second_writer}");
    let writer = RedisWriter::start(&address, group.password(), Duration::from_millis(5));
    writer.acknowledged_after(20, Duration::from_secs(10)).await;

    first.kill9();
    group.kill9(0);
    let at_kill = writer.last_acknowledged();
    wait_role(&second, "leader", Duration::from_secs(10)).await;
    let (status, _) = wait::until("lb-2 promotes", Duration::from_secs(15), || async {
        let status = cluster_status(&second).await;
        (status["epoch"] == 1 && status["writer"].is_string()).then_some(status)
    })
    .await;
    let promoted = status["writer"].as_str().unwrap();
    assert_ne!(promoted, "r1");
    let index = group
        .nodes()
        .iter()
        .position(|n| n.name == promoted)
        .unwrap();
    assert_eq!(group.replication(index).await.unwrap()["role"], "master");
    // Writes resume through the same endpoint, on the new master.
    writer
        .acknowledged_after(at_kill + 20, Duration::from_secs(10))
        .await;
    let history = writer.stop().await;
    let last = history.keys().last().copied().unwrap();
    assert_eq!(
        group.get(index, &format!("k{last}")).await.unwrap(),
        Some(last.to_string())
    );
    let (_, events) = second
        .get("/failover/history?cluster=cache&limit=1000")
        .await;
    let completed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "failover_completed")
        .collect();
    assert_eq!(completed.len(), 1, "one promotion, by lb-2: {completed:?}");
}
