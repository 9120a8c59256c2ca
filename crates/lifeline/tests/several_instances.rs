//! Several Lifeline instances on one etcd, as real processes: every instance serves its load
//! balancer and writer endpoint; one leads; when the leader dies together with the PostgreSQL
//! primary, another takes over, finishes the failover and no acknowledged write is lost; an
//! action ordered under a leadership that no longer holds is refused and never done; a drain or
//! a pin made through one instance steers them all.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::ha::{Instance, Pair, etcd_settings, http_load};
use common::{binary, get_origin, wait_role};
use lifeline_control::cluster::{ClusterManager, ClusterMetrics};
use lifeline_model::{
    Cluster, ClusterKind, ClusterName, ClusterNode, InstanceName, NodeConnection, NodeName, PgDsn,
};
use lifeline_store::{EtcdStore, StateStore};
use lifeline_testkit::daemon::TOKEN;
use lifeline_testkit::etcd::Etcd;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::pg::{PgCluster, PgOptions};
use lifeline_testkit::wait;
use lifeline_testkit::writes::{Writer, stored_ids};
use serde_json::Value;
use tokio::sync::watch;

#[tokio::test]
async fn the_leader_killed_with_the_primary_is_replaced_by_a_follower_that_finishes_the_failover() {
    // The follower serves too: its writer endpoint goes to the primary the leader stored.
    let Pair {
        etcd: _etcd,
        cluster,
        origins: _origins,
        mut first,
        second,
        first_token,
    } = Pair::start(2).await;
    assert_eq!(
        wait_role(&second.daemon, "follower", Duration::from_secs(1)).await["name"],
        "lb-2"
    );
    // The follower knows the leader's token.
    wait::until(
        "lb-2 knows lb-1's token",
        Duration::from_secs(5),
        || async {
            let (_, status) = second.daemon.get("/status").await;
            (status["instances"][0]["fencing_token"] == first_token).then_some(())
        },
    )
    .await;

    // Each lists both: lb-1 leading, lb-2 following.
    for instance in [&first, &second] {
        wait::until("both instances listed", Duration::from_secs(5), || async {
            let (_, status) = instance.daemon.get("/status").await;
            let roles: Vec<(String, String)> = status["instances"]
                .as_array()?
                .iter()
                .map(|i| {
                    (
                        i["name"].as_str().unwrap_or("").into(),
                        i["role"].as_str().unwrap_or("").into(),
                    )
                })
                .collect();
            roles
                .contains(&("lb-1".into(), "leader".into()))
                .then_some(())
                .filter(|()| roles.contains(&("lb-2".into(), "follower".into())))
        })
        .await;
    }

    let writer = Writer::start(&second.writer_dsn(&cluster), Duration::from_millis(5)).await;
    let before = writer.acknowledged_after(0, Duration::from_secs(10)).await;
    let running = Arc::new(AtomicBool::new(true));
    let errors = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(http_load(second.lb_port, running.clone(), errors.clone()));

    // The machine of lb-1 and pg1 is lost.
    first.daemon.kill9();
    cluster.primary().kill9();

    let leader = wait_role(&second.daemon, "leader", Duration::from_secs(15)).await;
    let second_token = leader["fencing_token"].as_u64().unwrap();
    assert!(second_token > first_token, "{second_token} > {first_token}");
    second
        .wait_cluster("lb-2 promotes a standby", Duration::from_secs(30), |s| {
            s["epoch"].as_u64() > Some(0) && s["writer"].is_string() && s["writer"] != "pg1"
        })
        .await;
    let after = writer.last_acknowledged();
    writer
        .acknowledged_after(after, Duration::from_secs(20))
        .await;
    running.store(false, Ordering::Relaxed);
    let sent = load.await.unwrap();
    let history = writer.stop().await;

    let status = second.cluster_status().await;
    let promoted = status["writer"].as_str().unwrap().to_string();
    let stored = stored_ids(&cluster.node(&promoted).dsn(cluster.password())).await;
    let lost: Vec<&i64> = history.acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes lost: {lost:?} (of {})",
        history.acknowledged.len()
    );
    assert!(history.acknowledged.iter().any(|id| *id <= before));
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "HTTP errors through lb-2 of {sent}"
    );

    // lb-1 is gone from the list and lb-2 recorded it as lost (as lb-1 recorded lb-2 joining).
    wait::until("lb-1 lost", Duration::from_secs(10), || async {
        let (_, status) = second.daemon.get("/status").await;
        let (_, events) = second.daemon.get("/events?limit=1000").await;
        let listed = status["instances"].as_array()?.len();
        let lost = events.as_array()?.iter().any(|e| {
            e["kind"] == "instance_lost" && e["subject"] == "lb-1" && e["instance"] == "lb-2"
        });
        let joined = events.as_array()?.iter().any(|e| {
            e["kind"] == "instance_joined" && e["subject"] == "lb-2" && e["instance"] == "lb-1"
        });
        (listed == 1 && lost && joined).then_some(())
    })
    .await;

    // The failover is lb-2's, under its token.
    let (_, events) = second
        .daemon
        .get("/failover/history?cluster=main&limit=1000")
        .await;
    let completed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "failover_completed")
        .collect();
    assert_eq!(completed.len(), 1, "{completed:?}");
    assert_eq!(completed[0]["instance"], "lb-2", "{:?}", completed[0]);
    assert_eq!(
        completed[0]["fencing_token"], second_token,
        "{:?}",
        completed[0]
    );
    println!(
        "{} writes acknowledged, none lost; {sent} HTTP requests through lb-2, none failed",
        history.acknowledged.len()
    );
}

