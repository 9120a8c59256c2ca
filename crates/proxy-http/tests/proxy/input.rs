//! Bad and unusual client input: oversized or malformed requests, slow clients, upgrades.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{
    self, PATIENCE, Setup, dead_address, pool, raw_exchange, slow_origin, test_origin,
};

#[tokio::test]
async fn huge_request_headers_get_431() {
    let origin = test_origin("a").await;
    let proxy = Setup::new(vec![pool("main", &[("a", origin)])])
        .start(|_| {})
        .await;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(80 * 1024)
    );
    let answer = raw_exchange(proxy.addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
}

#[tokio::test]
async fn garbage_requests_get_400() {
    let origin = test_origin("a").await;
    let proxy = Setup::new(vec![pool("main", &[("a", origin)])])
        .start(|_| {})
        .await;
    let answer = raw_exchange(proxy.addr, b"THIS IS NOT\x01 HTTP\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    // The listener still serves.
    let answer = raw_exchange(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.contains("x-origin: a"), "{answer:?}");
}

#[tokio::test(start_paused = true)]
async fn a_client_sending_headers_too_slowly_is_cut_without_stalling_others() {
    let mut setup = Setup::new(vec![pool("main", &[("a", dead_address())])]);
    setup.healthy = false;
    let proxy = setup.start(|_| {}).await;
    let started = tokio::time::Instant::now();
    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();

    let answer = raw_exchange(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");

    let rest = read_until_cut(&mut slow, started).await;
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{rest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_keep_alive_connection_whose_next_request_trickles_in_is_cut() {
    let mut setup = Setup::new(vec![pool("main", &[("a", dead_address())])]);
    setup.healthy = false;
    let proxy = setup.start(|_| {}).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let first = read_one_response(&mut client).await;
    assert!(first.starts_with("HTTP/1.1 503"), "{first:?}");

    // The connection stays open for the next request, whose headers never end.
    let answered = tokio::time::Instant::now();
    client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let rest = read_until_cut(&mut client, answered).await;
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test(start_paused = true)]
async fn a_request_answered_slowly_is_not_taken_for_an_idle_connection() {
    let origin = slow_origin("slow", Duration::from_secs(25)).await;
    let proxy = Setup::new(vec![pool("main", &[("slow", origin)])])
        .start(|lb| lb.try_timeout = Duration::from_secs(60))
        .await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    for _ in 0..2 {
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let answer = read_one_response(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(answer.contains("x-origin: slow"), "{answer:?}");
    }
}

/// Reads until the proxy closes `stream` (or resets it), which must happen between 10 s and
/// twice [`PATIENCE`] after `since`; returns what came before.
async fn read_until_cut(stream: &mut TcpStream, since: tokio::time::Instant) -> Vec<u8> {
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(PATIENCE * 2, stream.read_to_end(&mut rest))
        .await
        .expect("the connection is closed");
    if let Err(err) = cut {
        eprintln!("slow client cut with {err}");
    }
    let waited = since.elapsed();
    assert!(waited >= Duration::from_secs(10), "{waited:?}");
    assert!(waited < PATIENCE * 2, "{waited:?}");
    rest
}

/// Reads one response with a `Content-Length` body, leaving the connection open.
async fn read_one_response(stream: &mut TcpStream) -> String {
    let mut answer = support::read_head(stream).await.expect("a response head");
    let head = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|value| value.trim().parse().unwrap())
        .expect("a content-length");
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).await.unwrap();
    answer.extend_from_slice(&body);
    String::from_utf8_lossy(&answer).into_owned()
}

/// An origin that switches to an echo protocol: 101, then every byte back.
async fn echo_upgrade_origin() -> std::net::SocketAddr {
    support::raw_origin(|mut stream| async move {
        let Some(head) = support::read_head(&mut stream).await else {
            return;
        };
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.contains("upgrade: echo"), "{head}");
        assert!(head.contains("connection: upgrade"), "{head}");
        let switch =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";
        if stream.write_all(switch).await.is_err() {
            return;
        }
        let (mut reader, mut writer) = stream.split();
        if let Err(err) = tokio::io::copy(&mut reader, &mut writer).await {
            eprintln!("echo origin: {err}");
        }
    })
    .await
}

#[tokio::test]
async fn upgrades_are_passed_through() {
    let origin = echo_upgrade_origin().await;
    let proxy = Setup::new(vec![pool("main", &[("echo", origin)])])
        .start(|_| {})
        .await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    client
        .write_all(b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(PATIENCE, client.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("x-origin: echo"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");

    for message in [&b"ping"[..], b"and more bytes"] {
        client.write_all(message).await.unwrap();
        let mut echoed = vec![0_u8; message.len()];
        tokio::time::timeout(PATIENCE, client.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echoed, message);
    }
}
