//! Bytes pass through untouched, and new connections spread round-robin over the route's
//! backends, falling through dead ones.

use std::time::Duration;

use crate::support::{
    Echo, Endpoint, connect, dead_backend, eventually, expect_closed, node_series, round_trip,
};

const WAIT: Duration = Duration::from_secs(10);

/// 1 MiB that no simple framing bug reproduces by accident.
fn megabyte() -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test]
async fn echoes_byte_exact_including_a_megabyte_both_ways() {
    let echo = Echo::start("pg1").await;
    let endpoint = Endpoint::start(vec![echo.backend()], WAIT).await;
    let mut client = connect(endpoint.addr).await;
    round_trip(&mut client, b"\x00\x00\x00\x08\x04\xd2\x16\x2f").await;
    round_trip(&mut client, &megabyte()).await;
    round_trip(&mut client, b"after the big one").await;
    assert_eq!(echo.accepted(), 1);

    let connections = node_series("lifeline_tcp_connections_total", "pg1");
    let active = node_series("lifeline_tcp_active_connections", "pg1");
    assert_eq!(endpoint.metric(&connections), Some(1.0));
    assert_eq!(endpoint.metric(&active), Some(1.0));
    drop(client);
    echo.wait_closed(1).await;
    eventually("active_connections back to 0", || {
        endpoint.metric(&active) == Some(0.0)
    })
    .await;
}

#[tokio::test]
async fn spreads_connections_round_robin() {
    let a = Echo::start("pg1").await;
    let b = Echo::start("pg2").await;
    let endpoint = Endpoint::start(vec![a.backend(), b.backend()], WAIT).await;
    let mut clients = Vec::new();
    for expected in [(1, 0), (1, 1), (2, 1), (2, 2)] {
        let mut client = connect(endpoint.addr).await;
        round_trip(&mut client, b"ping").await;
        assert_eq!((a.accepted(), b.accepted()), expected);
        clients.push(client);
    }
    for node in ["pg1", "pg2"] {
        let series = node_series("lifeline_tcp_active_connections", node);
        assert_eq!(endpoint.metric(&series), Some(2.0), "{node}");
    }
}

#[tokio::test]
async fn a_dead_backend_falls_through_to_the_next() {
    let dead = dead_backend("pg1").await;
    let live = Echo::start("pg2").await;
    let endpoint = Endpoint::start(vec![dead, live.backend()], WAIT).await;
    for _ in 0..2 {
        let mut client = connect(endpoint.addr).await;
        round_trip(&mut client, b"ping").await;
    }
    assert_eq!(live.accepted(), 2);
    let failures = node_series("lifeline_tcp_connect_failures_total", "pg1");
    assert_eq!(
        endpoint.metric(&failures),
        Some(1.0),
        "tried once, first in turn"
    );
}

#[tokio::test]
async fn the_client_is_closed_when_every_backend_is_dead() {
    let endpoint = Endpoint::start(
        vec![dead_backend("pg1").await, dead_backend("pg2").await],
        WAIT,
    )
    .await;
    let mut client = connect(endpoint.addr).await;
    expect_closed(&mut client).await;
    for node in ["pg1", "pg2"] {
        let failures = node_series("lifeline_tcp_connect_failures_total", node);
        assert_eq!(endpoint.metric(&failures), Some(1.0), "{node}");
        let connections = node_series("lifeline_tcp_connections_total", node);
        assert_eq!(endpoint.metric(&connections), None, "{node}");
    }
}