#[tokio::test]
async fn a_deposed_leaders_late_switchover_is_refused_and_changes_no_node() {
    let etcd = Etcd::start().await;
    let cluster = PgCluster::start_with(PgOptions {
        standbys: 1,
        ..PgOptions::default()
    });
    let node = |name: &str, port: u16| ClusterNode {
        name: NodeName::new(name),
        connection: NodeConnection::Postgres(
            PgDsn::parse(&format!(
                "host=127.0.0.1 port={port} user=lifeline password={} dbname=postgres",
                cluster.password()
            ))
            .unwrap(),
        ),
        priority: 0,
        no_failover: false,
    };
    let config = Arc::new(Cluster {
        name: ClusterName::new("main"),
        kind: ClusterKind::Postgres,
        nodes: vec![
            node("pg1", cluster.node("pg1").port),
            node("pg2", cluster.node("pg2").port),
        ],
        writer_listen: None,
        reader_listen: None,
        sentinel_listen: None,
        check_interval: Duration::from_millis(500),
        failure_threshold: 3,
        rise: 2,
        maximum_lag_on_failover: 1024 * 1024,
        primary_silence: Duration::from_secs(3),
        synchronous_mode: false,
        synchronous_mode_strict: false,
        auto_failover: true,
        writer_wait: Duration::from_secs(1),
        rejoin_command: None,
    });
    let old: Arc<dyn StateStore> = Arc::new(
        EtcdStore::connect(&etcd_settings(&etcd), &InstanceName::new("old"))
            .await
            .unwrap(),
    );
    let new = EtcdStore::connect(&etcd_settings(&etcd), &InstanceName::new("new"))
        .await
        .unwrap();
    let deposed = old.campaign("old").await.unwrap();
    // The old leader's role keeps saying it leads: it has not noticed yet.
    let (_role_tx, role) = watch::channel(Some(deposed.clone()));
    let (manager, handle) = ClusterManager::start(
        config,
        Arc::new(lifeline_postgres::PgDriver),
        old.clone(),
        ClusterMetrics::default(),
        role,
    )
    .await
    .unwrap();
    tokio::spawn(manager.run(std::future::pending()));
    wait::until("the cluster healthy", Duration::from_secs(20), || async {
        (handle.status.load().state.as_str() == "healthy").then_some(())
    })
    .await;

    // Another instance takes over (the old leader's key is gone; its lease still lives).
    old.resign(&deposed).await.unwrap();
    let current = new.campaign("new").await.unwrap();
    assert!(current.fencing_token > deposed.fencing_token);

    let started = handle.switchover(Some(NodeName::new("pg2"))).await;
    assert!(started.is_ok(), "it still believes it leads: {started:?}");
    let (refused, _) = wait::until("the fence refused", Duration::from_secs(10), || async {
        let events = new.latest_events(100).await.unwrap();
        events
            .into_iter()
            .find(|e| e.event.kind.as_str() == "action_failed")
    })
    .await;
    assert!(
        refused.event.reason.contains("no longer holds"),
        "{refused:?}"
    );
    // pg1 was never fenced and pg2 never promoted: pg1 takes writes, pg2 still replicates.
    cluster
        .node("pg1")
        .psql("CREATE TABLE after_deposal (x int); INSERT INTO after_deposal VALUES (1)");
    assert_eq!(
        cluster
            .node("pg2")
            .psql("SELECT pg_is_in_recovery()")
            .trim(),
        "t"
    );
    // And the record in the store is not the deposed leader's to change.
    let stored = new.get("clusters/main").await.unwrap();
    let promoting = stored
        .map(|s| serde_json::from_slice::<Value>(&s.value).unwrap()["promoting"].clone())
        .unwrap_or(Value::Null);
    assert_eq!(promoting, Value::Null);
}

