//! PostgreSQL failover on real clusters: promotion, endpoints, and the write history.

mod common;

use std::time::Duration;

use common::pg::Setup;
use lifeline_testkit::pg::{PgCluster, PgOptions};
use lifeline_testkit::relay::Relay;
use lifeline_testkit::wait;
use lifeline_testkit::writes::{Writer, stored_ids};

/// A primary and two standbys made with `pg_basebackup -R`: they stream as `walreceiver`
/// until Lifeline adopts them.
fn three_nodes() -> PgOptions {
    PgOptions {
        standbys: 2,
        ..PgOptions::default()
    }
}

#[tokio::test]
async fn kill9_of_the_primary_of_a_stock_cluster_in_synchronous_mode_loses_no_acknowledged_write() {
    // Built as the manual says and left at PostgreSQL's default settings.
    let stock = PgOptions {
        stock_settings: true,
        ..three_nodes()
    };
    let setup = Setup::start(stock, "synchronous_mode = true").await;
    // Lifeline names the standbys itself; the primary then holds commits for one of them.
    // Adopting a stock standby restarts its WAL receiver: slow on a loaded machine.
    let members = setup.wait_synchronous(Duration::from_secs(40)).await;
    wait::until("both standbys adopted", Duration::from_secs(15), || async {
        (setup.events("standby_adopted").await.len() == 2).then_some(())
    })
    .await;
    let writer = Writer::start(&setup.writer_dsn(), Duration::from_millis(5)).await;
    // Writes are acknowledged in synchronous mode: nothing hangs on Lifeline's own setup.
    let before = writer.acknowledged_after(0, Duration::from_secs(10)).await;
    let timeline = setup.writing_timeline("pg1");
    setup.cluster.primary().kill9();
    let status = setup.wait_promoted(0, Duration::from_secs(20)).await;
    let at_promotion = writer.last_acknowledged();
    // Writes resume through the same writer address, on the new primary.
    writer
        .acknowledged_after(at_promotion, Duration::from_secs(10))
        .await;
    let history = writer.stop().await;

    let primary = status["primary"].as_str().unwrap().to_string();
    assert_ne!(primary, "pg1");
    assert!(members.contains(&primary), "{primary} not in {members:?}");
    assert!(history.acknowledged.iter().any(|id| *id <= before));
    assert!(history.acknowledged.iter().any(|id| *id > at_promotion));
    let stored = stored_ids(&setup.node_dsn(&primary)).await;
    let lost: Vec<_> = history.acknowledged.difference(&stored).collect();
    assert_eq!(lost, Vec::<&i64>::new(), "acknowledged writes lost");
    assert_eq!(setup.writing_timeline(&primary), timeline + 1);
    assert!(
        status["needs_rejoin"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "pg1")
    );
    assert_eq!(
        setup
            .wait_events("failover_completed", Duration::from_secs(5))
            .await
            .len(),
        1
    );
}

fn two_nodes() -> PgOptions {
    PgOptions {
        standbys: 1,
        ..PgOptions::default()
    }
}

#[tokio::test]
async fn kill9_in_async_mode_promotes_and_reports_what_may_be_lost() {
    let setup = Setup::start(three_nodes(), "").await;
    let writer = Writer::start(&setup.writer_dsn(), Duration::from_millis(5)).await;
    let before = writer.acknowledged_after(0, Duration::from_secs(10)).await;
    setup.cluster.primary().kill9();
    let status = setup.wait_promoted(0, Duration::from_secs(20)).await;
    let at_promotion = writer.last_acknowledged();
    writer
        .acknowledged_after(at_promotion, Duration::from_secs(10))
        .await;
    let history = writer.stop().await;

    assert!(history.acknowledged.iter().any(|id| *id <= before));
    let primary = status["primary"].as_str().unwrap();
    let stored = stored_ids(&setup.node_dsn(primary)).await;
    let lost = only_the_tail_lost(&history, &stored, at_promotion);
    let completed = setup
        .wait_events("failover_completed", Duration::from_secs(5))
        .await;
    let reason = completed[0]["reason"].as_str().unwrap();
    // The event warns that async mode may lose commits, and says by how much it knows of.
    reported_behind(reason);
    assert!(reason.contains("async mode"), "{reason}");
    println!(
        "async kill -9: {lost} of {} acknowledged writes lost; {reason}",
        history.acknowledged.len()
    );
}

