//! Shared by the PostgreSQL failover tests: a real 1+2 cluster under a daemon.

use std::time::Duration;

use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::pg::{PgCluster, PgNode, PgOptions};
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;
use serde_json::Value;

use super::binary;

pub struct Setup {
    pub cluster: PgCluster,
    pub daemon: Daemon,
    pub writer_port: u16,
    pub reader_port: u16,
    /// Each node's name and its entry in `nodes = [...]`.
    node_entries: Vec<(String, String)>,
}

impl Setup {
    /// A cluster under a daemon; `extra` adds lines to the `[[cluster]]` section.
    pub async fn start(options: PgOptions, extra: &str) -> Self {
        Self::with_daemon(PgCluster::start_with(options), extra, PgNode::addr).await
    }

    /// A daemon for an already running cluster; `address_of` says where Lifeline reaches each
    /// node (through a relay, say).
    pub async fn with_daemon(
        cluster: PgCluster,
        extra: &str,
        address_of: impl Fn(&PgNode) -> String,
    ) -> Self {
        let (writer_port, reader_port) = (free_port(), free_port());
        let node_entries: Vec<(String, String)> = cluster
            .nodes()
            .iter()
            .map(|node| {
                let address = address_of(node);
                let (host, port) = address.rsplit_once(':').expect("host:port");
                let entry = format!(
                    "  {{ name = \"{}\", dsn = \"host={host} port={port} user=lifeline password={} dbname=postgres\" }},",
                    node.name,
                    cluster.password()
                );
                (node.name.clone(), entry)
            })
            .collect();
        let all: Vec<&str> = node_entries.iter().map(|(n, _)| n.as_str()).collect();
        let config = config(&node_entries, &all, writer_port, reader_port, extra);
        let setup = Self {
            cluster,
            daemon: Daemon::start(binary(), &config),
            writer_port,
            reader_port,
            node_entries,
        };
        setup.wait_state("healthy", Duration::from_secs(15)).await;
        setup
    }

    /// The daemon's config with these nodes (of the cluster's, in this order) and `extra`
    /// lines in the `[[cluster]]` section, for [`Daemon::write_config`].
    pub fn config(&self, nodes: &[&str], extra: &str) -> String {
        config(
            &self.node_entries,
            nodes,
            self.writer_port,
            self.reader_port,
            extra,
        )
    }

    pub fn writer_dsn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=lifeline password={} dbname=postgres connect_timeout=3",
            self.writer_port,
            self.cluster.password()
        )
    }

    pub fn reader_dsn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=lifeline password={} dbname=postgres connect_timeout=3",
            self.reader_port,
            self.cluster.password()
        )
    }

    pub fn node_dsn(&self, name: &str) -> String {
        self.cluster.node(name).dsn(self.cluster.password())
    }

    pub async fn status(&self) -> Value {
        let (_, status) = self.daemon.get("/failover/status?cluster=main").await;
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

    /// Waits until the cluster has promoted (its epoch grew past `epoch`) and says who.
    pub async fn wait_promoted(&self, epoch: u64, deadline: Duration) -> Value {
        let (status, _) = wait::until("a promotion", deadline, || async {
            let status = self.status().await;
            (status["epoch"].as_u64() > Some(epoch) && status["writer"].is_string())
                .then_some(status)
        })
        .await;
        status
    }

    /// Waits until Lifeline has made the cluster synchronous: `/failover/status` names its
    /// synchronous standbys, and the primary itself shows one as `quorum`. Returns the names.
    pub async fn wait_synchronous(&self, deadline: Duration) -> Vec<String> {
        let (members, _) = wait::until("a synchronous standby", deadline, || async {
            let status = self.status().await;
            let members: Vec<String> = status["synchronous_standbys"]
                .as_array()?
                .iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect();
            let primary = self.cluster.node(status["primary"].as_str()?);
            let quorum = primary
                .try_psql("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum'")
                .ok()?;
            (!members.is_empty() && quorum.trim() != "0").then_some(members)
        })
        .await;
        members
    }

    /// The timeline `node` writes on, read from the node itself (its current WAL file's name).
    pub fn writing_timeline(&self, node: &str) -> u32 {
        let walfile = self
            .cluster
            .node(node)
            .psql("SELECT pg_walfile_name(pg_current_wal_lsn())");
        u32::from_str_radix(&walfile.trim()[..8], 16).expect("a WAL file name")
    }

    /// Waits until Lifeline has checked `node` at least `checks` more times, as its status's
    /// `last_health_check` shows, and returns the status then.
    pub async fn wait_checked(&self, node: &str, checks: usize, deadline: Duration) -> Value {
        let seen = std::cell::RefCell::new(Vec::new());
        let (status, _) = wait::until(&format!("{checks} checks of {node}"), deadline, || async {
            let status = self.status().await;
            let at = status["nodes"]
                .as_array()?
                .iter()
                .find(|n| n["name"] == node)?["last_health_check"]
                .clone();
            let mut seen = seen.borrow_mut();
            if seen.last() != Some(&at) {
                seen.push(at);
            }
            (seen.len() > checks).then_some(status)
        })
        .await;
        status
    }

    /// Waits until the history holds at least one `kind` event (events are stored a moment
    /// after `/failover/status` changes), and returns them all.
    pub async fn wait_events(&self, kind: &str, deadline: Duration) -> Vec<Value> {
        let (events, _) = wait::until(&format!("a {kind} event"), deadline, || async {
            let events = self.events(kind).await;
            (!events.is_empty()).then_some(events)
        })
        .await;
        events
    }

    pub async fn events(&self, kind: &str) -> Vec<Value> {
        let (_, history) = self
            .daemon
            .get("/failover/history?cluster=main&limit=1000")
            .await;
        history["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect()
    }
}

/// A config of one `[[cluster]]` "main" with the `nodes` (names) of `entries`.
fn config(
    entries: &[(String, String)],
    nodes: &[&str],
    writer_port: u16,
    reader_port: u16,
    extra: &str,
) -> String {
    let nodes: Vec<&str> = nodes
        .iter()
        .map(|name| {
            entries
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, entry)| entry.as_str())
                .unwrap_or_else(|| panic!("no node {name}"))
        })
        .collect();
    format!(
        r#"[admin]
listen = "{{admin}}"
token = "{{token}}"

[[cluster]]
name = "main"
kind = "postgres"
nodes = [
{}
]
writer_listen = "127.0.0.1:{writer_port}"
reader_listen = "127.0.0.1:{reader_port}"
check_interval = "500ms"
{extra}
"#,
        nodes.join("\n")
    )
}

/// The task driving a session's connection: it ends when the server (or an endpoint) closes it.
pub type Connection = tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>;

/// A session on `dsn`, and the task driving its connection.
pub async fn session(dsn: &str) -> (tokio_postgres::Client, Connection) {
    let (client, connection) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("a session on {dsn}: {e}"));
    (client, tokio::spawn(connection))
}

/// Whether a new session on `dsn` lands on a node in recovery (a standby).
pub async fn in_recovery(dsn: &str) -> bool {
    let (client, _connection) = session(dsn).await;
    client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .expect("pg_is_in_recovery() answers")
        .get(0)
}
