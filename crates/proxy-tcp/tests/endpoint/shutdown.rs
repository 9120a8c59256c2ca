//! Shutdown stops accepting and closes every connection, proxied or waiting.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::support::{Echo, Endpoint, PATIENCE, connect, expect_closed, node_series, round_trip};

#[tokio::test]
async fn shutdown_closes_everything() {
    let echo = Echo::start("pg1").await;
    let mut routed = Endpoint::start(vec![echo.backend()], PATIENCE).await;
    let mut held = Endpoint::start(Vec::new(), Duration::from_secs(3600)).await;
    let mut proxied = Vec::new();
    for _ in 0..2 {
        let mut client = connect(routed.addr).await;
        round_trip(&mut client, b"ping").await;
        proxied.push(client);
    }
    let mut waiting = connect(held.addr).await;

    routed.shutdown().await;
    held.shutdown().await;
    for client in &mut proxied {
        expect_closed(client).await;
    }
    expect_closed(&mut waiting).await;
    echo.wait_closed(2).await;
    let active = node_series("lifeline_tcp_active_connections", "pg1");
    assert_eq!(routed.metric(&active), Some(0.0));
    for addr in [routed.addr, held.addr] {
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts"
        );
    }
}
