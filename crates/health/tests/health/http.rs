//! http checks against a real origin server.

use std::time::Duration;

use crate::support::{RunningOrigin, closed_addr, http_check, monitor, origin_at};
use lifeline_health::{Prober, check_within, probe_for};
use lifeline_model::{CodeMatcher, FailureKind, HttpCheck, MonitorKind, Observation};
use lifeline_origin::Behaviour;

const TIMEOUT: Duration = Duration::from_secs(2);

async fn check(check: HttpCheck, origin: &lifeline_model::Origin) -> Observation {
    let monitor = monitor(
        "web",
        MonitorKind::Http(check),
        Duration::from_secs(5),
        TIMEOUT,
    );
    let mut probe = probe_for(&monitor, origin);
    check_within(probe.as_mut(), TIMEOUT).await
}

fn failure_kind(observation: &Observation) -> FailureKind {
    observation.outcome.as_ref().unwrap_err().kind
}

#[tokio::test]
async fn healthy_origin_passes() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let observation = check(http_check("/health"), &server.origin("a")).await;
    assert!(observation.is_success(), "{:?}", observation.outcome);
    assert_eq!(observation.origin.as_str(), "a");
    assert!(observation.latency < TIMEOUT);
    assert!(observation.postgres.is_none());
}

#[tokio::test]
async fn unexpected_status_is_a_status_failure() {
    let server = RunningOrigin::start(
        "a",
        Behaviour {
            status: 500,
            ..Behaviour::default()
        },
    )
    .await;
    let observation = check(http_check("/health"), &server.origin("a")).await;
    let failure = observation.outcome.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Status);
    assert_eq!(failure.message, "got 500, expected 2xx");

    let mut accepts_500 = http_check("/health");
    accepts_500.expected_codes = CodeMatcher::parse("200,500").unwrap();
    assert!(check(accepts_500, &server.origin("a")).await.is_success());
}

#[tokio::test]
async fn a_probe_sees_the_origin_change_between_checks() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let monitor = monitor(
        "web",
        MonitorKind::Http(http_check("/health")),
        Duration::from_secs(5),
        TIMEOUT,
    );
    let prober = Prober::new(&monitor);
    let mut probe = prober.probe(&server.origin("a"));
    assert!(check_within(probe.as_mut(), TIMEOUT).await.is_success());
    server.control("status=503").await;
    let failing = check_within(probe.as_mut(), TIMEOUT).await;
    assert_eq!(failure_kind(&failing), FailureKind::Status);
    server.control("reset=1").await;
    assert!(check_within(probe.as_mut(), TIMEOUT).await.is_success());
}

#[tokio::test]
async fn expected_body_must_be_in_the_body() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let mut wanted = http_check("/health");
    wanted.expected_body = Some("\"healthy\"".into());
    assert!(check(wanted, &server.origin("a")).await.is_success());

    let mut missing = http_check("/health");
    missing.expected_body = Some("all systems go".into());
    let observation = check(missing, &server.origin("a")).await;
    let failure = observation.outcome.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Body);
    assert!(
        failure.message.contains("all systems go"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn a_slow_origin_times_out() {
    let slow = Behaviour {
        delay: Duration::from_secs(5),
        ..Behaviour::default()
    };
    let server = RunningOrigin::start("a", slow).await;
    let monitor = monitor(
        "web",
        MonitorKind::Http(http_check("/health")),
        Duration::from_secs(5),
        TIMEOUT,
    );
    let mut probe = probe_for(&monitor, &server.origin("a"));
    let timeout = Duration::from_millis(200);
    let observation = check_within(probe.as_mut(), timeout).await;
    assert_eq!(failure_kind(&observation), FailureKind::Timeout);
    assert!(observation.latency >= timeout, "{:?}", observation.latency);
    assert!(
        observation.latency < Duration::from_secs(2),
        "{:?}",
        observation.latency
    );
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let origin = origin_at("gone", closed_addr().await);
    let observation = check(http_check("/health"), &origin).await;
    let failure = observation.outcome.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Connect, "{}", failure.message);
    assert!(!failure.message.contains('\n'));
}

#[tokio::test]
async fn the_host_header_reaches_the_origin() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let mut with_host = http_check("/health");
    with_host.headers = vec![
        ("Host".into(), "app.example".into()),
        ("X-Probe".into(), "1".into()),
    ];
    with_host.expected_body = Some("\"host\":\"app.example\"".into());
    let observation = check(with_host, &server.origin("a")).await;
    assert!(observation.is_success(), "{:?}", observation.outcome);
}

#[tokio::test]
async fn redirects_are_followed_only_when_asked() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let not_followed = check(http_check("/redirect"), &server.origin("a")).await;
    let failure = not_followed.outcome.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Status);
    assert!(
        failure.message.starts_with("got 302"),
        "{}",
        failure.message
    );

    let mut follow = http_check("/redirect");
    follow.follow_redirects = true;
    follow.expected_body = Some("healthy".into());
    let followed = check(follow, &server.origin("a")).await;
    assert!(followed.is_success(), "{:?}", followed.outcome);
}

#[tokio::test]
async fn the_monitor_port_overrides_the_origin_port() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let mut origin = origin_at("a", closed_addr().await);
    let mut on_port = http_check("/health");
    on_port.port = Some(server.addr.port());
    assert!(check(on_port, &origin).await.is_success());
    origin.address.port = server.addr.port();
    assert!(check(http_check("/health"), &origin).await.is_success());
}

#[tokio::test]
async fn a_monitor_that_cannot_work_reports_why() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let mut bad_method = http_check("/health");
    bad_method.method = "GE T".into();
    let observation = check(bad_method, &server.origin("a")).await;
    assert_eq!(failure_kind(&observation), FailureKind::Protocol);

    let mut bad_header = http_check("/health");
    bad_header.headers = vec![("Authorization".into(), "Bearer top\nsecret".into())];
    let failure = check(bad_header, &server.origin("a"))
        .await
        .outcome
        .unwrap_err();
    assert!(!failure.message.contains("secret"), "{}", failure.message);
}

#[tokio::test]
async fn https_against_a_plain_origin_is_a_tls_failure() {
    let server = RunningOrigin::start("a", Behaviour::default()).await;
    let mut https = http_check("/health");
    https.tls = true;
    let failure = check(https, &server.origin("a")).await.outcome.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Tls, "{}", failure.message);
}
