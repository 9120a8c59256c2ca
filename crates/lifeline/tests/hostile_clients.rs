//! Clients that try to hurt a load balancer's other users: slow uploads, trickling bodies,
//! answers nobody reads, more connections than a listener takes. The daemon runs as a process in
//! front of real origins; none of these clients may take an origin out or hold the proxy for
//! longer than its limits.

mod common;

use std::time::{Duration, Instant};

use common::{binary, events_of, get_origin, lb_config, wait_health};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::ports::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The daemon with `primary` and `backup` pools behind load balancer `api` (`try_timeout` 1 s),
/// `[proxy]` set to `proxy`, every origin healthy. Returns the daemon and the balancer's address.
async fn start(
    primary: &[&OriginProcess],
    backup: &OriginProcess,
    proxy: &str,
) -> (Daemon, String) {
    let address = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "{}\n[proxy]\n{proxy}\n",
        lb_config(primary, backup, "200ms", "").replace("{lb}", &address)
    );
    let daemon = Daemon::start(binary(), &config);
    for origin in primary.iter().chain([&backup]) {
        wait_health(&daemon, &origin.name, "healthy", Duration::from_secs(5)).await;
    }
    (daemon, address)
}

/// How long a slow client waits for the proxy to cut it before the test gives up.
const CUT_DEADLINE: Duration = Duration::from_secs(15);

/// Sends a request head announcing a body of `length` bytes, then one byte of it every
/// `every`, until the proxy answers or closes. Returns the answer's status line ("" when the
/// connection closed without one) and when it came, from the start.
async fn trickle_upload(address: &str, length: usize, every: Duration) -> (String, Duration) {
    tokio::time::timeout(CUT_DEADLINE, trickle_until_answered(address, length, every))
        .await
        .expect("the proxy never cut a slow upload")
}

async fn trickle_until_answered(
    address: &str,
    length: usize,
    every: Duration,
) -> (String, Duration) {
    let started = Instant::now();
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!("POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: {length}\r\n\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..length {
            tokio::time::sleep(every).await;
            if writer.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(2).any(|w| w == b"\r\n") {
                    break;
                }
            }
        }
    }
    trickle.abort();
    let text = String::from_utf8_lossy(&answer);
    (
        text.lines().next().unwrap_or("").to_string(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn sixty_slow_uploads_leave_every_origin_healthy_and_real_clients_served() {
    let a = OriginProcess::spawn(binary(), "a");
    let b = OriginProcess::spawn(binary(), "b");
    let c = OriginProcess::spawn(binary(), "c");
    let (daemon, address) = start(&[&a, &b], &c, r#"client_body_timeout = "3s""#).await;
    let url = format!("http://{address}/");

    // A megabyte announced, a byte every half second: with try_timeout at 1 s, each of these
    // used to end in 504 and count against its origin, taking both out within a second.
    let attackers: Vec<_> = (0..60)
        .map(|_| {
            let address = address.clone();
            tokio::spawn(async move {
                trickle_upload(&address, 1_000_000, Duration::from_millis(500)).await
            })
        })
        .collect();
    // Real clients keep being served by the primary pool while the attack runs.
    let mut served = 0;
    while attackers.iter().any(|attacker| !attacker.is_finished()) {
        let (status, origin) = get_origin(&url).await;
        assert_eq!(status, 200, "a real client was refused during the attack");
        assert!(
            matches!(origin.as_deref(), Some("a" | "b")),
            "served by {origin:?} during the attack, not the primary pool"
        );
        served += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served > 0);
    for attacker in attackers {
        let (status, took) = attacker.await.unwrap();
        assert!(
            status.starts_with("HTTP/1.1 408"),
            "attacker got {status:?}"
        );
        // Cut by the 3 s pace, within a second.
        assert!(took < Duration::from_secs(4), "attacker cut after {took:?}");
    }
    for origin in ["a", "b"] {
        assert_eq!(daemon.origin_health(origin).await, "healthy");
        assert!(
            events_of(&daemon, "origin_ejected", origin)
                .await
                .is_empty()
        );
    }
    assert!(events_of(&daemon, "failover", "api").await.is_empty());
}

#[tokio::test]
async fn a_small_body_trickling_in_gets_408_within_its_timeout() {
    let a = OriginProcess::spawn(binary(), "a");
    let c = OriginProcess::spawn(binary(), "c");
    let (daemon, address) = start(&[&a], &c, r#"client_body_timeout = "2s""#).await;
    // 100 bytes, kept for retries: the whole body must come within the timeout.
    let (status, took) = trickle_upload(&address, 100, Duration::from_millis(200)).await;
    assert!(status.starts_with("HTTP/1.1 408"), "got {status:?}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "cut after {took:?}"
    );
    assert_eq!(daemon.origin_health("a").await, "healthy");
    assert!(events_of(&daemon, "origin_ejected", "a").await.is_empty());
}

#[tokio::test]
async fn a_body_that_keeps_its_pace_may_take_longer_than_try_timeout() {
    let a = OriginProcess::spawn(binary(), "a");
    let c = OriginProcess::spawn(binary(), "c");
    let (_daemon, address) = start(&[&a], &c, r#"client_body_timeout = "2s""#).await;
    // 200 KiB in 10 KiB pieces every 100 ms: 2 s of upload, four times try_timeout, at a pace
    // of 64 KiB every 0.7 s.
    let started = Instant::now();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let length = 200 * 1024;
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(&[b'y'; 10 * 1024]).await.unwrap();
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    assert!(started.elapsed() > Duration::from_secs(2));
}

/// A raw origin that answers every request with `length` bytes of body, as fast as it is taken.
/// Reports on the channel how long after its request each answer's connection broke.
async fn endless_origin(
    length: u64,
) -> (std::net::SocketAddr, tokio::sync::mpsc::Receiver<Duration>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (broken, reports) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let broken = broken.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let started = Instant::now();
                let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'z'; 64 * 1024];
                let mut left = length;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if stream.write_all(&chunk[..n]).await.is_err() {
                        let _reported = broken.send(started.elapsed()).await;
                        return;
                    }
                    left -= n as u64;
                }
            });
        }
    });
    (address, reports)
}