#[tokio::test]
async fn a_hung_primary_is_replaced_and_never_written_again_after_it_wakes() {
    let setup = Setup::start(three_nodes(), "").await;
    let writer = Writer::start(&setup.writer_dsn(), Duration::from_millis(5)).await;
    writer.acknowledged_after(0, Duration::from_secs(10)).await;
    let old = setup.cluster.primary();
    old.sigstop();
    let status = setup.wait_promoted(0, Duration::from_secs(20)).await;
    old.sigcont();
    let before = rows_on(&setup, "pg1");
    // The newest write, checked below, is one acknowledged after the promotion.
    let at_promotion = writer.last_acknowledged();
    writer
        .acknowledged_after(at_promotion, Duration::from_secs(10))
        .await;
    // Lifeline has seen the old primary awake (writable again) several times meanwhile.
    let awake = setup.wait_checked("pg1", 4, Duration::from_secs(10)).await;
    let later = writer.last_acknowledged();
    writer
        .acknowledged_after(later, Duration::from_secs(10))
        .await;
    let history = writer.stop().await;
    let pg1 = awake["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "pg1")
        .unwrap()
        .clone();
    assert_eq!(pg1["role"], "needs_rejoin", "{pg1}");
    let after = rows_on(&setup, "pg1");
    assert_eq!(
        before, after,
        "the old primary took writes after it woke up"
    );
    let status_now = setup.status().await;
    assert_eq!(status_now["primary"], status["primary"]);
    assert_eq!(status_now["writer"], status["primary"]);
    assert!(
        status_now["needs_rejoin"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "pg1"),
        "{status_now}"
    );
    let new_primary = status["primary"].as_str().unwrap();
    let stored = stored_ids(&setup.node_dsn(new_primary)).await;
    let newest = *history.acknowledged.iter().max().unwrap();
    assert!(
        stored.contains(&newest),
        "writes continue on the new primary"
    );
}

fn rows_on(setup: &Setup, node: &str) -> usize {
    setup
        .cluster
        .node(node)
        .psql("SELECT count(*) FROM history")
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn only_lifelines_link_cut_is_no_failover() {
    // Lifeline reaches pg1 through a relay the test controls; its standbys stream from it directly.
    let cluster = PgCluster::start_with(three_nodes());
    let relay = Relay::start(cluster.primary().addr()).await;
    let relayed = format!("127.0.0.1:{}", relay.port);
    let setup = Setup::with_daemon(cluster, "", |node| {
        if node.name == "pg1" {
            relayed.clone()
        } else {
            node.addr()
        }
    })
    .await;
    relay.cut();
    let (event, _) = wait::until("primary_unreachable", Duration::from_secs(15), || async {
        setup.events("primary_unreachable").await.into_iter().next()
    })
    .await;
    assert!(
        event["reason"]
            .as_str()
            .unwrap()
            .contains("still streams from it"),
        "{event}"
    );
    // Well past the failure threshold (3): Lifeline kept failing pg1's checks and did nothing.
    let status = setup.wait_checked("pg1", 6, Duration::from_secs(15)).await;
    let pg1 = &status["nodes"][0];
    assert!(pg1["failure_count"].as_u64() >= Some(6), "{pg1}");
    assert!(setup.events("failover_started").await.is_empty());
    assert_eq!(setup.status().await["epoch"], 0);
    assert_eq!(
        setup
            .cluster
            .primary()
            .psql("SELECT pg_is_in_recovery()")
            .trim(),
        "f"
    );
}

#[tokio::test]
async fn a_killed_standby_leaves_the_reader_pool() {
    let setup = Setup::start(three_nodes(), "").await;
    let readers = setup.status().await["readers"].clone();
    assert_eq!(readers, serde_json::json!(["pg2", "pg3"]));
    setup.cluster.node("pg3").kill9();
    let (status, _) = wait::until(
        "pg3 out of the readers",
        Duration::from_secs(10),
        || async {
            let status = setup.status().await;
            (status["readers"] == serde_json::json!(["pg2"])).then_some(status)
        },
    )
    .await;
    assert_eq!(status["state"], "degraded");
    // Reads through the reader endpoint land on pg2.
    let (client, connection) = tokio_postgres::connect(&setup.reader_dsn(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT pg_is_in_recovery(), current_setting('port')", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(
        row.get::<_, String>(1),
        setup.cluster.node("pg2").port.to_string()
    );
}

#[tokio::test]
async fn planned_switchover_under_write_load_loses_nothing_and_records_the_pause() {
    let setup = Setup::start(three_nodes(), "synchronous_mode = true").await;
    setup.wait_synchronous(Duration::from_secs(20)).await;
    let writer = Writer::start(&setup.writer_dsn(), Duration::from_millis(5)).await;
    let before = writer.acknowledged_after(0, Duration::from_secs(10)).await;
    let (code, out, err) = setup.daemon.cli(&[
        "switchover",
        "main",
        "--to",
        "pg2",
        "--token",
        lifeline_testkit::daemon::TOKEN,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pg2 is primary"), "{out}");
    let at_switch = writer.last_acknowledged();
    writer
        .acknowledged_after(at_switch, Duration::from_secs(10))
        .await;
    let history = writer.stop().await;
    assert!(history.acknowledged.iter().any(|id| *id <= before));
    assert!(history.acknowledged.iter().any(|id| *id > at_switch));
    let stored = stored_ids(&setup.node_dsn("pg2")).await;
    let lost: Vec<_> = history.acknowledged.difference(&stored).collect();
    assert_eq!(lost, Vec::<&i64>::new(), "acknowledged writes lost");
    assert_eq!(setup.writing_timeline("pg2"), 2);
    let done = setup
        .wait_events("switchover_completed", Duration::from_secs(5))
        .await;
    assert!(
        done[0]["reason"].as_str().unwrap().contains("write pause"),
        "{done:?}"
    );
    println!(
        "switchover: {}; longest gap between acknowledged writes {:?}",
        done[0]["reason"], history.longest_pause
    );
    assert_eq!(
        setup
            .cluster
            .node("pg1")
            .psql("SHOW default_transaction_read_only")
            .trim(),
        "on",
        "the old primary stays fenced"
    );
}

#[tokio::test]
async fn the_daemon_killed_mid_failover_never_promotes_twice() {
    let mut setup = Setup::start(three_nodes(), "").await;
    setup.cluster.primary().kill9();
    wait::until("failover_started", Duration::from_secs(15), || async {
        setup.events("failover_started").await.into_iter().next()
    })
    .await;
    setup.daemon.kill9();
    setup.daemon.restart();
    let status = setup.wait_promoted(0, Duration::from_secs(20)).await;
    assert_eq!(status["epoch"], 1, "{status}");
    let writable: Vec<&str> = ["pg2", "pg3"]
        .into_iter()
        .filter(|n| {
            setup
                .cluster
                .node(n)
                .psql("SELECT pg_is_in_recovery()")
                .trim()
                == "f"
        })
        .collect();
    assert_eq!(
        writable,
        vec![status["primary"].as_str().unwrap()],
        "exactly one promotion"
    );
    // One promotion is one timeline switch: from 1 to 2, never to 3.
    assert_eq!(setup.writing_timeline(writable[0]), 2);
}

#[tokio::test]
async fn a_manual_failover_to_a_lagging_standby_is_refused_without_force() {
    let setup = Setup::start(two_nodes(), "auto_failover = false").await;
    let standby = setup.cluster.node("pg2");
    // Adopting the standby restarts its WAL receiver: stop the one that streams as pg2.
    let (receiver, _) = wait::until("pg2 to stream as pg2", Duration::from_secs(15), || async {
        let status = setup.status().await;
        let adopted = status["nodes"][1]["streams_as"] == "pg2";
        let pid = standby.psql("SELECT pid FROM pg_stat_wal_receiver WHERE status = 'streaming'");
        adopted.then(|| pid.trim().parse::<i32>().ok()).flatten()
    })
    .await;
    assert!(lifeline_testkit::signal::send_signal(
        receiver,
        libc::SIGSTOP
    ));
    // Far more than the socket buffers between the two hold (the stopped receiver reads those
    // once it runs again), so the standby stays well past maximum_lag_on_failover behind.
    setup.cluster.primary().psql(
        "CREATE TABLE big AS SELECT repeat('x', 1000) AS filler FROM generate_series(1, 40000)",
    );
    let position: u64 = setup
        .cluster
        .primary()
        .psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
        .trim()
        .parse()
        .unwrap();
    wait::until(
        "Lifeline reads the primary's new position",
        Duration::from_secs(10),
        || async {
            let status = setup.status().await;
            (status["nodes"][0]["wal_lsn"].as_u64() >= Some(position)).then_some(())
        },
    )
    .await;
    setup.cluster.primary().kill9();
    assert!(lifeline_testkit::signal::send_signal(
        receiver,
        libc::SIGCONT
    ));
    wait::until("failover refused", Duration::from_secs(15), || async {
        setup.events("failover_refused").await.into_iter().next()
    })
    .await;

    let token = lifeline_testkit::daemon::TOKEN;
    let (code, _, err) = setup
        .daemon
        .cli(&["failover", "main", "--to", "pg2", "--token", token]);
    assert_eq!(code, 1);
    assert!(err.contains("bytes behind"), "{err}");
    assert_eq!(setup.status().await["epoch"], 0);

    let (code, out, err) = setup.daemon.cli(&[
        "failover", "main", "--to", "pg2", "--force", "--token", token,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pg2 is primary"), "{out}");
}

#[tokio::test]
async fn a_fresh_cluster_killed_early_fails_over_reporting_any_loss_or_refuses_and_says_why() {
    let setup = Setup::start(three_nodes(), "").await;
    let writer = Writer::start(&setup.writer_dsn(), Duration::from_millis(2)).await;
    writer.acknowledged_after(0, Duration::from_secs(10)).await;
    setup.cluster.primary().kill9();
    let (outcome, _) = wait::until(
        "a failover or a refusal",
        Duration::from_secs(20),
        || async {
            let status = setup.status().await;
            if status["epoch"].as_u64() > Some(0) && status["writer"].is_string() {
                return Some(Ok(status));
            }
            setup
                .events("failover_refused")
                .await
                .into_iter()
                .next()
                .map(Err)
        },
    )
    .await;
    match outcome {
        Ok(status) => {
            let at_promotion = writer.last_acknowledged();
            writer
                .acknowledged_after(at_promotion, Duration::from_secs(10))
                .await;
            let history = writer.stop().await;
            let stored = stored_ids(&setup.node_dsn(status["primary"].as_str().unwrap())).await;
            let lost = only_the_tail_lost(&history, &stored, at_promotion);
            let completed = setup
                .wait_events("failover_completed", Duration::from_secs(5))
                .await;
            let reason = completed[0]["reason"].as_str().unwrap();
            reported_behind(reason);
            assert!(reason.contains("async mode"), "{reason}");
            println!(
                "fresh cluster killed early: promoted {}, {lost} lost; {reason}",
                status["primary"]
            );
        }
        Err(refused) => {
            writer.stop().await;
            let reason = refused["reason"].as_str().unwrap();
            assert!(
                ["behind", "unknown", "unreachable"]
                    .iter()
                    .any(|why| reason.contains(why)),
                "{reason}"
            );
            assert_eq!(setup.status().await["epoch"], 0);
            println!("fresh cluster killed early: refused: {reason}");
        }
    }
}

/// Async mode may lose the old primary's newest commits, never others: every lost write was
/// acknowledged before the promotion, and no stored write lies between two lost ones. Returns
/// how many were lost.
fn only_the_tail_lost(
    history: &lifeline_testkit::writes::History,
    stored: &std::collections::BTreeSet<i64>,
    at_promotion: i64,
) -> usize {
    let lost: Vec<i64> = history.acknowledged.difference(stored).copied().collect();
    let (Some(first), Some(last)) = (lost.first(), lost.last()) else {
        return 0;
    };
    assert!(
        *last <= at_promotion,
        "a write acknowledged after the promotion is lost: {lost:?}"
    );
    let hole: Vec<&i64> = stored
        .intersection(&history.acknowledged)
        .filter(|id| *first < **id && **id < *last)
        .collect();
    assert!(hole.is_empty(), "lost {lost:?} around stored {hole:?}");
    lost.len()
}

/// The bytes of WAL a `failover_completed` event says the new primary was behind (async mode).
fn reported_behind(reason: &str) -> u64 {
    reason
        .split(" bytes behind")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|bytes| bytes.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {reason:?}"))
}

#[tokio::test]
async fn an_old_primary_rejoins_through_the_rejoin_command_and_the_cluster_heals() {
    let cluster = PgCluster::start_with(three_nodes());
    // The rejoin script reads the password from a password file its PostgreSQL user can read.
    let root = cluster
        .primary()
        .data_dir
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let passfile = root.join("pgpass");
    std::fs::write(
        &passfile,
        format!("*:*:*:lifeline:{}\n", cluster.password()),
    )
    .unwrap();
    let owner = std::fs::metadata(&cluster.primary().data_dir).unwrap();
    std::os::unix::fs::chown(
        &passfile,
        Some(std::os::unix::fs::MetadataExt::uid(&owner)),
        None,
    )
    .unwrap();
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-rejoin");
    let extra = format!(
        "rejoin_command = \"PGPASSFILE={} {script} {}/{{node}}/data {{node}} {{primary_host}} {{primary_port}}\"",
        passfile.display(),
        root.display()
    );
    let setup = Setup::with_daemon(cluster, &extra, |n| n.addr()).await;
    setup.cluster.primary().kill9();
    setup.wait_promoted(0, Duration::from_secs(20)).await;
    assert_eq!(setup.status().await["state"], "failover_complete");

    // The old primary comes back writable; Lifeline rewinds it into a standby of the new primary.
    setup.cluster.primary().start();
    let status = setup.wait_state("healthy", Duration::from_secs(60)).await;
    assert!(
        status["needs_rejoin"].as_array().unwrap().is_empty(),
        "{status}"
    );
    assert!(
        status["readers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "pg1"),
        "{status}"
    );
    assert_eq!(
        setup
            .cluster
            .primary()
            .psql("SELECT pg_is_in_recovery()")
            .trim(),
        "t"
    );
    // The event log is written behind the status, so the last move to healthy is awaited.
    wait::until(
        "healthy recorded after recovery_in_progress",
        Duration::from_secs(10),
        || async {
            let states: Vec<String> = setup
                .events("cluster_state_changed")
                .await
                .iter()
                .map(|e| e["new"].as_str().unwrap().to_string())
                .collect();
            let position = |s: &str| states.iter().rposition(|x| x == s);
            let recovering = position("recovery_in_progress")?;
            (position("healthy")? > recovering).then_some(())
        },
    )
    .await;
}
