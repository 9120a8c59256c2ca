//! The admin API's connection limits on real sockets: its header and idle timeouts, its cap on
//! connections, and what a daemon short of file descriptors does.

mod common;

use std::time::{Duration, Instant};

use common::{binary, get_origin, http_config, lb_config, wait_health};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Open files of the daemons that must not run out: fewer than the idle connections below.
const FD_LIMIT: u32 = 256;
const IDLE_CONNECTIONS: usize = 300;

/// `IDLE_CONNECTIONS` connections to the admin API that never send a byte.
async fn idle_connections(daemon: &Daemon) -> Vec<TcpStream> {
    let mut connections = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        let stream = TcpStream::connect(("127.0.0.1", daemon.admin_port))
            .await
            .expect("cannot connect to the admin API");
        connections.push(stream);
    }
    connections
}

/// Waits until the admin API answers again (after the test closed its idle connections).
async fn wait_admin_answers(daemon: &Daemon) {
    let url = format!("{}/status", daemon.admin_url());
    wait::until(
        "the admin API to answer",
        Duration::from_secs(10),
        || async {
            let sent = lifeline_testkit::http::client().get(&url).send();
            let answer = tokio::time::timeout(Duration::from_secs(1), sent).await;
            matches!(answer, Ok(Ok(response)) if response.status() == 200).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn idle_admin_connections_do_not_stop_the_load_balancer_from_accepting() {
    let a = OriginProcess::spawn(binary(), "a");
    let backup = OriginProcess::spawn(binary(), "backup");
    let port = free_port();
    let config = lb_config(&[&a], &backup, "200ms", "")
        .replace("{lb}", &format!("127.0.0.1:{port}"))
        .replacen("[admin]\n", "[admin]\nmax_connections = 180\n", 1);
    let daemon = Daemon::start_limited(binary(), &config, Some(FD_LIMIT));
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;

    let idle = idle_connections(&daemon).await;
    let url = format!("http://127.0.0.1:{port}/");
    for attempt in 0..20 {
        let answer = tokio::time::timeout(Duration::from_secs(2), get_origin(&url)).await;
        assert_eq!(
            answer.ok(),
            Some((200, Some("a".to_string()))),
            "request {attempt} to the load balancer, {IDLE_CONNECTIONS} idle admin connections open:\n{}",
            daemon.logs()
        );
    }
    assert_eq!(idle.len(), IDLE_CONNECTIONS);

    drop(idle);
    wait_admin_answers(&daemon).await;
}

#[tokio::test]
async fn out_of_descriptors_the_admin_api_backs_off_and_recovers() {
    let a = OriginProcess::spawn(binary(), "a");
    let config =
        http_config(&[&a], 1).replacen("[admin]\n", "[admin]\nmax_connections = 1000\n", 1);
    let daemon = Daemon::start_limited(binary(), &config, Some(FD_LIMIT));

    let idle = idle_connections(&daemon).await;
    let warning = "the admin API cannot accept connections";
    wait::until(
        "the admin API to run out",
        Duration::from_secs(5),
        || async { daemon.logs().contains(warning).then_some(()) },
    )
    .await;
    drop(idle);
    wait_admin_answers(&daemon).await;
    let logs = daemon.logs();
    assert_eq!(logs.matches(warning).count(), 1, "{logs}");
    assert!(
        logs.contains("the admin API accepts connections again"),
        "{logs}"
    );
}

/// Header timeout 1 s, idle timeout 2 s.
fn timeout_config(a: &OriginProcess) -> String {
    http_config(&[a], 1).replacen(
        "[admin]\n",
        "[admin]\nheader_timeout = \"1s\"\nidle_timeout = \"2s\"\n",
        1,
    )
}

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const HALF_A_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: admin\r\n";

/// How long until the daemon closes `stream`, reading and dropping whatever it sends; panics if
/// that takes longer than `limit` plus a second.
async fn time_to_close(stream: &mut TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    let closed = tokio::time::timeout(limit + Duration::from_secs(1), async {
        let mut buf = [0; 1024];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection was still open {limit:?} + 1 s later"
    );
    start.elapsed()
}

/// Sends a whole `GET /health` and reads its response, leaving the connection idle.
async fn exchange(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: admin\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0; 4096];
    let complete = |response: &[u8]| {
        let text = String::from_utf8_lossy(response);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let length: usize = head.lines().find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")?
                .parse()
                .ok()
        })?;
        (body.len() >= length).then_some(())
    };
    while complete(&response).is_none() {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&response)
        );
        response.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn each_timeout_cuts_its_connection_within_its_limit_plus_a_second() {
    let a = OriginProcess::spawn(binary(), "a");
    let daemon = Daemon::start(binary(), &timeout_config(&a));
    let connect = || TcpStream::connect(("127.0.0.1", daemon.admin_port));

    // A connection that sends nothing, and one that sends half a request head.
    let mut silent = connect().await.unwrap();
    let mut half = connect().await.unwrap();
    half.write_all(HALF_A_HEAD).await.unwrap();
    let took = time_to_close(&mut half, HEADER_TIMEOUT).await;
    assert!(
        took >= HEADER_TIMEOUT - Duration::from_millis(100),
        "{took:?}"
    );
    time_to_close(&mut silent, HEADER_TIMEOUT).await;

    // After a response, the idle timeout runs, not the header timeout.
    let mut kept = connect().await.unwrap();
    exchange(&mut kept).await;
    let took = time_to_close(&mut kept, IDLE_TIMEOUT).await;
    assert!(
        took >= IDLE_TIMEOUT - Duration::from_millis(100),
        "{took:?}"
    );

    // The next head, once begun, has the header timeout.
    let mut kept = connect().await.unwrap();
    exchange(&mut kept).await;
    kept.write_all(HALF_A_HEAD).await.unwrap();
    let took = time_to_close(&mut kept, HEADER_TIMEOUT).await;
    assert!(took < IDLE_TIMEOUT, "{took:?}");
}