#[tokio::test]
async fn a_client_that_reads_none_of_a_large_answer_is_cut_after_send_timeout() {
    let (origin, mut broken) = endless_origin(200 * 1024 * 1024).await;
    let address = format!("127.0.0.1:{}", free_port());
    let config = format!(
        r#"[admin]
listen = "{{admin}}"
token = "{{token}}"

[proxy]
send_timeout = "2s"

[[pool]]
name = "big"
origins = [{{ name = "big", address = "{origin}" }}]

[[load_balancer]]
name = "files"
listen = "{address}"
default_pools = ["big"]
"#
    );
    let _daemon = Daemon::start(binary(), &config);
    lifeline_testkit::daemon::wait_until_listening(
        address.rsplit(':').next().unwrap().parse().unwrap(),
    );
    let mut client = TcpStream::connect(&address).await.unwrap();
    client
        .write_all(b"GET /file HTTP/1.1\r\nHost: files\r\n\r\n")
        .await
        .unwrap();
    // The client reads nothing; the buffers on the way fill in a moment, then the proxy must
    // let go of the client and of the origin connection.
    let took = tokio::time::timeout(Duration::from_secs(10), broken.recv())
        .await
        .expect("the origin connection was never closed")
        .unwrap();
    assert!(
        took >= Duration::from_secs(2)
            && took < Duration::from_secs(3) + Duration::from_millis(500),
        "origin connection closed {took:?} after the request"
    );
    // What the client can still read ends well before the 200 MB.
    let mut received = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    assert!(
        received < 100 * 1024 * 1024,
        "the client got {received} bytes"
    );
}

#[tokio::test]
async fn a_listener_at_its_connection_limit_leaves_other_listeners_serving() {
    let a = OriginProcess::spawn(binary(), "a");
    let c = OriginProcess::spawn(binary(), "c");
    let second = format!("127.0.0.1:{}", free_port());
    let extra = format!(
        r#"
[[load_balancer]]
name = "other"
listen = "{second}"
default_pools = ["primary"]
"#
    );
    let address = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "{}{extra}\n[proxy]\nmax_connections = 4\nidle_timeout = \"30s\"\n",
        lb_config(&[&a], &c, "200ms", "").replace("{lb}", &address)
    );
    let daemon = Daemon::start(binary(), &config);
    wait_health(&daemon, "a", "healthy", Duration::from_secs(5)).await;

    // Four idle connections fill `api`'s listener.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    // The fifth waits in the backlog: its request is not answered while the four stay.
    let mut fifth = TcpStream::connect(&address).await.unwrap();
    fifth
        .write_all(b"GET / HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), fifth.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a fifth connection was served past the limit"
    );

    // The other listener serves meanwhile.
    let (status, origin) = get_origin(&format!("http://{second}/")).await;
    assert_eq!((status, origin.as_deref()), (200, Some("a")));

    // One idle connection goes; the fifth is served.
    drop(idle.pop());
    let n = tokio::time::timeout(Duration::from_secs(5), fifth.read(&mut buf))
        .await
        .expect("the fifth request was not answered once a connection went")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_at_idle_timeout() {
    let a = OriginProcess::spawn(binary(), "a");
    let c = OriginProcess::spawn(binary(), "c");
    let (_daemon, address) = start(&[&a], &c, r#"idle_timeout = "1s""#).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the connection stayed open");
    assert!(
        matches!(closed, Ok(0) | Err(_)),
        "got an answer: {closed:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(2),
        "closed after {took:?}"
    );
}
