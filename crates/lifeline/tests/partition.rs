//! A real network partition: lb-2 runs in its own network namespace, and blackhole routes cut it
//! off from etcd and from lb-1 but not from the PostgreSQL primary. It may be routing writes to a
//! primary the others have replaced, so its writer endpoint closes within `lease_ttl`; lb-1 keeps
//! leading and writing, and once the partition heals lb-2's writer opens again on the same
//! primary. No acknowledged write is lost.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::ha::PREFIX;
use common::pg::session;
use common::{binary, get_origin, lb_config, wait_role};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::etcd::Etcd;
use lifeline_testkit::netns::TestNet;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::pg::{PgCluster, PgOptions};
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;
use lifeline_testkit::writes::{Writer, stored_ids};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);

/// One instance's daemon and the ports it serves on (at its `host`).
struct Instance {
    daemon: Daemon,
    lb_port: u16,
    writer_port: u16,
}

impl Instance {
    fn writer_dsn(&self, cluster: &PgCluster) -> String {
        format!(
            "host={} port={} user=lifeline password={} dbname=postgres connect_timeout=3",
            self.daemon.host,
            self.writer_port,
            cluster.password()
        )
    }

    async fn writer(&self) -> Value {
        let (_, status) = self.daemon.get("/failover/status?cluster=main").await;
        status["clusters"][0]["writer"].clone()
    }

    async fn wait_writer(&self, what: &str, expected: Value) {
        wait::until(what, DEADLINE, || async {
            (self.writer().await == expected).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_from_etcd_and_the_leader_but_not_the_primary_closes_its_writer() {
    let mut net = TestNet::new();
    let (etcd_ip, pg_ip, lb1_ip, origin_ip) = (
        net.service_ip(1),
        net.service_ip(2),
        net.service_ip(3),
        net.service_ip(4),
    );
    let namespace = net.namespace(0);
    let etcd = Etcd::on(&etcd_ip, 1).await;
    let cluster = PgCluster::start_with(PgOptions {
        standbys: 1,
        extra_conf: vec![format!("listen_addresses = '127.0.0.1, {pg_ip}'")],
        ..PgOptions::default()
    });
    let origin_ip: Ipv4Addr = origin_ip.parse().expect("an IPv4 address");
    let a = OriginProcess::spawn_on(binary(), "a", origin_ip);
    let b = OriginProcess::spawn_on(binary(), "b", origin_ip);

    // The same config on both but for the name; each serves on its own `{host}`.
    let nodes: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|node| {
            format!(
                "  {{ name = \"{}\", dsn = \"host={pg_ip} port={} user=lifeline password={} dbname=postgres\" }},",
                node.name,
                node.port,
                cluster.password()
            )
        })
        .collect();
    let start = |name: &str| {
        let (lb_port, writer_port, reader_port) = (free_port(), free_port(), free_port());
        let config = format!(
            "[instance]\nname = \"{name}\"\n\n[store]\nbackend = \"etcd\"\nendpoints = [\"{}\"]\n\
             prefix = \"{PREFIX}\"\nlease_ttl = \"2s\"\n\n{}\n[[cluster]]\nname = \"main\"\n\
             nodes = [\n{}\n]\nwriter_listen = \"{{host}}:{writer_port}\"\n\
             reader_listen = \"{{host}}:{reader_port}\"\ncheck_interval = \"500ms\"\n\
             synchronous_mode = true\n",
            etcd.endpoints()[0],
            lb_config(&[&a], &b, "200ms", "").replace("{lb}", &format!("{{host}}:{lb_port}")),
            nodes.join("\n"),
        );
        let daemon = match name {
            "lb-1" => Daemon::start_on(binary(), &config, &lb1_ip),
            _ => Daemon::start_in(binary(), &config, &namespace),
        };
        Instance {
            daemon,
            lb_port,
            writer_port,
        }
    };
    let first = start("lb-1");
    let token = wait_role(&first.daemon, "leader", DEADLINE).await["fencing_token"].clone();
    let second = start("lb-2");
    for instance in [&first, &second] {
        instance
            .wait_writer("writes routed to pg1", "pg1".into())
            .await;
    }
    wait::until("lb-2 knows lb-1", DEADLINE, || async {
        let (_, status) = second.daemon.get("/status").await;
        (status["instances"].as_array()?.len() == 2).then_some(())
    })
    .await;

    // Writes through lb-2 (the history) and one session to watch it close.
    let writer = Writer::start(&second.writer_dsn(&cluster), Duration::from_millis(5)).await;
    writer.acknowledged_after(0, Duration::from_secs(10)).await;
    let (through_second, connection) = session(&second.writer_dsn(&cluster)).await;
    through_second
        .batch_execute("SELECT 1")
        .await
        .expect("it writes");

    // The partition: lb-2 reaches neither etcd nor lb-1; the primary and the origins it does.
    namespace.cut(&etcd_ip);
    namespace.cut(&lb1_ip);
    let cut = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the session through lb-2 is closed");
    let took = cut.elapsed();
    assert!(closed.is_ok());
    // lease_ttl (2 s) after the store stopped answering, which takes up to a call (2 s) to see.
    assert!(took < Duration::from_secs(7), "closed after {took:?}");
    second
        .wait_writer("lb-2's writer closed", Value::Null)
        .await;
    let (code, _) = get_origin(&format!(
        "http://{}:{}/",
        second.daemon.host, second.lb_port
    ))
    .await;
    assert_eq!(code, 200, "lb-2's load balancer keeps serving");

    // lb-1 is not cut off: it keeps leading, and writes go on through it.
    assert_eq!(first.writer().await, "pg1");
    let (through_first, _connection) = session(&first.writer_dsn(&cluster)).await;
    through_first
        .batch_execute("SELECT 1")
        .await
        .expect("lb-1 writes");
    let still = wait_role(&first.daemon, "leader", DEADLINE).await;
    assert_eq!(still["fencing_token"], token, "lb-1 led all along");

    // Healed: lb-2's writer opens again on the same primary, and its writes go on.
    namespace.heal(&etcd_ip);
    namespace.heal(&lb1_ip);
    second
        .wait_writer("lb-2's writer open again", "pg1".into())
        .await;
    let resumed = writer.last_acknowledged();
    writer
        .acknowledged_after(resumed, Duration::from_secs(15))
        .await;
    let history = writer.stop().await;
    let stored = stored_ids(&cluster.primary().dsn(cluster.password())).await;
    let lost: Vec<&i64> = history.acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes lost: {lost:?} (of {})",
        history.acknowledged.len()
    );
    assert!(
        history.failed > 0,
        "writes through lb-2 failed while it was cut off"
    );
}
