//! A new route closes connections to the backends it dropped at once, and leaves the others
//! alone.

use std::time::{Duration, Instant};

use crate::support::{
    Echo, Endpoint, PATIENCE, connect, endpoint_series, expect_closed, round_trip,
};

/// "At once", with room for a busy test machine; it takes well under a millisecond.
const AT_ONCE: Duration = Duration::from_millis(100);

#[tokio::test]
async fn a_removed_backend_loses_its_connections_at_once() {
    let a = Echo::start("pg1").await;
    let b = Echo::start("pg2").await;
    let endpoint = Endpoint::start(vec![a.backend(), b.backend()], PATIENCE).await;
    let mut to_a = connect(endpoint.addr).await;
    round_trip(&mut to_a, b"a").await;
    let mut to_b = connect(endpoint.addr).await;
    round_trip(&mut to_b, b"b").await;
    assert_eq!((a.accepted(), b.accepted()), (1, 1));

    // A new route with the same backends (in another order) closes nothing.
    endpoint.publish(vec![b.backend(), a.backend()]);
    round_trip(&mut to_a, b"still a").await;
    round_trip(&mut to_b, b"still b").await;

    let published = Instant::now();
    endpoint.publish(vec![b.backend()]);
    expect_closed(&mut to_a).await;
    let closed_after = published.elapsed();
    assert!(closed_after < AT_ONCE, "closed after {closed_after:?}");
    a.wait_closed(1).await;

    round_trip(&mut to_b, b"b keeps working").await;
    let mut fresh = connect(endpoint.addr).await;
    round_trip(&mut fresh, b"new ones go to b").await;
    assert_eq!((a.accepted(), b.accepted()), (1, 2));
    let closed = endpoint_series("lifeline_tcp_closed_by_route_change_total");
    assert_eq!(endpoint.metric(&closed), Some(1.0));
}

#[tokio::test]
async fn a_writer_failover_closes_the_old_primary_and_holds_until_the_new_one() {
    let old = Echo::start("pg1").await;
    let new = Echo::start("pg2").await;
    let endpoint = Endpoint::start(vec![old.backend()], PATIENCE).await;
    let mut before = connect(endpoint.addr).await;
    round_trip(&mut before, b"insert 1").await;

    // The controller holds while it promotes the standby.
    endpoint.publish(Vec::new());
    expect_closed(&mut before).await;
    old.wait_closed(1).await;
    let during = connect(endpoint.addr).await;

    endpoint.publish(vec![new.backend()]);
    let mut during = during;
    round_trip(&mut during, b"insert 2").await;
    assert_eq!((old.accepted(), new.accepted()), (1, 1));
}
