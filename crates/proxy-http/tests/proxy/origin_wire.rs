//! HTTP/1.1 towards plain origins, byte by byte: how answers are delimited, what a kept-alive
//! connection may carry next, and bodies too large to keep.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{self, PATIENCE, Setup, get, pool, send};

/// An origin serving requests one after another on each connection it accepts, answering each
/// head with `answer(head)`, and closing the connection after an answer that says
/// `Connection: close`; it counts connections and requests. It reads a request body by
/// `Content-Length` only.
async fn keep_alive_origin(
    answer: fn(&str) -> Vec<u8>,
) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (seen_connections, seen_requests) = (Arc::clone(&connections), Arc::clone(&requests));
    let addr = support::raw_origin(move |mut stream| {
        seen_connections.fetch_add(1, Ordering::SeqCst);
        let requests = Arc::clone(&seen_requests);
        async move {
            while let Some(head) = read_request(&mut stream).await {
                requests.fetch_add(1, Ordering::SeqCst);
                let answer = answer(&head);
                let closing = String::from_utf8_lossy(&answer).contains("Connection: close");
                if stream.write_all(&answer).await.is_err() || closing {
                    return;
                }
            }
        }
    })
    .await;
    (addr, connections, requests)
}

/// Reads one request, its body by `Content-Length`: its head, lowercased, or `None` if the peer
/// closes first.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let head = support::read_head(stream).await?;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = header_value(&head, "content-length").map_or(0, |value| value.parse().unwrap());
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(head)
}

/// A response head, lowercased, read within [`PATIENCE`].
async fn head_in_time(stream: &mut TcpStream) -> String {
    let head = tokio::time::timeout(PATIENCE, support::read_head(stream))
        .await
        .expect("a head in time")
        .expect("a head before the connection closed");
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        (field.trim() == name).then(|| value.trim())
    })
}

async fn proxy_to(origin: SocketAddr) -> support::Proxy {
    Setup::new(vec![pool("main", &[("origin", origin)])])
        .start(|lb| lb.retries = 0)
        .await
}

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

/// An origin answering with the length and a checksum of the body it received, after a body of
/// `answer_bytes` bytes of its own.
async fn echo_size_origin() -> SocketAddr {
    support::handler_origin(|request: Request<Incoming>| async move {
        let answer_bytes: usize = request
            .uri()
            .query()
            .and_then(|query| query.strip_prefix("answer="))
            .map_or(0, |bytes| bytes.parse().unwrap());
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut answer = format!("{} {}\n", body.len(), checksum(&body)).into_bytes();
        answer.extend(pattern(answer_bytes));
        Response::new(Full::new(Bytes::from(answer)))
    })
    .await
}

fn pattern(length: usize) -> Vec<u8> {
    (0..length).map(|index| (index % 251) as u8).collect()
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0_u64, |sum, &byte| {
        sum.wrapping_mul(31).wrapping_add(u64::from(byte))
    })
}

