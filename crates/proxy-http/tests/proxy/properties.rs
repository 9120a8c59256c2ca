//! A property test on a live listener: whatever bytes a client sends, in whatever pieces, the
//! proxy does not panic, keeps serving, and answers only what it may.
//!
//! The origin always answers 200 `ok`, and the table keeps it healthy, so no answer may be a 5xx:
//! 503 needs an unhealthy pool, 502/504 an origin that fails or stalls. A mutated request may
//! still be valid, and then gets the origin's 200 (after a `100 Continue` if it asked); anything
//! else is the proxy's or hyper's 4xx, never one of the origin's (the proxy forwards only what it
//! could parse), or no answer when the connection closes or waits for more.
//!
//! Time is paused, so that waiting out the idle timeout costs nothing. A paused clock jumps to the
//! next timer whenever no task is ready, even while bytes are on their way over loopback, so the
//! try timeout is an hour: no jump reaches it before the origin has answered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Setup, handler_origin, pool, raw_exchange};

/// Set by the panic hook: a panic anywhere, the proxy's connection tasks included.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Valid requests to mutate; the last two are pipelined pairs.
const REQUESTS: [&[u8]; 6] = [
    b"GET /a?b HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\n\r\n",
    b"GET http://a/x HTTP/1.1\r\nHost: b\r\nConnection: keep-alive, x-y\r\nX-Y: 1\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx\
GET / HTTP/1.1\r\nHost: a:80\r\n\r\n",
    b"GET / HTTP/1.0\r\nVia: 1.0 other\r\n\r\nGET /2 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
];

#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(&b"\r\n :;,/?*@[]0fF\t\x00\x7f\xff"[..]),
        any::<u8>()
    ]
}

/// Random bytes, or a valid request with a few bytes replaced, inserted or deleted.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let edit = prop_oneof![
        (any::<usize>(), byte()).prop_map(|(at, byte)| Edit::Replace(at, byte)),
        (any::<usize>(), byte()).prop_map(|(at, byte)| Edit::Insert(at, byte)),
        any::<usize>().prop_map(Edit::Delete),
    ];
    let mutated = (
        prop::sample::select(&REQUESTS[..]),
        prop::collection::vec(edit, 1..4),
    )
        .prop_map(|(request, edits)| {
            let mut bytes = request.to_vec();
            for edit in edits {
                let len = bytes.len();
                match edit {
                    Edit::Replace(at, byte) => bytes[at % len] = byte,
                    Edit::Insert(at, byte) => bytes.insert(at % (len + 1), byte),
                    Edit::Delete(at) if len > 1 => drop(bytes.remove(at % len)),
                    Edit::Delete(_) => {}
                }
            }
            bytes
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 1..200), mutated]
}

/// Writes `input` in pieces cut at `cuts`, letting the proxy read between them, and reads until
/// the proxy closes the connection or a minute (of paused time) passes.
async fn exchange(addr: std::net::SocketAddr, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % input.len()).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut from = 0;
    for to in cuts {
        if stream.write_all(&input[from..to]).await.is_err() {
            break;
        }
        from = to;
        tokio::task::yield_now().await;
    }
    let mut answer = Vec::new();
    let reading = stream.read_to_end(&mut answer);
    match tokio::time::timeout(Duration::from_secs(60), reading).await {
        Ok(Ok(_)) | Err(_) => {}
        // Reset after an error answer: what came before counts.
        Ok(Err(err)) => eprintln!("property exchange: {err}"),
    }
    answer
}

/// The status of every response head in `answer`, and whether it came from the origin.
fn statuses(answer: &[u8]) -> Vec<(u16, bool)> {
    let text = String::from_utf8_lossy(answer);
    let mut found = Vec::new();
    let mut rest = &text[..];
    while let Some(at) = rest.find("HTTP/1.") {
        rest = &rest[at + "HTTP/1.".len()..];
        let line = rest.get(..6).unwrap_or_default();
        if let Some(code) = line.get(2..5).and_then(|code| code.parse().ok()) {
            let head = rest.split("\r\n\r\n").next().unwrap_or_default();
            found.push((code, head.contains("x-origin: a")));
        }
    }
    found
}

#[test]
fn any_client_bytes_get_an_origin_answer_or_a_4xx_and_the_listener_keeps_serving() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        previous(info);
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let proxy = runtime.block_on(async {
        let origin =
            handler_origin(|_| async { Response::new(Full::new(Bytes::from_static(b"ok"))) }).await;
        Setup::new(vec![pool("main", &[("a", origin)])])
            .start(|lb| lb.try_timeout = Duration::from_secs(3600))
            .await
    });
    let valid = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let cuts = prop::collection::vec(any::<usize>(), 0..6);
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&(input(), cuts), |(input, cuts)| {
        // Cleared for each case, so that shrinking looks for the input that panics.
        PANICKED.store(false, Ordering::SeqCst);
        let answer = runtime.block_on(exchange(proxy.addr, &input, &cuts));
        for (status, from_origin) in statuses(&answer) {
            let allowed = match status {
                100 | 200 => true,
                400..=499 => !from_origin,
                _ => false,
            };
            prop_assert!(
                allowed,
                "{status} in {:?}",
                String::from_utf8_lossy(&answer)
            );
        }
        let after = runtime.block_on(raw_exchange(proxy.addr, valid));
        prop_assert!(after.starts_with("HTTP/1.1 200 "), "{after:?}");
        prop_assert!(!PANICKED.load(Ordering::SeqCst), "a panic (see above)");
        Ok(())
    });
    if let Err(err) = outcome {
        panic!("{err}");
    }
}
