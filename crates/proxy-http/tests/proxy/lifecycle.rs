//! Shutdown: stop accepting, let what is in flight finish, close the rest at the deadline.

use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::net::TcpStream;

use crate::support::{Setup, get, pool, slow_origin};

#[tokio::test]
async fn draining_lets_an_in_flight_request_finish() {
    let origin = slow_origin("slow", Duration::from_millis(600)).await;
    let proxy = Setup::new(vec![pool("main", &[("slow", origin)])])
        .start(|_| {})
        .await;
    let addr = proxy.addr;
    let url = proxy.url("/slow");
    let in_flight = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.stop().await.unwrap();
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "origin slow\n");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn the_drain_deadline_closes_what_is_left() {
    let origin = slow_origin("stuck", Duration::from_secs(30)).await;
    let mut setup = Setup::new(vec![pool("main", &[("stuck", origin)])]);
    setup.drain_deadline = Duration::from_millis(300);
    let proxy = setup
        .start(|lb| lb.try_timeout = Duration::from_secs(60))
        .await;
    let addr = proxy.addr;
    let in_flight = tokio::spawn(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        client.get(format!("http://{addr}/").parse().unwrap()).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    proxy.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let outcome = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the client learns at once that its connection closed")
        .unwrap();
    assert!(outcome.is_err(), "the stuck request was cut");
}
