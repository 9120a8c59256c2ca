//! Scripted origins and raw-socket helpers for the HTTP/1.1 tests against plain origins.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{self, PATIENCE, Setup, pool};

/// An origin serving requests one after another on each connection it accepts, answering each
/// head with `answer(head)`, and closing the connection after an answer that says
/// `Connection: close`; it counts connections and requests. It reads a request body by
/// `Content-Length` only.
pub async fn keep_alive_origin(
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
pub async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let head = support::read_head(stream).await?;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = header_value(&head, "content-length").map_or(0, |value| value.parse().unwrap());
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(head)
}

/// A response head, lowercased, read within [`PATIENCE`].
pub async fn head_in_time(stream: &mut TcpStream) -> String {
    let head = tokio::time::timeout(PATIENCE, support::read_head(stream))
        .await
        .expect("a head in time")
        .expect("a head before the connection closed");
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

pub fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        (field.trim() == name).then(|| value.trim())
    })
}

pub async fn proxy_to(origin: SocketAddr) -> support::Proxy {
    Setup::new(vec![pool("main", &[("origin", origin)])])
        .start(|lb| lb.retries = 0)
        .await
}

/// An origin answering with the length and a checksum of the body it received, after a body of
/// `answer_bytes` bytes of its own.
pub async fn echo_size_origin() -> SocketAddr {
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

pub fn pattern(length: usize) -> Vec<u8> {
    (0..length).map(|index| (index % 251) as u8).collect()
}

pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0_u64, |sum, &byte| {
        sum.wrapping_mul(31).wrapping_add(u64::from(byte))
    })
}

/// A raw origin running `script` on every connection with one counter they share, which the
/// test reads.
pub async fn counting_raw_origin<F, Fut>(script: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream, Arc<AtomicUsize>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let count = Arc::new(AtomicUsize::new(0));
    let shared = Arc::clone(&count);
    let addr = support::raw_origin(move |stream| script(stream, Arc::clone(&shared))).await;
    (addr, count)
}
