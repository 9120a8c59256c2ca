//! Requests to plain origins over HTTP/1.1: bodies too large to keep, `100 Continue`, answers that
//! do not wait for the whole upload, and requests that meet a connection the origin closed.

use std::sync::atomic::Ordering;

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::scripted::{
    checksum, counting_raw_origin, echo_size_origin, head_in_time, header_value, pattern, proxy_to,
    read_request,
};
use crate::support::{self, PATIENCE, get, send};

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
    let (origin, requests) = counting_raw_origin(|mut stream, seen| async move {
        if read_request(&mut stream).await.is_some() {
            seen.fetch_add(1, Ordering::SeqCst);
            let _closed = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
            // The close comes a moment after the answer, as from an origin closing an idle
            // connection, not with it.
            tokio::task::yield_now().await;
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
    let (origin, requests) = counting_raw_origin(|mut stream, seen| async move {
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
