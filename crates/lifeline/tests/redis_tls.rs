//! TLS to Redis nodes: a group that speaks only TLS (replication included), checked and failed
//! over by Lifeline through `tls = true` and `ca_file`, and a CA that did not sign the nodes'
//! certificates refused, naming the certificate.

mod common;

use std::time::Duration;

use common::binary;
use common::redis::{RedisSetup, config};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::redis::{RedisGroup, RedisNode};
use lifeline_testkit::tls::TestCa;
use lifeline_testkit::wait;

#[tokio::test]
async fn a_tls_only_group_is_checked_and_failed_over_through_its_ca() {
    let ca = TestCa::new("lifeline test redis CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_certificate(dir.path(), "ca.pem");
    let group = RedisGroup::start_tls(1, &ca).await;
    // Nothing answers in plain text.
    let plain = format!(
        "redis://:{}@{}/",
        group.password(),
        group.nodes()[0].address()
    );
    let refused: redis::RedisResult<String> = async {
        let mut connection = redis::Client::open(plain)?
            .get_multiplexed_async_connection()
            .await?;
        redis::cmd("PING").query_async(&mut connection).await
    }
    .await;
    assert!(refused.is_err(), "the group also speaks plain text");

    // Another CA's certificate file: every node is refused, and the reason says why.
    let other = TestCa::new("not the nodes' CA").write_certificate(dir.path(), "other.pem");
    let addresses: Vec<String> = group.nodes().iter().map(RedisNode::address).collect();
    let ports = [free_port(), free_port(), free_port()];
    let wrong = Daemon::start(
        binary(),
        &config(
            &group,
            &addresses,
            ports,
            &format!("tls = true\nca_file = \"{}\"", other.display()),
        ),
    );
    let (error, _) = wait::until("a refused certificate", Duration::from_secs(10), || async {
        let (_, status) = wrong.get("/failover/status?cluster=cache").await;
        status["clusters"][0]["nodes"][0]["last_error"]
            .as_str()
            .map(str::to_string)
    })
    .await;
    assert!(
        error.to_lowercase().contains("certificate") || error.contains("UnknownIssuer"),
        "{error}"
    );
    assert!(!error.contains(group.password()), "{error}");
    drop(wrong);

    let setup = RedisSetup::with_daemon(
        group,
        &format!("tls = true\nca_file = \"{}\"", ca_file.display()),
        RedisNode::address,
    )
    .await;
    let status = setup.status().await;
    assert_eq!(
        status["nodes"][0]["dsn"],
        format!("rediss://:***@{}", setup.address("r1"))
    );
    assert!(status["nodes"][1]["wal_lsn"].is_u64(), "{status}");
    // A failover over TLS: the replica is promoted and takes the writer.
    let mut setup = setup;
    setup.group.kill9(0);
    let status = setup.wait_promoted(0, Duration::from_secs(10)).await;
    assert_eq!(status["writer"], "r2");
    assert_eq!(setup.replication("r2").await["role"], "master");
}
