//! The Redis harness: a master and replicas built with `replicaof`, replicating, and its faults.

use std::time::Duration;

use lifeline_testkit::redis::RedisGroup;
use lifeline_testkit::wait;

#[tokio::test]
async fn a_master_and_two_replicas_replicate_and_a_killed_node_comes_back() {
    let mut group = RedisGroup::start(2).await;
    let master = group.replication(0).await.expect("the master answers");
    assert_eq!(master["role"], "master");
    assert_eq!(master["connected_slaves"], "2");
    for n in [1, 2] {
        let replica = group.replication(n).await.expect("a replica answers");
        assert_eq!(replica["role"], "slave");
        assert_eq!(replica["master_port"], group.nodes()[0].port.to_string());
    }

    group
        .set(0, "k", "v")
        .await
        .expect("the master takes writes");
    wait::until(
        "the write on both replicas",
        Duration::from_secs(5),
        || async {
            for n in [1, 2] {
                if group.get(n, "k").await.ok()?.as_deref() != Some("v") {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    let refused = group.set(1, "k", "w").await;
    assert!(refused.is_err(), "a replica refuses writes");

    // Without the password nothing is served.
    let open = redis::Client::open(format!("redis://127.0.0.1:{}/", group.nodes()[0].port))
        .unwrap()
        .get_multiplexed_async_connection()
        .await;
    let denied = match open {
        Ok(mut connection) => redis::cmd("GET")
            .arg("k")
            .query_async::<Option<String>>(&mut connection)
            .await
            .is_err(),
        Err(_) => true,
    };
    assert!(denied, "requirepass is set");

    group.kill9(0);
    assert!(group.replication(0).await.is_none(), "the master is gone");
    group.restart(0);
    // Back on its port, and its replicas link to it again (without persistence it comes back
    // empty, and they resync to that: the hazard a failover manager must keep them from).
    // (The replicas' own "link up" may still be the old link's: ask the new master.)
    wait::until(
        "both replicas on the restarted master",
        Duration::from_secs(20),
        || async {
            let master = group.replication(0).await?;
            (master["role"] == "master" && master["connected_slaves"] == "2").then_some(())
        },
    )
    .await;
}
