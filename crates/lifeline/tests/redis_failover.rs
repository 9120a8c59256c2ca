//! Redis failover on real groups (Debian's redis-server: a master and two replicas built with
//! `replicaof`, `requirepass` and `masterauth`): a killed and a hung master under a write
//! loop through the writer endpoint, only Lifeline's link cut, the old master returning as a
//! replica (and served by the reader endpoint), and a switchover that loses nothing.

mod common;

use std::time::{Duration, Instant};

use common::redis::RedisSetup;
use lifeline_testkit::redis_writes::{RedisWriter, missing_keys};
use lifeline_testkit::relay::Relay;
use lifeline_testkit::wait;

/// The writer sets a key this often.
const EVERY: Duration = Duration::from_millis(5);

#[tokio::test]
async fn a_killed_master_fails_over_and_comes_back_as_a_replica() {
    let mut setup = RedisSetup::start("", "").await;
    let writer = RedisWriter::start(&setup.writer(), setup.group.password(), EVERY);
    let started = Instant::now();
    writer.acknowledged_after(50, Duration::from_secs(10)).await;
    // Long enough that some writes are a second old when the master dies.
    tokio::time::sleep_until((started + Duration::from_millis(1500)).into()).await;
    let killed = Instant::now();
    setup.group.kill9(0);
    let at_kill = writer.last_acknowledged();
    let status = setup.wait_promoted(0, Duration::from_secs(10)).await;
    let promoted = status["primary"].as_str().unwrap().to_string();
    assert_ne!(promoted, "r1");
    // Writes resume through the same address, on the new master.
    writer
        .acknowledged_after(at_kill + 20, Duration::from_secs(10))
        .await;
    let history = writer.stop().await;
    let missing = missing_keys(
        &setup.address(&promoted),
        setup.group.password(),
        &history.keys(),
    )
    .await;
    // What the promoted replica had not received when the master died can be lost (Redis
    // replicates asynchronously); anything acknowledged well before, never.
    let settled = history
        .acknowledged
        .iter()
        .filter(|(_, at)| *at + Duration::from_secs(1) < killed)
        .map(|(n, _)| *n)
        .max()
        .unwrap();
    assert!(
        missing.iter().all(|n| *n > settled),
        "acknowledged writes lost: {missing:?} (settled up to k{settled})"
    );
    println!(
        "kill -9: {} acknowledged, {} lost, {} failed; longest pause {:?}",
        history.acknowledged.len(),
        missing.len(),
        history.failed,
        history.longest_pause
    );
    let completed = setup
        .wait_events("failover_completed", Duration::from_secs(5))
        .await;
    assert!(
        completed[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{promoted} is primary (epoch 1)")),
        "{completed:?}"
    );

    // The old master comes back (empty: no persistence) as a master: Lifeline makes it a
    // replica of the new one, and it never gets the writer.
    setup.group.restart(0);
    setup
        .wait_replica_of("r1", &promoted, Duration::from_secs(20))
        .await;
    let (rejoined, _) = wait::until("r1 rejoined", Duration::from_secs(10), || async {
        setup.events("rejoined").await.into_iter().find(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("streams from"))
        })
    })
    .await;
    assert_eq!(rejoined["subject"], "cache/r1");
    let status = setup.wait_state("healthy", Duration::from_secs(10)).await;
    assert_eq!(status["writer"], promoted.as_str());
    assert_eq!(
        setup
            .group
            .get(setup.index("r1"), &format!("k{settled}"))
            .await
            .unwrap()
            .as_deref(),
        Some(settled.to_string().as_str()),
        "r1 copied the new master's data"
    );
    // A restart keeps it a replica: Lifeline rewrote its config.
    let config = std::fs::read_to_string(setup.group.config_path(0)).unwrap();
    let port = setup.group.nodes()[setup.index(&promoted)].port;
    assert!(
        config.contains(&format!("replicaof 127.0.0.1 {port}")),
        "{config}"
    );

    // The reader endpoint reaches the replicas, r1 among them, never the new master.
    let url = format!("redis://:{}@{}/", setup.group.password(), setup.reader());
    for _ in 0..6 {
        let mut reader = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut reader)
            .await
            .unwrap();
        assert!(info.contains("role:slave"), "{info}");
        let value: Option<String> = redis::cmd("GET")
            .arg(format!("k{settled}"))
            .query_async(&mut reader)
            .await
            .unwrap();
        assert_eq!(value, Some(settled.to_string()));
    }
}

