//! While the route holds (no backends), new connections wait for one, untouched, up to the
//! endpoint's wait.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::support::{
    Echo, Endpoint, PATIENCE, connect, endpoint_series, expect_closed, round_trip,
};

/// Long enough to see that a held connection goes nowhere.
const WHILE_HELD: Duration = Duration::from_millis(100);

#[tokio::test]
async fn a_held_connection_proceeds_once_a_route_is_published() {
    let echo = Echo::start("pg1").await;
    let endpoint = Endpoint::start(Vec::new(), PATIENCE).await;
    let mut client = connect(endpoint.addr).await;
    // What a PostgreSQL client sends first (an SSLRequest), before any answer.
    let ssl_request = b"\x00\x00\x00\x08\x04\xd2\x16\x2f";
    client.write_all(ssl_request).await.unwrap();
    tokio::time::sleep(WHILE_HELD).await;
    assert_eq!(echo.accepted(), 0, "held connections go nowhere");

    endpoint.publish(vec![echo.backend()]);
    let mut echoed = [0; 8];
    tokio::time::timeout(PATIENCE, client.read_exact(&mut echoed))
        .await
        .expect("the held bytes never arrived")
        .unwrap();
    assert_eq!(&echoed, ssl_request);
    round_trip(&mut client, b"and then the rest").await;
    assert_eq!(echo.accepted(), 1);
}

#[tokio::test]
async fn a_held_connection_is_closed_when_the_wait_runs_out() {
    let wait = Duration::from_millis(300);
    let endpoint = Endpoint::start(Vec::new(), wait).await;
    let started = Instant::now();
    let mut client = connect(endpoint.addr).await;
    expect_closed(&mut client).await;
    assert!(
        started.elapsed() >= wait,
        "closed after {:?}",
        started.elapsed()
    );
    let timeouts = endpoint_series("lifeline_tcp_wait_timeouts_total");
    assert_eq!(endpoint.metric(&timeouts), Some(1.0));
}

#[tokio::test]
async fn a_thousand_held_connections_all_proceed() {
    const CLIENTS: u32 = 1000;
    let echo = Echo::start("pg1").await;
    let endpoint = Endpoint::start(Vec::new(), PATIENCE).await;
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let mut client = connect(endpoint.addr).await;
        client.write_all(&id.to_be_bytes()).await.unwrap();
        clients.push((id, client));
    }
    tokio::time::sleep(WHILE_HELD).await;
    assert_eq!(echo.accepted(), 0);

    endpoint.publish(vec![echo.backend()]);
    let mut readers = JoinSet::new();
    for (id, mut client) in clients {
        readers.spawn(async move {
            let mut echoed = [0; 4];
            client.read_exact(&mut echoed).await.unwrap();
            assert_eq!(u32::from_be_bytes(echoed), id);
        });
    }
    tokio::time::timeout(PATIENCE, readers.join_all())
        .await
        .expect("not every held connection proceeded");
    assert_eq!(echo.accepted(), CLIENTS as usize);
}
