//! Shared by the Redis failover tests: a real 1+2 group (Debian's redis-server) under a daemon.

use std::time::Duration;

use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::redis::{RedisGroup, RedisNode};
use lifeline_testkit::wait;
use serde_json::Value;

use super::binary;

pub struct RedisSetup {
    pub group: RedisGroup,
    pub daemon: Daemon,
    pub writer_port: u16,
    pub reader_port: u16,
    pub sentinel_port: u16,
}

impl RedisSetup {
    /// A master and two replicas with `redis_extra` lines in each redis.conf, under a daemon
    /// with `extra` lines in its `[[cluster]]`; returns once the cluster is healthy.
    pub async fn start(redis_extra: &str, extra: &str) -> Self {
        let group = RedisGroup::start_with(2, redis_extra).await;
        Self::with_daemon(group, extra, RedisNode::address).await
    }

    /// A daemon for a running group; `address_of` says where Lifeline reaches each node.
    pub async fn with_daemon(
        group: RedisGroup,
        extra: &str,
        address_of: impl Fn(&RedisNode) -> String,
    ) -> Self {
        let (writer_port, reader_port, sentinel_port) = (free_port(), free_port(), free_port());
        let addresses: Vec<String> = group.nodes().iter().map(address_of).collect();
        let ports = [writer_port, reader_port, sentinel_port];
        let config = config(&group, &addresses, ports, extra);
        let setup = Self {
            group,
            daemon: Daemon::start(binary(), &config),
            writer_port,
            reader_port,
            sentinel_port,
        };
        setup.wait_state("healthy", Duration::from_secs(15)).await;
        setup
    }

    pub fn writer(&self) -> String {
        format!("127.0.0.1:{}", self.writer_port)
    }

    pub fn reader(&self) -> String {
        format!("127.0.0.1:{}", self.reader_port)
    }

    /// The index of node `name` in the group.
    pub fn index(&self, name: &str) -> usize {
        self.group
            .nodes()
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn address(&self, name: &str) -> String {
        self.group.nodes()[self.index(name)].address()
    }

    pub async fn status(&self) -> Value {
        let (_, status) = self.daemon.get("/failover/status?cluster=cache").await;
        status["clusters"][0].clone()
    }

    pub async fn wait_state(&self, state: &str, deadline: Duration) -> Value {
        let (status, _) = wait::until(&format!("cluster state {state}"), deadline, || async {
            let status = self.status().await;
            (status["state"] == state).then_some(status)
        })
        .await;
        status
    }

    /// Waits until the cluster has promoted (its epoch grew past `epoch`), and returns the
    /// status then.
    pub async fn wait_promoted(&self, epoch: u64, deadline: Duration) -> Value {
        let (status, _) = wait::until("a promotion", deadline, || async {
            let status = self.status().await;
            (status["epoch"].as_u64() > Some(epoch) && status["writer"].is_string())
                .then_some(status)
        })
        .await;
        status
    }

    /// `INFO replication` of node `name`, from the node itself.
    pub async fn replication(&self, name: &str) -> std::collections::HashMap<String, String> {
        self.group
            .replication(self.index(name))
            .await
            .unwrap_or_else(|| panic!("{name} answers INFO replication"))
    }

    /// Waits until node `name` is a replica whose link to `master` is up, as the node says.
    pub async fn wait_replica_of(&self, name: &str, master: &str, deadline: Duration) {
        let port = self.group.nodes()[self.index(master)].port.to_string();
        let what = format!("{name} to replicate from {master}");
        wait::until(&what, deadline, || async {
            let info = self.group.replication(self.index(name)).await?;
            (info.get("role").map(String::as_str) == Some("slave")
                && info.get("master_port") == Some(&port)
                && info.get("master_link_status").map(String::as_str) == Some("up"))
            .then_some(())
        })
        .await;
    }

    pub async fn events(&self, kind: &str) -> Vec<Value> {
        let (_, history) = self
            .daemon
            .get("/failover/history?cluster=cache&limit=1000")
            .await;
        history["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect()
    }

    pub async fn wait_events(&self, kind: &str, deadline: Duration) -> Vec<Value> {
        let (events, _) = wait::until(&format!("a {kind} event"), deadline, || async {
            let events = self.events(kind).await;
            (!events.is_empty()).then_some(events)
        })
        .await;
        events
    }
}

/// A config of one Redis `[[cluster]]` "cache" of `group`'s nodes at `addresses`, with its
/// writer, reader and Sentinel-compatible listeners on `ports` and `extra` lines.
pub fn config(group: &RedisGroup, addresses: &[String], ports: [u16; 3], extra: &str) -> String {
    let nodes: Vec<String> = group
        .nodes()
        .iter()
        .zip(addresses)
        .map(|(node, address)| {
            format!("  {{ name = \"{}\", address = \"{address}\" }},", node.name)
        })
        .collect();
    let [writer_port, reader_port, sentinel_port] = ports;
    format!(
        r#"[admin]
listen = "{{admin}}"
token = "{{token}}"

[[cluster]]
name = "cache"
kind = "redis"
nodes = [
{}
]
password = "{}"
writer_listen = "127.0.0.1:{writer_port}"
reader_listen = "127.0.0.1:{reader_port}"
sentinel_listen = "127.0.0.1:{sentinel_port}"
{extra}
"#,
        nodes.join("\n"),
        group.password()
    )
}