#[tokio::test]
async fn a_drain_or_a_pin_made_through_one_instance_steers_every_instance() {
    let etcd = Etcd::start().await;
    let (a, c, b) = (
        OriginProcess::spawn(binary(), "a"),
        OriginProcess::spawn(binary(), "c"),
        OriginProcess::spawn(binary(), "b"),
    );
    let first = Instance::launch("lb-1", &etcd, None, &[&a, &c], &b);
    let second = Instance::launch("lb-2", &etcd, None, &[&a, &c], &b);
    for instance in [&first, &second] {
        common::wait_health(&instance.daemon, "a", "healthy", Duration::from_secs(5)).await;
        common::wait_health(&instance.daemon, "c", "healthy", Duration::from_secs(5)).await;
    }
    let served_by = |instance: &Instance| {
        let url = format!("http://127.0.0.1:{}/", instance.lb_port);
        async move {
            let mut origins = std::collections::BTreeSet::new();
            for _ in 0..10 {
                let (code, origin) = get_origin(&url).await;
                assert_eq!(code, 200);
                origins.extend(origin);
            }
            origins.into_iter().collect::<Vec<String>>()
        }
    };

    let (code, _, err) = first.daemon.cli(&["drain", "a", "--token", TOKEN]);
    assert_eq!(code, 0, "{err}");
    wait::until("lb-2 drains a", Duration::from_secs(5), || async {
        let (_, status) = second.daemon.get("/status").await;
        (status["pools"][0]["origins"][0]["draining"] == true).then_some(())
    })
    .await;
    assert_eq!(served_by(&second).await, ["c"]);

    let (code, _, err) = second
        .daemon
        .cli(&["force", "api", "backup", "--token", TOKEN]);
    assert_eq!(code, 0, "{err}");
    wait::until("lb-1 pinned to backup", Duration::from_secs(5), || async {
        let (_, status) = first.daemon.get("/status").await;
        (status["load_balancers"][0]["forced"] == serde_json::json!({"pool": "backup"}))
            .then_some(())
    })
    .await;
    assert_eq!(served_by(&first).await, ["b"]);

    let (code, _, _) = first
        .daemon
        .cli(&["force", "api", "--clear", "--token", TOKEN]);
    assert_eq!(code, 0);
    let (code, _, _) = first.daemon.cli(&["undrain", "a", "--token", TOKEN]);
    assert_eq!(code, 0);
    wait::until("lb-2 back on a and c", Duration::from_secs(5), || async {
        let (_, status) = second.daemon.get("/status").await;
        (status["pools"][0]["origins"][0]["draining"] == false
            && status["load_balancers"][0]["forced"].is_null())
        .then_some(())
    })
    .await;
    assert_eq!(served_by(&second).await, ["a", "c"]);
    // Each change is recorded once, by the instance it was made through.
    let (_, events) = second.daemon.get("/events?limit=1000").await;
    let drained: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "origin_drained")
        .collect();
    assert_eq!(drained.len(), 1, "{drained:?}");
    assert_eq!(drained[0]["instance"], "lb-1");
}
