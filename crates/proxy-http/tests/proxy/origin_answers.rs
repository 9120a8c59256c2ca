//! How a plain origin's HTTP/1.1 answers are read: how each is delimited, what a kept-alive
//! connection may carry next, and answers that break the rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::scripted::{head_in_time, keep_alive_origin, proxy_to};
use crate::support::{self, PATIENCE, get, send};

#[tokio::test]
async fn a_chunked_answer_is_passed_on_and_its_connection_serves_again() {
    let (origin, connections, _) = keep_alive_origin(|_| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n".to_vec()
    })
    .await;
    let proxy = proxy_to(origin).await;
    for _ in 0..3 {
        let reply = get(&proxy.url("/")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "hello, world");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one kept-alive connection"
    );
}

#[tokio::test]
async fn answers_without_a_body_are_not_waited_for() {
    // Each promises a length it must not send: HEAD, 204 and 304 have no body.
    let (origin, connections, requests) = keep_alive_origin(|head| {
        let status = if head.contains("/no-content") {
            "204 No Content"
        } else if head.contains("/not-modified") {
            "304 Not Modified"
        } else {
            "200 OK"
        };
        if head.starts_with("head ") || status != "200 OK" {
            format!("HTTP/1.1 {status}\r\nContent-Length: 11\r\n\r\n").into_bytes()
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world".to_vec()
        }
    })
    .await;
    let proxy = proxy_to(origin).await;
    let head = send(support::request(
        Method::HEAD,
        &proxy.url("/"),
        Bytes::new(),
    ))
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), "11");
    assert_eq!(head.body, "");
    assert_eq!(
        get(&proxy.url("/no-content")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&proxy.url("/not-modified")).await.status,
        StatusCode::NOT_MODIFIED
    );
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.body, "hello world");
    assert_eq!(requests.load(Ordering::SeqCst), 4);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "the connection served all four"
    );
}

#[tokio::test]
async fn an_answer_delimited_by_close_is_passed_whole() {
    let addr = support::raw_origin(|mut stream| async move {
        if support::read_head(&mut stream).await.is_none() {
            return;
        }
        for piece in [&b"HTTP/1.1 200 OK\r\n\r\nfirst part, "[..], b"second part"] {
            if stream.write_all(piece).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let proxy = proxy_to(addr).await;
    for _ in 0..2 {
        let reply = get(&proxy.url("/")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "first part, second part");
    }
}

#[tokio::test]
async fn interim_answers_are_skipped() {
    let (origin, _, _) = keep_alive_origin(|_| {
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal".to_vec()
    })
    .await;
    let proxy = proxy_to(origin).await;
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "final");
}

#[tokio::test]
async fn bytes_an_origin_sends_past_its_answer_are_never_taken_for_the_next() {
    let connection = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connection);
    let origin = support::raw_origin(move |mut stream| {
        let index = count.fetch_add(1, Ordering::SeqCst);
        async move {
            if support::read_head(&mut stream).await.is_none() {
                return;
            }
            let answer = if index == 0 {
                // One answer and, in the same write, one nobody asked for.
                &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"[..]
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"
            };
            let _written = stream.write_all(answer).await;
            // Keep the connection open: only its contents say it cannot serve again.
            tokio::time::sleep(PATIENCE).await;
        }
    })
    .await;
    let proxy = proxy_to(origin).await;
    assert_eq!(get(&proxy.url("/")).await.body, "first");
    assert_eq!(get(&proxy.url("/")).await.body, "second");
}

#[tokio::test]
async fn a_101_to_a_request_that_asked_for_no_upgrade_is_a_protocol_error() {
    let (origin, _, _) = keep_alive_origin(|_| {
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: surprise\r\nConnection: upgrade\r\n\r\n"
            .to_vec()
    })
    .await;
    let proxy = proxy_to(origin).await;
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json()["kind"], "protocol");
}

#[tokio::test]
async fn an_answer_cut_short_breaks_off_and_the_next_is_whole() {
    let (origin, connections, _) = keep_alive_origin(|head| {
        if head.contains("/short") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly ten b"
                .to_vec()
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine".to_vec()
        }
    })
    .await;
    let proxy = proxy_to(origin).await;
    let request = support::request(Method::GET, &proxy.url("/short"), Bytes::new());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let whole = tokio::time::timeout(PATIENCE, async {
        let response = client
            .request(request)
            .await
            .map_err(|err| err.to_string())?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| err.to_string())?;
        Ok::<_, String>(body.to_bytes())
    })
    .await
    .expect("the proxy gives up on the answer as soon as the origin closes");
    // Where the break shows depends on how much hyper wrote before it: the head, or the body.
    assert!(whole.is_err(), "the client got a whole answer: {whole:?}");
    assert_eq!(get(&proxy.url("/")).await.body, "fine");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "the broken connection was not reused"
    );
}

#[tokio::test]
async fn bytes_an_origin_sends_with_its_101_reach_the_client_first() {
    let origin = support::raw_origin(|mut stream| async move {
        if support::read_head(&mut stream).await.is_none() {
            return;
        }
        let switch = b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nhello first";
        if stream.write_all(switch).await.is_err() {
            return;
        }
        let (mut reader, mut writer) = stream.split();
        let _closed = tokio::io::copy(&mut reader, &mut writer).await;
    })
    .await;
    let proxy = proxy_to(origin).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    client
        .write_all(b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let head = head_in_time(&mut client).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    let mut early = [0_u8; 11];
    tokio::time::timeout(PATIENCE, client.read_exact(&mut early))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&early, b"hello first");
    client.write_all(b"ping").await.unwrap();
    let mut echoed = [0_u8; 4];
    tokio::time::timeout(PATIENCE, client.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"ping");
}
