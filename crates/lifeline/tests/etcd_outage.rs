//! etcd trouble under several Lifeline instances, as real processes: etcd stopped for everyone
//! for 60 s costs no request and no write and promotes nothing; an instance cut off from etcd
//! and from the other instances closes its writer endpoint within the lease, and opens it again
//! once back in touch.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::ha::{Pair, SIGCONT, SIGSTOP, http_load};
use common::pg::{in_recovery, session};
use common::{get_origin, wait_role};
use lifeline_testkit::signal::send_signal;
use lifeline_testkit::wait;
use lifeline_testkit::writes::Writer;
use serde_json::Value;

#[tokio::test]
async fn etcd_stopped_for_sixty_seconds_costs_no_request_no_write_and_promotes_nothing() {
    // Every part bound: one left in the temporary would be dropped (its processes stopped) here.
    let Pair {
        etcd,
        cluster,
        origins: _origins,
        first,
        second,
        ..
    } = Pair::start(2).await;
    // Through the leader's endpoint: the instance whose leadership etcd's trouble takes away.
    let writer = Writer::start(&first.writer_dsn(&cluster), Duration::from_millis(5)).await;
    let running = Arc::new(AtomicBool::new(true));
    let errors = Arc::new(AtomicUsize::new(0));
    let loads = [first.lb_port, second.lb_port]
        .map(|port| tokio::spawn(http_load(port, running.clone(), errors.clone())));
    writer.acknowledged_after(0, Duration::from_secs(10)).await;

    // etcd hangs: no instance can refresh its lease, read or write; the leader loses its
    // leadership a lease later, and nobody can win another.
    send_signal(etcd.pid(0), SIGSTOP);
    wait_role(&first.daemon, "follower", Duration::from_secs(10)).await;
    // The outage is held as long as the benchmark holds it: past every lease, every
    // retry and every reconnect timer; the load runs all along.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let last = writer.last_acknowledged();
    writer
        .acknowledged_after(last, Duration::from_secs(2))
        .await;
    for instance in [&first, &second] {
        let (_, status) = instance.daemon.get("/status").await;
        assert_eq!(status["instances"][0]["role"], "follower", "{status}");
        // Still in every rotation: readiness does not depend on the store.
        let (code, ready) = instance.daemon.get("/ready").await;
        assert_eq!(code, 200, "{ready}");
        assert_eq!(instance.cluster_status().await["writer"], "pg1");
        // A new session through either writer endpoint still reaches the primary.
        assert!(
            !in_recovery(&instance.writer_dsn(&cluster)).await,
            "a new writer session reached a standby"
        );
    }
    send_signal(etcd.pid(0), SIGCONT);
    running.store(false, Ordering::Relaxed);
    let mut sent = 0;
    for load in loads {
        sent += load.await.unwrap();
    }
    let history = writer.stop().await;
    assert_eq!(history.failed, 0, "failed writes");
    assert_eq!(errors.load(Ordering::Relaxed), 0, "HTTP errors of {sent}");
    // No write outage: the writer never waited a lease (2 s), let alone the 60 s of the outage;
    // how short the pauses are is for bench/pg-failover.sh's etcd scenario.
    assert!(
        history.longest_pause < Duration::from_secs(2),
        "writes paused {:?} while etcd was stopped",
        history.longest_pause
    );

    // etcd back: one instance leads again, and nothing was promoted.
    wait::until("a leader again", Duration::from_secs(15), || async {
        for instance in [&first, &second] {
            let (_, status) = instance.daemon.get("/status").await;
            if status["instances"][0]["role"] == "leader" {
                return Some(());
            }
        }
        None
    })
    .await;
    for instance in [&first, &second] {
        let status = instance.cluster_status().await;
        assert_eq!(status["epoch"], 0, "{status}");
        assert_eq!(status["primary"], "pg1", "{status}");
    }
    assert_eq!(
        cluster
            .node("pg1")
            .psql("SELECT pg_is_in_recovery()")
            .trim(),
        "f"
    );
    println!(
        "{sent} HTTP requests and {} writes went on while etcd was stopped",
        history.acknowledged.len()
    );
}

#[tokio::test]
async fn an_instance_cut_off_from_etcd_and_the_other_instances_closes_its_writer_within_the_lease()
{
    // Every part bound: one left in the temporary would be dropped (its processes stopped) here.
    let Pair {
        etcd,
        cluster,
        origins: _origins,
        first,
        second,
        ..
    } = Pair::start(1).await;
    wait::until("lb-2 knows lb-1", Duration::from_secs(5), || async {
        let (_, status) = second.daemon.get("/status").await;
        (status["instances"].as_array()?.len() == 2).then_some(())
    })
    .await;
    let (session, connection) = session(&second.writer_dsn(&cluster)).await;
    session.batch_execute("SELECT 1").await.unwrap();

    // lb-2 reaches neither etcd nor lb-1 (both hang); pg1 is still there to write to.
    send_signal(etcd.pid(0), SIGSTOP);
    first.daemon.signal(SIGSTOP);
    let cut = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the writer session through lb-2 is closed");
    let took = cut.elapsed();
    assert!(closed.is_ok());
    // lease_ttl (2 s) after the store stopped answering, which takes up to a ping and a call.
    assert!(took < Duration::from_secs(7), "closed after {took:?}");
    assert_eq!(second.cluster_status().await["writer"], Value::Null);
    // Its load balancer keeps serving.
    let (code, _) = get_origin(&format!("http://127.0.0.1:{}/", second.lb_port)).await;
    assert_eq!(code, 200);

    // Back in touch: the writer opens again on the same primary.
    send_signal(etcd.pid(0), SIGCONT);
    first.daemon.signal(SIGCONT);
    second
        .wait_cluster("lb-2's writer open again", Duration::from_secs(15), |s| {
            s["writer"] == "pg1"
        })
        .await;
    assert!(!in_recovery(&second.writer_dsn(&cluster)).await);
    println!("lb-2 closed its writer {took:?} after it was cut off");
}
