//! What a proxied request and its answer look like, over HTTP/1.1, HTTP/2 and TLS.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lifeline_model::{PoolState, RoutingTable, SessionAffinity, TlsFiles};
use lifeline_proxy_http::server_tls;

use tokio::io::AsyncWriteExt;

use crate::support::{self, Setup, get, pool, read, send, test_origin};

/// An origin that answers with the request's headers, one `name: value` per line, and a hop-by-hop
/// header of its own.
async fn echo_headers_origin() -> std::net::SocketAddr {
    support::handler_origin(|request: Request<hyper::body::Incoming>| async move {
        let mut lines: Vec<String> = request
            .headers()
            .iter()
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
            .collect();
        lines.sort();
        Response::builder()
            .header("connection", "x-origin-hop")
            .header("x-origin-hop", "1")
            .header("x-kept", "1")
            .body(Full::new(Bytes::from(lines.join("\n"))))
            .unwrap()
    })
    .await
}

fn header_lines(body: &str) -> Vec<(&str, &str)> {
    body.lines()
        .filter_map(|line| line.split_once(": "))
        .collect()
}

fn header_value<'a>(lines: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    lines
        .iter()
        .find(|(found, _)| *found == name)
        .map(|(_, value)| *value)
}

#[tokio::test]
async fn adds_x_origin_and_forwarding_headers_and_drops_hop_by_hop_ones() {
    let origin = echo_headers_origin().await;
    let proxy = Setup::new(vec![pool("main", &[("echo", origin)])])
        .start(|_| {})
        .await;
    let request = Request::builder()
        .uri(proxy.url("/hello?x=1"))
        .header("host", "shop.example:8080")
        .header("x-forwarded-for", "198.51.100.7")
        .header("connection", "x-secret")
        .header("x-secret", "hidden")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("te", "trailers")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send(request).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-origin"), "echo");
    assert_eq!(reply.header("x-kept"), "1");
    assert!(
        reply.headers.get("x-origin-hop").is_none(),
        "{:?}",
        reply.headers
    );
    let seen = header_lines(&reply.body);
    assert_eq!(header_value(&seen, "host"), Some("shop.example:8080"));
    assert_eq!(
        header_value(&seen, "x-forwarded-for"),
        Some("198.51.100.7, 127.0.0.1")
    );
    assert_eq!(header_value(&seen, "x-forwarded-proto"), Some("http"));
    assert_eq!(
        header_value(&seen, "forwarded"),
        Some(r#"for=127.0.0.1;proto=http;host="shop.example:8080""#)
    );
    assert_eq!(header_value(&seen, "te"), Some("trailers"));
    let via = header_value(&seen, "via").expect("a Via");
    assert!(via.starts_with("1.1 lifeline-"), "{via}");
    for dropped in ["x-secret", "proxy-authorization", "connection"] {
        assert_eq!(
            header_value(&seen, dropped),
            None,
            "{dropped} reached the origin"
        );
    }

    let metrics = proxy.metrics();
    assert!(
        metrics.contains(
            r#"lifeline_http_requests_total{load_balancer="web",pool="main",origin="echo",code_class="2xx"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"lifeline_http_request_duration_seconds_count{load_balancer="web",pool="main",origin="echo"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"lifeline_http_in_flight{origin="echo"} 0"#),
        "{metrics}"
    );
}

/// An origin that keeps no connection alive, though it does not say so: it answers one request
/// and closes, leaving the proxy's pooled connection dead.
async fn one_request_per_connection_origin() -> std::net::SocketAddr {
    support::raw_origin(|mut stream| async move {
        if support::read_head(&mut stream).await.is_none() {
            return;
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let _ = stream.write_all(answer).await;
    })
    .await
}

#[tokio::test]
async fn an_origin_closing_kept_alive_connections_causes_no_failure() {
    let origin = one_request_per_connection_origin().await;
    let mut proxy = Setup::new(vec![pool("main", &[("a", origin)])])
        .start(|lb| lb.retries = 0)
        .await;
    for round in 0..50 {
        let reply = get(&proxy.url("/")).await;
        assert_eq!(reply.status, StatusCode::OK, "request {round}");
        assert_eq!(reply.body, "ok", "request {round}");
        // Sometimes at once, sometimes after the close has been seen.
        if round % 2 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    assert!(
        proxy.ejections.try_recv().is_err(),
        "no passive failure was recorded"
    );
}

#[tokio::test]
async fn nothing_available_is_503_with_retry_after() {
    let origin = test_origin("a").await;
    let mut setup = Setup::new(vec![pool("main", &[("a", origin)])]);
    setup.healthy = false;
    let proxy = setup.start(|_| {}).await;
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header("retry-after"), "5");
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(
        reply.json(),
        serde_json::json!({ "error": "no healthy origin", "load_balancer": "web" })
    );
    assert!(
        proxy
            .metrics()
            .contains(r#"lifeline_http_no_origin_total{load_balancer="web"} 1"#)
    );
}

#[tokio::test]
async fn a_host_no_load_balancer_claims_is_misdirected() {
    let origin = test_origin("a").await;
    let proxy = Setup::new(vec![pool("main", &[("a", origin)])])
        .start(|lb| lb.hostnames = vec!["shop.example".into()])
        .await;
    let claimed = send(
        Request::builder()
            .uri(proxy.url("/"))
            .header("host", "SHOP.example")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(claimed.status, StatusCode::OK);
    let other = send(
        Request::builder()
            .uri(proxy.url("/"))
            .header("host", "elsewhere.example")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(other.status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(other.json()["host"], "elsewhere.example");
}

#[tokio::test]
async fn affinity_cookie_names_the_origin_that_answered() {
    let dead = support::dead_address();
    let live = test_origin("live").await;
    let proxy = Setup::new(vec![
        pool("first", &[("dead", dead)]),
        pool("second", &[("live", live)]),
    ])
    .start(|lb| lb.session_affinity = SessionAffinity::Cookie)
    .await;
    let reply = get(&proxy.url("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("set-cookie"),
        "lifeline_origin=live; Path=/; HttpOnly; SameSite=Lax"
    );
}

#[tokio::test]
async fn http2_clients_are_served() {
    let origin = test_origin("a").await;
    let proxy = Setup::new(vec![pool("main", &[("a", origin)])])
        .start(|_| {})
        .await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    for _ in 0..3 {
        let response = client
            .request(support::request(
                Method::GET,
                &proxy.url("/h2"),
                Bytes::new(),
            ))
            .await
            .unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        let reply = read(response).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-origin"), "a");
        assert_eq!(reply.body, "origin a\n");
    }
}

#[tokio::test]
async fn tls_listener_serves_http2_and_http1_by_alpn() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        certificate: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.certificate, certified.cert.pem()).unwrap();
    std::fs::write(&files.key, certified.signing_key.serialize_pem()).unwrap();
    let server = server_tls(&files).unwrap();

    let origin = test_origin("a").await;
    let mut setup = Setup::new(vec![pool("main", &[("a", origin)])]);
    setup.tls = Some(server);
    let proxy = setup.start(|_| {}).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let url = format!("https://localhost:{}/secure", proxy.addr.port());

    let h2 = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config.clone())
        .https_only()
        .enable_all_versions()
        .build();
    let h1 = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config)
        .https_only()
        .enable_http1()
        .build();
    for (connector, version) in [(h2, Version::HTTP_2), (h1, Version::HTTP_11)] {
        let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
        let response = client
            .request(support::request(Method::GET, &url, Bytes::new()))
            .await
            .unwrap();
        assert_eq!(response.version(), version);
        let reply = read(response).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-origin"), "a");
    }
}

#[tokio::test]
async fn forwards_to_https_origins() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        certificate: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.certificate, certified.cert.pem()).unwrap();
    std::fs::write(&files.key, certified.signing_key.serialize_pem()).unwrap();
    // The origin is another proxy with TLS in front of a plain test origin.
    let plain = test_origin("behind").await;
    let mut inner = Setup::new(vec![pool("inner", &[("behind", plain)])]);
    inner.tls = Some(server_tls(&files).unwrap());
    let inner = inner.start(|_| {}).await;

    let mut secure = pool("secure", &[("tls-origin", inner.addr)]);
    secure.origin_protocol = lifeline_model::OriginProtocol::Https {
        allow_insecure: true,
    };
    let proxy = Setup::new(vec![secure]).start(|_| {}).await;
    let reply = get(&proxy.url("/through")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("x-origin"), "tls-origin");
    assert_eq!(reply.body, "origin behind\n");

    // Without allow_insecure the self-signed certificate is refused: the origin cannot be
    // reached.
    let mut verified = pool("verified", &[("tls-origin", inner.addr)]);
    verified.origin_protocol = lifeline_model::OriginProtocol::Https {
        allow_insecure: false,
    };
    let strict = Setup::new(vec![verified]).start(|lb| lb.retries = 0).await;
    let reply = get(&strict.url("/through")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json()["kind"], "connect");
}

#[tokio::test]
async fn a_new_routing_table_applies_without_a_restart() {
    let origin = test_origin("a").await;
    let proxy = Setup::new(vec![pool("main", &[("a", origin)])])
        .start(|_| {})
        .await;
    assert_eq!(get(&proxy.url("/")).await.status, StatusCode::OK);

    let mut next = RoutingTable::clone(&proxy.routing.borrow());
    next.generation += 1;
    next.pools[0].state = PoolState::Down;
    next.pools[0].origins[0].healthy = false;
    proxy.routing.send(Arc::new(next)).unwrap();

    let deadline = tokio::time::Instant::now() + support::PATIENCE;
    loop {
        let status = get(&proxy.url("/")).await.status;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
