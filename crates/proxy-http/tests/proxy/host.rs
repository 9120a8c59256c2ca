//! Which host a request is for (one valid `Host`, the authority of an absolute-form target, HTTP/2's
//! `:authority`), targets a proxy does not forward, and a request that comes back round.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

use crate::support::{self, Proxy, Setup, pool, raw_exchange, read};

/// An origin that answers `METHOD target host=HOST`.
async fn host_origin() -> SocketAddr {
    support::handler_origin(|request: Request<Incoming>| async move {
        let hosts: Vec<_> = request
            .headers()
            .get_all("host")
            .iter()
            .map(|host| host.to_str().unwrap_or("?"))
            .collect();
        let body = format!(
            "{} {} host={}",
            request.method(),
            request.uri(),
            hosts.join(",")
        );
        Response::new(Full::new(Bytes::from(body)))
    })
    .await
}

/// A proxy in front of [`host_origin`] whose load balancer claims `hostnames` (any host if none).
async fn proxy(hostnames: &[&str]) -> Proxy {
    let origin = host_origin().await;
    let hostnames = hostnames.iter().map(|name| (*name).to_string()).collect();
    Setup::new(vec![pool("main", &[("a", origin)])])
        .start(|lb| lb.hostnames = hostnames)
        .await
}

/// Sends `head` (a request line and fields, without the empty line) with `Connection: close`.
async fn exchange(proxy: &Proxy, head: &str) -> String {
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    raw_exchange(proxy.addr, request.as_bytes()).await
}

#[track_caller]
fn assert_status(answer: &str, status: u16, body: &str) {
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status} ")),
        "{answer:?}"
    );
    assert!(answer.ends_with(body), "{answer:?}");
}

#[tokio::test]
async fn two_host_fields_get_400() {
    let proxy = proxy(&[]).await;
    for hosts in ["Host: a\r\nHost: b", "Host: a\r\nHost: a"] {
        let answer = exchange(&proxy, &format!("GET / HTTP/1.1\r\n{hosts}")).await;
        assert_status(&answer, 400, r#"{"error":"more than one Host"}"#);
    }
}

#[tokio::test]
async fn an_absolute_form_target_is_routed_by_its_authority() {
    let proxy = proxy(&["internal"]).await;
    let answer = exchange(&proxy, "GET http://internal/x?y HTTP/1.1\r\nHost: public").await;
    assert_status(&answer, 200, "GET /x?y host=internal");
    let answer = exchange(&proxy, "GET http://INTERNAL:80 HTTP/1.1\r\nHost: public").await;
    assert_status(&answer, 200, "GET / host=INTERNAL:80");
    // The authority wins over a `Host` the load balancer would claim.
    let answer = exchange(&proxy, "GET http://public/x HTTP/1.1\r\nHost: internal").await;
    assert!(answer.starts_with("HTTP/1.1 421 "), "{answer:?}");
}

#[tokio::test]
async fn http11_requests_need_a_host_and_http10_ones_do_not() {
    let proxy = proxy(&[]).await;
    let answer = exchange(&proxy, "GET / HTTP/1.1").await;
    assert_status(&answer, 400, r#"{"error":"no Host"}"#);
    let answer = exchange(&proxy, "GET http://a/ HTTP/1.1").await;
    assert_status(&answer, 400, r#"{"error":"no Host"}"#);
    // The origin gets its own address as `Host`.
    let answer = exchange(&proxy, "GET /old HTTP/1.0").await;
    assert!(answer.starts_with("HTTP/1.0 200 "), "{answer:?}");
    assert!(
        answer.contains("\r\n\r\nGET /old host=127.0.0.1:"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn invalid_hosts_get_400() {
    let proxy = proxy(&[]).await;
    for host in ["", "a b", "user@a", "a/b", "a:http", "[::1"] {
        let answer = exchange(&proxy, &format!("GET / HTTP/1.1\r\nHost: {host}")).await;
        assert_status(&answer, 400, r#"{"error":"invalid Host"}"#);
    }
    let answer = exchange(&proxy, "GET http://user@a/ HTTP/1.1\r\nHost: a").await;
    assert_status(&answer, 400, r#"{"error":"invalid Host"}"#);
}

#[tokio::test]
async fn targets_in_no_forwarding_form_get_400() {
    let proxy = proxy(&[]).await;
    for target in ["foo", "a:80", "*", "ftp://a/"] {
        let answer = exchange(&proxy, &format!("GET {target} HTTP/1.1\r\nHost: a")).await;
        assert_status(&answer, 400, r#"{"error":"invalid request target"}"#);
    }
    let answer = exchange(&proxy, "OPTIONS * HTTP/1.1\r\nHost: a").await;
    assert_status(&answer, 200, "OPTIONS * host=a");
    let answer = exchange(&proxy, "CONNECT a:443 HTTP/1.1\r\nHost: a:443").await;
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer:?}");
}

#[tokio::test]
async fn an_http2_request_is_for_its_host_else_its_authority() {
    let proxy = proxy(&[]).await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let authority = proxy.addr.to_string();
    let with_userinfo = format!("http://user@{authority}/h2");
    for (url, host, status, body) in [
        (
            proxy.url("/h2"),
            None,
            200,
            format!("GET /h2 host={authority}"),
        ),
        (
            proxy.url("/h2"),
            Some("b"),
            200,
            "GET /h2 host=b".to_string(),
        ),
        (
            with_userinfo,
            None,
            400,
            r#"{"error":"invalid Host"}"#.to_string(),
        ),
    ] {
        let mut request = support::request(Method::GET, &url, Bytes::new());
        if let Some(host) = host {
            request.headers_mut().insert("host", host.parse().unwrap());
        }
        let response = client.request(request).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        let reply = read(response).await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{url} {host:?}: {}",
            reply.body
        );
        assert_eq!(reply.body, body);
    }
}

#[tokio::test]
async fn a_request_coming_back_round_gets_508_after_one_hop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = listener.local_addr().unwrap();
    let proxy = Setup::new(vec![pool("main", &[("self", own)])])
        .start_on(listener, |_| {})
        .await;
    let answer = exchange(&proxy, "GET / HTTP/1.1\r\nHost: a").await;
    // The second hop refused it; the first passed the answer on.
    assert!(answer.starts_with("HTTP/1.1 508 "), "{answer:?}");
    assert!(answer.contains("x-origin: self"), "{answer:?}");
    let metrics = proxy.metrics();
    let attempts: Vec<_> = metrics
        .lines()
        .filter(|line| line.starts_with("lifeline_http_requests_total{"))
        .collect();
    assert_eq!(
        attempts,
        [
            r#"lifeline_http_requests_total{load_balancer="web",pool="main",origin="self",code_class="5xx"} 1"#
        ],
        "{metrics}"
    );
}
