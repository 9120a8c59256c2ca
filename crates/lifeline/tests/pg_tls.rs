//! The daemon's connections to TLS nodes (`ssl = on`, a certificate from a CA made in the test):
//! `verify-full` with the right CA makes a healthy cluster whose writer endpoint takes writes,
//! a wrong CA leaves the nodes unhealthy with the certificate named as the reason, and
//! `require` needs no CA.

mod common;

use std::path::Path;
use std::time::Duration;

use common::binary;
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::pg::{PgCluster, PgOptions};
use lifeline_testkit::ports::free_port;
use lifeline_testkit::tls::TestCa;
use lifeline_testkit::wait;
use serde_json::Value;

/// A daemon config for `cluster` whose node DSNs end with `tls` (`sslmode=...`); the writer
/// endpoint listens on `writer_port`.
fn config(cluster: &PgCluster, tls: &str, writer_port: u16) -> String {
    let nodes: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|node| {
            format!(
                "  {{ name = \"{}\", dsn = \"{} {tls}\" }},",
                node.name,
                node.dsn(cluster.password())
            )
        })
        .collect();
    format!(
        "[admin]\nlisten = \"{{admin}}\"\ntoken = \"{{token}}\"\n\n[[cluster]]\nname = \"main\"\n\
         kind = \"postgres\"\nnodes = [\n{}\n]\nwriter_listen = \"127.0.0.1:{writer_port}\"\n\
         check_interval = \"500ms\"\n",
        nodes.join("\n")
    )
}

async fn status(daemon: &Daemon) -> Value {
    daemon.get("/failover/status?cluster=main").await.1["clusters"][0].clone()
}

async fn wait_healthy(daemon: &Daemon) {
    wait::until(
        "the cluster to be healthy",
        Duration::from_secs(20),
        || async { (status(daemon).await["state"] == "healthy").then_some(()) },
    )
    .await;
}

/// Writes a row through the writer endpoint and reads it back.
async fn write_through(cluster: &PgCluster, writer_port: u16) {
    let dsn = format!(
        "host=127.0.0.1 port={writer_port} user=lifeline password={} dbname=postgres \
         connect_timeout=3",
        cluster.password()
    );
    let (client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .expect("the writer endpoint takes a connection");
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS tls_write (id int); INSERT INTO tls_write VALUES (7)",
        )
        .await
        .expect("a write through the writer endpoint");
    let row = client
        .query_one("SELECT count(*) FROM tls_write WHERE id = 7", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
}

/// Whether the primary sees the daemon's own session (`application_name` lifeline) encrypted.
fn lifeline_sessions_encrypted(cluster: &PgCluster) -> bool {
    let shown = cluster.primary().psql(
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl AS s JOIN pg_stat_activity AS a USING (pid) \
         WHERE a.application_name = 'lifeline'",
    );
    shown == "t"
}

fn tls_cluster(ca: &TestCa) -> PgCluster {
    PgCluster::start_with(PgOptions {
        standbys: 1,
        tls: Some(ca.server(&["127.0.0.1", "localhost"])),
        ..PgOptions::default()
    })
}

#[tokio::test]
async fn verify_full_with_the_right_ca_works_and_a_wrong_ca_is_named_as_the_reason() {
    let ca = TestCa::new("lifeline test CA");
    let cluster = tls_cluster(&ca);
    let dir = tempfile::tempdir().unwrap();
    let right = ca.write_certificate(dir.path(), "ca.pem");
    let wrong = TestCa::new("someone else's CA").write_certificate(dir.path(), "other.pem");
    let verify_full = |ca: &Path| format!("sslmode=verify-full sslrootcert={}", ca.display());

    let writer_port = free_port();
    let mut daemon = Daemon::start(
        binary(),
        &config(&cluster, &verify_full(&right), writer_port),
    );
    wait_healthy(&daemon).await;
    write_through(&cluster, writer_port).await;
    assert!(lifeline_sessions_encrypted(&cluster));

    daemon.terminate();
    daemon.write_config(&config(&cluster, &verify_full(&wrong), writer_port));
    daemon.restart();
    let (nodes, _) = wait::until(
        "both nodes to fail on the certificate",
        Duration::from_secs(15),
        || async {
            let status = status(&daemon).await;
            let nodes = status["nodes"].as_array()?.clone();
            nodes
                .iter()
                .all(|node| {
                    node["healthy"] == false
                        && node["last_error"].as_str().is_some_and(|e| {
                            e.contains("certificate is not signed by a CA of sslrootcert")
                        })
                })
                .then_some(nodes)
        },
    )
    .await;
    for node in &nodes {
        let error = node["last_error"].as_str().unwrap();
        assert!(
            error.contains(&format!("sslrootcert={}", wrong.display())),
            "{error}"
        );
        assert!(!error.contains(cluster.password()), "{error}");
    }
    assert_ne!(status(&daemon).await["state"], "healthy");
}

#[tokio::test]
async fn require_works_without_a_ca() {
    let ca = TestCa::new("lifeline test CA");
    let cluster = tls_cluster(&ca);
    let writer_port = free_port();
    let daemon = Daemon::start(binary(), &config(&cluster, "sslmode=require", writer_port));
    wait_healthy(&daemon).await;
    write_through(&cluster, writer_port).await;
    assert!(lifeline_sessions_encrypted(&cluster));
}