#[tokio::test]
async fn a_hung_master_fails_over() {
    // The preflight's advice: a master pings its replicas every second, so that they (and
    // Lifeline) tell a hung master from an idle one within `primary_silence`.
    let setup = RedisSetup::start("repl-ping-replica-period 1", "").await;
    let writer = RedisWriter::start(&setup.writer(), setup.group.password(), EVERY);
    writer.acknowledged_after(20, Duration::from_secs(10)).await;
    setup.group.signal(0, libc::SIGSTOP);
    let status = setup.wait_promoted(0, Duration::from_secs(20)).await;
    let promoted = status["primary"].as_str().unwrap().to_string();
    let at_promotion = writer.last_acknowledged();
    writer
        .acknowledged_after(at_promotion + 20, Duration::from_secs(10))
        .await;
    writer.stop().await;
    // Woken, it still believes it is master: Lifeline turns it into a replica.
    setup.group.signal(0, libc::SIGCONT);
    setup
        .wait_replica_of("r1", &promoted, Duration::from_secs(20))
        .await;
    assert_eq!(setup.status().await["writer"], promoted.as_str());
}

#[tokio::test]
async fn only_lifelines_link_cut_is_no_failover() {
    // Lifeline reaches r1 through a relay the test controls; the replicas reach it directly.
    let group = lifeline_testkit::redis::RedisGroup::start(2).await;
    let relay = Relay::start(group.nodes()[0].address()).await;
    let relayed = format!("127.0.0.1:{}", relay.port);
    let setup = RedisSetup::with_daemon(group, "", |node| {
        if node.name == "r1" {
            relayed.clone()
        } else {
            node.address()
        }
    })
    .await;
    // Writes keep the replicas hearing from the master (an idle one pings every 10 s).
    let writer = RedisWriter::start(&setup.address("r1"), setup.group.password(), EVERY);
    relay.cut();
    let events = setup
        .wait_events("primary_unreachable", Duration::from_secs(15))
        .await;
    assert!(
        events[0]["reason"]
            .as_str()
            .unwrap()
            .contains("still streams from it"),
        "{events:?}"
    );
    let (status, _) = wait::until("6 failed checks of r1", Duration::from_secs(15), || async {
        let status = setup.status().await;
        (status["nodes"][0]["failure_count"].as_u64() >= Some(6)).then_some(status)
    })
    .await;
    assert_eq!(status["epoch"], 0, "{status}");
    assert!(setup.events("failover_started").await.is_empty());
    assert_eq!(setup.replication("r1").await["role"], "master");
    writer.stop().await;
}

#[tokio::test]
async fn a_switchover_loses_nothing_and_disconnects_the_old_masters_clients() {
    let setup = RedisSetup::start("", "").await;
    // A client of the master's own address, as a Sentinel-discovered one would be.
    let mut direct = setup.group.client(0).await.unwrap();
    let _: () = redis::cmd("PING").query_async(&mut direct).await.unwrap();
    let writer = RedisWriter::start(&setup.writer(), setup.group.password(), EVERY);
    let before = writer.acknowledged_after(20, Duration::from_secs(10)).await;
    let (code, out, err) = setup.daemon.cli(&[
        "switchover",
        "cache",
        "--to",
        "r3",
        "--token",
        lifeline_testkit::daemon::TOKEN,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("r3 is primary"), "{out}");
    let at_switch = writer.last_acknowledged();
    writer
        .acknowledged_after(at_switch + 20, Duration::from_secs(10))
        .await;
    let history = writer.stop().await;
    // The history reaches back before the switchover, so the check below covers both sides.
    assert!(
        history.keys().range(..=before).count() >= 20,
        "only {} keys acknowledged up to k{before}",
        history.keys().range(..=before).count()
    );
    let missing = missing_keys(
        &setup.address("r3"),
        setup.group.password(),
        &history.keys(),
    )
    .await;
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    let done = setup
        .wait_events("switchover_completed", Duration::from_secs(5))
        .await;
    println!(
        "switchover: {}; longest gap between acknowledged writes {:?}",
        done[0]["reason"], history.longest_pause
    );
    setup
        .wait_replica_of("r1", "r3", Duration::from_secs(20))
        .await;
    setup
        .wait_replica_of("r2", "r3", Duration::from_secs(20))
        .await;
    // The old master's own clients were disconnected, so none keeps writing to it.
    let ping: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut direct).await;
    assert!(ping.is_err(), "the old master's client was left connected");
}
