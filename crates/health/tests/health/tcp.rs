//! tcp checks against a real listener and a closed port.

use std::time::Duration;

use crate::support::{RunningOrigin, closed_addr, monitor, origin_at};
use lifeline_health::{check_within, probe_for};
use lifeline_model::{FailureKind, MonitorKind};
use lifeline_origin::Behaviour;

const TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn an_open_port_passes() {
    let server = RunningOrigin::start("db", Behaviour::default()).await;
    let monitor = monitor("tcp", MonitorKind::Tcp, Duration::from_secs(5), TIMEOUT);
    let mut probe = probe_for(&monitor, &server.origin("db"));
    let observation = check_within(probe.as_mut(), TIMEOUT).await;
    assert!(observation.is_success(), "{:?}", observation.outcome);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let addr = closed_addr().await;
    let monitor = monitor("tcp", MonitorKind::Tcp, Duration::from_secs(5), TIMEOUT);
    let mut probe = probe_for(&monitor, &origin_at("gone", addr));
    let failure = check_within(probe.as_mut(), TIMEOUT)
        .await
        .outcome
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Connect);
    assert!(
        failure.message.contains(&addr.to_string()),
        "{}",
        failure.message
    );
}
