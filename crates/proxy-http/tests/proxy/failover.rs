//! Retries, timeouts, hedging and passive ejection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use lifeline_model::{FailureKind, Route, Rule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, Setup, dead_address, get, pool, send, slow_origin, test_origin};

/// An origin that counts the requests it receives, waits `delay`, then answers `status` with
/// the size of the request body.
async fn counting_origin(delay: Duration, status: StatusCode) -> (SocketAddr, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let addr = support::handler_origin(move |request: Request<Incoming>| {
        let seen = Arc::clone(&seen);
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            let body = request.into_body().collect().await.unwrap().to_bytes();
            tokio::time::sleep(delay).await;
            Response::builder()
                .status(status)
                .body(Full::new(Bytes::from(format!("{} bytes", body.len()))))
                .unwrap()
        }
    })
    .await;
    (addr, count)
}

#[tokio::test]
async fn connect_refused_fails_over_to_the_next_origin() {
    let live = test_origin("live").await;
    let proxy = Setup::new(vec![
        pool("first", &[("dead", dead_address())]),
        pool("second", &[("live", live)]),
    ])
    .start(|_| {})
    .await;
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-origin"), "live");
    let metrics = proxy.metrics();
    assert!(
        metrics.contains(r#"lifeline_http_retries_total{load_balancer="web"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"lifeline_http_errors_total{load_balancer="web",pool="first",origin="dead",kind="connect"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_post_whose_connection_was_refused_goes_to_the_next_origin_with_its_body() {
    let (live, count) = counting_origin(Duration::ZERO, StatusCode::OK).await;
    let proxy = Setup::new(vec![
        pool("first", &[("dead", dead_address())]),
        pool("second", &[("live", live)]),
    ])
    .start(|_| {})
    .await;
    let reply = send(support::request(
        Method::POST,
        &proxy.url("/orders"),
        "x".repeat(1000),
    ))
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "1000 bytes");
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // A body too large to keep can still go elsewhere when no byte of it was sent.
    let large = "y".repeat(200 * 1024);
    let reply = send(support::request(Method::POST, &proxy.url("/upload"), large)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "204800 bytes");
}

#[tokio::test]
async fn a_post_that_timed_out_is_not_replayed() {
    let (slow, slow_count) = counting_origin(Duration::from_secs(3), StatusCode::OK).await;
    let (fast, fast_count) = counting_origin(Duration::ZERO, StatusCode::OK).await;
    let proxy = Setup::new(vec![
        pool("first", &[("slow", slow)]),
        pool("second", &[("fast", fast)]),
    ])
    .start(|lb| lb.try_timeout = Duration::from_millis(300))
    .await;
    let reply = send(support::request(
        Method::POST,
        &proxy.url("/pay"),
        "amount=5",
    ))
    .await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.json()["kind"], "timeout");
    assert_eq!(slow_count.load(Ordering::SeqCst), 1);
    assert_eq!(fast_count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_get_that_timed_out_goes_to_the_next_origin() {
    let slow = slow_origin("slow", Duration::from_secs(3)).await;
    let fast = test_origin("fast").await;
    let proxy = Setup::new(vec![
        pool("first", &[("slow", slow)]),
        pool("second", &[("fast", fast)]),
    ])
    .start(|lb| lb.try_timeout = Duration::from_millis(300))
    .await;
    let started = Instant::now();
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-origin"), "fast");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // With nowhere else to go, the client learns it was a timeout.
    let only_slow = Setup::new(vec![pool("first", &[("slow", slow)])])
        .start(|lb| lb.try_timeout = Duration::from_millis(200))
        .await;
    let reply = get(&only_slow.url("/")).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        reply.json(),
        serde_json::json!({ "error": "origin timed out", "kind": "timeout", "load_balancer": "web" })
    );
}

#[tokio::test]
async fn a_5xx_is_returned_not_retried() {
    let (failing, failing_count) =
        counting_origin(Duration::ZERO, StatusCode::SERVICE_UNAVAILABLE).await;
    let (other, other_count) = counting_origin(Duration::ZERO, StatusCode::OK).await;
    let proxy = Setup::new(vec![
        pool("first", &[("failing", failing)]),
        pool("second", &[("other", other)]),
    ])
    .start(|_| {})
    .await;
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header("x-origin"), "failing");
    assert_eq!(failing_count.load(Ordering::SeqCst), 1);
    assert_eq!(other_count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_hedge_wins_with_the_faster_origin() {
    let slow = slow_origin("slow", Duration::from_secs(2)).await;
    let fast = test_origin("fast").await;
    let proxy = Setup::new(vec![
        pool("first", &[("slow", slow)]),
        pool("second", &[("fast", fast)]),
    ])
    .start(|lb| {
        lb.try_timeout = Duration::from_secs(5);
        lb.hedge_after = Some(Duration::from_millis(100));
    })
    .await;
    let started = Instant::now();
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-origin"), "fast");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let metrics = proxy.metrics();
    assert!(
        metrics.contains(r#"lifeline_http_hedges_total{load_balancer="web"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"lifeline_http_in_flight{origin="slow"} 0"#),
        "the losing attempt was cancelled: {metrics}"
    );

    // A POST is never hedged: it waits for the slow origin.
    let reply = send(support::request(Method::POST, &proxy.url("/"), "once")).await;
    assert_eq!(reply.header("x-origin"), "slow");
}

#[tokio::test]
async fn passive_ejection_is_reported_once_at_the_threshold() {
    let (failing, _) = counting_origin(Duration::ZERO, StatusCode::INTERNAL_SERVER_ERROR).await;
    let mut main = pool("main", &[("failing", failing)]);
    main.eject_after = 2;
    let mut proxy = Setup::new(vec![main]).start(|_| {}).await;

    assert_eq!(
        get(&proxy.url("/")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(
        proxy.ejections.try_recv().is_err(),
        "one failure is below the threshold"
    );
    assert_eq!(
        get(&proxy.url("/")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let ejection = proxy.ejection().await;
    assert_eq!(ejection.origin.as_str(), "failing");
    assert_eq!(ejection.consecutive_failures, 2);
    assert_eq!(ejection.last_failure.kind, FailureKind::Status);
    assert!(
        ejection.last_failure.message.contains("500"),
        "{}",
        ejection.last_failure
    );

    assert_eq!(
        get(&proxy.url("/")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(
        proxy.ejections.try_recv().is_err(),
        "only the crossing is reported"
    );
}

#[tokio::test]
async fn ejections_are_dropped_and_counted_when_the_channel_is_full() {
    let mut first = pool("first", &[("dead-1", dead_address())]);
    first.eject_after = 1;
    let mut second = pool("second", &[("dead-2", dead_address())]);
    second.eject_after = 1;
    let mut setup = Setup::new(vec![first, second]);
    setup.ejection_capacity = 1;
    let mut proxy = setup.start(|_| {}).await;

    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json()["kind"], "connect");
    let ejection = proxy.ejection().await;
    assert_eq!(ejection.last_failure.kind, FailureKind::Connect);
    assert!(
        proxy
            .metrics()
            .contains("lifeline_http_ejections_dropped_total 1"),
        "{}",
        proxy.metrics()
    );
}

#[tokio::test]
async fn an_origin_answering_garbage_is_502_and_a_passive_failure() {
    let garbage = support::raw_origin(|mut stream| async move {
        let mut buffer = [0_u8; 1024];
        if let Err(err) = stream.read(&mut buffer).await {
            eprintln!("garbage origin: {err}");
        }
        if let Err(err) = stream.write_all(b"SURPRISE\r\n\r\nnot http at all").await {
            eprintln!("garbage origin: {err}");
        }
    })
    .await;
    let healthy = test_origin("healthy").await;
    let mut bad = pool("bad", &[("garbage", garbage)]);
    bad.eject_after = 1;
    let good = pool("good", &[("healthy", healthy)]);
    let mut proxy = Setup::new(vec![bad, good])
        .start(|lb| {
            lb.retries = 0;
            lb.routes.default_pools = vec!["bad".into()];
            lb.rules = vec![Rule {
                path_prefix: "/good".into(),
                route: Route {
                    default_pools: vec!["good".into()],
                    fallback_pool: None,
                },
            }];
        })
        .await;
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json()["kind"], "protocol");
    let ejection = proxy.ejection().await;
    assert_eq!(ejection.origin.as_str(), "garbage");
    assert_eq!(ejection.last_failure.kind, FailureKind::Protocol);

    // Other clients of the same listener are unharmed.
    let reply = get(&proxy.url("/good")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-origin"), "healthy");
}