#[tokio::test]
async fn large_bodies_stream_both_ways_intact() {
    let proxy = proxy_to(echo_size_origin().await).await;
    let upload = pattern(3 * 1024 * 1024 + 7);
    let download = 5 * 1024 * 1024 + 3;
    let request = support::request(
        Method::POST,
        &proxy.url(&format!("/?answer={download}")),
        upload.clone(),
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let response = tokio::time::timeout(PATIENCE, client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let (line, rest) = body.split_at(body.iter().position(|&byte| byte == b'\n').unwrap() + 1);
    assert_eq!(
        std::str::from_utf8(line).unwrap(),
        format!("{} {}\n", upload.len(), checksum(&upload))
    );
    assert_eq!(rest.len(), download);
    assert!(
        rest == pattern(download).as_slice(),
        "the download arrived intact"
    );
}

#[tokio::test]
async fn an_upload_without_a_length_goes_out_chunked() {
    let proxy = proxy_to(echo_size_origin().await).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    let chunk = pattern(50_000);
    let mut request = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&request).await.unwrap();
    let whole = chunk.repeat(4);
    let expected = format!("{} {}\n", whole.len(), checksum(&whole));
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !String::from_utf8_lossy(&answer).contains(&expected) {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(
            read > 0,
            "closed after {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..read]);
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_client_expecting_100_continue_is_told_to_go_on_and_answered() {
    // As curl sends any body over 1 KiB: the head, then the body only after 100 Continue.
    let proxy = proxy_to(echo_size_origin().await).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    let body = pattern(2000);
    client
        .write_all(
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let interim = head_in_time(&mut client).await;
    assert!(interim.starts_with("http/1.1 100"), "{interim}");
    client.write_all(&body).await.unwrap();
    let head = head_in_time(&mut client).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let length: usize = header_value(&head, "content-length")
        .unwrap()
        .parse()
        .unwrap();
    let mut answer = vec![0_u8; length];
    client.read_exact(&mut answer).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("{} {}\n", body.len(), checksum(&body))
    );
}

#[tokio::test]
async fn an_origin_answering_before_the_whole_upload_is_heard() {
    let origin = support::raw_origin(|mut stream| async move {
        if support::read_head(&mut stream).await.is_none() {
            return;
        }
        let refusal = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n";
        if stream.write_all(refusal).await.is_err() {
            return;
        }
        // Read on, so that closing does not reset the connection under the answer.
        let mut sink = [0_u8; 65536];
        while let Ok(read) = stream.read(&mut sink).await {
            if read == 0 {
                break;
            }
        }
    })
    .await;
    let proxy = proxy_to(origin).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    let length = 64 * 1024 * 1024;
    client
        .write_all(
            format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let (mut reader, mut writer) = client.into_split();
    let upload = tokio::spawn(async move {
        let block = vec![b'x'; 65536];
        // Far more than the origin will wait for; it is cut at some point.
        for _ in 0..(length / block.len()) {
            if writer.write_all(&block).await.is_err() {
                break;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !answer.ends_with(b"too big\n") {
        let read = tokio::time::timeout(PATIENCE, reader.read(&mut buffer))
            .await
            .expect("the refusal arrives while the upload is still going")
            .unwrap();
        assert!(
            read > 0,
            "closed after {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..read]);
    }
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    upload.abort();
}

#[tokio::test]
async fn a_post_never_goes_out_on_a_connection_the_origin_closed() {
    // Each connection serves one request and is closed without a word; a POST sent on it would
    // be lost or, sent again, done twice.
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&requests);
    let origin = support::raw_origin(move |mut stream| {
        let seen = Arc::clone(&seen);
        async move {
            if read_request(&mut stream).await.is_some() {
                seen.fetch_add(1, Ordering::SeqCst);
                let _closed = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                // The close comes a moment after the answer, as from an origin closing an idle
                // connection, not with it.
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
    let proxy = proxy_to(origin).await;
    // Many at once, so that a connection comes back to the pool and is taken again before the
    // reactor has seen the origin close it.
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let url = proxy.url("/");
            tokio::spawn(async move {
                for round in 0..25 {
                    let reply = send(support::request(Method::POST, &url, "payload")).await;
                    assert_eq!(
                        reply.status,
                        StatusCode::OK,
                        "client {client}, request {round}: {}",
                        reply.body
                    );
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(
        requests.load(Ordering::SeqCst),
        400,
        "each POST reached the origin once"
    );
}

#[tokio::test]
async fn a_close_crossing_a_request_resends_a_get_but_never_a_post() {
    // Each connection answers its first request; the second it reads and drops unanswered, as
    // an origin closing an idle connection just as a request arrives.
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&requests);
    let origin = support::raw_origin(move |mut stream| {
        let seen = Arc::clone(&seen);
        async move {
            for answered in [true, false] {
                if read_request(&mut stream).await.is_none() {
                    return;
                }
                seen.fetch_add(1, Ordering::SeqCst);
                if answered {
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    let mut proxy = proxy_to(origin).await;

    assert_eq!(get(&proxy.url("/")).await.status, StatusCode::OK);
    // On the kept connection, dropped; again on a new one, answered.
    assert_eq!(get(&proxy.url("/")).await.status, StatusCode::OK);
    assert_eq!(requests.load(Ordering::SeqCst), 3);

    // The new connection is kept; a POST on it is dropped too, and may have been acted on.
    let post = send(support::request(Method::POST, &proxy.url("/"), "once")).await;
    assert_eq!(post.status, StatusCode::BAD_GATEWAY);
    assert_eq!(requests.load(Ordering::SeqCst), 4, "the POST went out once");
    assert!(
        proxy.ejections.try_recv().is_err(),
        "passive ejection is off in these pools"
    );
    let metrics = proxy.metrics();
    assert!(
        metrics.contains(r#"lifeline_http_errors_total{load_balancer="web",pool="main",origin="origin",kind="protocol"} 1"#),
        "only the POST counts against the origin: {metrics}"
    );
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
