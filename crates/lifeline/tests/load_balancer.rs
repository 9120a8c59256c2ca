//! The HTTP load balancer in the daemon, in front of real origin processes.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{binary, events_of, get_origin, lb_config, wait_events, wait_health};
use lifeline_testkit::daemon::{Daemon, TOKEN};
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;

struct Setup {
    daemon: Daemon,
    port: u16,
    url: String,
}

async fn start(
    primary: &[&OriginProcess],
    backup: &OriginProcess,
    interval: &str,
    extra: &str,
) -> Setup {
    let port = free_port();
    let config =
        lb_config(primary, backup, interval, extra).replace("{lb}", &format!("127.0.0.1:{port}"));
    let daemon = Daemon::start(binary(), &config);
    for origin in primary.iter().chain([&backup]) {
        wait_health(&daemon, &origin.name, "healthy", Duration::from_secs(5)).await;
    }
    Setup {
        daemon,
        port,
        url: format!("http://127.0.0.1:{port}/"),
    }
}

/// Sends GETs back to back until stopped; returns (requests, errors, answers by origin).
fn client_loop(
    url: String,
    running: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, u64, BTreeMap<String, u64>)> {
    tokio::spawn(async move {
        let (mut requests, mut errors, mut by_origin) = (0, 0, BTreeMap::new());
        while running.load(Ordering::Relaxed) {
            requests += 1;
            match get_origin(&url).await {
                (200, Some(origin)) => *by_origin.entry(origin).or_insert(0) += 1,
                _ => errors += 1,
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        (requests, errors, by_origin)
    })
}

#[tokio::test]
async fn killing_the_primary_pool_costs_no_client_errors_and_it_comes_back() {
    let mut a = OriginProcess::spawn(binary(), "a");
    let mut b = OriginProcess::spawn(binary(), "b");
    let c = OriginProcess::spawn(binary(), "c");
    let setup = start(&[&a, &b], &c, "200ms", "").await;

    let running = Arc::new(AtomicBool::new(true));
    let client = client_loop(setup.url.clone(), running.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill9();
    b.kill9();
    let failovers = wait_events(&setup.daemon, "failover", "api", 1).await;
    assert_eq!(
        (failovers[0]["old"].as_str(), failovers[0]["new"].as_str()),
        (Some("primary"), Some("backup"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.start();
    b.start();
    let failbacks = wait_events(&setup.daemon, "failover", "api", 2).await;
    assert_eq!(failbacks[1]["new"], "primary");
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::Relaxed);
    let (requests, errors, by_origin) = client.await.unwrap();

    assert_eq!(errors, 0, "{requests} requests, answers {by_origin:?}");
    assert!(
        by_origin["c"] > 0 && by_origin["a"] + by_origin["b"] > 0,
        "{by_origin:?}"
    );
}

#[tokio::test]
async fn every_response_names_its_origin_and_nothing_left_is_503_with_retry_after() {
    let a = OriginProcess::spawn(binary(), "a");
    let mut c = OriginProcess::spawn(binary(), "c");
    let setup = start(&[&a], &c, "200ms", "").await;
    assert_eq!(get_origin(&setup.url).await, (200, Some("a".to_string())));

    a.behave(500, Duration::ZERO).await; // only /health fails: the monitor takes it out
    c.kill9();
    wait_health(&setup.daemon, "a", "unhealthy", Duration::from_secs(3)).await;
    wait_health(&setup.daemon, "c", "unhealthy", Duration::from_secs(3)).await;
    // The data plane takes the new routing table a moment after the status shows it.
    let (response, _) = wait::until("a 503", Duration::from_secs(2), || async {
        let response = lifeline_testkit::http::client()
            .get(&setup.url)
            .send()
            .await
            .unwrap();
        (response.status().as_u16() == 503).then_some(response)
    })
    .await;
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["load_balancer"], "api");
    // Events are written just after the status changes: the failover to nothing may follow
    // an earlier one (primary to backup) by a moment.
    let (nothing, _) = wait::until("a failover to nothing", Duration::from_secs(5), || async {
        let failovers = events_of(&setup.daemon, "failover", "api").await;
        failovers.last().filter(|e| e["new"] == "none").cloned()
    })
    .await;
    assert_eq!(nothing["new"], "none");
}

#[tokio::test]
async fn live_traffic_ejects_a_dead_origin_before_its_monitor_notices() {
    let a = OriginProcess::spawn(binary(), "a");
    let mut b = OriginProcess::spawn(binary(), "b");
    let c = OriginProcess::spawn(binary(), "c");
    // Checks every 20 s: only live traffic can notice b within this test.
    let setup = start(&[&a, &b], &c, "20s", "").await;
    b.kill9();
    for _ in 0..20 {
        assert_eq!(get_origin(&setup.url).await.0, 200, "retried on a");
    }
    let ejected = wait_events(&setup.daemon, "origin_ejected", "b", 1).await;
    assert!(
        ejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("ejected by live traffic"),
        "{ejected:?}"
    );
    assert_eq!(setup.daemon.origin_health("b").await, "unhealthy");
}

#[tokio::test]
async fn force_and_drain_steer_traffic_and_survive_a_restart() {
    let a = OriginProcess::spawn(binary(), "a");
    let b = OriginProcess::spawn(binary(), "b");
    let c = OriginProcess::spawn(binary(), "c");
    let mut setup = start(&[&a, &b], &c, "200ms", "").await;
    let daemon = &setup.daemon;

    let (code, _, err) = daemon.cli(&["force", "api", "backup", "--token", TOKEN]);
    assert_eq!(code, 0, "{err}");
    for _ in 0..5 {
        assert_eq!(get_origin(&setup.url).await.1.as_deref(), Some("c"));
    }
    let (code, _, err) = daemon.cli(&["force", "api", "backup"]);
    assert_eq!(code, 1, "no token");
    assert!(err.contains("401"), "{err}");
    let (code, _, err) = daemon.cli(&["force", "api", "nope", "--token", TOKEN]);
    assert_eq!(code, 1);
    assert!(err.contains("no pool is named `nope`"), "{err}");

    let (code, _, _) = daemon.cli(&["force", "api", "--clear", "--token", TOKEN]);
    assert_eq!(code, 0);
    let (code, _, _) = daemon.cli(&["drain", "a", "--token", TOKEN]);
    assert_eq!(code, 0);
    for _ in 0..6 {
        assert_eq!(
            get_origin(&setup.url).await.1.as_deref(),
            Some("b"),
            "a is drained"
        );
    }
    // The log is written a moment after the drain answers: await it, then count.
    assert_eq!(wait_events(daemon, "origin_drained", "a", 1).await.len(), 1);

    // Both overrides are kept across a restart.
    daemon.cli(&["force", "api", "--origin", "c", "--token", TOKEN]);
    wait_events(daemon, "force_set", "api", 2).await;
    setup.daemon.terminate();
    setup.daemon.restart();
    let (_, status) = setup.daemon.get("/status").await;
    assert_eq!(
        status["load_balancers"][0]["forced"],
        serde_json::json!({"origin": "c"})
    );
    assert_eq!(status["pools"][0]["origins"][0]["draining"], true);
    wait_health(&setup.daemon, "c", "healthy", Duration::from_secs(5)).await;
    assert_eq!(get_origin(&setup.url).await.1.as_deref(), Some("c"));

    let (code, _, _) = setup.daemon.cli(&["undrain", "a", "--token", TOKEN]);
    assert_eq!(code, 0);
    setup
        .daemon
        .cli(&["force", "api", "--clear", "--token", TOKEN]);
    wait_health(&setup.daemon, "a", "healthy", Duration::from_secs(5)).await;
    wait::until(
        "a to take requests again",
        Duration::from_secs(5),
        || async { (get_origin(&setup.url).await.1.as_deref() == Some("a")).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn reload_and_sigterm_keep_in_flight_requests() {
    let a = OriginProcess::spawn(binary(), "a");
    let b = OriginProcess::spawn(binary(), "b");
    let c = OriginProcess::spawn(binary(), "c");
    let mut setup = start(&[&a], &c, "200ms", "").await;
    a.behave(200, Duration::from_millis(800)).await; // every request to a takes 0.8 s

    // A reload that adds b while a slow request is in flight.
    let slow_url = format!("{}slow", setup.url);
    let slow = tokio::spawn(async move { get_origin(&slow_url).await });
    a.wait_in_flight().await;
    let config =
        lb_config(&[&a, &b], &c, "200ms", "").replace("{lb}", &format!("127.0.0.1:{}", setup.port));
    setup.daemon.write_config(&config);
    let (code, body) = setup.daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(a.in_flight().await, 1, "the request spans the reload");
    assert_eq!(
        slow.await.unwrap(),
        (200, Some("a".to_string())),
        "in flight across the reload"
    );
    wait_health(&setup.daemon, "b", "healthy", Duration::from_secs(5)).await;
    wait::until("b to take requests", Duration::from_secs(5), || async {
        (get_origin(&setup.url).await.1.as_deref() == Some("b")).then_some(())
    })
    .await;

    // SIGTERM while a slow request is in flight: it still gets its answer.
    b.behave(200, Duration::from_millis(800)).await;
    let slow_url = format!("{}slow", setup.url);
    let slow = tokio::spawn(async move { get_origin(&slow_url).await });
    wait::until(
        "the slow request to reach a or b",
        Duration::from_secs(5),
        || async { (a.in_flight().await + b.in_flight().await > 0).then_some(()) },
    )
    .await;
    let status = setup.daemon.terminate();
    assert_eq!(slow.await.unwrap().0, 200, "drained, not cut");
    assert_eq!(status.code(), Some(0));
}
