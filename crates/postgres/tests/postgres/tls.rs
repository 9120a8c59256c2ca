//! Lifeline's own connections over TLS, against a node with `ssl = on` and a certificate from a
//! CA made in the test: each `sslmode` checks what libpq checks, and says why when it refuses.

use lifeline_model::{ClusterNode, NodeConnection, NodeName, PgDsn};
use lifeline_postgres::NodeClient;
use lifeline_testkit::pg::{PgCluster, PgNode, PgOptions};
use lifeline_testkit::tls::TestCa;
use lifeline_testkit::wait;

use crate::support::{SETTLE, TIMEOUT};

/// A client for `node` with `settings` appended to its DSN (a later key wins).
fn client_with(cluster: &PgCluster, node: &PgNode, settings: &str) -> NodeClient {
    let dsn = format!("{} {settings}", node.dsn(cluster.password()));
    let node = ClusterNode {
        name: NodeName::new(node.name.as_str()),
        connection: NodeConnection::Postgres(PgDsn::parse(&dsn).expect("a valid DSN")),
        priority: 0,
        no_failover: false,
    };
    NodeClient::new(&node, TIMEOUT)
}

/// Whether Lifeline's session (kept after a probe) on `node` is encrypted, as the server sees it.
fn lifeline_session_encrypted(node: &PgNode) -> bool {
    let shown = node.psql(
        "SELECT s.ssl FROM pg_stat_ssl AS s JOIN pg_stat_activity AS a USING (pid) \
         WHERE a.application_name = 'lifeline'",
    );
    assert!(
        shown == "t" || shown == "f",
        "one lifeline session, not {shown:?}"
    );
    shown == "t"
}

#[tokio::test]
async fn each_sslmode_checks_what_libpq_checks() {
    let ca = TestCa::new("lifeline test CA");
    let other_ca = TestCa::new("someone else's CA");
    // Named for `localhost` only, so that connecting to 127.0.0.1 is a host name mismatch.
    let cluster = PgCluster::start_with(PgOptions {
        tls: Some(ca.server(&["localhost"])),
        ..PgOptions::default()
    });
    let node = cluster.primary();
    let dir = tempfile::tempdir().unwrap();
    let right = ca.write_certificate(dir.path(), "ca.pem");
    let wrong = other_ca.write_certificate(dir.path(), "other.pem");
    let (right, wrong) = (right.display(), wrong.display());

    let works = [
        (
            format!("host=localhost sslmode=verify-full sslrootcert={right}"),
            true,
        ),
        (format!("sslmode=verify-ca sslrootcert={right}"), true),
        ("sslmode=require".to_string(), true),
        (format!("sslmode=require sslrootcert={right}"), true),
        ("sslmode=prefer".to_string(), true),
        (String::new(), true),
        ("sslmode=disable".to_string(), false),
    ];
    for (settings, encrypted) in works {
        let mut client = client_with(&cluster, node, &settings);
        let probed = client.probe().await;
        assert!(probed.is_ok(), "{settings}: {probed:?}");
        assert_eq!(lifeline_session_encrypted(node), encrypted, "{settings}");
        drop(client);
        // The session ends with the client; wait for the server to see it gone.
        let sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lifeline'";
        wait::until("the session to end", SETTLE, || async {
            (node.psql(sessions) == "0").then_some(())
        })
        .await;
    }

    let refused = [
        (
            format!("sslmode=verify-full sslrootcert={right}"),
            "certificate not valid for name \"127.0.0.1\"".to_string(),
        ),
        (
            format!("host=localhost sslmode=verify-full sslrootcert={wrong}"),
            format!(
                "the server's certificate is not signed by a CA of sslrootcert \
                 (sslmode=verify-full, sslrootcert={wrong})"
            ),
        ),
        (
            format!("sslmode=verify-ca sslrootcert={wrong}"),
            "not signed by a CA of sslrootcert".to_string(),
        ),
        // libpq checks the chain whenever it has a root certificate, `require` too.
        (
            format!("sslmode=require sslrootcert={wrong}"),
            "not signed by a CA of sslrootcert".to_string(),
        ),
    ];
    for (settings, reason) in refused {
        let mut client = client_with(&cluster, node, &settings);
        let failure = client.probe().await.expect_err(&settings);
        assert!(
            failure.message.contains(&reason),
            "{settings}: {:?} does not say {reason:?}",
            failure.message
        );
        assert!(!failure.message.contains(cluster.password()));
    }
}

#[tokio::test]
async fn require_refuses_a_node_without_tls_and_prefer_goes_plain() {
    let cluster = PgCluster::start(0);
    let node = cluster.primary();
    let failure = client_with(&cluster, node, "sslmode=require")
        .probe()
        .await
        .expect_err("require against a node without TLS");
    assert!(
        failure.message.contains("server does not support TLS"),
        "{failure:?}"
    );
    let mut client = client_with(&cluster, node, "sslmode=prefer");
    client.probe().await.expect("prefer connects in plain");
    assert!(!lifeline_session_encrypted(node));
}

#[tokio::test]
async fn a_ca_file_gone_after_the_start_is_a_clear_node_failure() {
    let ca = TestCa::new("lifeline test CA");
    let cluster = PgCluster::start_with(PgOptions {
        tls: Some(ca.server(&["127.0.0.1"])),
        ..PgOptions::default()
    });
    let node = cluster.primary();
    let dir = tempfile::tempdir().unwrap();
    let path = ca.write_certificate(dir.path(), "ca.pem");
    let settings = format!("sslmode=verify-full sslrootcert={}", path.display());
    let mut client = client_with(&cluster, node, &settings);
    client.probe().await.expect("verify-full with the right CA");
    assert!(lifeline_session_encrypted(node));
    std::fs::remove_file(&path).unwrap();
    // The kept session goes on; a new connection reads the file again and cannot.
    let failure = client_with(&cluster, node, &settings)
        .probe()
        .await
        .expect_err("no CA file");
    assert!(
        failure
            .message
            .contains(&format!("sslrootcert {}", path.display())),
        "{failure:?}"
    );
}
