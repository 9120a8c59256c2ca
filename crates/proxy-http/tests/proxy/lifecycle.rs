//! Shutdown: stop accepting, let what is in flight finish, close the rest at the deadline.
//!
//! Each test waits until the origin has the request before the drain starts, so the request is
//! provably in flight when the proxy stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

use crate::support::{PATIENCE, Setup, get, handler_origin, pool, raw_origin, read_head};

/// Waits until `addr` refuses connections: the proxy stopped accepting, its drain began.
async fn until_refused(addr: SocketAddr) {
    let started = Instant::now();
    while TcpStream::connect(addr).await.is_ok() {
        assert!(started.elapsed() < PATIENCE, "{addr} still accepts");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn next<T>(events: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(PATIENCE, events.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap()
}

#[tokio::test]
async fn draining_lets_an_in_flight_request_finish() {
    let (received_tx, mut received) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let answer = release.clone();
    let origin = handler_origin(move |_request| {
        let (received, answer) = (received_tx.clone(), answer.clone());
        async move {
            received.send(()).unwrap();
            answer.notified().await;
            Response::new(Full::new(Bytes::from_static(
                b"answered after the drain began\n",
            )))
        }
    })
    .await;
    let proxy = Setup::new(vec![pool("main", &[("held", origin)])])
        .start(|_| {})
        .await;
    let addr = proxy.addr;
    let url = proxy.url("/held");
    let in_flight = tokio::spawn(async move { get(&url).await });
    next(&mut received, "the origin to receive the request").await;

    let stopping = tokio::spawn(proxy.stop());
    until_refused(addr).await;
    assert!(
        !stopping.is_finished(),
        "the drain waits for the request in flight"
    );
    release.notify_one();
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "answered after the drain began\n");
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("the drain ends once nothing is in flight")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_drain_deadline_closes_a_request_still_in_flight() {
    const DEADLINE: Duration = Duration::from_millis(300);
    // The origin reports the request, never answers, and reports when the proxy hangs up.
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let origin = raw_origin(move |mut stream| {
        let events = events_tx.clone();
        async move {
            if read_head(&mut stream).await.is_some() {
                events.send("received").unwrap();
                let mut rest = Vec::new();
                if let Err(error) = stream.read_to_end(&mut rest).await {
                    eprintln!("stuck origin: {error}");
                }
                events.send("closed").unwrap();
            }
        }
    })
    .await;
    let mut setup = Setup::new(vec![pool("main", &[("stuck", origin)])]);
    setup.drain_deadline = DEADLINE;
    let proxy = setup
        .start(|lb| lb.try_timeout = Duration::from_secs(60))
        .await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    client
        .write_all(b"GET /stuck HTTP/1.1\r\nHost: example.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        next(&mut events, "the origin to receive the request").await,
        "received"
    );

    let started = Instant::now();
    proxy.stop().await.unwrap();
    let stopped_after = started.elapsed();
    assert!(
        stopped_after >= DEADLINE,
        "the drain waited for the request in flight: {stopped_after:?}"
    );
    assert!(
        stopped_after < DEADLINE + Duration::from_secs(2),
        "and no longer than its deadline: {stopped_after:?}"
    );
    // At the deadline the client's connection closes with no answer at all, and the proxy
    // gives up the origin's.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, client.read_to_end(&mut answer))
        .await
        .expect("the client learns at once that its connection closed");
    assert!(
        read.is_ok() && answer.is_empty(),
        "{read:?}: {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(
        next(&mut events, "the origin's connection to close").await,
        "closed"
    );
}
