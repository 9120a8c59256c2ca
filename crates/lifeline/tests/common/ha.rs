//! Several Lifeline instances on one etcd, for the tests that run them: each instance's config
//! (a load balancer and, optionally, a PostgreSQL cluster's endpoints) and a client load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lifeline_model::EtcdSettings;
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::etcd::{Etcd, store_settings};
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::pg::{PgCluster, PgOptions};
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;
use serde_json::Value;

use super::{binary, get_origin, lb_config, wait_role};

pub const PREFIX: &str = "/lifeline/ha";

/// etcd, a synchronous cluster of a primary and standbys, two origins, and two instances in
/// front of them: lb-1 started first and leading, lb-2 following, both routing writes to pg1
/// with the synchronous set in place.
pub struct Pair {
    pub etcd: Etcd,
    pub cluster: PgCluster,
    pub origins: (OriginProcess, OriginProcess),
    pub first: Instance,
    pub second: Instance,
    /// lb-1's fencing token.
    pub first_token: u64,
}

impl Pair {
    pub async fn start(standbys: usize) -> Self {
        let etcd = Etcd::start().await;
        let cluster = PgCluster::start_with(PgOptions {
            standbys,
            ..PgOptions::default()
        });
        let (a, b) = (
            OriginProcess::spawn(binary(), "a"),
            OriginProcess::spawn(binary(), "b"),
        );
        let first = Instance::start("lb-1", &etcd, &cluster, &a, &b);
        let leader = wait_role(&first.daemon, "leader", Duration::from_secs(10)).await;
        let first_token = leader["fencing_token"].as_u64().expect("a fencing token");
        let second = Instance::start("lb-2", &etcd, &cluster, &a, &b);
        for instance in [&first, &second] {
            instance
                .wait_cluster(
                    "writes routed to pg1, synchronously",
                    Duration::from_secs(20),
                    |s| {
                        s["writer"] == "pg1"
                            && s["synchronous_standbys"]
                                .as_array()
                                .is_some_and(|m| !m.is_empty())
                    },
                )
                .await;
        }
        Self {
            etcd,
            cluster,
            origins: (a, b),
            first,
            second,
            first_token,
        }
    }
}
pub const SIGSTOP: i32 = 19;
pub const SIGCONT: i32 = 18;

/// One Lifeline instance and the ports it serves on.
pub struct Instance {
    pub daemon: Daemon,
    pub lb_port: u16,
    pub writer_port: u16,
}

impl Instance {
    /// An instance named `name` on etcd, with a load balancer in front of `primary` (and
    /// `backup`) and the cluster's writer and reader endpoints.
    pub fn start(
        name: &str,
        etcd: &Etcd,
        cluster: &PgCluster,
        primary: &OriginProcess,
        backup: &OriginProcess,
    ) -> Self {
        Self::launch(name, etcd, Some(cluster), &[primary], backup)
    }

    pub fn launch(
        name: &str,
        etcd: &Etcd,
        cluster: Option<&PgCluster>,
        primary: &[&OriginProcess],
        backup: &OriginProcess,
    ) -> Self {
        let (lb_port, writer_port, reader_port) = (free_port(), free_port(), free_port());
        let mut config = format!(
            "[instance]\nname = \"{name}\"\n\n[store]\nbackend = \"etcd\"\nendpoints = [\"{}\"]\n\
             prefix = \"{PREFIX}\"\nlease_ttl = \"2s\"\n\n{}",
            etcd.endpoints()[0],
            lb_config(primary, backup, "200ms", "")
                .replace("{lb}", &format!("127.0.0.1:{lb_port}")),
        );
        if let Some(cluster) = cluster {
            let nodes: Vec<String> = cluster
                .nodes()
                .iter()
                .map(|node| {
                    format!(
                        "  {{ name = \"{}\", dsn = \"host=127.0.0.1 port={} user=lifeline password={} dbname=postgres\" }},",
                        node.name,
                        node.port,
                        cluster.password()
                    )
                })
                .collect();
            config.push_str(&format!(
                "\n[[cluster]]\nname = \"main\"\nnodes = [\n{}\n]\n\
                 writer_listen = \"127.0.0.1:{writer_port}\"\n\
                 reader_listen = \"127.0.0.1:{reader_port}\"\ncheck_interval = \"500ms\"\n\
                 synchronous_mode = true\n",
                nodes.join("\n"),
            ));
        }
        Self {
            daemon: Daemon::start(binary(), &config),
            lb_port,
            writer_port,
        }
    }

    pub fn writer_dsn(&self, cluster: &PgCluster) -> String {
        format!(
            "host=127.0.0.1 port={} user=lifeline password={} dbname=postgres connect_timeout=3",
            self.writer_port,
            cluster.password()
        )
    }

    pub async fn cluster_status(&self) -> Value {
        let (_, status) = self.daemon.get("/failover/status?cluster=main").await;
        status["clusters"][0].clone()
    }

    pub async fn wait_cluster(
        &self,
        what: &str,
        deadline: Duration,
        test: impl Fn(&Value) -> bool,
    ) {
        wait::until(what, deadline, || async {
            let status = self.cluster_status().await;
            test(&status).then_some(())
        })
        .await;
    }
}

/// GETs through `port` until `running` turns false; counts answers that are not 200.
pub async fn http_load(port: u16, running: Arc<AtomicBool>, errors: Arc<AtomicUsize>) -> usize {
    let url = format!("http://127.0.0.1:{port}/");
    let mut sent = 0;
    while running.load(Ordering::Relaxed) {
        let (code, _) = get_origin(&url).await;
        if code != 200 {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sent
}

pub fn etcd_settings(etcd: &Etcd) -> EtcdSettings {
    store_settings(&etcd.endpoints(), PREFIX)
}
